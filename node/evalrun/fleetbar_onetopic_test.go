//go:build !race

package evalrun_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/edgerag/edgerag/node/evalrun"
	"github.com/edgerag/edgerag/node/evalset"
	"github.com/edgerag/edgerag/node/lexical"
	"github.com/edgerag/edgerag/node/route"
)

// Left out of race-enabled builds like the quality bars
// (qualitybar_test.go): 84 s under the race detector against 7 s without,
// and the fleet's concurrency already runs under -race in TestFleetBar.
// make test runs it beside them (test-side in the Makefile).
// TestFleetBarOneTopic holds the fleet to the same bar on cranfield, whose
// documents all share one topic: there the model's confidences run low
// across the board, and the bar holds only because each edge learns from
// central's answers that asking would not change most of its own (issue
// 11, point 7). As 'edgerag eval --fleet 4' runs it: half the questions
// first as an unscored warm-up, seed 1. Before the edges routed apart from
// abstaining, 0.56 of home questions stayed local.
func TestFleetBarOneTopic(t *testing.T) {
	dir := filepath.Join(evalset.SharedDir(), "cranfield")
	if _, err := os.Stat(filepath.Join(dir, "corpus.jsonl")); evalset.SharedDir() == "" || err != nil {
		t.Skip("cranfield not found beside the repository (../shared/eval) nor in EDGERAG_EVAL_DIR")
	}
	rep, _, err := evalrun.Fleet(context.Background(), dir, evalrun.FleetOptions{Edges: 4, BM25: lexical.DefaultParams(),
		EscalateBelow: route.DefaultThresholds().MinConfidence, Seed: 1, Warmup: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", rep)
	if rep.Ratio < 0.98 {
		t.Errorf("end-to-end nDCG@10 %.4f is %.3f of central's %.4f, below 0.98", rep.NDCG10, rep.Ratio, rep.CentralNDCG10)
	}
	if rep.HomeLocalShare < 0.80 {
		t.Errorf("only %.3f of home questions kept local, below 0.80", rep.HomeLocalShare)
	}
	if rep.ForeignEscalatedShare < 0.5 {
		t.Errorf("only %.3f of foreign questions escalated: the edge does not know what it lacks", rep.ForeignEscalatedShare)
	}
}
