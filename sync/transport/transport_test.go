package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgerag/edgerag/sync/pki"
	"github.com/edgerag/edgerag/sync/pki/pkitest"
	"github.com/edgerag/edgerag/sync/transport/relaytest"
	"github.com/edgerag/edgerag/sync/wire"
	"github.com/quic-go/quic-go"
)

func TestRoundTrip(t *testing.T) {
	fleet := pkitest.NewFleet(t)
	type seen struct {
		peer Peer
		id   string
	}
	got := make(chan seen, 10)
	srv := startServer(t, Config{Identity: fleet.Identity("central-1", pki.RoleCentral)}, func(ctx context.Context, peer Peer, req wire.Frame) ([]byte, error) {
		got <- seen{peer, RequestID(ctx)}
		switch string(req.Payload) {
		case "missing":
			return nil, Errorf(wire.CodeNotFound, "no shard %q", "faq")
		case "secret":
			return nil, errors.New("open /var/lib/edgerag/secret: permission denied")
		case "panic":
			panic("boom")
		}
		return append([]byte("re: "), req.Payload...), nil
	})
	c := newTestClient(t, Config{Identity: fleet.Identity("edge-1", pki.RoleEdge)})
	addr := srv.Addr().String()

	ctx := WithRequestID(context.Background(), "q-42")
	resp, err := c.Call(ctx, addr, "central-1", wire.TypeQuery, []byte("why"))
	if err != nil {
		t.Fatal(err)
	}
	if string(resp) != "re: why" {
		t.Fatalf("response %q", resp)
	}
	s := <-got
	if s.peer.Name != "edge-1" || s.peer.Role != pki.RoleEdge || s.peer.Addr == nil || s.id != "q-42" {
		t.Fatalf("handler saw %+v", s)
	}

	if _, err := c.Call(context.Background(), addr, "central-1", wire.TypePing, nil); err != nil {
		t.Fatal(err)
	}
	if s := <-got; len(s.id) != 32 {
		t.Fatalf("generated request id %q, want 32 hex digits", s.id)
	}

	tests := []struct {
		payload string
		code    wire.Code
		msg     string
		hidden  string
	}{
		{"missing", wire.CodeNotFound, `no shard "faq"`, ""},
		{"secret", wire.CodeInternal, "central-1", "/var/lib"},
		{"panic", wire.CodeInternal, "central-1", "boom"},
	}
	for _, tc := range tests {
		t.Run(tc.payload, func(t *testing.T) {
			_, err := c.Call(context.Background(), addr, "central-1", wire.TypeQuery, []byte(tc.payload))
			var te *Error
			if !errors.As(err, &te) || te.Code != tc.code {
				t.Fatalf("got %v, want a remote %v", err, tc.code)
			}
			if !strings.Contains(te.Message, tc.msg) || tc.hidden != "" && strings.Contains(err.Error(), tc.hidden) {
				t.Fatalf("message %q: want %q in it and not %q", te.Message, tc.msg, tc.hidden)
			}
			<-got
		})
	}
	if n := len(c.conns); n != 1 {
		t.Fatalf("client holds %d connections after sequential calls, want 1", n)
	}
}

func TestCallValidatesLocally(t *testing.T) {
	fleet := pkitest.NewFleet(t)
	c := newTestClient(t, Config{Identity: fleet.Identity("edge-1", pki.RoleEdge)})
	ctx := context.Background()
	tests := []struct {
		name string
		ctx  context.Context
		typ  wire.Type
		size int
		want error
	}{
		{"unknown type", ctx, 99, 0, wire.ErrUnknownType},
		{"too large", ctx, wire.TypePing, wire.DefaultMaxPayload + 1, wire.ErrTooLarge},
		{"bad request id", WithRequestID(ctx, "has space"), wire.TypePing, 0, wire.ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Call(tc.ctx, "127.0.0.1:1", "central-1", tc.typ, make([]byte, tc.size))
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := NewClient(Config{}).Call(ctx, "127.0.0.1:1", "x", wire.TypePing, nil); err == nil || !strings.Contains(err.Error(), "Identity") {
		t.Fatalf("client without identity: %v", err)
	}
	if _, err := Listen(ctx, "127.0.0.1:0", Config{}, echo); err == nil {
		t.Fatal("server without identity started")
	}
}

func TestConcurrentCalls(t *testing.T) {
	fleet := pkitest.NewFleet(t)
	var remotes sync.Map
	srv := startServer(t, Config{Identity: fleet.Identity("central-1", pki.RoleCentral)}, func(ctx context.Context, peer Peer, req wire.Frame) ([]byte, error) {
		remotes.Store(peer.Addr.String(), true)
		time.Sleep(5 * time.Millisecond) // keep calls overlapping
		return req.Payload, nil
	})
	c := newTestClient(t, Config{Identity: fleet.Identity("edge-1", pki.RoleEdge)})

	const n = 50
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			want := fmt.Appendf(nil, "call %d", i)
			got, err := c.Call(ctx, srv.Addr().String(), "central-1", wire.TypeQuery, want)
			if err == nil && !bytes.Equal(got, want) {
				err = fmt.Errorf("call %d got %q", i, got)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	count := 0
	remotes.Range(func(any, any) bool { count++; return true })
	if count != 1 {
		t.Fatalf("server saw calls from %d addresses; concurrent first calls should share one connection", count)
	}
}

func TestDeadlinePropagation(t *testing.T) {
	fleet := pkitest.NewFleet(t)
	type seen struct {
		deadline time.Time
		ok       bool
		err      error
	}
	got := make(chan seen, 1)
	srv := startServer(t, Config{Identity: fleet.Identity("central-1", pki.RoleCentral)}, func(ctx context.Context, peer Peer, req wire.Frame) ([]byte, error) {
		dl, ok := ctx.Deadline()
		<-ctx.Done() // a handler slower than the caller's patience
		got <- seen{dl, ok, ctx.Err()}
		return nil, ctx.Err()
	})
	c := newTestClient(t, Config{Identity: fleet.Identity("edge-1", pki.RoleEdge)})
	// Connect first so that the timing below measures the call only.
	if _, _, err := c.conn(context.Background(), connKey{srv.Addr().String(), "central-1"}, false); err != nil {
		t.Fatal(err)
	}

	const timeout = 300 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	want, _ := ctx.Deadline()
	start := time.Now()
	_, err := c.Call(ctx, srv.Addr().String(), "central-1", wire.TypeQuery, []byte("slow"))
	took := time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want context.DeadlineExceeded", err)
	}
	if took > timeout+200*time.Millisecond {
		t.Fatalf("call returned %v after a %v deadline", took, timeout)
	}
	select {
	case s := <-got:
		if !s.ok || s.deadline.Sub(want).Abs() > time.Millisecond {
			t.Errorf("handler deadline %v (set %v), caller's %v", s.deadline, s.ok, want)
		}
		// Both ends reach the same deadline at once, so the server may hear
		// the caller hang up just before its own timer fires.
		if s.err == nil {
			t.Error("handler context did not end")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("handler context never ended")
	}
}

func TestCancellationReachesHandler(t *testing.T) {
	fleet := pkitest.NewFleet(t)
	started := make(chan struct{})
	ended := make(chan error, 1)
	srv := startServer(t, Config{Identity: fleet.Identity("central-1", pki.RoleCentral)}, func(ctx context.Context, peer Peer, req wire.Frame) ([]byte, error) {
		if req.Type == wire.TypePing {
			return []byte("pong"), nil
		}
		if _, ok := ctx.Deadline(); ok {
			ended <- errors.New("handler got a deadline the caller never set")
			return nil, nil
		}
		close(started)
		<-ctx.Done()
		ended <- ctx.Err()
		return nil, ctx.Err()
	})
	c := newTestClient(t, Config{Identity: fleet.Identity("edge-1", pki.RoleEdge)})

	ctx, cancel := context.WithCancel(context.Background())
	callErr := make(chan error, 1)
	go func() {
		_, err := c.Call(ctx, srv.Addr().String(), "central-1", wire.TypeQuery, nil)
		callErr <- err
	}()
	select {
	case <-started:
	case err := <-ended:
		t.Fatal(err)
	case <-time.After(5 * time.Second):
		t.Fatal("handler never started")
	}
	cancel()
	if err := <-callErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("call returned %v, want context.Canceled", err)
	}
	select {
	case err := <-ended:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("handler context ended with %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("cancellation never reached the handler")
	}
	// The connection survives a cancelled stream.
	if got, err := c.Call(context.Background(), srv.Addr().String(), "central-1", wire.TypePing, nil); err != nil || string(got) != "pong" {
		t.Fatalf("call after cancellation: %q, %v", got, err)
	}
}

// rawCall writes b on a new stream of conn and reads the response.
func rawCall(t *testing.T, conn *quic.Conn, b []byte) wire.Frame {
	t.Helper()
	str, err := conn.OpenStreamSync(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	str.SetDeadline(time.Now().Add(5 * time.Second))
	str.Write(b) // may fail once the server stops reading; the response says why
	str.Close()
	resp, err := wire.ReadFrame(str, wire.Limits{})
	if err != nil {
		t.Fatalf("reading the refusal: %v", err)
	}
	return resp
}

func TestRefusals(t *testing.T) {
	fleet := pkitest.NewFleet(t)
	release := make(chan struct{})
	srv := startServer(t, Config{Identity: fleet.Identity("central-1", pki.RoleCentral)}, func(ctx context.Context, peer Peer, req wire.Frame) ([]byte, error) {
		if string(req.Payload) == "slow" {
			<-release
		}
		return req.Payload, nil
	})
	addr := srv.Addr().String()
	edge := fleet.Identity("edge-1", pki.RoleEdge)
	c := newTestClient(t, Config{Identity: edge})

	// A good call stays in flight on the same connection throughout.
	slow := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		got, err := c.Call(ctx, addr, "central-1", wire.TypeQuery, []byte("slow"))
		if err == nil && string(got) != "slow" {
			err = fmt.Errorf("slow call got %q", got)
		}
		slow <- err
	}()
	conn, _, err := c.conn(context.Background(), connKey{addr, "central-1"}, false)
	if err != nil {
		t.Fatal(err)
	}

	enc := func(f wire.Frame) []byte {
		b, err := wire.AppendFrame(nil, f)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	future := enc(wire.Frame{Type: wire.TypePing, RequestID: "v9"})
	future[2] = 9
	tests := []struct {
		name   string
		frame  []byte
		code   wire.Code
		msg    string
		echoID string
	}{
		{"garbage", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), wire.CodeBadRequest, "magic", ""},
		{"truncated", enc(wire.Frame{Type: wire.TypeQuery, RequestID: "t1", Payload: []byte("abcdef")})[:25], wire.CodeBadRequest, "truncated", "t1"},
		{"unknown type", enc(wire.Frame{Type: 4242, RequestID: "u1"}), wire.CodeUnknownType, "4242", "u1"},
		{"future version", future, wire.CodeUnsupported, "version 9", ""},
		{"response as request", enc(wire.Response(wire.Frame{Type: wire.TypePing, RequestID: "r1"}, nil)), wire.CodeBadRequest, "response frame", "r1"},
		{"oversize", enc(wire.Frame{Type: wire.TypeQuery, RequestID: "o1", Payload: make([]byte, wire.DefaultMaxPayload+1)}), wire.CodeTooLarge, "exceeds the limit", "o1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := rawCall(t, conn, tc.frame)
			if resp.Status != tc.code || !strings.Contains(resp.Message(), tc.msg) || resp.RequestID != tc.echoID {
				t.Fatalf("got status %v %q for request %q; want %v mentioning %q for %q", resp.Status, resp.Message(), resp.RequestID, tc.code, tc.msg, tc.echoID)
			}
		})
	}

	// Through the client API: a peer with larger limits than the server.
	big := newTestClient(t, Config{Identity: edge, Limits: wire.Limits{Payload: map[wire.Type]int{wire.TypeQuery: 4 << 20}}})
	_, err = big.Call(context.Background(), addr, "central-1", wire.TypeQuery, make([]byte, 2<<20))
	var te *Error
	if !errors.As(err, &te) || te.Code != wire.CodeTooLarge || !errors.Is(err, wire.ErrTooLarge) {
		t.Fatalf("oversize call: got %v, want a remote too-large refusal", err)
	}

	close(release)
	if err := <-slow; err != nil {
		t.Fatalf("the good call was disturbed: %v", err)
	}
	if got, err := c.Call(context.Background(), addr, "central-1", wire.TypePing, []byte("after")); err != nil || string(got) != "after" {
		t.Fatalf("call after refusals: %q, %v", got, err)
	}
}

func TestMutualTLSRefusal(t *testing.T) {
	fleet := pkitest.NewFleet(t)
	var calls atomic.Int32
	srv := startServer(t, Config{Identity: fleet.Identity("central-1", pki.RoleCentral)}, func(ctx context.Context, peer Peer, req wire.Frame) ([]byte, error) {
		calls.Add(1)
		return nil, nil
	})
	addr := srv.Addr().String()

	t.Run("certificate of another CA", func(t *testing.T) {
		c := newTestClient(t, Config{Identity: fleet.Outsider("edge-1")})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := c.Call(ctx, addr, "central-1", wire.TypeReport, nil)
		if err == nil || errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got %v, want a prompt refusal", err)
		}
		t.Logf("refused with: %v", err)
	})
	t.Run("server of another CA", func(t *testing.T) {
		impostor := startServer(t, Config{Identity: fleet.Outsider("central-1")}, echo)
		c := newTestClient(t, Config{Identity: fleet.Identity("edge-2", pki.RoleEdge)})
		_, err := c.Call(context.Background(), impostor.Addr().String(), "central-1", wire.TypePing, nil)
		if err == nil || !strings.Contains(err.Error(), "unknown authority") {
			t.Fatalf("got %v, want the client to refuse the server", err)
		}
	})
	t.Run("wrong server name", func(t *testing.T) {
		c := newTestClient(t, Config{Identity: fleet.Identity("edge-3", pki.RoleEdge)})
		_, err := c.Call(context.Background(), addr, "central-2", wire.TypePing, nil)
		if err == nil || !strings.Contains(err.Error(), "central-2") {
			t.Fatalf("got %v, want a name mismatch", err)
		}
	})
	t.Run("no client certificate", func(t *testing.T) {
		tlsConf := fleet.Identity("edge-4", pki.RoleEdge).ClientTLS("central-1")
		tlsConf.GetClientCertificate = nil
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		conn, err := quic.DialAddr(ctx, addr, tlsConf, &quic.Config{InitialPacketSize: initialPacketSize})
		if err == nil {
			// TLS 1.3 clients finish before the server has judged them;
			// the refusal arrives as the connection closing.
			select {
			case <-conn.Context().Done():
				err = context.Cause(conn.Context())
			case <-ctx.Done():
			}
		}
		if err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("got %v, want a refusal for the missing certificate", err)
		}
	})
	if n := calls.Load(); n != 0 {
		t.Fatalf("handler ran %d times for refused peers", n)
	}
}

// TestServerRestart restarts the server gracefully: it says goodbye, and
// the client's next call dials the new one. The relay's delay keeps the
// session resumption clear of quic-go issue 4303 (see roundTrip).
func TestServerRestart(t *testing.T) {
	fleet := pkitest.NewFleet(t)
	cfg := Config{Identity: fleet.Identity("central-1", pki.RoleCentral)}
	srv, err := Listen(context.Background(), "127.0.0.1:0", cfg, echo)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { srv.Close() }()
	addr := srv.Addr().String()
	via := relaytest.New(t, srv.Addr(), 0, 10*time.Millisecond, 1).Addr()
	c := newTestClient(t, Config{Identity: fleet.Identity("edge-1", pki.RoleEdge)})
	for _, typ := range []wire.Type{wire.TypePing, wire.TypeReport} {
		t.Run(typ.String(), func(t *testing.T) {
			if _, err := c.Call(context.Background(), via, "central-1", typ, []byte("before")); err != nil {
				t.Fatal(err)
			}
			old, _, err := c.conn(context.Background(), connKey{via, "central-1"}, false)
			if err != nil {
				t.Fatal(err)
			}
			if err := srv.Close(); err != nil {
				t.Fatal(err)
			}
			if !typ.Idempotent() {
				// A non-idempotent call racing the server's goodbye cannot
				// be retried (it may have been served), so let the goodbye
				// arrive: the point here is that a dead connection is
				// dropped and redialled.
				select {
				case <-old.Context().Done():
				case <-time.After(2 * time.Second):
					t.Fatal("client never saw the server close the connection")
				}
			}
			srv, err = Listen(context.Background(), addr, cfg, echo)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			if got, err := c.Call(ctx, via, "central-1", typ, []byte("after")); err != nil || string(got) != "after" {
				t.Fatalf("call after restart: %q, %v", got, err)
			}
		})
	}
}

// TestStatelessResetAfterCrash restarts the server without closing its
// connections, as a crash or power cut would: the client learns its
// connection is dead from the new server's stateless reset (same node key,
// same reset key) and redials within the same call instead of waiting out
// the idle timeout.
func TestStatelessResetAfterCrash(t *testing.T) {
	fleet := pkitest.NewFleet(t)
	cfg := Config{Identity: fleet.Identity("central-1", pki.RoleCentral)}
	srv, err := Listen(context.Background(), "127.0.0.1:0", cfg, echo)
	if err != nil {
		t.Fatal(err)
	}
	addr := srv.Addr().String()
	via := relaytest.New(t, srv.Addr(), 0, 10*time.Millisecond, 1).Addr()
	c := newTestClient(t, Config{Identity: fleet.Identity("edge-1", pki.RoleEdge), MaxIdleTimeout: time.Minute})
	if _, err := c.Call(context.Background(), via, "central-1", wire.TypePing, nil); err != nil {
		t.Fatal(err)
	}
	// Crash: forget the connections so Close cannot say goodbye; quic-go
	// then drops them silently.
	srv.mu.Lock()
	srv.conns = map[*quic.Conn]struct{}{}
	srv.mu.Unlock()
	srv.Close()
	srv2, err := Listen(context.Background(), addr, cfg, echo)
	if err != nil {
		t.Fatal(err)
	}
	defer srv2.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if _, err := c.Call(ctx, via, "central-1", wire.TypeQuery, []byte("q")); err != nil {
		t.Fatalf("call after crash: %v", err)
	}
}
