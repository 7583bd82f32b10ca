package node_test

import (
	"context"
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
