package node_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/edgerag/edgerag/node"
	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/node/route"
)

var manuals = []api.Document{
	{ID: "pump", Title: "Pump P-100 maintenance", Source: "file:///manuals/pump.md", Format: "markdown", Body: `# Pump P-100

## Resetting the pump after a fault

When the P-100 trips on overload, the red FAULT lamp on panel B lights. To reset the pump, turn the selector to OFF, wait ten seconds and press the blue RESET button.

## Seal

Replace the mechanical seal every 4,000 operating hours.`},
	{ID: "press", Title: "Hydraulic press H-3", Body: "Change the hydraulic oil every 2,000 operating hours with ISO VG 46 oil. The tank holds 180 litres."},
	{ID: "page", Title: "", Format: "html", Body: `<html><head><title>Conveyor C-7</title><script>var secret = "sprocket";</script></head>
<body><nav>Home | Sitemap</nav><main><h1>Conveyor C-7</h1><p>Pull-cord switches stop the conveyor belt within half a second.</p></main></body></html>`},
}

// newNode opens a node in a temporary directory; it is closed at cleanup.
func newNode(t *testing.T, dir string) *node.Node {
	t.Helper()
	return openNode(t, node.Config{Name: "test", DataDir: dir, NoSync: true})
}

// openNode opens a node with cfg; it is closed at cleanup.
func openNode(t *testing.T, cfg node.Config) *node.Node {
	t.Helper()
	n, err := node.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// serve runs the node's HTTP API on a random loopback port.
func serve(t *testing.T, n *node.Node) *api.Client {
	t.Helper()
	srv := httptest.NewServer(api.NewHandler(n, nil))
	t.Cleanup(srv.Close)
	return api.NewClient(srv.URL, srv.Client())
}

var citeMark = regexp.MustCompile(`\[(\d+)\]`)

func TestIngestAndQueryOverHTTP(t *testing.T) {
	ctx := context.Background()
	c := serve(t, newNode(t, t.TempDir()))
	resp, err := c.Ingest(ctx, manuals)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Documents) != 3 || resp.ShardVersions["default"] == 0 {
		t.Fatalf("ingest response: %+v", resp)
	}
	q, err := c.Query(ctx, api.QueryRequest{Question: "How do I reset the pump after a fault?"})
	if err != nil {
		t.Fatal(err)
	}
	if q.Mode != "extractive" || q.Route != "local" || q.Abstained {
		t.Fatalf("mode %q route %q abstained %v", q.Mode, q.Route, q.Abstained)
	}
	if !strings.Contains(q.Answer, "RESET button") {
		t.Errorf("answer does not quote the reset instructions: %q", q.Answer)
	}
	marks := citeMark.FindAllStringSubmatch(q.Answer, -1)
	if len(marks) == 0 {
		t.Fatalf("answer has no [n] citation marks: %q", q.Answer)
	}
	top := q.Citations[0]
	if top.DocumentID != "pump" || top.Title != "Pump P-100 maintenance" || top.Source != "file:///manuals/pump.md" || len(top.ChunkID) != 32 || top.Snippet == "" || !top.Cited {
		t.Errorf("top citation: %+v", top)
	}
	for _, m := range marks {
		if m[1] == "0" || len(m[1]) > 2 || q.Citations[int(m[1][0]-'1')].N == 0 {
			t.Errorf("mark [%s] does not name a citation", m[1])
		}
	}
	if q.Confidence <= 0 || q.Confidence > 1 || len(q.Signals) == 0 {
		t.Errorf("confidence %v signals %v", q.Confidence, q.Signals)
	}
	if q.Timings.TotalMS <= 0 {
		t.Errorf("no timings: %+v", q.Timings)
	}

	// HTML is reduced to its main text: the script and nav are gone, the
	// title comes from <title>.
	q, err = c.Query(ctx, api.QueryRequest{Question: "what stops the conveyor belt?"})
	if err != nil {
		t.Fatal(err)
	}
	if q.Citations[0].DocumentID != "page" || q.Citations[0].Title != "Conveyor C-7" {
		t.Errorf("html page not found or untitled: %+v", q.Citations[0])
	}
	q, _ = c.Query(ctx, api.QueryRequest{Question: "sprocket sitemap"})
	if !q.Abstained {
		t.Errorf("script or nav text was indexed: %+v", q)
	}
}

func TestAbstainsWhenNothingMatches(t *testing.T) {
	ctx := context.Background()
	c := serve(t, newNode(t, t.TempDir()))
	if _, err := c.Ingest(ctx, manuals); err != nil {
		t.Fatal(err)
	}
	q, err := c.Query(ctx, api.QueryRequest{Question: "Who won the football world cup in 1954?"})
	if err != nil {
		t.Fatal(err)
	}
	if !q.Abstained || !strings.Contains(strings.ToLower(q.Answer), "not in the local index") {
		t.Fatalf("expected an abstention, got %q (confidence %v)", q.Answer, q.Confidence)
	}
}

func TestReplaceDeleteAndRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	n := newNode(t, dir)
	c := serve(t, n)
	if _, err := c.Ingest(ctx, manuals); err != nil {
		t.Fatal(err)
	}
	v1 := n.Shards()[0].Version
	// Re-ingesting an id replaces all its chunks.
	resp, err := c.Ingest(ctx, []api.Document{{ID: "press", Title: "Hydraulic press H-3", Body: "The press uses biodegradable HEES oil since 2025."}})
	if err != nil {
		t.Fatal(err)
	}
	if !resp.Documents[0].Replaced || resp.ShardVersions["default"] <= v1 {
		t.Fatalf("replace: %+v (version before %d)", resp, v1)
	}
	q, _ := c.Query(ctx, api.QueryRequest{Question: "ISO VG 46 tank litres"})
	for _, cit := range q.Citations {
		if strings.Contains(cit.Snippet, "ISO VG 46") {
			t.Fatalf("old text of a replaced document still retrieved: %+v", cit)
		}
	}
	if _, err := c.Delete(ctx, "", "pump"); err != nil {
		t.Fatal(err)
	}
	var ae *api.Error
	if _, err := c.Delete(ctx, "", "pump"); !errors.As(err, &ae) || ae.Status != http.StatusNotFound {
		t.Fatalf("deleting twice: %v", err)
	}
	st, _ := c.Status(ctx)
	if st.Documents != 2 {
		t.Fatalf("status after delete: %+v", st)
	}

	// Everything survives a restart: documents, versions, answers.
	before, _ := c.Query(ctx, api.QueryRequest{Question: "biodegradable oil"})
	version := n.Shards()[0].Version
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	n2 := newNode(t, dir)
	c2 := serve(t, n2)
	after, err := c2.Query(ctx, api.QueryRequest{Question: "biodegradable oil"})
	if err != nil {
		t.Fatal(err)
	}
	if after.Answer != before.Answer || after.Citations[0].ChunkID != before.Citations[0].ChunkID {
		t.Errorf("answer changed across restart:\n%q\n%q", before.Answer, after.Answer)
	}
	if got := n2.Shards()[0]; got.Version != version || got.Documents != 2 {
		t.Errorf("shard after restart: %+v, want version %d", got, version)
	}
}

func TestShards(t *testing.T) {
	ctx := context.Background()
	n := newNode(t, t.TempDir())
	c := serve(t, n)
	docs := []api.Document{
		{ID: "a", Shard: "line-3", Body: "The press on line three forms housings."},
		{ID: "a", Shard: "line-4", Body: "The lathe on line four turns shafts."},
	}
	if _, err := c.Ingest(ctx, docs); err != nil {
		t.Fatal(err)
	}
	if got := n.Shards(); len(got) != 2 || got[0].Name != "line-3" || got[1].Documents != 1 {
		t.Fatalf("shards: %+v", got)
	}
	q, err := c.Query(ctx, api.QueryRequest{Question: "what does the lathe turn?", Shard: "line-3"})
	if err != nil {
		t.Fatal(err)
	}
	for _, cit := range q.Citations {
		if cit.Shard != "line-3" {
			t.Errorf("query restricted to line-3 returned %+v", cit)
		}
	}
	var ae *api.Error
	if _, err := c.Query(ctx, api.QueryRequest{Question: "lathe", Shard: "line-9"}); !errors.As(err, &ae) || ae.Status != http.StatusNotFound || !strings.Contains(ae.Message, "not held") {
		t.Fatalf("query for a shard not held: %v", err)
	}
}

func TestBadInputIsRefusedAndStoresNothing(t *testing.T) {
	n := newNode(t, t.TempDir())
	srv := httptest.NewServer(api.NewHandler(n, nil))
	defer srv.Close()
	big := strings.Repeat("word ", api.MaxDocumentBody/5+10)
	cases := []struct {
		name, path, ctype, body string
		status                  int
		msg                     string
	}{
		{"not json", "/v1/documents", "", `{"id":`, 400, "malformed JSON"},
		{"unknown field", "/v1/documents", "", `{"id":"a","text":"x"}`, 400, `unknown field "text"`},
		{"wrong type", "/v1/documents", "", `{"id":7,"body":"x"}`, 400, `"id" must be a JSON string`},
		{"invalid utf8", "/v1/documents", "", "{\"id\":\"a\",\"body\":\"\xff\xfe\"}", 400, "UTF-8"},
		{"empty body field", "/v1/documents", "", `{"id":"a","body":"  "}`, 400, "empty"},
		{"bad shard", "/v1/documents", "", `{"id":"a","shard":"Line 3!","body":"x"}`, 400, "shard name"},
		{"bad format", "/v1/documents", "", `{"id":"a","format":"pdf","body":"x"}`, 400, "pdf"},
		{"document too big", "/v1/documents", "", `{"id":"a","body":"` + big + `"}`, 400, "split it"},
		{"one bad in batch", "/v1/documents", "", `{"documents":[{"id":"ok","body":"fine text"},{"id":"","body":"x"}]}`, 400, "documents[1]"},
		{"duplicate in batch", "/v1/documents", "", `{"documents":[{"id":"d","body":"x"},{"id":"d","body":"y"}]}`, 400, "send each document once"},
		{"both forms", "/v1/documents", "", `{"id":"a","body":"x","documents":[]}`, 400, "not both"},
		{"no documents", "/v1/documents", "", `{"documents":[]}`, 400, "no documents"},
		{"trailing data", "/v1/documents", "", `{"id":"a","body":"x"} {}`, 400, "exactly one"},
		{"multipart", "/v1/documents", "multipart/form-data; boundary=x", `x`, 415, "JSON"},
		{"empty request", "/v1/query", "", ``, 400, "empty"},
		{"empty question", "/v1/query", "", `{"question":"   "}`, 400, "question"},
		{"long question", "/v1/query", "", `{"question":"` + strings.Repeat("a", api.MaxQuestion+1) + `"}`, 400, "at most"},
		{"k too large", "/v1/query", "", `{"question":"pump","k":500}`, 400, `"k"`},
		{"k negative", "/v1/query", "", `{"question":"pump","k":-1}`, 400, `"k"`},
		{"k not integer", "/v1/query", "", `{"question":"pump","k":2.5}`, 400, "integer"},
		{"query too large", "/v1/query", "", `{"question":"` + strings.Repeat("a", api.MaxQueryBody) + `"}`, 413, "larger than"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, srv.URL+tc.path, strings.NewReader(tc.body))
			if tc.ctype != "" {
				req.Header.Set("Content-Type", tc.ctype)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			var e struct {
				Error api.Error `json:"error"`
			}
			if err := json.Unmarshal(b, &e); err != nil {
				t.Fatalf("error body is not {\"error\":{...}}: %s", b)
			}
			if resp.StatusCode != tc.status || e.Error.Code == "" || !strings.Contains(e.Error.Message, tc.msg) {
				t.Errorf("got %d %+v, want %d with %q", resp.StatusCode, e.Error, tc.status, tc.msg)
			}
		})
	}
	st, _ := n.Status(context.Background())
	if st.Documents != 0 || st.Chunks != 0 {
		t.Fatalf("bad requests stored something: %+v", st)
	}
}

func TestStreamSendsTokensThenDone(t *testing.T) {
	ctx := context.Background()
	n := newNode(t, t.TempDir())
	srv := httptest.NewServer(api.NewHandler(n, nil))
	defer srv.Close()
	if _, err := n.Ingest(ctx, manuals); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(srv.URL+"/v1/query", "application/json", bytes.NewBufferString(`{"question":"reset the pump","stream":true}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	s := string(b)
	ti, di := strings.Index(s, "event: token\n"), strings.Index(s, "event: done\n")
	if ti < 0 || di < ti || !strings.Contains(s[di:], `"citations"`) {
		t.Fatalf("stream is not token events then a done event with citations:\n%s", s)
	}
}

func TestHealthAndReady(t *testing.T) {
	n := newNode(t, t.TempDir())
	srv := httptest.NewServer(api.NewHandler(n, nil))
	defer srv.Close()
	for _, p := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(srv.URL + p)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %v %v", p, resp, err)
		}
		resp.Body.Close()
	}
	n.Close()
	resp, err := http.Get(srv.URL + "/readyz")
	if err != nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("readyz after close: %v %v", resp, err)
	}
	resp.Body.Close()
}

func TestStatusListsRecentQueriesNewestFirst(t *testing.T) {
	ctx := context.Background()
	n := newNode(t, t.TempDir())
	if _, err := n.Ingest(ctx, manuals); err != nil {
		t.Fatal(err)
	}
	for i := range 60 {
		q := "pump reset"
		if i == 59 {
			q = "what oil does the press use"
		}
		if _, err := n.Query(ctx, api.QueryRequest{Question: q}); err != nil {
			t.Fatal(err)
		}
	}
	st, _ := n.Status(ctx)
	if len(st.Recent) != 50 || st.Recent[0].Question != "what oil does the press use" || st.Recent[0].Route != "local" {
		t.Fatalf("recent: %d entries, newest %+v", len(st.Recent), st.Recent[0])
	}
	if st.Memory.HeapBytes == 0 {
		t.Error("no memory figures in status")
	}
}

// TestConfigRefusesBadThresholds: a threshold outside 0..1 is a typo that
// would silently route everything one way; the node refuses to start.
func TestConfigRefusesBadThresholds(t *testing.T) {
	bad := func() route.Thresholds { th := route.DefaultThresholds(); th.MinConfidence = 2; return th }
	for name, cfg := range map[string]node.Config{
		"min confidence above 1": {MinConfidence: 3},
		"min confidence below 0": {MinConfidence: -0.1},
		"escalate-below above 1": {Routing: bad()},
	} {
		cfg.DataDir = t.TempDir()
		if _, err := node.New(cfg); err == nil || !strings.Contains(err.Error(), "between 0 and 1") {
			t.Errorf("%s: err = %v, want a range error", name, err)
		}
	}
}
