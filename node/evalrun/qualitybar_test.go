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
)

// This file is left out of race-enabled builds: the quality bars score
// every query of the two development sets, arithmetic that the race
// detector slows five- to tenfold (~170 s of make test's CPU) and has
// nothing to find in, since the same retrieval code runs under -race in
// the package's other tests. make test runs it without -race beside the
// race-enabled tests (test-side in the Makefile).

// TestQualityBar holds BM25 to the reference numbers of the two development
// sets, less 0.005 (shared/eval/*/SOURCE.md).
func TestQualityBar(t *testing.T) {
	root := evalset.SharedDir()
	for _, tc := range []struct {
		name string
		min  float64
	}{
		{"cranfield", 0.347},
		{"squad-v1.1-dev", 0.865},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(root, tc.name)
			if _, err := os.Stat(filepath.Join(dir, "corpus.jsonl")); root == "" || err != nil {
				t.Skipf("dataset %s not found beside the repository (../shared/eval) nor in EDGERAG_EVAL_DIR", tc.name)
			}
			rep, _, err := evalrun.Retrieval(context.Background(), dir, evalrun.Options{BM25: lexical.DefaultParams()})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: nDCG@10 %.4f recall@100 %.4f MRR@10 %.4f over %d queries", tc.name, rep.NDCG10, rep.Recall100, rep.MRR10, rep.Queries)
			if rep.NDCG10 < tc.min {
				t.Errorf("nDCG@10 = %.4f, below the bar %.3f", rep.NDCG10, tc.min)
			}
		})
	}
}
