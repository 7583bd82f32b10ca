package statuspage

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/node/shard"
)

const evilQuestion = `<script>alert("x")</script> why & how?`

// fixture is a busy node as the page would see it at now.
func fixture(now time.Time) api.Status {
	st := api.Status{
		Node:       "edge-kitchen-01",
		Role:       "edge",
		Version:    "v0.4.2",
		Ready:      true,
		StartedAt:  now.Add(-(2*time.Hour + 5*time.Minute)),
		Documents:  1234,
		Chunks:     5678,
		Terms:      91011,
		StoreBytes: 48 << 20,
		Retrieval:  "hybrid",
		Answerer:   "qwen2.5:0.5b",
		Central:    "closed",
		Shards: []shard.Info{
			{Name: "manuals", Version: 17, Documents: 1200, Chunks: 5600, UpdatedAt: now.Add(-3 * time.Minute)},
			{Name: "faq", Version: 3, Documents: 34, Chunks: 78, UpdatedAt: now.Add(-26 * time.Hour)},
		},
		Escalations: map[string]int64{"low_confidence": 7, "shard_not_held": 2},
		Memory:      api.Memory{HeapBytes: 90 << 20, SysBytes: 140 << 20, LimitBytes: 256 << 20},
	}
	questions := []string{
		"How do I reset the oven timer?",
		evilQuestion,
		"What is the torque for the M8 bolts on the mixer housing?",
		"Who do I call when the freezer alarm goes off at night?",
	}
	// Newest first, as api.Status promises.
	for i := range 12 {
		q := api.RecentQuery{
			At:         now.Add(-time.Duration(i*37) * time.Second),
			Question:   questions[i%len(questions)],
			Route:      "local",
			Mode:       "extractive",
			Confidence: 0.82 - 0.06*float64(i%5),
			TotalMS:    4.5 + float64(i*i),
		}
		switch i {
		case 1:
			q.Route, q.Confidence, q.TotalMS = "central", 0.31, 420
		case 4:
			q.Abstained, q.Confidence = true, 0.12
		case 6:
			q.Degraded, q.Mode = true, "extractive"
		case 7:
			q.Route, q.Mode = "peer:edge-hall-02", "generative"
		}
		st.Recent = append(st.Recent, q)
	}
	return st
}

var testNow = time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)

func get(t *testing.T, status func(context.Context) (api.Status, error)) (*http.Response, string) {
	t.Helper()
	h := &handler{status: status, now: func() time.Time { return testNow }}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	return rec.Result(), rec.Body.String()
}

func fixed(st api.Status) func(context.Context) (api.Status, error) {
	return func(context.Context) (api.Status, error) { return st, nil }
}

func TestPage(t *testing.T) {
	resp, body := get(t, fixed(fixture(testNow)))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	for k, want := range map[string]string{
		"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:",
		"Cache-Control":           "no-store",
		"Content-Type":            "text/html; charset=utf-8",
	} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	for _, want := range []string{
		"<title>edgerag · edge-kitchen-01</title>",
		"<h1>edge-kitchen-01</h1>",
		`<span class="badge ok">ready</span>`,
		"edgerag v0.4.2",
		"up 2h 5m",
		"model qwen2.5:0.5b",
		"hybrid (keywords and vectors)",
		">reachable<",
		"90 MiB heap / 256 MiB",
		"48 MiB",
		// Shard rows, sorted by name.
		`<tr><td class="head">faq</td><td data-label="Version" class="num">3</td><td data-label="Docs" class="num">34</td><td data-label="Chunks" class="num">78</td>`,
		`<tr><td class="head">manuals</td><td data-label="Version" class="num">17</td><td data-label="Docs" class="num">1200</td><td data-label="Chunks" class="num">5600</td>`,
		"1d 2h ago",
		"How do I reset the oven timer?",
		`&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; why &amp; how?`,
		"0.82",
		`<span class="flag bad">abstained</span>`,
		`<span class="flag warn">degraded</span>`,
		"peer:edge-hall-02",
		"low confidence", "shard not held",
		"membership not configured",
		"fleet sync not configured",
		`<meta http-equiv="refresh" content="10">`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	// Nothing executable and nothing fetched: the escaped question above is
	// the only "script" on the page, and no URL points anywhere.
	low := strings.ToLower(body)
	for _, bad := range []string{"<script", "src=", "href=", "url(", "@import", "http://", "https://"} {
		if strings.Contains(low, bad) {
			t.Errorf("page contains %q", bad)
		}
	}
	if i, j := strings.Index(body, "low confidence"), strings.Index(body, "shard not held"); i > j {
		t.Error("escalations are not sorted by count")
	}
}

func TestCentralWords(t *testing.T) {
	for state, want := range map[string]string{
		"none":      "no central configured",
		"":          "no central configured",
		"closed":    "reachable",
		"open":      "unreachable — answering locally",
		"half-open": "retrying",
		"weird<b>":  "unknown (weird&lt;b&gt;)",
	} {
		st := fixture(testNow)
		st.Central = state
		_, body := get(t, fixed(st))
		if !strings.Contains(body, ">"+want+"<") {
			t.Errorf("central %q: page lacks %q", state, want)
		}
		// The breaker's names are jargon: "closed" reads as "down".
		for _, jargon := range []string{"circuit breaker", ">closed<", "half-open", ">open<"} {
			if strings.Contains(body, jargon) {
				t.Errorf("central %q: page shows %q", state, jargon)
			}
		}
	}
}

func TestEmptyNode(t *testing.T) {
	resp, body := get(t, fixed(api.Status{Node: "fresh", Central: "none"}))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	for _, want := range []string{
		`<span class="badge bad">not ready</span>`, "up unknown", "no shards yet", "no queries yet",
		"no escalations", "no central configured", "no limit", "extractive (quotes passages)",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(body, "<svg") {
		t.Error("empty node draws charts")
	}
}

func TestStatusError(t *testing.T) {
	resp, body := get(t, func(context.Context) (api.Status, error) {
		return api.Status{}, errors.New("index <locked>")
	})
	if resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("status %d, want 500", resp.StatusCode)
	}
	if resp.Header.Get("Content-Security-Policy") == "" {
		t.Error("error page without CSP")
	}
	if !strings.Contains(body, "Status unavailable") || !strings.Contains(body, "index &lt;locked&gt;") {
		t.Errorf("error page does not explain: %s", body)
	}

	// A service error below 500 still means the page has nothing to show.
	resp, _ = get(t, func(context.Context) (api.Status, error) {
		return api.Status{}, api.Errorf(http.StatusNotFound, api.CodeNotFound, "gone")
	})
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("status %d, want 503", resp.StatusCode)
	}
}

func TestHead(t *testing.T) {
	h := &handler{status: fixed(fixture(testNow)), now: func() time.Time { return testNow }}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodHead, "/", nil))
	if rec.Code != http.StatusOK || rec.Body.Len() != 0 {
		t.Errorf("HEAD: %d with %d bytes", rec.Code, rec.Body.Len())
	}
}

func TestRecentCap(t *testing.T) {
	st := fixture(testNow)
	for len(st.Recent) < 50 {
		st.Recent = append(st.Recent, st.Recent...)
	}
	st.Recent = st.Recent[:50]
	_, body := get(t, fixed(st))
	if n := strings.Count(body, `<td class="head q">`); n != maxRows {
		t.Errorf("%d query rows, want %d", n, maxRows)
	}
	if n := strings.Count(body, "<rect "); n != 2*50 {
		t.Errorf("%d bars, want 100", n)
	}
	if !strings.Contains(body, "Showing the newest 20 of 50") {
		t.Error("the page does not say the table is cut")
	}
}

func TestCharts(t *testing.T) {
	st := fixture(testNow)
	lat, conf := charts(st.Recent)
	if len(lat.Bars) != len(st.Recent) || len(conf.Bars) != len(st.Recent) {
		t.Fatalf("%d and %d bars for %d queries", len(lat.Bars), len(conf.Bars), len(st.Recent))
	}
	// Oldest on the left: the newest query is the last bar.
	last := lat.Bars[len(lat.Bars)-1]
	if want := fmt.Sprintf("%s ms, %s", msText(st.Recent[0].TotalMS), st.Recent[0].Route); last.Title != want {
		t.Errorf("last bar %q, want newest query %q", last.Title, want)
	}
	for _, b := range append(lat.Bars, conf.Bars...) {
		if b.X < 0 || b.X+b.W > chartW+0.1 || b.Y < 0 || b.H < 1 || b.Y+b.H > chartH+0.1 {
			t.Errorf("bar outside the chart: %+v", b)
		}
	}
	if lat.Bars[len(lat.Bars)-2].Class != "remote" || lat.Bars[len(lat.Bars)-2].H != chartH {
		t.Errorf("the slowest, central query: %+v", lat.Bars[len(lat.Bars)-2])
	}
	if !strings.Contains(lat.Summary, "max 420 ms") || !strings.Contains(conf.Summary, "1 abstained of 12") {
		t.Errorf("summaries %q, %q", lat.Summary, conf.Summary)
	}
}

func TestFormat(t *testing.T) {
	for _, c := range []struct {
		got, want string
	}{
		{bytesText(0), "0 B"},
		{bytesText(1023), "1023 B"},
		{bytesText(1536), "1.5 KiB"},
		{bytesText(300 << 20), "300 MiB"},
		{bytesText(3 << 40), "3.0 TiB"},
		{duration(42 * time.Second), "42s"},
		{duration(61 * time.Minute), "1h 1m"},
		{duration(50 * time.Hour), "2d 2h"},
		{ago(-time.Minute), "just now"},
		{msText(3.14159), "3.1"},
		{msText(123.6), "124"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}
