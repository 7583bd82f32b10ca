package node_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/edgerag/edgerag/models/confidence"
	"github.com/edgerag/edgerag/node"
	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/node/shard"
	"github.com/edgerag/edgerag/node/shardstore"
)

// TestRecalibrationNeverLoosensAbstention: an edge whose recalibration
// learned to rate everything far higher (central "agreed" with it on a
// one-topic collection) still abstains where the model says the passages do
// not support an answer; the raised confidence only moves routing.
func TestRecalibrationNeverLoosensAbstention(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	question := api.QueryRequest{Question: "What is the torque spec for the conveyor motor bolts?"}

	open := func() *node.Node {
		n, err := node.New(node.Config{Name: "edge", DataDir: dir, NoSync: true, Remote: fakeCentral{}})
		if err != nil {
			t.Fatal(err)
		}
		if err := n.Open(ctx); err != nil {
			t.Fatal(err)
		}
		return n
	}
	n := open()
	if _, err := n.Ingest(ctx, manuals); err != nil {
		t.Fatal(err)
	}
	before, err := n.QueryLocal(ctx, question)
	if err != nil {
		t.Fatal(err)
	}
	if !before.Abstained || before.Confidence <= 0 {
		t.Fatalf("the question must abstain on the model's confidence, with some retrieval behind it: %+v", before)
	}
	n.Close()

	// What months of "central agreed" labels leave behind: a large offset.
	st, err := shardstore.Open(shardstore.Options{Dir: dir, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	rec, _ := json.Marshal(confidence.Online{Scale: 1, Offset: 6, Labels: 256})
	if err := st.RouteKV().Update(ctx, []shard.KV{{Key: "recalibration", Value: rec}}, nil); err != nil {
		t.Fatal(err)
	}
	st.Close()

	n = open()
	defer n.Close()
	if got := n.Recalibration(); got.Offset != 6 {
		t.Fatalf("recalibration not loaded: %+v", got)
	}
	after, err := n.QueryLocal(ctx, question)
	if err != nil {
		t.Fatal(err)
	}
	if !after.Abstained {
		t.Fatalf("a recalibration that raises confidences made the node answer what it abstained on: %q (confidence %.2f, model %.2f)",
			after.Answer, after.Confidence, after.Signals[node.SignalModelConfidence])
	}
	if after.Confidence >= node.DefaultMinConfidence {
		t.Errorf("an abstention rated %.2f, at or above min-confidence %.2f", after.Confidence, node.DefaultMinConfidence)
	}
}
