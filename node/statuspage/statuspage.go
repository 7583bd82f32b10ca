// Package statuspage serves a node's human status page: one server-rendered
// HTML page built from api.Status, with inline CSS and inline SVG charts, so
// it works on a phone on an isolated network and makes no request beyond the
// page itself. Machines should read /v1/status and /metrics instead; this
// page is for a person standing next to the device.
package statuspage

import (
	"bytes"
	"cmp"
	"context"
	_ "embed"
	"fmt"
	"html/template"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/edgerag/edgerag/node/api"
)

//go:embed page.html
var pageHTML string

// tmpl is parsed once at start-up; a broken template is a programming error
// that the tests catch, so panicking here is fine.
var tmpl = template.Must(template.New("page").Parse(pageHTML))

// csp forbids everything but the inline styles and data: images the page
// itself uses: no scripts run, even if escaping were ever to fail, and the
// page cannot reach any host.
const csp = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

// Handler returns the status page handler. status is usually the node's
// Status method; it is called once per page view with the request's context.
func Handler(status func(ctx context.Context) (api.Status, error)) http.Handler {
	return &handler{status: status, now: time.Now}
}

type handler struct {
	status func(ctx context.Context) (api.Status, error)
	now    func() time.Time // a field so tests can fix "now" and uptimes
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Content-Security-Policy", csp)
	// The page is a live view; a cached copy would show a stale node as
	// healthy.
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Content-Type", "text/html; charset=utf-8")

	code := http.StatusOK
	var v view
	st, err := h.status(r.Context())
	if err != nil {
		// Still render a page, so a person sees why rather than a bare
		// error body, and the refresh keeps trying.
		e := api.AsError(err)
		code = e.Status
		if code < 500 {
			code = http.StatusServiceUnavailable
		}
		v = view{Title: "edgerag node", Err: e.Message}
	} else {
		v = build(st, h.now())
	}
	// Render into a buffer first so a template failure becomes a clean 500
	// instead of half a page with a 200.
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, v); err != nil {
		slog.Default().Error("status page", "err", err)
		http.Error(w, "status page failed to render", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(code)
	if r.Method != http.MethodHead {
		_, _ = w.Write(buf.Bytes())
	}
}

// view is everything the template shows, already formatted: the template
// only lays it out, so wording and arithmetic stay in Go where tests see
// them.
type view struct {
	Title string
	Err   string // the status could not be read; nothing else is set

	Node      string
	Role      string
	Version   string
	Ready     bool
	Uptime    string
	StartedAt string
	Answerer  string
	Retrieval string
	Central   centralView
	Recal     string // what the edge learned from central's answers; "" when it does not learn
	Memory    memoryView
	Store     string
	Storage   string // why writes are refused; "" when they are not
	Documents int
	Chunks    int
	Terms     int

	Shards      []shardRow
	Recent      []queryRow // the newest maxRows
	RecentTotal int        // all the node reported, which the charts show
	Latency     chart
	Confidence  chart
	// Escalations are counted per reason, and one escalation can have
	// several, so the page shows no total: it would overcount queries.
	Escalations []escalationRow

	Fleet fleetView
	Sync  syncView

	Rendered string
}

type centralView struct {
	Words  string // what a person reads
	Detail string // what it means for questions, for the tooltip
	Class  string // ok, warn or muted
}

type memoryView struct {
	Heap     string
	Sys      string
	Limit    string // "no limit" when GOMEMLIMIT is unset
	LimitPct int    // heap as a share of the limit, 0 without one
	Class    string
}

type shardRow struct {
	Name      string
	Version   uint64
	Documents int
	Chunks    int
	Updated   string
	UpdatedAt string // RFC 3339, for the tooltip
}

type queryRow struct {
	Ago       string
	At        string
	Question  string
	Route     string
	Mode      string
	Conf      string
	ConfPct   int
	ConfClass string
	Abstained bool
	Degraded  bool
	MS        string
}

type escalationRow struct {
	Reason string
	Code   string
	Count  int64
	Pct    int // of the largest count, for the bar
}

// fleetView is the fleet as this node sees it (api.Status.Fleet); empty
// without membership, and the template says so.
type fleetView struct {
	Members []memberRow
}

type memberRow struct {
	Name   string
	Status string
	Shards string
}

// syncView is this edge's fleet sync (api.Status.Sync); empty without it.
type syncView struct {
	Rows []syncRow
}

type syncRow struct {
	Shard    string
	Applied  uint64
	Previous uint64
	State    string
	Class    string // ok, warn or bad
	Target   uint64 // 0 unless a version is on its way
	Pct      int    // of the target fetched
	Ago      string // since the applied version was switched in
	Error    string
}

// maxRows caps the recent-queries table: on a phone each query is a card,
// and fifty of them would bury the sections below. The charts keep them all.
const maxRows = 20

// build turns a Status into what the page shows, relative to now.
func build(st api.Status, now time.Time) view {
	v := view{
		Title:     "edgerag · " + cmp.Or(st.Node, "node"),
		Node:      cmp.Or(st.Node, "(unnamed node)"),
		Role:      cmp.Or(st.Role, "node"),
		Version:   cmp.Or(st.Version, "unknown"),
		Ready:     st.Ready,
		Uptime:    "unknown",
		Answerer:  answerer(st.Answerer),
		Retrieval: retrieval(st.Retrieval),
		Central:   central(st.Central),
		Recal:     recalibration(st.Recalibration),
		Memory:    memory(st.Memory),
		Store:     bytesText(st.StoreBytes),
		Storage:   storage(st.Storage),
		Documents: st.Documents,
		Chunks:    st.Chunks,
		Terms:     st.Terms,
		Rendered:  now.UTC().Format("2006-01-02 15:04:05 UTC"),
	}
	if !st.StartedAt.IsZero() {
		v.Uptime = duration(now.Sub(st.StartedAt))
		v.StartedAt = st.StartedAt.UTC().Format(time.RFC3339)
	}
	for _, s := range st.Shards {
		row := shardRow{Name: s.Name, Version: s.Version, Documents: s.Documents, Chunks: s.Chunks, Updated: "never"}
		if !s.UpdatedAt.IsZero() {
			row.Updated = ago(now.Sub(s.UpdatedAt))
			row.UpdatedAt = s.UpdatedAt.UTC().Format(time.RFC3339)
		}
		v.Shards = append(v.Shards, row)
	}
	slices.SortFunc(v.Shards, func(a, b shardRow) int { return strings.Compare(a.Name, b.Name) })

	for _, m := range st.Fleet {
		name := m.Name
		if m.Self {
			name += " (this node)"
		}
		shards := strings.Join(m.Shards, ", ")
		if shards == "" {
			shards = "—"
		}
		v.Fleet.Members = append(v.Fleet.Members, memberRow{Name: name, Status: m.Status, Shards: shards})
	}

	for _, s := range st.Sync {
		row := syncRow{Shard: s.Shard, Applied: s.Applied, Previous: s.Previous, State: s.State, Class: "ok", Ago: "—", Error: s.LastError}
		if s.Target > s.Applied {
			row.Target, row.Pct, row.Class = s.Target, percent(s.Progress), "warn"
		}
		if s.State == "error" || s.LastError != "" {
			row.Class = "bad"
		}
		if !s.AppliedAt.IsZero() {
			row.Ago = ago(now.Sub(s.AppliedAt))
		}
		v.Sync.Rows = append(v.Sync.Rows, row)
	}
	slices.SortFunc(v.Sync.Rows, func(a, b syncRow) int { return strings.Compare(a.Shard, b.Shard) })

	v.RecentTotal = len(st.Recent)
	for _, q := range st.Recent[:min(len(st.Recent), maxRows)] {
		pct := percent(q.Confidence)
		row := queryRow{
			Ago:       ago(now.Sub(q.At)),
			At:        q.At.UTC().Format(time.RFC3339),
			Question:  q.Question,
			Route:     q.Route,
			Mode:      q.Mode,
			Conf:      fmt.Sprintf("%.2f", q.Confidence),
			ConfPct:   pct,
			ConfClass: confClass(q),
			Abstained: q.Abstained,
			Degraded:  q.Degraded,
			MS:        msText(q.TotalMS),
		}
		v.Recent = append(v.Recent, row)
	}
	v.Latency, v.Confidence = charts(st.Recent)

	var most int64
	for reason, n := range st.Escalations {
		v.Escalations = append(v.Escalations, escalationRow{Reason: strings.ReplaceAll(reason, "_", " "), Code: reason, Count: n})
		most = max(most, n)
	}
	slices.SortFunc(v.Escalations, func(a, b escalationRow) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), strings.Compare(a.Code, b.Code))
	})
	for i := range v.Escalations {
		if most > 0 {
			v.Escalations[i].Pct = int(100 * v.Escalations[i].Count / most)
		}
	}
	return v
}

// recalibration says in words where the edge now escalates and from how
// many of central's answers it learned that.
func recalibration(r *api.Recalibration) string {
	switch {
	case r == nil:
		return ""
	case r.Labels == 0:
		return fmt.Sprintf("below confidence %.2f, as fitted (no answer from central learned from yet)", r.Target)
	}
	return fmt.Sprintf("below model confidence %.3f (escalate-below %.2f, recalibrated from %d of central's answers; %.0f%% of the last %d settled: central would not have changed the answer)",
		r.Threshold, r.Target, r.Labels, 100*r.Agreed, r.Window)
}

// central puts the link's state into the words an operator needs: whether
// hard questions can still be escalated, and what the node does meanwhile.
// The breaker's own names (closed, open, half-open) mean the opposite of
// what they suggest to someone who thinks of a link, so they never show.
func central(state string) centralView {
	switch state {
	case "", "none":
		return centralView{Words: "no central configured", Detail: "every question is answered on this node", Class: "muted"}
	case "closed":
		return centralView{Words: "reachable", Detail: "questions this node cannot answer well are sent to central", Class: "ok"}
	case "open":
		return centralView{Words: "unreachable — answering locally", Detail: "central failed several times in a row; questions are answered here until the cool-down ends", Class: "bad"}
	case "half-open":
		return centralView{Words: "retrying", Detail: "after failures, one question is trying central again", Class: "warn"}
	}
	return centralView{Words: "unknown (" + state + ")", Detail: "the node reported a link state this page does not know", Class: "warn"}
}

func answerer(a string) string {
	switch a {
	case "", "extractive":
		return "extractive (quotes passages)"
	}
	return "model " + a
}

func retrieval(r string) string {
	switch r {
	case "bm25":
		return "BM25 (keywords)"
	case "hybrid":
		return "hybrid (keywords and vectors)"
	case "":
		return "unknown"
	}
	return r
}

func memory(m api.Memory) memoryView {
	mv := memoryView{Heap: bytesText(int64(m.HeapBytes)), Sys: bytesText(int64(m.SysBytes)), Limit: "no limit", Class: "ok"}
	if m.LimitBytes > 0 {
		mv.Limit = bytesText(m.LimitBytes)
		mv.LimitPct = min(100, int(100*float64(m.HeapBytes)/float64(m.LimitBytes)))
		// The Go GC works hard near the soft limit; past 80% answers slow
		// down before anything fails, which is worth a colour.
		if mv.LimitPct >= 80 {
			mv.Class = "bad"
		} else if mv.LimitPct >= 60 {
			mv.Class = "warn"
		}
	}
	return mv
}

func confClass(q api.RecentQuery) string {
	switch {
	case q.Abstained:
		return "bad"
	case q.Confidence < 0.5:
		return "warn"
	}
	return "ok"
}

func percent(f float64) int {
	if math.IsNaN(f) {
		return 0
	}
	return int(math.Round(100 * min(1, max(0, f))))
}

// bytesText uses binary units, as GOMEMLIMIT and free(1) do.
func bytesText(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	f := float64(n)
	for _, unit := range []string{"KiB", "MiB", "GiB", "TiB"} {
		f /= 1024
		if f < 1024 || unit == "TiB" {
			if f < 10 {
				return fmt.Sprintf("%.1f %s", f, unit)
			}
			return fmt.Sprintf("%.0f %s", f, unit)
		}
	}
	return "" // unreachable: TiB returns
}

func msText(ms float64) string {
	if ms < 10 {
		return fmt.Sprintf("%.1f", ms)
	}
	return fmt.Sprintf("%.0f", ms)
}

// duration keeps two units: "3d 4h" says enough about an uptime.
func duration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	s := int64(d / time.Second)
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm %ds", s/60, s%60)
	case s < 86400:
		return fmt.Sprintf("%dh %dm", s/3600, s%3600/60)
	}
	return fmt.Sprintf("%dd %dh", s/86400, s%86400/3600)
}

func ago(d time.Duration) string {
	if d < time.Second {
		return "just now" // also covers small clock skew into the future
	}
	return duration(d) + " ago"
}

// chart is an inline SVG bar chart, drawn in a fixed viewBox that CSS
// stretches to the page width.
type chart struct {
	W, H    int
	Label   string // for screen readers
	Summary string // the numbers a person wants, shown under the bars
	Bars    []bar
}

type bar struct {
	X, Y, W, H float64
	Class      string
	Title      string // tooltip
}

const chartW, chartH = 300, 48

// charts draws the latency and confidence of recent queries, oldest on the
// left so the newest is where the eye ends.
func charts(recent []api.RecentQuery) (latency, confidence chart) {
	latency = chart{W: chartW, H: chartH}
	confidence = chart{W: chartW, H: chartH}
	n := len(recent)
	if n == 0 {
		return
	}
	ms := make([]float64, 0, n)
	var top float64
	var abstained int
	for _, q := range recent {
		ms = append(ms, q.TotalMS)
		top = max(top, q.TotalMS)
		if q.Abstained {
			abstained++
		}
	}
	slot := float64(chartW) / float64(n)
	gap := min(2, slot/4)
	for i := range recent {
		q := recent[n-1-i]
		x := round1(float64(i)*slot + gap/2)
		w := round1(slot - gap)

		// Bars get at least 1 unit so a fast query is still visible.
		h := 1.0
		if top > 0 {
			h = max(1, float64(chartH)*q.TotalMS/top)
		}
		cls := "local"
		if q.Route != "" && q.Route != "local" {
			cls = "remote"
		}
		latency.Bars = append(latency.Bars, bar{X: x, Y: round1(chartH - h), W: w, H: round1(h), Class: cls,
			Title: fmt.Sprintf("%s ms, %s", msText(q.TotalMS), q.Route)})

		h = max(1, float64(chartH)*min(1, max(0, q.Confidence)))
		confidence.Bars = append(confidence.Bars, bar{X: x, Y: round1(chartH - h), W: w, H: round1(h), Class: confClass(q),
			Title: fmt.Sprintf("confidence %.2f", q.Confidence)})
	}
	slices.Sort(ms)
	med := ms[n/2]
	if n%2 == 0 {
		med = (ms[n/2-1] + ms[n/2]) / 2
	}
	latency.Summary = fmt.Sprintf("median %s ms · max %s ms · %d queries", msText(med), msText(top), n)
	latency.Label = "Latency of the last " + fmt.Sprint(n) + " queries: " + latency.Summary

	var sum float64
	for _, q := range recent {
		sum += q.Confidence
	}
	confidence.Summary = fmt.Sprintf("mean %.2f · %d abstained of %d", sum/float64(n), abstained, n)
	confidence.Label = "Confidence of the last " + fmt.Sprint(n) + " queries: " + confidence.Summary
	return
}

func round1(f float64) float64 { return math.Round(f*10) / 10 }

// storage is what the page says about the disk: nothing while writes go
// through.
func storage(s string) string {
	if s == "" || s == "ok" {
		return ""
	}
	return s
}
