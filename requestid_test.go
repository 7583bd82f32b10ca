package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/edgerag/edgerag/node/api"
)

// jsonLines returns the JSON log records in logs whose request_id is id.
func jsonLines(t *testing.T, logs string, id string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(logs))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var rec map[string]any
		if json.Unmarshal(sc.Bytes(), &rec) != nil {
			continue
		}
		if rec["request_id"] == id {
			out = append(out, rec)
		}
	}
	return out
}

// hasMsg reports whether one of recs has the message msg.
func hasMsg(recs []map[string]any, msg string) bool {
	for _, r := range recs {
		if r["msg"] == msg {
			return true
		}
	}
	return false
}

// TestRequestIDAcrossNodes follows one query by its X-Request-Id through an
// edge and central, as processes over real QUIC, in their JSON logs.
func TestRequestIDAcrossNodes(t *testing.T) {
	ctx := context.Background()
	tls := fleetDir(t, "central", "edge-1")
	central := startProc(t, []string{"central", "--data", t.TempDir(), "--http", "127.0.0.1:0", "--quic", "127.0.0.1:0",
		"--tls-dir", tls, "--name", "central", "--log-format", "json"})
	edge := startProc(t, []string{"serve", "--data", t.TempDir(), "--http", "127.0.0.1:0", "--tls-dir", tls, "--name", "edge-1",
		"--central", central.quic, "--query-timeout", "3s", "--log-format", "json"})
	press := api.Document{ID: "press", Title: "Hydraulic press H-3", Body: "The hydraulic press uses ISO VG 46 oil, changed every 2,000 operating hours."}
	if _, err := testClient(central.url).Ingest(ctx, []api.Document{press}); err != nil {
		t.Fatal(err)
	}

	ask := func(header string) (api.QueryResponse, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, edge.url+"/v1/query",
			strings.NewReader(`{"question":"Which oil does the hydraulic press use?"}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		if header != "" {
			req.Header.Set("X-Request-Id", header)
		}
		authorize(req)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out api.QueryResponse
		if err := json.NewDecoder(res.Body).Decode(&out); err != nil || res.StatusCode != http.StatusOK {
			t.Fatalf("status %d, decode: %v", res.StatusCode, err)
		}
		return out, res.Header.Get("X-Request-Id")
	}

	const id = "trace-7f3a:edge-1/query.1"
	resp, got := ask(id)
	if got != id || resp.RequestID != id {
		t.Errorf("request id echoed as header %q, body %q; want %q", got, resp.RequestID, id)
	}
	if resp.Route != "central" || resp.Node != "central" {
		t.Fatalf("the question only central can answer: route %q node %q reasons %v", resp.Route, resp.Node, resp.Reasons)
	}

	// A client id the wire cannot carry is replaced, not passed on to fail
	// the escalation.
	resp2, got2 := ask("has spaces in it")
	if got2 == "has spaces in it" || !api.ValidRequestID(got2) || resp2.RequestID != got2 {
		t.Errorf("bad client id: header %q body %q; want a fresh valid id in both", got2, resp2.RequestID)
	}
	if resp2.Route != "central" || resp2.Degraded {
		t.Errorf("query with a replaced id: route %q degraded %v reasons %v", resp2.Route, resp2.Degraded, resp2.Reasons)
	}

	// Logs are written as they happen; give the last lines a moment.
	var edgeRecs, centralRecs []map[string]any
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		edgeRecs, centralRecs = jsonLines(t, edge.logs.String(), id), jsonLines(t, central.logs.String(), id)
		if hasMsg(edgeRecs, "query") && hasMsg(centralRecs, "forwarded query") && len(jsonLines(t, central.logs.String(), got2)) > 0 {
			break
		}
	}
	if !hasMsg(edgeRecs, "query") {
		t.Errorf("edge log has no \"query\" line with request_id %q:\n%s", id, edge.logs)
	} else {
		for _, r := range edgeRecs {
			if r["msg"] == "query" && (r["route"] != "central" || r["answered_by"] != "central") {
				t.Errorf("edge query line: %v; want route and answered_by central", r)
			}
		}
	}
	if !hasMsg(centralRecs, "forwarded query") {
		t.Errorf("central log has no \"forwarded query\" line with request_id %q:\n%s", id, central.logs)
	}
	if n := len(jsonLines(t, central.logs.String(), got2)); n == 0 {
		t.Errorf("central logged nothing under the edge's generated id %q", got2)
	}
	if bytes.Contains([]byte(central.logs.String()), []byte("has spaces in it")) {
		t.Error("the refused client id reached central")
	}
}
