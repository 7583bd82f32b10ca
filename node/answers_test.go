package node_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgerag/edgerag/models"
	"github.com/edgerag/edgerag/node"
	"github.com/edgerag/edgerag/node/api"
)

// TestAnswersFromSampleManuals asks the demo's sample manuals what a new
// user would (issue 11): answers hold the sentences that answer, with a
// procedure's steps, and nothing from passages about something else;
// questions the manuals do not cover are abstained on, at a confidence
// below every answer's.
func TestAnswersFromSampleManuals(t *testing.T) {
	ctx := context.Background()
	n := newNode(t, t.TempDir())
	files, err := filepath.Glob("../scripts/sample/*.md")
	if err != nil || len(files) == 0 {
		t.Fatalf("sample manuals: %v (%d files)", err, len(files))
	}
	var docs []api.Document
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		// As 'edgerag ingest' sends them: Markdown, titled by the first heading.
		title, _, _ := strings.Cut(strings.TrimPrefix(string(b), "# "), "\n")
		docs = append(docs, api.Document{ID: filepath.Base(f), Title: title, Format: "markdown", Body: string(b)})
	}
	if _, err := n.Ingest(ctx, docs); err != nil {
		t.Fatal(err)
	}
	answers := []struct {
		q            string
		want, reject []string
		mayAbstain   bool
	}{
		{"How do I reset the pump after a fault?", []string{"turn the selector switch to OFF", "press the blue RESET button"}, nil, false},
		// The oil section never names the press and nothing says "use":
		// abstaining is honest here; padding is not.
		{"what oil does the press use?", []string{"ISO VG 46"}, []string{"7946", "Gossip"}, true},
	}
	minAnswer := 1.0
	for _, a := range answers {
		r, err := n.Query(ctx, api.QueryRequest{Question: a.q})
		if err != nil {
			t.Fatal(err)
		}
		if r.Abstained {
			if !a.mayAbstain {
				t.Errorf("%q: abstained (confidence %.3f), want an answer", a.q, r.Confidence)
			}
			continue
		}
		for _, w := range a.want {
			if !strings.Contains(r.Answer, w) {
				t.Errorf("%q: answer %q lacks %q", a.q, r.Answer, w)
			}
		}
		for _, w := range a.reject {
			if strings.Contains(r.Answer, w) {
				t.Errorf("%q: answer %q holds %q, from a passage about something else", a.q, r.Answer, w)
			}
		}
		if i, j := strings.Index(r.Answer, "to OFF"), strings.Index(r.Answer, "RESET button"); i > j {
			t.Errorf("%q: steps out of order in %q", a.q, r.Answer)
		}
		minAnswer = min(minAnswer, r.Confidence)
	}
	for _, q := range []string{"How do I calibrate the laser welder on line 5?",
		"What is the torque spec for the conveyor motor bolts?", "What is the capital of France?"} {
		r, err := n.Query(ctx, api.QueryRequest{Question: q})
		if err != nil {
			t.Fatal(err)
		}
		if !r.Abstained {
			t.Errorf("%q: answered %q at %.3f, want an abstention", q, r.Answer, r.Confidence)
		}
		if r.Confidence >= minAnswer {
			t.Errorf("%q: abstention at confidence %.3f, not below the answers' %.3f", q, r.Confidence, minAnswer)
		}
	}
}

// TestCentralAbstentionWording: central holds the full index, so its
// abstentions do not send the reader to a "local index".
func TestCentralAbstentionWording(t *testing.T) {
	ctx := context.Background()
	n, err := node.New(node.Config{Name: "central", Role: "central", DataDir: t.TempDir(), NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if _, err := n.Ingest(ctx, []api.Document{{ID: "pump", Body: "To reset the pump press the blue RESET button."}}); err != nil {
		t.Fatal(err)
	}
	r, err := n.QueryLocal(ctx, api.QueryRequest{Question: "What is the capital of France?"})
	if err != nil {
		t.Fatal(err)
	}
	if !r.Abstained || strings.Contains(strings.ToLower(r.Answer), "local index") {
		t.Errorf("central: abstained %v, answer %q; want an abstention that does not mention a local index", r.Abstained, r.Answer)
	}
}

// wordsGen is a fake generation model (unit tests only): it writes a fixed
// answer word by word, citing passage 1.
type wordsGen struct{ text string }

func (g wordsGen) Model() string { return "words" }

func (g wordsGen) Generate(ctx context.Context, req models.GenerateRequest, onToken func(models.Token) error) (models.Answer, []models.Token, error) {
	var toks []models.Token
	for _, w := range strings.SplitAfter(g.text, " ") {
		t := models.Token{Text: w}
		toks = append(toks, t)
		if onToken != nil {
			if err := onToken(t); err != nil {
				return models.Answer{}, nil, err
			}
		}
	}
	return models.Answer{Text: g.text, Mode: models.ModeGenerative, Cited: []int{1}}, toks, nil
}

// TestStreamShowsOneAnswer: whatever route the answer takes, the streamed
// text is exactly the final answer (issue 11, point 5): a question the edge
// holds streams its generated tokens as written; one it does not goes to
// central first and streams central's answer alone.
func TestStreamShowsOneAnswer(t *testing.T) {
	ctx := context.Background()
	for _, gen := range []models.Generator{nil, wordsGen{"Press the blue RESET button on panel B. [1]"}} {
		name := "extractive"
		if gen != nil {
			name = "generative"
		}
		t.Run(name, func(t *testing.T) {
			n, err := node.New(node.Config{Name: "edge", DataDir: t.TempDir(), NoSync: true, Remote: fakeCentral{}, Generator: gen})
			if err != nil {
				t.Fatal(err)
			}
			if err := n.Open(ctx); err != nil {
				t.Fatal(err)
			}
			defer n.Close()
			if _, err := n.Ingest(ctx, manuals); err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct{ q, route string }{
				{"How do I reset the pump after a fault? blue RESET button panel", "local"},
				{"What is the torque spec for the conveyor motor bolts?", "central"},
			} {
				var streamed strings.Builder
				tokens := 0
				r, err := n.QueryStream(ctx, api.QueryRequest{Question: tc.q}, func(s string) error {
					tokens++
					streamed.WriteString(s)
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				if r.Route != tc.route {
					t.Errorf("%q: route %q (reasons %v, confidence %.2f), want %s", tc.q, r.Route, r.Reasons, r.Confidence, tc.route)
				}
				if streamed.String() != r.Answer {
					t.Errorf("%q: streamed %q, final answer %q: want the same text", tc.q, streamed.String(), r.Answer)
				}
				if gen != nil && tc.route == "local" && tokens < 2 {
					t.Errorf("%q: %d token events; a local generated answer should stream as written", tc.q, tokens)
				}
			}
		})
	}
}

// flakyCentral fails while down is set, counting every call.
type flakyCentral struct {
	down  atomic.Bool
	calls atomic.Int32
}

func (c *flakyCentral) AskCentral(ctx context.Context, q api.QueryRequest) (api.QueryResponse, error) {
	c.calls.Add(1)
	if c.down.Load() {
		<-ctx.Done() // a dead central answers nothing: the caller waits it out
		return api.QueryResponse{}, ctx.Err()
	}
	return api.QueryResponse{Answer: "from central", Node: "central", Confidence: 0.9}, nil
}

// TestDegradeFast: with central dead, one query waits for it and the next
// ones answer at once, degraded; when central is back the background probe
// finds out, without a user's query paying for it (issue 11, point 6).
func TestDegradeFast(t *testing.T) {
	ctx := context.Background()
	c := &flakyCentral{}
	c.down.Store(true)
	n, err := node.New(node.Config{Name: "edge", DataDir: t.TempDir(), NoSync: true, Remote: c,
		QueryTimeout: 600 * time.Millisecond, CentralCooldown: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if _, err := n.Ingest(ctx, manuals); err != nil {
		t.Fatal(err)
	}
	q := api.QueryRequest{Question: "What is the torque spec for the conveyor motor bolts?"}
	slow := 0
	for i := range 4 {
		began := time.Now()
		r, err := n.Query(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if time.Since(began) > 200*time.Millisecond {
			slow++
		}
		if !r.Degraded || !r.Abstained {
			t.Errorf("query %d with central down: degraded %v abstained %v (reasons %v); want a degraded abstention", i, r.Degraded, r.Abstained, r.Reasons)
		}
	}
	if slow != 1 {
		t.Errorf("%d of 4 queries waited for the dead central; want exactly 1", slow)
	}
	c.down.Store(false)
	deadline := time.Now().Add(3 * time.Second)
	for {
		st, err := n.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.Central == "closed" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("central back for 3 s, circuit still %q: the background probe did not close it", st.Central)
		}
		time.Sleep(50 * time.Millisecond)
	}
	r, err := n.Query(ctx, q)
	if err != nil || r.Route != "central" {
		t.Errorf("after the probe: route %q err %v; want central", r.Route, err)
	}
}

// hearingCentral is a central that never answers in time, over a
// connection that either keeps receiving packets (alive: slow or lossy) or
// hears nothing (dead).
type hearingCentral struct {
	alive bool
	heard atomic.Uint64
	calls atomic.Int32
}

func (c *hearingCentral) AskCentral(ctx context.Context, q api.QueryRequest) (api.QueryResponse, error) {
	c.calls.Add(1)
	if c.alive {
		c.heard.Add(3) // acknowledgements of the question, keep-alives
	}
	<-ctx.Done()
	return api.QueryResponse{}, ctx.Err()
}

func (c *hearingCentral) CentralHeard() (uint64, bool) { return c.heard.Load(), true }

// TestSlowCentralKeepsTheCircuitClosed: an escalation that runs out of time
// on a connection that kept hearing from central degrades that one query
// (central_slow) and leaves the circuit closed, so the next question still
// tries central; on a connection that heard nothing the circuit opens at
// once (issue 11, point 6).
func TestSlowCentralKeepsTheCircuitClosed(t *testing.T) {
	ctx := context.Background()
	for _, alive := range []bool{true, false} {
		c := &hearingCentral{alive: alive}
		n, err := node.New(node.Config{Name: "edge", DataDir: t.TempDir(), NoSync: true, Remote: c,
			QueryTimeout: 400 * time.Millisecond, CentralCooldown: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		if err := n.Open(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := n.Ingest(ctx, manuals); err != nil {
			t.Fatal(err)
		}
		q := api.QueryRequest{Question: "What is the torque spec for the conveyor motor bolts?"}
		for range 2 {
			r, err := n.Query(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if !r.Degraded {
				t.Errorf("alive %v: an answer central did not give is not labelled degraded: %v", alive, r.Reasons)
			}
			if slices.Contains(r.Reasons, "central_slow") != (alive && c.calls.Load() > 0) {
				t.Errorf("alive %v: reasons %v", alive, r.Reasons)
			}
		}
		st, _ := n.Status(ctx)
		switch {
		case alive && (st.Central != "closed" || c.calls.Load() != 2):
			t.Errorf("slow but alive central: circuit %q after %d calls; want closed, both questions asked", st.Central, c.calls.Load())
		case !alive && (st.Central != "open" || c.calls.Load() != 1):
			t.Errorf("dead central: circuit %q after %d calls; want open after the first", st.Central, c.calls.Load())
		}
		n.Close()
	}
}
