package agent_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/edgerag/edgerag/node/admission"
	"github.com/edgerag/edgerag/node/agent"
	"github.com/edgerag/edgerag/node/api"
)

// BenchmarkQueryVsRefusal measures, through the node's real HTTP server
// (connection limits, auth guard, API handler, admission), the CPU one
// answered query costs against one refused with 429: under a surge the
// node's CPU goes to refusals, so a refusal must cost a small fraction of
// an answer. The client is a raw keep-alive connection writing prebuilt
// request bytes, so that cpu-ns/op is mostly the server's.
//
// The floor is the same client against the cheapest server there is: one
// read and one write of a fixed 429 per request, no HTTP at all. What the
// refusal costs above the floor is the node's own work; the floor itself
// (system calls and goroutine wake-ups) is what any refusal of a request
// sent on its own costs on this machine.
func BenchmarkQueryVsRefusal(b *testing.B) {
	a, token := startLoaded(b)
	req := queryBytes(token)
	run := func(b *testing.B, want int, addr string) {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close()
		br := bufio.NewReaderSize(conn, 64<<10)
		var ru0, ru1 syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
		lat := make([]time.Duration, b.N)
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			t0 := time.Now()
			if _, err := conn.Write(req); err != nil {
				b.Fatal(err)
			}
			if status := readResponse(b, br); status != want {
				b.Fatalf("status %d, want %d", status, want)
			}
			lat[i] = time.Since(t0)
		}
		b.StopTimer()
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
		cpu := time.Duration(ru1.Utime.Nano()+ru1.Stime.Nano()-ru0.Utime.Nano()-ru0.Stime.Nano()) * time.Nanosecond
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
	node := strings.TrimPrefix(a.URL(), "http://")
	b.Run("answered", func(b *testing.B) { run(b, 200, node) })
	b.Run("refused", func(b *testing.B) {
		defer fillRetrieval(b, a)()
		run(b, 429, node)
	})
	// The same query with a chunked body, which the fast path does not
	// frame: refused the earlier way, by net/http and the handler's early
	// refusal (the baseline of the fast path, measured in the same run).
	b.Run("refused-nethttp", func(b *testing.B) {
		defer fillRetrieval(b, a)()
		req = chunkedQueryBytes(token)
		defer func() { req = queryBytes(token) }()
		run(b, 429, node)
	})
	b.Run("floor", func(b *testing.B) { run(b, 429, floorServer(b)) })
}

// floorServer answers every read on a connection with a fixed 429 and
// returns its address.
func floorServer(tb testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	const body = `{"error":{"code":"overloaded","message":"busy"}}`
	resp := []byte("HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nRetry-After: 1\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 4096)
				for {
					if _, err := c.Read(buf); err != nil {
						return
					}
					if _, err := c.Write(resp); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// TestRefusalComesAfterAuth: with the retrieval gate full, a query without
// a token is still 401 (the guard runs before the early refusal), and one
// with a token is 429 with Retry-After.
func TestRefusalComesAfterAuth(t *testing.T) {
	a, token := startLoaded(t)
	defer fillRetrieval(t, a)()
	conn, err := net.Dial("tcp", strings.TrimPrefix(a.URL(), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	for _, c := range []struct {
		token string
		want  int
	}{{"", 401}, {token, 429}} {
		if _, err := conn.Write(queryBytes(c.token)); err != nil {
			t.Fatal(err)
		}
		if status := readResponse(t, br); status != c.want {
			t.Errorf("query with token %v and the gate full: %d, want %d", c.token != "", status, c.want)
		}
	}
}

// startLoaded starts a node serving HTTP with 500 short documents and
// returns its admin token.
func startLoaded(tb testing.TB) (*agent.Agent, string) {
	tb.Helper()
	dir := tb.TempDir()
	a, err := agent.New(agent.Config{Name: "bench", DataDir: dir, HTTPAddr: "127.0.0.1:0", NoSync: true})
	if err != nil {
		tb.Fatal(err)
	}
	ctx := context.Background()
	if err := a.Start(ctx); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = a.Close() })
	tok, err := os.ReadFile(filepath.Join(dir, "admin.token"))
	if err != nil {
		tb.Fatal(err)
	}
	c := api.NewClient(a.URL(), nil)
	c.Token = strings.TrimSpace(string(tok))
	var docs []api.Document
	for i := range 500 {
		docs = append(docs, api.Document{ID: fmt.Sprintf("d%d", i), Body: fmt.Sprintf(
			"Maintenance note %d: the pump in bay %d is primed before the valve opens, and the filter is checked weekly for wear number %d.", i, i%17, i)})
	}
	if _, err := c.Ingest(ctx, docs); err != nil {
		tb.Fatal(err)
	}
	return a, c.Token
}

// queryBytes is a query request as it goes on the wire.
func queryBytes(token string) []byte {
	body := `{"question":"when is the pump in bay 3 primed","k":5}`
	auth := ""
	if token != "" {
		auth = "Authorization: Bearer " + token + "\r\n"
	}
	return []byte("POST /v1/query HTTP/1.1\r\nHost: x\r\n" + auth +
		"Content-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body)
}

// chunkedQueryBytes is queryBytes with the body sent chunked.
func chunkedQueryBytes(token string) []byte {
	body := `{"question":"when is the pump in bay 3 primed","k":5}`
	return []byte("POST /v1/query HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token + "\r\n" +
		"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" + strconv.FormatInt(int64(len(body)), 16) + "\r\n" + body + "\r\n0\r\n\r\n")
}

// fillRetrieval takes every retrieval slot and keeps the queue full, as a
// surge does (queued requests give up after a while and come back); the
// returned func lets go.
func fillRetrieval(tb testing.TB, a *agent.Agent) func() {
	tb.Helper()
	var st admission.Stats
	for _, s := range a.Node().Admission() {
		if s.Class == admission.Retrieval {
			st = s
		}
	}
	fill, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := range st.Slots + st.Queue + st.Reserve {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each filler a client of its own, named the way the API
			// server names one (the node reads api's client, not
			// admission's), so that the reserve for clients holding no
			// place is taken too.
			ctx := api.WithClient(fill, fmt.Sprint("filler-", i))
			for refused := 0; fill.Err() == nil; {
				rel, err := a.Node().Admit(ctx, admission.Retrieval)
				if err == nil {
					<-fill.Done()
					rel()
					return
				}
				// A queued filler is refused when its wait runs out
				// (four target waits): it takes its place back at once,
				// or the benchmark's request would slip into the gap and
				// wait there instead of being refused. One refused again
				// and again (its place taken) backs off instead of
				// spinning: the spinning fillers' CPU would be counted
				// as the refusals' (0.38 s of CPU and 4.2M allocations
				// per refusal, when the fillers' client was not the one
				// the node reads and none of them waited).
				if refused++; refused > 100 {
					time.Sleep(time.Millisecond)
				}
			}
		}()
	}
	time.Sleep(50 * time.Millisecond)
	return func() { stop(); wg.Wait() }
}

// readResponse reads one HTTP/1.1 response with a Content-Length body and
// returns its status.
func readResponse(b testing.TB, br *bufio.Reader) int {
	line, err := br.ReadSlice('\n')
	if err != nil || len(line) < 12 {
		b.Fatalf("status line %q: %v", line, err)
	}
	status, _ := strconv.Atoi(string(line[9:12]))
	n, chunked := 0, false
	for {
		h, err := br.ReadSlice('\n')
		if err != nil {
			b.Fatal(err)
		}
		if len(h) <= 2 {
			break
		}
		if len(h) > 16 && strings.EqualFold(string(h[:15]), "content-length:") {
			n, _ = strconv.Atoi(strings.TrimSpace(string(h[15:])))
		}
		if strings.EqualFold(strings.TrimSpace(string(h)), "transfer-encoding: chunked") {
			chunked = true
		}
	}
	if chunked {
		for {
			h, err := br.ReadSlice('\n')
			if err != nil {
				b.Fatal(err)
			}
			size, err := strconv.ParseInt(strings.TrimSpace(string(h)), 16, 64)
			if err != nil {
				b.Fatalf("chunk size %q: %v", h, err)
			}
			if _, err := br.Discard(int(size) + 2); err != nil {
				b.Fatal(err)
			}
			if size == 0 {
				return status
			}
		}
	}
	if _, err := br.Discard(n); err != nil && err != io.EOF {
		b.Fatal(err)
	}
	return status
}

// TestFloodKeepsQueriesAnswered: a real node (HTTP server, guard,
// admission, Badger) under a flood of queries from one client on many
// keep-alive connections, far beyond what it answers, refuses the excess
// with 429, Retry-After and the JSON error shape (most of it below
// net/http), and a normal client asking now and then keeps getting answers
// (the admission gates keep a reserve for clients holding no place) or, at
// worst, the same well-formed refusal — never a timeout.
func TestFloodKeepsQueriesAnswered(t *testing.T) {
	a, token := startLoaded(t)
	addr := strings.TrimPrefix(a.URL(), "http://")
	req := queryBytes(token)
	stop := make(chan struct{})
	var mu sync.Mutex
	flood := map[int]int{}
	var bad []string
	var wg sync.WaitGroup
	for range 48 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
			conn, err := d.Dial("tcp", addr)
			if err != nil {
				mu.Lock()
				bad = append(bad, err.Error())
				mu.Unlock()
				return
			}
			defer conn.Close()
			br := bufio.NewReader(conn)
			for {
				select {
				case <-stop:
					return
				default:
				}
				_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
				if _, err := conn.Write(req); err != nil {
					mu.Lock()
					bad = append(bad, err.Error())
					mu.Unlock()
					return
				}
				status, problem := checkedResponse(br)
				mu.Lock()
				flood[status]++
				if problem != "" {
					bad = append(bad, problem)
				}
				mu.Unlock()
				if problem != "" {
					return
				}
			}
		}()
	}
	normal := map[int]int{}
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := conn.Write(req); err != nil {
			t.Fatal(err)
		}
		status, problem := checkedResponse(br)
		if problem != "" {
			t.Fatalf("normal client: %s", problem)
		}

		normal[status]++
	}
	close(stop)
	wg.Wait()
	t.Logf("flood: %v; normal client: %v", flood, normal)
	if len(bad) > 0 {
		t.Fatalf("%d bad answers to the flood, e.g. %v", len(bad), bad[:min(3, len(bad))])
	}
	if flood[429] == 0 {
		t.Fatal("the flood was never refused: it did not saturate the node")
	}
	// The gate's reserve is for clients holding no place: the flood is
	// refused at the bound, the normal client gets in (91-93 % answered on
	// the shared 2-core VM; 15 % before the reserve).
	if asked := normal[200] + normal[429]; normal[200]*2 < asked {
		t.Fatalf("the normal client got %d answers of %d queries during the flood, want at least half", normal[200], asked)
	}
}

// checkedResponse reads one response: a 200, or a 429 with Retry-After
// and the JSON error shape; anything else is a problem.
func checkedResponse(br *bufio.Reader) (int, string) {
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return 0, "reading the answer: " + err.Error()
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return 0, "reading the body: " + err.Error()
	}
	switch resp.StatusCode {
	case http.StatusOK:
		return 200, ""
	case http.StatusTooManyRequests:
		var e struct {
			Error api.Error `json:"error"`
		}
		if json.Unmarshal(body, &e) != nil || e.Error.Code != api.CodeOverloaded || resp.Header.Get("Retry-After") == "" {
			return 429, fmt.Sprintf("429 without Retry-After or the error shape: %q %s", resp.Header.Get("Retry-After"), body)
		}
		return 429, ""
	}
	return resp.StatusCode, fmt.Sprintf("status %d: %s", resp.StatusCode, body)
}
