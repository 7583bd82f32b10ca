package node_test

import (
	"context"
	"testing"

	"github.com/edgerag/edgerag/node"
	"github.com/edgerag/edgerag/node/api"
)

// scriptedCentral answers every escalation with one prepared answer.
type scriptedCentral struct{ resp api.QueryResponse }

func (c scriptedCentral) AskCentral(ctx context.Context, q api.QueryRequest) (api.QueryResponse, error) {
	return c.resp, nil
}

// TestEdgeLabelsByCentralsFirstPassage: an escalation central abstains on
// is settled (asking changed nothing) unless central's first passage
// matches the question clearly better than anything the edge found: then
// central holds a passage the edge lacks, and the edge learns that asking
// was worth it. The scores are compared only when both answers come from
// BM25, the one scale every node of a fleet shares.
func TestEdgeLabelsByCentralsFirstPassage(t *testing.T) {
	ctx := context.Background()
	question := api.QueryRequest{Question: "What is the torque spec for the conveyor motor bolts?"}
	for _, tc := range []struct {
		name       string
		times      float64 // central's first score, in the edge's best
		retrieval  string
		wantSettle bool
	}{
		{"central abstains on a passage no better matched", 1.1, "bm25", true},
		{"central abstains on a clearly better passage", 2, "bm25", false},
		{"scores from another retrieval kind are not compared", 2, "hybrid", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			central := &scriptedCentral{}
			n := openNode(t, node.Config{Name: "edge", DataDir: t.TempDir(), NoSync: true, Remote: central})
			if _, err := n.Ingest(ctx, manuals); err != nil {
				t.Fatal(err)
			}
			local, err := n.QueryLocal(ctx, question)
			if err != nil || len(local.Citations) == 0 || local.Retrieval != "bm25" {
				t.Fatalf("the edge's own answer must cite BM25 passages: %+v %v", local, err)
			}
			central.resp = api.QueryResponse{Answer: "Not in the index.", Abstained: true, Confidence: 0.1, Node: "central", Retrieval: tc.retrieval,
				Citations: []api.Citation{{N: 1, DocumentID: "another-site", Score: tc.times * local.Citations[0].Score}}}
			if _, err := n.Query(ctx, question); err != nil {
				t.Fatal(err)
			}
			on := n.Recalibration()
			if len(on.Outcomes) != 1 {
				t.Fatalf("the edge learned from %d answers of central; the question must escalate once (route confidence %.2f)",
					len(on.Outcomes), local.Signals[node.SignalRouteConfidence])
			}
			if got := on.Outcomes[0].Agreed; got != tc.wantSettle {
				t.Errorf("settled = %v, want %v", got, tc.wantSettle)
			}
		})
	}
}
