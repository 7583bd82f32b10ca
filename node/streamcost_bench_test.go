package node_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/edgerag/edgerag/models"
	"github.com/edgerag/edgerag/models/ollama"
	"github.com/edgerag/edgerag/models/ollama/ollamatest"
	"github.com/edgerag/edgerag/node"
	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/node/nodetest"
)

// weakCentral answers at once, less surely than any local answer: the
// route then settles on the local answer, so what a held-back stream costs
// is the wait for the whole local answer and nothing of central's.
type weakCentral struct{}

func (weakCentral) AskCentral(ctx context.Context, q api.QueryRequest) (api.QueryResponse, error) {
	return api.QueryResponse{Answer: "unsure", Node: "central", Confidence: 0, Abstained: true}, nil
}

// BenchmarkStreamFirstToken measures what deciding the route before any
// token goes out costs a streamed answer that ends up local (issue 11,
// point 5). "live": the retrieval-only confidence says the answer stays
// here (escalate-below 0), so tokens stream as the model writes them;
// "held": it says the answer may leave (escalate-below 1), so the answer is
// held back until the route has settled, and the first token is the whole
// answer. Reported: ms to the first token and to the end, per question.
func BenchmarkStreamFirstToken(b *testing.B) {
	for _, backend := range []string{"embedded", "ollama-tiny"} {
		var gen models.Generator
		if backend == "ollama-tiny" {
			srv := ollamatest.Start(b) // skips without the Ollama server
			c, err := ollama.New(ollama.Config{Host: srv.Host, GenModel: srv.GenModel, NumThread: 1, Timeout: 10 * time.Second})
			if err != nil {
				b.Fatal(err)
			}
			if err := c.Check(context.Background(), nil); err != nil {
				b.Fatal(err)
			}
			gen = c.Generator()
		}
		n := nodetest.OpenNode(b, node.Config{Name: "edge", Generator: gen, Remote: weakCentral{}, NoRecalibration: true})
		if _, err := n.Ingest(context.Background(), manuals); err != nil {
			b.Fatal(err)
		}
		for _, mode := range []struct {
			name          string
			escalateBelow float64
		}{{"live", 0}, {"held", 1}} {
			b.Run(backend+"/"+mode.name, func(b *testing.B) {
				t := n.Tunables()
				t.EscalateBelow = mode.escalateBelow
				if err := n.SetTunables(t, "benchmark"); err != nil {
					b.Fatal(err)
				}
				req := api.QueryRequest{Question: "How do I reset the pump after a fault?", Stream: true}
				var first, total []time.Duration
				for b.Loop() {
					start := time.Now()
					var at time.Duration
					r, err := n.QueryStream(context.Background(), req, func(string) error {
						if at == 0 {
							at = time.Since(start)
						}
						return nil
					})
					if err != nil {
						b.Fatal(err)
					}
					if r.Route != "local" {
						b.Fatalf("route %q reasons %v: the benchmark measures answers that stay local", r.Route, r.Reasons)
					}
					first, total = append(first, at), append(total, time.Since(start))
				}
				b.ReportMetric(medianMS(first), "ms-first-token")
				b.ReportMetric(medianMS(total), "ms-total")
			})
		}
	}
}

func medianMS(ds []time.Duration) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return float64(s[len(s)/2].Microseconds()) / 1000
}
