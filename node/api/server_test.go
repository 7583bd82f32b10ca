package api

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// startLimited serves a handler that reads the body and answers, on
// 127.0.0.1 with the given limits.
func startLimited(t *testing.T, l Limits) (*Server, string) {
	t.Helper()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			WriteError(w, Errorf(http.StatusBadRequest, CodeBadRequest, "reading request body: %v", err))
			return
		}
		WriteJSON(w, http.StatusOK, map[string]string{"answer": "ok"})
	})
	srv := NewServer(h, l)
	return srv, serveLoopback(t, srv)
}

// serveLoopback serves srv on a loopback port until the test ends and
// returns its address.
func serveLoopback(t *testing.T, srv *Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		_ = srv.Close()
	})
	return ln.Addr().String()
}

// dialFrom opens a connection from another loopback address, as a second
// client machine would.
func dialFrom(t *testing.T, src, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 2 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial from %s: %v", src, err)
	}
	return c
}

// normalQueries asks every interval until stop and reports the failures and
// the slowest answer.
func normalQueries(addr string, every time.Duration, stop <-chan struct{}) (fails []string, slowest time.Duration, n int) {
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for {
		select {
		case <-stop:
			return fails, slowest, n
		case <-time.After(every):
		}
		start := time.Now()
		resp, err := client.Post("http://"+addr+"/v1/query", "application/json", strings.NewReader(`{"question":"reset the pump"}`))
		took := time.Since(start)
		slowest = max(slowest, took)
		n++
		if err != nil {
			fails = append(fails, err.Error())
			continue
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			fails = append(fails, resp.Status)
		}
	}
}

// Slow bodies and slow headers are cut after their grace, and normal
// queries from another client go on being answered meanwhile.
func TestSlowlorisIsCutAndQueriesAnswered(t *testing.T) {
	_, addr := startLimited(t, Limits{ReadHeaderTimeout: 500 * time.Millisecond, BodyGrace: 500 * time.Millisecond,
		MinBodyRate: 1 << 10, MaxConns: 400, MaxConnsPerClient: 300})
	const slow = 300
	stop := make(chan struct{})
	type result struct {
		fails   []string
		slowest time.Duration
		n       int
	}
	res := make(chan result, 1)
	go func() { f, s, n := normalQueries(addr, 20*time.Millisecond, stop); res <- result{f, s, n} }()

	var wg sync.WaitGroup
	cut := make(chan time.Duration, slow)
	for i := range slow {
		c := dialFrom(t, "127.0.0.2", addr)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			start := time.Now()
			if i%2 == 0 { // headers, then a body a byte at a time
				fmt.Fprintf(c, "POST /v1/query HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n")
			} else { // headers a byte at a time
				fmt.Fprintf(c, "POST /v1/query HTTP/1.1\r\n")
			}
			for range 50 {
				if _, err := c.Write([]byte("x")); err != nil {
					break
				}
				_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
				if _, err := c.Read(make([]byte, 512)); err != nil && !isTimeout(err) {
					break // the server answered and/or closed
				}
			}
			cut <- time.Since(start)
		}()
	}
	wg.Wait()
	close(stop)
	close(cut)
	r := <-res
	var longest time.Duration
	for d := range cut {
		longest = max(longest, d)
	}
	// 50 bytes at one per 100 ms would take 5 s; the server must cut
	// them after their half-second grace (plus scheduling on a busy box).
	if longest > 3*time.Second {
		t.Errorf("a slow connection stayed open %v; want it cut after about 0.5 s", longest)
	}
	if len(r.fails) > 0 || r.n == 0 {
		t.Errorf("%d of %d normal queries failed during the slowloris: %v", len(r.fails), r.n, r.fails[:min(3, len(r.fails))])
	}
	if r.slowest > time.Second {
		t.Errorf("slowest normal query %v during the slowloris", r.slowest)
	}
}

// A connection flood from one client stops at its per-client limit with a
// 503 in the error shape; another client's queries are answered.
func TestConnectionFloodKeepsOtherClientsServed(t *testing.T) {
	srv, addr := startLimited(t, Limits{MaxConns: 300, MaxConnsPerClient: 100, IdleTimeout: 10 * time.Second})
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range 1000 {
		conns = append(conns, dialFrom(t, "127.0.0.3", addr))
	}
	// Past the first 100, each flood connection is answered 503 and closed.
	last := conns[len(conns)-1]
	_ = last.SetReadDeadline(time.Now().Add(2 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(last), nil)
	if err != nil {
		t.Fatalf("flood connection past the limit: %v, want a 503", err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(b), `"code":"overloaded"`) {
		t.Fatalf("status %d Retry-After %q body %s: want 503 overloaded", resp.StatusCode, resp.Header.Get("Retry-After"), b)
	}
	stop := make(chan struct{})
	time.AfterFunc(time.Second, func() { close(stop) })
	fails, slowest, n := normalQueries(addr, 10*time.Millisecond, stop)
	if len(fails) > 0 || n == 0 {
		t.Fatalf("%d of %d normal queries failed under the flood: %v", len(fails), n, fails[:min(3, len(fails))])
	}
	if slowest > 500*time.Millisecond {
		t.Errorf("slowest normal query %v under the flood", slowest)
	}
	if got := srv.Refused(); got < 900 {
		t.Errorf("refused %d connections, want the 900 past the per-client limit", got)
	}
}

func TestLimitsDefaults(t *testing.T) {
	l := Limits{}.withDefaults()
	if l.MaxConns < 64 || l.MaxConns > 2048 || l.MaxConnsPerClient != l.MaxConns/4 {
		t.Fatalf("defaults %+v", l)
	}
	if l.ReadHeaderTimeout != 5*time.Second || l.BodyGrace != 5*time.Second || l.IdleTimeout != 30*time.Second {
		t.Fatalf("defaults %+v", l)
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// shedding refuses every query early.
type shedding struct {
	Service
	err error
}

func (s shedding) ShedEarly(string, string) error { return s.err }

type unreadBody struct{ t *testing.T }

func (b unreadBody) Read([]byte) (int, error) {
	b.t.Error("the body of a query refused early was read")
	return 0, io.EOF
}

// A query refused early gets the prebuilt answer, the same bytes WriteError
// writes for its error, with Retry-After, without its body being read.
func TestShedEarlyPrebuiltAnswer(t *testing.T) {
	e := &Error{Status: http.StatusTooManyRequests, Code: CodeOverloaded, Message: "the node is busy: retry after 2 s", RetryAfter: 2 * time.Second}
	cause := errors.New("overloaded")
	p := Prebuild(e, cause)
	if !errors.Is(p, cause) || AsError(p) != e {
		t.Fatalf("the prebuilt answer hides its errors: Is %v, AsError %v", errors.Is(p, cause), AsError(p))
	}
	h := NewHandler(shedding{err: p}, nil)
	for range 2 { // the shared header values survive a first use
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/query", unreadBody{t}))
		want := httptest.NewRecorder()
		WriteError(want, e)
		if rec.Code != 429 || rec.Header().Get("Retry-After") != "2" || rec.Header().Get("Content-Type") != "application/json" ||
			rec.Body.String() != want.Body.String() || rec.Header().Get("Content-Length") != strconv.Itoa(want.Body.Len()) || rec.Header().Get("X-Request-Id") == "" {
			t.Fatalf("early refusal: %d %v %q; want 429 with Retry-After 2, a request id and %q", rec.Code, rec.Header(), rec.Body, want.Body)
		}
	}
	// Other routes are not shed.
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("healthz with a full queue: %d", rec.Code)
	}
}
