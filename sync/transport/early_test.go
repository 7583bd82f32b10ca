package transport

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/edgerag/edgerag/sync/pki"
	"github.com/edgerag/edgerag/sync/pki/pkitest"
	"github.com/edgerag/edgerag/sync/transport/relaytest"
	"github.com/edgerag/edgerag/sync/wire"
	"github.com/quic-go/quic-go"
)

// oneWay is the relay delay of the 0-RTT tests. It separates "the server got
// the 0-RTT request" from "the handshake completed" by two one-way trips,
// which makes the assertions below deterministic, and it keeps the client
// clear of quic-go issue 4303 (see roundTrip).
const oneWay = 30 * time.Millisecond

type earlyRecord struct {
	typ   wire.Type
	early bool
}

func startEarlyServer(t *testing.T, fleet *pkitest.Fleet) (*Server, chan earlyRecord) {
	seen := make(chan earlyRecord, 16)
	srv := startServer(t, Config{Identity: fleet.Identity("central-1", pki.RoleCentral)}, func(ctx context.Context, peer Peer, req wire.Frame) ([]byte, error) {
		seen <- earlyRecord{req.Type, Early(ctx)}
		return req.Payload, nil
	})
	return srv, seen
}

// dropConns closes the client's connections as a flaky link would, keeping
// its TLS session cache.
func dropConns(t *testing.T, c *Client) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for key, s := range c.conns {
		<-s.ready
		if s.conn != nil {
			s.conn.CloseWithError(0, "test drops the connection")
		}
		delete(c.conns, key)
	}
}

// waitTicket waits until the server's session ticket has reached the
// client: it arrives after the handshake, possibly after the first response.
func waitTicket(t *testing.T, c *Client, serverName string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		if s, ok := c.sessions.Get(serverName); ok && s != nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no session ticket from the server")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (c *Client) stateOf(key connKey) quic.ConnectionState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.conns[key].conn.ConnectionState()
}

func TestReconnectUses0RTT(t *testing.T) {
	fleet := pkitest.NewFleet(t)
	srv, seen := startEarlyServer(t, fleet)
	via := relaytest.New(t, srv.Addr(), 0, oneWay, 1).Addr()
	c := newTestClient(t, Config{Identity: fleet.Identity("edge-1", pki.RoleEdge)})
	key := connKey{via, "central-1"}
	ctx := context.Background()

	if _, err := c.Call(ctx, via, "central-1", wire.TypePing, nil); err != nil {
		t.Fatal(err)
	}
	if st := c.stateOf(key); st.Used0RTT || st.TLS.DidResume {
		t.Fatal("first connection claims resumption")
	}
	<-seen
	waitTicket(t, c, "central-1")

	tests := []struct {
		typ      wire.Type
		want0RTT bool
	}{
		{wire.TypePing, true},
		{wire.TypeQuery, true},
		{wire.TypeReport, false}, // waits for the handshake, though it resumes
	}
	for _, tc := range tests {
		t.Run(tc.typ.String(), func(t *testing.T) {
			dropConns(t, c)
			waitTicket(t, c, "central-1")
			if _, err := c.Call(ctx, via, "central-1", tc.typ, []byte("x")); err != nil {
				t.Fatal(err)
			}
			st := c.stateOf(key)
			if !st.TLS.DidResume {
				t.Error("reconnect did not resume the TLS session")
			}
			if st.Used0RTT != tc.want0RTT {
				t.Errorf("Used0RTT = %v, want %v", st.Used0RTT, tc.want0RTT)
			}
			if r := <-seen; r.early != tc.want0RTT {
				t.Errorf("handler saw Early = %v, want %v", r.early, tc.want0RTT)
			}
		})
	}
}

// TestServerHoldsEarlyNonIdempotent sends a Report in 0-RTT data directly,
// bypassing the client's own check, and verifies the server does not run
// the handler until the handshake has completed: at the earliest two
// one-way trips after the request arrived.
func TestServerHoldsEarlyNonIdempotent(t *testing.T) {
	fleet := pkitest.NewFleet(t)
	srv, seen := startEarlyServer(t, fleet)
	via := relaytest.New(t, srv.Addr(), 0, oneWay, 2).Addr()
	c := newTestClient(t, Config{Identity: fleet.Identity("edge-1", pki.RoleEdge)})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.Call(ctx, via, "central-1", wire.TypePing, nil); err != nil {
		t.Fatal(err)
	}
	<-seen
	waitTicket(t, c, "central-1")

	for _, typ := range []wire.Type{wire.TypePing, wire.TypeReport} {
		t.Run(typ.String(), func(t *testing.T) {
			dropConns(t, c)
			waitTicket(t, c, "central-1")
			c.mu.Lock()
			tr, err := c.transportLocked()
			c.mu.Unlock()
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			conn, err := c.dial(ctx, tr, connKey{via, "central-1"}, true)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.CloseWithError(0, "")
			if handshakeDone(conn) {
				t.Fatal("DialEarly returned after the handshake; 0-RTT was not attempted")
			}
			str, err := conn.OpenStreamSync(ctx)
			if err != nil {
				t.Fatal(err)
			}
			conn.ConnectionState() // see roundTrip
			if err := wire.WriteFrame(str, wire.Frame{Type: typ, RequestID: "raw"}); err != nil {
				t.Fatal(err)
			}
			str.Close()
			resp, err := wire.ReadFrame(str, wire.Limits{})
			took := time.Since(start)
			if err != nil || resp.Status != wire.CodeOK {
				t.Fatalf("response %+v, %v", resp, err)
			}
			r := <-seen
			if !conn.ConnectionState().Used0RTT {
				t.Fatal("server rejected 0-RTT")
			}
			if typ.Idempotent() {
				if !r.early {
					t.Error("a 0-RTT ping was held for the handshake")
				}
				return
			}
			// Request at +1 trip, client Finished at +3: the response
			// cannot be back before +4.
			if r.early || took < 4*oneWay {
				t.Errorf("report served early=%v after %v; it must wait for the handshake (>= %v)", r.early, took, 4*oneWay)
			}
		})
	}
}

func TestLossyLink(t *testing.T) {
	if testing.Short() {
		t.Skip("takes a few seconds")
	}
	fleet := pkitest.NewFleet(t)
	srv := startServer(t, Config{Identity: fleet.Identity("central-1", pki.RoleCentral)}, echo)
	// 10% loss each way and 100 ms each way: a bad rural uplink.
	via := relaytest.New(t, srv.Addr(), 0.10, 100*time.Millisecond, 7).Addr()
	c := newTestClient(t, Config{Identity: fleet.Identity("edge-1", pki.RoleEdge)})

	call := func(i int) error {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		want := fmt.Sprintf("question %d", i)
		got, err := c.Call(ctx, via, "central-1", wire.TypeQuery, []byte(want))
		if err == nil && string(got) != want {
			err = fmt.Errorf("got %q", got)
		}
		return err
	}
	// The first call includes the handshake.
	if err := call(0); err != nil {
		t.Fatalf("first call: %v", err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 10)
	for i := 1; i <= 10; i++ {
		wg.Go(func() { errs <- call(i) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

func TestServerCloseCancelsHandlers(t *testing.T) {
	fleet := pkitest.NewFleet(t)
	started := make(chan struct{})
	ended := make(chan error, 1)
	srv, err := Listen(context.Background(), "127.0.0.1:0", Config{Identity: fleet.Identity("central-1", pki.RoleCentral)}, func(ctx context.Context, peer Peer, req wire.Frame) ([]byte, error) {
		close(started)
		<-ctx.Done()
		ended <- ctx.Err()
		return nil, ctx.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	c := newTestClient(t, Config{Identity: fleet.Identity("edge-1", pki.RoleEdge)})
	callErr := make(chan error, 1)
	go func() {
		_, err := c.Call(context.Background(), srv.Addr().String(), "central-1", wire.TypeQuery, nil)
		callErr <- err
	}()
	<-started
	start := time.Now()
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("Close took %v", took)
	}
	select {
	case err := <-ended:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("handler context ended with %v", err)
		}
	default:
		t.Error("Close returned before the handler did")
	}
	select {
	case err := <-callErr:
		if err == nil {
			t.Error("call succeeded against a closed server")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("call still waiting after the server closed")
	}
	if err := srv.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestClientClose(t *testing.T) {
	fleet := pkitest.NewFleet(t)
	srv := startServer(t, Config{Identity: fleet.Identity("central-1", pki.RoleCentral)}, echo)
	c := NewClient(Config{Identity: fleet.Identity("edge-1", pki.RoleEdge)})
	if _, err := c.Call(context.Background(), srv.Addr().String(), "central-1", wire.TypePing, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Call(context.Background(), srv.Addr().String(), "central-1", wire.TypePing, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("call after Close: %v, want ErrClosed", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestServerClientSharesSocket(t *testing.T) {
	fleet := pkitest.NewFleet(t)
	central := startServer(t, Config{Identity: fleet.Identity("central-1", pki.RoleCentral)}, func(ctx context.Context, peer Peer, req wire.Frame) ([]byte, error) {
		return []byte(peer.Addr.String()), nil
	})
	edge := startServer(t, Config{Identity: fleet.Identity("edge-1", pki.RoleEdge)}, echo)
	c := edge.NewClient()
	defer c.Close()
	got, err := c.Call(context.Background(), central.Addr().String(), "central-1", wire.TypePing, nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != edge.Addr().String() {
		t.Fatalf("central saw the call from %s, want the edge's listening socket %s", got, edge.Addr())
	}
}
