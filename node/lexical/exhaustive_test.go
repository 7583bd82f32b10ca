//go:build !race

package lexical

// The tests in this file check top-k retrieval with pruning against scoring
// every posting, over the evaluation sets and synthetic corpora: thousands
// of queries of single-goroutine arithmetic. They are left out of
// race-enabled builds, where they took 60 of the package's 64 CPU-seconds
// and the detector has nothing to find; make test runs them without -race
// beside the race-enabled tests (test-side in the Makefile).

import (
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/edgerag/edgerag/node/analysis"
)

// TestSearchMatchesExhaustiveOnEvalSets checks the pruned search against
// exhaustive scoring on real text: the cranfield and squad-v1.1-dev
// corpora and their questions, analysed as the node analyses them, with
// every list frozen and again with a heap tail after it.
func TestSearchMatchesExhaustiveOnEvalSets(t *testing.T) {
	dir := evalDir()
	if dir == "" {
		t.Skip("no shared/eval beside this checkout (set EDGERAG_EVAL_DIR): the real-text check did not run")
	}
	for _, set := range []string{"cranfield", "squad-v1.1-dev"} {
		t.Run(set, func(t *testing.T) {
			an := analysis.New()
			x := newTextIndex()
			var texts []string
			readJSONLines(t, filepath.Join(dir, set, "corpus.jsonl"), func(m map[string]string) {
				texts = append(texts, m["title"]+"\n"+m["text"])
			})
			// The first three quarters frozen, the rest in the tail.
			for i, s := range texts {
				x.add(t, "d"+itoa(i), an.Terms(s))
				if i == len(texts)*3/4 {
					must(t, x.ix.Freeze())
				}
			}
			var queries [][]QueryTerm
			readJSONLines(t, filepath.Join(dir, set, "queries.jsonl"), func(m map[string]string) {
				if len(queries) < 400 {
					queries = append(queries, x.query(an.Terms(m["text"])))
				}
			})
			sc := new(Scratch)
			check := func(stage string) {
				for i, q := range queries {
					k := []int{10, 100, 1}[i%3]
					want := exhaustive(x.ix, x.raw, q, k, DefaultParams(), nil)
					got := x.ix.Search(q, k, DefaultParams(), sc, nil)
					if !slices.Equal(got, want) {
						t.Fatalf("%s, question %d (k=%d): got %v\nwant %v", stage, i, k, got, want)
					}
				}
			}
			check("frozen and tail")
			x.ix.Compact()
			check("all frozen")
		})
	}
}

func TestSearchMatchesExhaustiveScoring(t *testing.T) {
	for _, tc := range []struct {
		name        string
		docs, vocab int
		freezeEvery int
	}{
		{"heap tail only", 400, 300, 0},
		{"frozen, small", 400, 300, 400},
		{"frozen and tail", 3000, 2000, 700},
		{"many blocks", 6000, 500, 1000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(tc.docs), 3))
			ix, raw := zipfCorpus(t, rng, tc.docs, tc.vocab, tc.freezeEvery)
			sc := new(Scratch)
			for q := range 200 {
				var terms []QueryTerm
				for i := range 1 + rng.IntN(8) {
					id := uint32(rng.IntN(tc.vocab))
					if q%3 == 0 {
						id = uint32(rng.IntN(20)) // common terms: long lists, most pruning
					}
					terms = append(terms, QueryTerm{ID: id, Weight: float32(IDF(uint64(ix.Live()), uint64(ix.DF(id)))), Bit: uint8(i)})
				}
				k := []int{1, 5, 10, 50}[q%4]
				var allow Filter
				if q%5 == 0 {
					allow = func(s uint32) bool { return s%3 != 0 }
				}
				want := exhaustive(ix, raw, terms, k, DefaultParams(), allow)
				got := ix.SearchFiltered(terms, k, DefaultParams(), allow, sc, nil)
				if !slices.Equal(got, want) {
					t.Fatalf("query %d %+v k=%d:\n got %v\nwant %v", q, terms, k, got, want)
				}
			}
		})
	}
}

// TestPruningMatchesExhaustiveOnCommonTerms asks many corpora queries of
// the commonest terms only, where the block bounds, the range skips and
// the tf floor of a single essential list do most of the work; a skip
// that outran the range its bound held for was caught here.
func TestPruningMatchesExhaustiveOnCommonTerms(t *testing.T) {
	for seed := range uint64(12) {
		rng := rand.New(rand.NewPCG(seed, 5))
		ix, raw := zipfCorpus(t, rng, 2000, 800, 600)
		if seed%2 == 0 {
			ix.Compact()
		}
		sc := new(Scratch)
		for q := range 200 {
			var terms []QueryTerm
			for i := range 1 + rng.IntN(6) {
				id := uint32(rng.IntN(60))
				terms = append(terms, QueryTerm{ID: id, Weight: float32(IDF(uint64(ix.Live()), uint64(ix.DF(id)))), Bit: uint8(i)})
			}
			k := []int{10, 3, 30}[q%3]
			want := exhaustive(ix, raw, terms, k, DefaultParams(), nil)
			if got := ix.Search(terms, k, DefaultParams(), sc, nil); !slices.Equal(got, want) {
				t.Fatalf("seed %d query %d %v k=%d: got %v want %v", seed, q, terms, k, got, want)
			}
		}
	}
}
