package vector

import (
	"bytes"
	"testing"
)

// The recall tests use few dimensions so that building stays fast under the
// race detector; bench_test.go measures 100k × 384.

func TestInt8Recall(t *testing.T) {
	const n, dim, k = 5000, 64, 10
	for _, tt := range recallSets(n, dim, 20) {
		t.Run(tt.name, func(t *testing.T) {
			x := NewInt8(dim)
			ids := seqIDs(n)
			fill(t, x, ids, tt.vs)
			r := meanRecall(t, x, tt.vs, ids, tt.qs, k)
			t.Logf("recall@%d = %.3f", k, r)
			if r < 0.99 {
				t.Errorf("int8 recall@%d = %.3f, want ≥ 0.99", k, r)
			}
		})
	}
}

func TestHNSWRecall(t *testing.T) {
	const n, dim, k = 5000, 24, 10
	for _, tt := range recallSets(n, dim, 30) {
		t.Run(tt.name, func(t *testing.T) {
			x := NewHNSW(Config{Dim: dim, EfConstruction: 40, Seed: 1})
			ids := seqIDs(n)
			fill(t, x, ids, tt.vs)
			r := meanRecall(t, x, tt.vs, ids, tt.qs, k)
			t.Logf("recall@%d = %.3f", k, r)
			if r < 0.95 {
				t.Errorf("HNSW recall@%d = %.3f, want ≥ 0.95", k, r)
			}
		})
	}
}

// TestHNSWRecallAfterDeletes checks that dead nodes, still walked through,
// keep the live part of the graph reachable.
func TestHNSWRecallAfterDeletes(t *testing.T) {
	const n, dim, k = 2000, 32, 10
	vs := uniform(n, dim, 40)
	x := NewHNSW(Config{Dim: dim, EfConstruction: 64, Seed: 2})
	fill(t, x, seqIDs(n), vs)
	var live [][]float32
	var liveIDs []uint32
	for i := range n {
		if i%3 == 0 {
			x.Delete(uint32(i))
			continue
		}
		live = append(live, vs[i])
		liveIDs = append(liveIDs, uint32(i))
	}
	if x.Dead() != n-len(live) || x.Len() != len(live) {
		t.Fatalf("Dead %d, Len %d after deleting a third of %d", x.Dead(), x.Len(), n)
	}
	r := meanRecall(t, x, live, liveIDs, uniform(50, dim, 41), k)
	t.Logf("recall@%d = %.3f", k, r)
	if r < 0.95 {
		t.Errorf("recall@%d with a third deleted = %.3f, want ≥ 0.95", k, r)
	}
}

// TestHNSWDeterministic: the same seed and inserts give the same graph,
// byte for byte, so a rebuilt index matches the one it replaces.
func TestHNSWDeterministic(t *testing.T) {
	const n, dim = 500, 16
	vs := uniform(n, dim, 50)
	var out [2]bytes.Buffer
	for i := range out {
		x := NewHNSW(Config{Dim: dim, Seed: 99})
		fill(t, x, seqIDs(n), vs)
		if _, err := x.WriteTo(&out[i]); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(out[0].Bytes(), out[1].Bytes()) {
		t.Fatal("two builds with the same seed differ")
	}
	y := NewHNSW(Config{Dim: dim, Seed: 100})
	fill(t, y, seqIDs(n), vs)
	var other bytes.Buffer
	y.WriteTo(&other)
	if bytes.Equal(out[0].Bytes(), other.Bytes()) {
		t.Fatal("a different seed built the same graph")
	}
}
