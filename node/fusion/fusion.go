// Package fusion merges ranked lists from different retrievers into one. A
// node ranks chunks twice, by BM25 and by embedding similarity, and the two
// scores are on scales that cannot be compared (BM25 grows with the rarity
// of the matched terms, cosine similarity lives in [-1, 1]); reciprocal rank
// fusion (Cormack, Clarke and Büttcher, 2009) uses only the ranks, so it
// needs no score calibration and no training data. The package is pure: no
// I/O, no state, no imports of the project.
package fusion

import (
	"cmp"
	"fmt"
	"math"
	"slices"
)

// DefaultK is the rank constant of the RRF paper. It damps the difference
// between the first few ranks, so one list's top hit cannot outvote
// agreement between lists; 60 worked across every collection the paper
// tried and is what most hybrid search systems ship.
const DefaultK = 60

// Fused is one item of the fused ranking.
type Fused[K comparable] struct {
	Key   K
	Score float64 // Σ weight_i / (k + rank_i) over the lists holding Key
	// Ranks holds Key's 1-based rank in each input list, 0 where the list
	// does not hold it, so callers can tell agreement ("found by both")
	// from a single retriever's pick.
	Ranks []int
}

// RRF fuses ranked lists of keys, best first, by reciprocal rank fusion:
// an item scores Σ w_i / (k + r_i) over the lists i it appears in, with r_i
// its 1-based rank there. It returns the n best items (all when n <= 0),
// best first.
//
// weights[i] weighs list i; a missing weight (weights shorter than lists, or
// nil) counts as 1, so RRF(lists, nil, 60, n) is the paper's plain form. A
// key repeated within one list counts at its first (best) rank only.
//
// Ties in score are broken by the item's best rank in any list, then by the
// lower index of the list holding that rank, then by the order of first
// appearance, so the result depends only on the inputs, never on map order.
func RRF[K comparable](lists [][]K, weights []float64, k float64, n int) []Fused[K] {
	size := 0
	for _, l := range lists {
		size += len(l)
	}
	type acc struct {
		f        Fused[K]
		best     int // best 1-based rank in any list
		bestList int // the list holding it (lowest index on a tie)
		order    int // first appearance, scanning lists in order
	}
	at := make(map[K]int, size)
	accs := make([]acc, 0, size)
	for li, l := range lists {
		w := 1.0
		if li < len(weights) {
			w = weights[li]
		}
		for r, key := range l {
			rank := r + 1
			i, ok := at[key]
			if !ok {
				i = len(accs)
				at[key] = i
				accs = append(accs, acc{f: Fused[K]{Key: key, Ranks: make([]int, len(lists))}, best: rank, bestList: li, order: i})
			}
			a := &accs[i]
			if a.f.Ranks[li] != 0 {
				continue // repeated within the list: its best rank already counted
			}
			a.f.Ranks[li] = rank
			a.f.Score += w / (k + float64(rank))
			if rank < a.best {
				a.best, a.bestList = rank, li
			}
		}
	}
	slices.SortFunc(accs, func(a, b acc) int {
		if c := cmp.Compare(b.f.Score, a.f.Score); c != 0 {
			return c
		}
		if c := cmp.Compare(a.best, b.best); c != 0 {
			return c
		}
		if c := cmp.Compare(a.bestList, b.bestList); c != 0 {
			return c
		}
		return cmp.Compare(a.order, b.order)
	})
	if n > 0 && len(accs) > n {
		accs = accs[:n]
	}
	out := make([]Fused[K], len(accs))
	for i, a := range accs {
		out[i] = a.f
	}
	return out
}

// Weights configure the hybrid ranking of a node: how much the lexical
// (BM25) and the dense (embedding) list count, and the rank constant.
type Weights struct {
	Lexical float64 `json:"lexical"`
	Dense   float64 `json:"dense"`
	K       float64 `json:"k"`
}

// DefaultWeights weighs both retrievers equally with the paper's k. Equal
// weights are the safe default: BM25 is strong on the exact terms of
// manuals and part numbers, embeddings on paraphrase, and which matters more
// depends on the questions, which an evaluation run can measure.
func DefaultWeights() Weights { return Weights{Lexical: 1, Dense: 1, K: DefaultK} }

// Validate reports weights that cannot rank: negative or non-finite values,
// both weights zero, or a negative k.
func (w Weights) Validate() error {
	for _, f := range []struct {
		name string
		v    float64
	}{{"lexical weight", w.Lexical}, {"dense weight", w.Dense}, {"k", w.K}} {
		if math.IsNaN(f.v) || math.IsInf(f.v, 0) || f.v < 0 {
			return fmt.Errorf("fusion %s = %v: must be a finite number >= 0 (defaults: weights 1, k %d)", f.name, f.v, DefaultK)
		}
	}
	if w.Lexical == 0 && w.Dense == 0 {
		return fmt.Errorf("fusion weights are both 0: give the lexical or the dense list a positive weight (default 1 each)")
	}
	return nil
}

// Hybrid fuses a lexical and a dense ranking with w, returning the n best.
// In each result Ranks[0] is the lexical rank and Ranks[1] the dense one.
func Hybrid[K comparable](lexical, dense []K, w Weights, n int) []Fused[K] {
	return RRF([][]K{lexical, dense}, []float64{w.Lexical, w.Dense}, w.K, n)
}
