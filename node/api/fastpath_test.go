package api

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestParseHead(t *testing.T) {
	const q = "POST /v1/query HTTP/1.1\r\nHost: n\r\nAuthorization: Bearer t\r\nContent-Length: 2\r\n\r\n{}"
	for _, c := range []struct {
		name, in string
		want     headStatus
		fast     bool
		size     int
		body     int
	}{
		{"query", q, headFramed, true, len(q) - 2, 2},
		{"no body", "GET /v1/status HTTP/1.1\r\nHost: n\r\n\r\n", headFramed, true, -1, 0},
		{"head in parts", q[:30], headMore, false, 0, 0},
		{"request line in parts", "POST /v1/qu", headMore, false, 0, 0},
		{"bare LF", "GET / HTTP/1.1\nHost: n\n\n", headUnframed, false, 0, 0},
		{"HTTP/1.0", "GET / HTTP/1.0\r\nHost: n\r\n\r\n", headUnframed, false, 0, 0},
		{"chunked", "POST /v1/query HTTP/1.1\r\nHost: n\r\nTransfer-Encoding: chunked\r\n\r\n", headUnframed, false, 0, 0},
		{"two lengths", "POST / HTTP/1.1\r\nHost: n\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}", headUnframed, false, 0, 0},
		{"signed length", "POST / HTTP/1.1\r\nHost: n\r\nContent-Length: +2\r\n\r\n{}", headUnframed, false, 0, 0},
		{"folded header", "GET / HTTP/1.1\r\nHost: n\r\nX: a\r\n b\r\n\r\n", headUnframed, false, 0, 0},
		{"space before colon", "GET / HTTP/1.1\r\nHost : n\r\n\r\n", headUnframed, false, 0, 0},
		{"NUL in a value", "GET / HTTP/1.1\r\nHost: n\r\nX: a\x00b\r\n\r\n", headUnframed, false, 0, 0},
		{"upgrade", "GET / HTTP/1.1\r\nHost: n\r\nUpgrade: websocket\r\n\r\n", headUnframed, false, 0, 0},
		{"absolute target", "GET http://n/ HTTP/1.1\r\nHost: n\r\n\r\n", headUnframed, false, 0, 0},
		{"no host: net/http answers", "GET / HTTP/1.1\r\n\r\n", headFramed, false, -1, 0},
		{"closing: net/http answers", "GET / HTTP/1.1\r\nHost: n\r\nConnection: close\r\n\r\n", headFramed, false, -1, 0},
		{"expect: net/http answers", "POST / HTTP/1.1\r\nHost: n\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n", headFramed, false, -1, 1},
		{"two credentials", "GET / HTTP/1.1\r\nHost: n\r\nAuthorization: a\r\nAuthorization: b\r\n\r\n", headFramed, false, -1, 0},
	} {
		if c.size < 0 {
			c.size = len(c.in)
		}
		h, st := parseHead([]byte(c.in))
		if st != c.want || (st == headFramed && (h.fast != c.fast || h.size != c.size || h.body != c.body)) {
			t.Errorf("%s: status %d fast %v size %d body %d, want %d %v %d %d", c.name, st, h.fast, h.size, h.body, c.want, c.fast, c.size, c.body)
		}
	}
}

// FuzzParseHead checks the fast path's framing against net/http's: a head
// parseHead frames is one http.ReadRequest reads the same way (same
// method, target, credential and length, the same bytes consumed), and a
// fast one is one the server would not refuse as malformed. A mismatch
// would put the fast path and net/http out of step on a connection.
func FuzzParseHead(f *testing.F) {
	for _, s := range []string{
		"POST /v1/query HTTP/1.1\r\nHost: n\r\nAuthorization: Bearer t\r\nContent-Length: 2\r\n\r\n{}GET / HTTP/1.1\r\n",
		"GET / HTTP/1.1\r\nHost: a:1\r\nConnection: keep-alive\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: n\r\nContent-Length: 007\r\n\r\n1234567",
		"POST / HTTP/1.1\r\nhost: n\r\ncontent-length:  3 \r\n\r\nabc",
		"GET /a?b=c HTTP/1.1\r\nHost: [::1]:80\r\nX:\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: n\r\nX: \xff\xfe\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, st := parseHead(b)
		if st != headFramed {
			return
		}
		total := h.size + h.body
		if total > len(b) {
			return // the body is not all there: nothing to compare
		}
		br := bufio.NewReader(bytes.NewReader(b[:total]))
		req, err := http.ReadRequest(br)
		if err != nil {
			t.Fatalf("framed %q, net/http: %v", b[:total], err)
		}
		body, err := io.ReadAll(req.Body)
		if err != nil || len(body) != h.body || req.ContentLength != int64(h.body) && !(h.body == 0 && req.ContentLength == -1) {
			t.Fatalf("framed %q with body %d, net/http read %d (%v), Content-Length %d", b[:total], h.body, len(body), err, req.ContentLength)
		}
		if br.Buffered() != 0 {
			t.Fatalf("framed %q, net/http left %d bytes", b[:total], br.Buffered())
		}
		if req.Method != string(h.method) || req.RequestURI != string(h.target) {
			t.Fatalf("framed %q as %s %s, net/http %s %s", b, h.method, h.target, req.Method, req.RequestURI)
		}
		if !h.fast {
			return
		}
		if got := req.Header.Get("Authorization"); got != string(h.auth) {
			t.Fatalf("credential %q, net/http %q", h.auth, got)
		}
		if len(req.Header.Values("Host")) != 0 || req.Close || req.ProtoMinor != 1 {
			t.Fatalf("fast %q: net/http host %q, close %v, proto %s", b, req.Host, req.Close, req.Proto)
		}
		for k, vs := range req.Header {
			for _, v := range vs {
				for i := 0; i < len(v); i++ {
					if c := v[i]; (c < ' ' && c != '\t') || c == 0x7f {
						t.Fatalf("fast %q: header %s has a control byte", b, k)
					}
				}
			}
		}
	})
}

// shedServer serves a handler that answers 401 without "Bearer good",
// else 429 while shedding is on (the slow way, through net/http), else
// 200; Shed refuses the same requests while shedding is on.
func shedServer(t *testing.T, l Limits, shedding *atomic.Bool, handled *atomic.Int64) (*Server, string) {
	t.Helper()
	refusal := Prebuild(&Error{Status: http.StatusTooManyRequests, Code: CodeOverloaded, Message: "busy", RetryAfter: 2 * time.Second}, nil)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handled.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		switch {
		case r.Header.Get("Authorization") != "Bearer good":
			WriteError(w, Errorf(http.StatusUnauthorized, CodeUnauthorized, "no credential"))
		case shedding.Load():
			refusal.Write(w)
		default:
			WriteJSON(w, http.StatusOK, map[string]string{"answer": "ok"})
		}
	})
	srv := NewServer(h, l)
	srv.Shed = func(method, target, auth []byte, _ string) *Prebuilt {
		if shedding.Load() && string(auth) == "Bearer good" {
			return refusal
		}
		return nil
	}
	return srv, serveLoopback(t, srv)
}

func rawQuery(auth string, extra string) string {
	body := `{"question":"q"}`
	if auth != "" {
		auth = "Authorization: " + auth + "\r\n"
	}
	return "POST /v1/query HTTP/1.1\r\nHost: n\r\n" + auth + extra + "Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
}

// readAnswer reads one response and checks that a refusal carries
// Retry-After and the JSON error shape.
func readAnswer(t *testing.T, br *bufio.Reader) int {
	t.Helper()
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 400 {
		var e struct {
			Error *Error `json:"error"`
		}
		if json.Unmarshal(b, &e) != nil || e.Error == nil || e.Error.Code == "" {
			t.Errorf("status %d without the error shape: %q", resp.StatusCode, b)
		}
	}
	if resp.StatusCode == http.StatusTooManyRequests && (resp.Header.Get("Retry-After") != "2" || resp.Header.Get("Date") == "") {
		t.Errorf("429 with Retry-After %q, Date %q", resp.Header.Get("Retry-After"), resp.Header.Get("Date"))
	}
	if resp.Close {
		t.Errorf("status %d closes the connection", resp.StatusCode)
	}
	return resp.StatusCode
}

// TestFastPathRefusesBelowNetHTTP: on one keep-alive connection, requests
// Shed refuses are answered 429 without reaching the handler, others
// (no credential, shedding off) are served, in order, pipelined or not;
// a request the fast path cannot frame hands the connection to net/http.
func TestFastPathRefusesBelowNetHTTP(t *testing.T) {
	var shedding atomic.Bool
	var handled atomic.Int64
	srv, addr := shedServer(t, Limits{}, &shedding, &handled)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	step := func(name, send string, want ...int) {
		t.Helper()
		if _, err := io.WriteString(c, send); err != nil {
			t.Fatal(err)
		}
		for i, w := range want {
			if got := readAnswer(t, br); got != w {
				t.Fatalf("%s: answer %d is %d, want %d", name, i, got, w)
			}
		}
	}
	good := rawQuery("Bearer good", "")
	step("not shedding", good, 200)
	shedding.Store(true)
	step("shedding", good+good, 429, 429)
	if n := handled.Load(); n != 1 || srv.FastRefused() != 2 {
		t.Fatalf("handler saw %d requests, fast path refused %d; want 1 and 2", n, srv.FastRefused())
	}
	// Auth first: without the credential the handler answers, even now.
	step("pipelined, one without credential", good+rawQuery("", "")+good+good, 429, 401, 429, 429)
	if n := handled.Load(); n < 2 {
		t.Fatalf("the request without credential did not reach the handler (%d)", n)
	}
	shedding.Store(false)
	step("shedding over", good, 200)
	shedding.Store(true)
	before := handled.Load()
	step("refused again", good, 429)
	if handled.Load() != before {
		t.Fatal("a refusable request reached the handler")
	}
	// A refusal carries the client's X-Request-Id, or a fresh one, as
	// the handler tags its answers: a client can match a 429 in the logs.
	for _, tc := range []struct{ header, want string }{
		{"X-Request-Id: trace-42\r\n", "trace-42"},
		{"X-Request-Id: has space\r\n", ""},
		{"", ""},
	} {
		if _, err := io.WriteString(c, rawQuery("Bearer good", tc.header)); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		id := resp.Header.Get("X-Request-Id")
		if resp.StatusCode != http.StatusTooManyRequests || (tc.want != "" && id != tc.want) || (tc.want == "" && (len(id) != 16 || !ValidRequestID(id))) {
			t.Errorf("sent %q: status %d, X-Request-Id %q; want 429 with %q (or a fresh id)", tc.header, resp.StatusCode, id, tc.want)
		}
	}
	// A chunked body is not framed here: the connection is net/http's from
	// now on, and still refuses (the slow way).
	step("chunked", "POST /v1/query HTTP/1.1\r\nHost: n\r\nAuthorization: Bearer good\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"+good, 429, 429)
	if handled.Load() != before+2 {
		t.Fatalf("after a chunked request the handler saw %d more, want 2", handled.Load()-before)
	}
}

// TestFastPathLargeBody: a refusable request whose body does not fit the
// fast path's buffer is served by net/http, and the connection stays in
// step.
func TestFastPathLargeBody(t *testing.T) {
	var shedding atomic.Bool
	var handled atomic.Int64
	_, addr := shedServer(t, Limits{}, &shedding, &handled)
	shedding.Store(true)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	big := strings.Repeat("x", 3*fastBufSize)
	req := "POST /v1/query HTTP/1.1\r\nHost: n\r\nAuthorization: Bearer good\r\nContent-Length: " + strconv.Itoa(len(big)) + "\r\n\r\n" + big
	if _, err := io.WriteString(c, req+rawQuery("Bearer good", "")); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if got := readAnswer(t, br); got != 429 {
			t.Fatalf("answer %d: %d", i, got)
		}
	}
	if handled.Load() != 1 {
		t.Fatalf("handler saw %d requests, want the large one only", handled.Load())
	}
}

// TestFastPathKeepsTimeouts: a client refused again and again keeps its
// connection past IdleTimeout (the fast path renews it as net/http would),
// an idle one loses it after IdleTimeout, and a head left unfinished is cut
// after ReadHeaderTimeout.
func TestFastPathKeepsTimeouts(t *testing.T) {
	var shedding atomic.Bool
	var handled atomic.Int64
	_, addr := shedServer(t, Limits{IdleTimeout: 1500 * time.Millisecond, ReadHeaderTimeout: 500 * time.Millisecond}, &shedding, &handled)
	shedding.Store(true)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	good := rawQuery("Bearer good", "")
	for end := time.Now().Add(4 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		if _, err := io.WriteString(c, good); err != nil {
			t.Fatal(err)
		}
		if got := readAnswer(t, br); got != 429 {
			t.Fatalf("status %d", got)
		}
	}
	// Idle: closed after IdleTimeout.
	start := time.Now()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := br.ReadByte(); err == nil {
		t.Fatal("data on an idle connection")
	}
	if d := time.Since(start); d < time.Second || d > 4*time.Second {
		t.Fatalf("idle connection closed after %s, want ~1.5 s", d)
	}
	// A head that never ends: cut after ReadHeaderTimeout, once refused.
	c2, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	br2 := bufio.NewReader(c2)
	if _, err := io.WriteString(c2, good); err != nil {
		t.Fatal(err)
	}
	readAnswer(t, br2)
	if _, err := io.WriteString(c2, good[:20]); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	_ = c2.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := br2.ReadByte(); err == nil {
		t.Fatal("answer to half a head")
	}
	if d := time.Since(start); d > 1300*time.Millisecond {
		t.Fatalf("half a head held the connection for %s, want ~0.5 s", d)
	}
}
