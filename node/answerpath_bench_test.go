package node_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/edgerag/edgerag/node"
	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/node/nodetest"
)

// BenchmarkQueryLocalExtractive is one question answered locally and
// extractively, from retrieval to the confidence: the path on which the
// question's terms are analysed (once since the analysed question is
// carried to phrase coverage and the extractive answerer; three times
// before). Reported with -benchmem: time and allocations per question.
func BenchmarkQueryLocalExtractive(b *testing.B) {
	n := nodetest.OpenNode(b, node.Config{Name: "bench"})
	docs := []api.Document{
		{ID: "pump", Title: "Pump P100", Format: "markdown", Body: "# Pump P100\n\nTo reset the pump after a fault, hold the red RESET button for five seconds. The status light turns green when the pump is ready. Then open the inlet valve slowly.\n\n## Maintenance\n\nGrease the bearings every month with lithium grease. Replace the seal every year."},
		{ID: "valve", Title: "Valve V20", Format: "markdown", Body: "# Valve V20\n\nThe valve is greased every month. Close the valve before any work on the line. A leaking valve needs a new gasket."},
		{ID: "fan", Title: "Fan F3", Format: "markdown", Body: "# Fan F3\n\nClean the fan filter when the airflow warning shows. The fan stops when its cover is open."},
	}
	if _, err := n.Ingest(context.Background(), docs); err != nil {
		b.Fatal(err)
	}
	req := api.QueryRequest{Question: "How do I reset the pump after a fault and what does the status light show when it is ready?", K: 5}
	ctx := context.Background()
	if r, err := n.QueryLocal(ctx, req); err != nil || r.Abstained {
		b.Fatalf("the benchmark question must be answered: %+v %v", r, err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := n.QueryLocal(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAnswerPath is one question answered locally over a store of
// 600 one-chunk documents, k 5, so that retrieval hands the answer path
// k + trustDepth candidates: reading their records and texts, the trust
// screen, ranking and conflicts, the extractive answer. "prose" is text of
// made-up words like the bench-peers corpus (nothing to flag, nothing to
// compare); "manual" is near-duplicate passages, every sentence of which
// the conflict check compares. Screened stores are what ingest writes;
// unscreened ones are what `benchpeers` serves (ingested with
// -screen=false), whose chunks are screened when a question retrieves them.
func BenchmarkAnswerPath(b *testing.B) {
	syl := []string{"ka", "ri", "quo", "fer", "tic", "lu", "men", "zen", "sor", "pel", "dri", "va", "sta", "ne", "to", "bra", "gu", "mi", "ar", "on"}
	rng := rand.New(rand.NewPCG(7, 7))
	word := func() string {
		var w string
		for range 2 + rng.IntN(3) {
			w += syl[rng.IntN(len(syl))]
		}
		return w
	}
	vocab := make([]string, 4000)
	for i := range vocab {
		vocab[i] = word()
	}
	prose := make([]api.Document, 600)
	for i := range prose {
		var body strings.Builder
		for range 6 {
			for range 9 + rng.IntN(6) {
				body.WriteString(vocab[int(rng.ExpFloat64()*400)%len(vocab)] + " ")
			}
			body.WriteString("the it.\n")
		}
		prose[i] = api.Document{ID: fmt.Sprintf("d%03d", i), Title: fmt.Sprintf("Unit %d", i), Body: body.String()}
	}
	proseQs := make([]string, 50)
	for i := range proseQs {
		proseQs[i] = vocab[rng.IntN(300)] + " " + vocab[rng.IntN(300)] + " " + vocab[rng.IntN(3000)]
	}
	words := []string{"pump", "valve", "filter", "seal", "bearing", "gasket", "inlet", "outlet", "pressure", "motor",
		"grease", "light", "panel", "fault", "reset", "line", "gauge", "flow", "cover", "switch", "belt", "hose"}
	manual := make([]api.Document, 600)
	for i := range manual {
		var body []byte
		for s := range 6 {
			for w := range 9 {
				body = append(body, words[(i*7+s*5+w*3+w*w)%len(words)]...)
				body = append(body, ' ')
			}
			body = append(body, "is checked every day.\n"...)
		}
		manual[i] = api.Document{ID: fmt.Sprintf("d%03d", i), Title: fmt.Sprintf("Unit %d", i), Body: string(body)}
	}
	manualQs := []string{"how is the pump pressure checked", "when is the valve gasket replaced", "what does the panel light show after a fault reset",
		"how often is the filter hose checked", "which belt drives the motor"}
	for _, set := range []struct {
		name string
		docs []api.Document
		qs   []string
	}{{"prose", prose, proseQs}, {"manual", manual, manualQs}} {
		for _, screened := range []bool{true, false} {
			b.Run(set.name+map[bool]string{true: "/screened", false: "/unscreened"}[screened], func(b *testing.B) {
				n := nodetest.OpenNode(b, node.Config{Name: "bench", DisableScreening: !screened})
				if _, err := n.Ingest(context.Background(), set.docs); err != nil {
					b.Fatal(err)
				}
				ctx := context.Background()
				b.ReportAllocs()
				b.ResetTimer()
				i := 0
				for b.Loop() {
					if _, err := n.Query(ctx, api.QueryRequest{Question: set.qs[i%len(set.qs)], K: 5}); err != nil {
						b.Fatal(err)
					}
					i++
				}
			})
		}
	}
}
