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

// countingCentral answers every escalation as fakeCentral does and counts
// them.
type countingCentral struct{ asked *int }

func (c countingCentral) AskCentral(ctx context.Context, q api.QueryRequest) (api.QueryResponse, error) {
	*c.asked++
	return fakeCentral{}.AskCentral(ctx, q)
}

// TestRouteConfidenceDecidesWhereNotWhether: where to answer is the route
// confidence, whether to answer the model's support. An edge that has
// learned central would not answer better keeps a question it abstains on
// (no escalation, an honest abstention, not labelled degraded); the same
// edge before it learned anything escalates it. Neither turns the
// abstention into an answer.
func TestRouteConfidenceDecidesWhereNotWhether(t *testing.T) {
	ctx := context.Background()
	question := api.QueryRequest{Question: "What is the torque spec for the conveyor motor bolts?"}
	for _, tc := range []struct {
		name         string
		learned      *confidence.Online
		wantEscalate bool
	}{
		{"no label yet (the prior): a weak answer escalates", nil, true},
		{"learned central would not do better: kept here", &confidence.Online{Scale: 1, Offset: 6, Labels: 256}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.learned != nil {
				st, err := shardstore.Open(shardstore.Options{Dir: dir, NoSync: true})
				if err != nil {
					t.Fatal(err)
				}
				rec, _ := json.Marshal(*tc.learned)
				if err := st.RouteKV().Update(ctx, []shard.KV{{Key: "recalibration", Value: rec}}, nil); err != nil {
					t.Fatal(err)
				}
				st.Close()
			}
			asked := 0
			n, err := node.New(node.Config{Name: "edge", DataDir: dir, NoSync: true, Remote: countingCentral{&asked}})
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
			resp, err := n.Query(ctx, question)
			if err != nil {
				t.Fatal(err)
			}
			if escalated := asked > 0; escalated != tc.wantEscalate {
				t.Fatalf("central asked %d times (route %s, reasons %v, route confidence %.2f); want escalated=%v",
					asked, resp.Route, resp.Reasons, resp.Signals[node.SignalRouteConfidence], tc.wantEscalate)
			}
			if tc.wantEscalate {
				return
			}
			if resp.Route != "local" || !resp.Abstained || resp.Degraded {
				t.Fatalf("kept here, the question must be an honest local abstention: route %s abstained %v degraded %v %q",
					resp.Route, resp.Abstained, resp.Degraded, resp.Answer)
			}
			if resp.Confidence >= node.DefaultMinConfidence {
				t.Errorf("an abstention rated %.2f, at or above min-confidence %.2f", resp.Confidence, node.DefaultMinConfidence)
			}
			if rc := resp.Signals[node.SignalRouteConfidence]; !(rc >= 0.5) {
				t.Errorf("route confidence %.2f; the learned map should put it above escalate-below", rc)
			}
		})
	}
}
