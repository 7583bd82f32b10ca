package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgerag/edgerag/node/api"
)

// TestSurgeIsShedWith429 sends a burst of queries far beyond what the node
// runs at once: every answer is a 200 or a 429 with Retry-After in the JSON
// error shape (none times out), and the node answers normally afterwards.
func TestSurgeIsShedWith429(t *testing.T) {
	ctx := context.Background()
	p := startNode(t, t.TempDir())
	c := testClient(p.url)
	var docs []api.Document
	for i := range 300 {
		docs = append(docs, api.Document{ID: fmt.Sprintf("d%d", i), Body: fmt.Sprintf("Pump P-%d is reset by holding the blue button for %d seconds, then checking the valve.", i, i%9)})
	}
	if _, err := c.Ingest(ctx, docs); err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxConnsPerHost: 400, MaxIdleConnsPerHost: 400}}
	const burst, rounds = 400, 5
	var mu sync.Mutex
	counts := map[int]int{}
	var bad []string
	for range rounds {
		var wg sync.WaitGroup
		for range burst {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, _ := http.NewRequest(http.MethodPost, p.url+"/v1/query", strings.NewReader(`{"question":"how is the pump reset with the blue button?"}`))
				req.Header.Set("Content-Type", "application/json")
				authorize(req)
				resp, err := client.Do(req)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					bad = append(bad, err.Error())
					return
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				counts[resp.StatusCode]++
				switch resp.StatusCode {
				case http.StatusOK:
				case http.StatusTooManyRequests:
					var e struct {
						Error api.Error `json:"error"`
					}
					if json.Unmarshal(b, &e) != nil || e.Error.Code != api.CodeOverloaded || resp.Header.Get("Retry-After") == "" {
						bad = append(bad, fmt.Sprintf("429 without Retry-After or error shape: %q %s", resp.Header.Get("Retry-After"), b))
					}
				default:
					bad = append(bad, fmt.Sprintf("status %d: %s", resp.StatusCode, b))
				}
			}()
		}
		wg.Wait()
	}
	t.Logf("statuses over %d queries in bursts of %d: %v", burst*rounds, burst, counts)
	if len(bad) > 0 {
		t.Fatalf("%d bad answers, e.g. %v", len(bad), bad[:min(3, len(bad))])
	}
	if counts[http.StatusOK] == 0 {
		t.Fatal("no query was answered during the surge")
	}
	if _, err := c.Query(ctx, api.QueryRequest{Question: "blue button"}); err != nil {
		t.Fatalf("query after the surge: %v", err)
	}
}

// TestSlowClientsDoNotStopQueries holds hundreds of connections that send
// their headers or bodies a byte at a time, from another loopback address,
// while a normal client asks questions: the questions are answered, and the
// node cuts the slow connections after its grace.
func TestSlowClientsDoNotStopQueries(t *testing.T) {
	ctx := context.Background()
	p := startNode(t, t.TempDir())
	c := testClient(p.url)
	if _, err := c.Ingest(ctx, []api.Document{{ID: "pump", Body: "Reset the pump with the blue button."}}); err != nil {
		t.Fatal(err)
	}
	addr := strings.TrimPrefix(p.url, "http://")
	const slow = 600
	var wg sync.WaitGroup
	var mu sync.Mutex
	var longest time.Duration
	for i := range slow {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
		conn, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer conn.Close()
			start := time.Now()
			if i%2 == 0 {
				fmt.Fprintf(conn, "POST /v1/query HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n")
			} else {
				fmt.Fprintf(conn, "POST /v1/query HTTP/1.1\r\n")
			}
			buf := make([]byte, 512)
			for time.Since(start) < 30*time.Second {
				if _, err := conn.Write([]byte("x")); err != nil {
					break
				}
				_ = conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
				if _, err := conn.Read(buf); err != nil {
					if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
						break // answered and closed by the node
					}
				}
			}
			mu.Lock()
			longest = max(longest, time.Since(start))
			mu.Unlock()
		}()
	}
	// Normal queries meanwhile, from 127.0.0.1.
	deadline := time.Now().Add(6 * time.Second)
	asked, slowest := 0, time.Duration(0)
	for time.Now().Before(deadline) {
		qs := time.Now()
		qctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		_, err := c.Query(qctx, api.QueryRequest{Question: "blue button"})
		cancel()
		if err != nil {
			t.Fatalf("normal query %d during the slow clients: %v", asked, err)
		}
		slowest = max(slowest, time.Since(qs))
		asked++
		time.Sleep(50 * time.Millisecond)
	}
	wg.Wait()
	t.Logf("%d normal queries answered, slowest %v; slow connections held at most %v", asked, slowest, longest)
	// The node's grace for headers and bodies is 5 s.
	if longest > 15*time.Second {
		t.Errorf("a slow connection stayed open %v; the node should cut it after about 5 s", longest)
	}
}
