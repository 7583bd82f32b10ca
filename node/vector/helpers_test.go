package vector

import (
	"bytes"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
)

// recallSet is one case of the recall tests: vectors and the queries
// asked of them.
type recallSet struct {
	name   string
	vs, qs [][]float32
}

// recallSets returns the recall tests' two cases from seeds seed..seed+2:
// n uniform vectors with 50 uniform queries (the hard case), and n vectors
// in 50 clusters queried at the clusters' centres.
func recallSets(n, dim int, seed uint64) []recallSet {
	cv, centres := clustered(n, dim, 50, seed+2)
	return []recallSet{
		{"uniform", uniform(n, dim, seed), uniform(50, dim, seed+1)},
		{"clustered", cv, centres},
	}
}

// uniform returns n random unit vectors: the hard case for approximate
// search, as no direction is denser than another.
func uniform(n, dim int, seed uint64) [][]float32 {
	r := rand.New(rand.NewPCG(seed, 1))
	vs := make([][]float32, n)
	for i := range vs {
		vs[i] = gaussian(r, dim, 1)
		Normalize(vs[i])
	}
	return vs
}

// clustered returns n unit vectors around `clusters` random centres, like
// embeddings of documents on a limited set of topics: each is a centre plus
// noise of about the same norm, so a vector's cosine with its centre is
// about 0.7 and with a sibling about 0.5.
func clustered(n, dim, clusters int, seed uint64) (vs, centres [][]float32) {
	r := rand.New(rand.NewPCG(seed, 2))
	centres = uniform(clusters, dim, seed+1000)
	vs = make([][]float32, n)
	for i := range vs {
		vs[i] = jitter(r, centres[r.IntN(clusters)])
	}
	return vs, centres
}

// jitter returns c plus Gaussian noise of norm about 1, normalised.
func jitter(r *rand.Rand, c []float32) []float32 {
	v := gaussian(r, len(c), 1/math.Sqrt(float64(len(c))))
	for j := range v {
		v[j] += c[j]
	}
	Normalize(v)
	return v
}

func gaussian(r *rand.Rand, dim int, sd float64) []float32 {
	v := make([]float32, dim)
	for j := range v {
		v[j] = float32(r.NormFloat64() * sd)
	}
	return v
}

// bruteTop is the reference answer, computed independently of the package's
// kernels and heaps: float64 scores, a full sort, ties by lower id.
func bruteTop(vs [][]float32, ids []uint32, q []float32, k int) []Hit {
	all := make([]Hit, 0, len(vs))
	for i, v := range vs {
		var s float64
		for j := range v {
			s += float64(v[j]) * float64(q[j])
		}
		all = append(all, Hit{ID: ids[i], Score: float32(s)})
	}
	slices.SortFunc(all, func(a, b Hit) int {
		switch {
		case a.Score > b.Score:
			return -1
		case a.Score < b.Score:
			return 1
		}
		return int(a.ID) - int(b.ID)
	})
	return all[:min(k, len(all))]
}

// recall is the share of want's ids found in got.
func recall(got, want []Hit) float64 {
	if len(want) == 0 {
		return 1
	}
	found := 0
	for _, w := range want {
		for _, g := range got {
			if g.ID == w.ID {
				found++
				break
			}
		}
	}
	return float64(found) / float64(len(want))
}

func seqIDs(n int) []uint32 {
	ids := make([]uint32, n)
	for i := range ids {
		ids[i] = uint32(i)
	}
	return ids
}

// fill adds vs under ids to x.
func fill(tb testing.TB, x Index, ids []uint32, vs [][]float32) {
	tb.Helper()
	for i, v := range vs {
		if err := x.Add(ids[i], v); err != nil {
			tb.Fatalf("Add(%d): %v", ids[i], err)
		}
	}
}

// meanRecall searches every query and compares with bruteTop.
func meanRecall(tb testing.TB, x Index, vs [][]float32, ids []uint32, qs [][]float32, k int) float64 {
	tb.Helper()
	var sum float64
	var dst []Hit
	for _, q := range qs {
		var err error
		dst, err = x.Search(q, k, dst[:0])
		if err != nil {
			tb.Fatal(err)
		}
		sum += recall(dst, bruteTop(vs, ids, q, k))
	}
	return sum / float64(len(qs))
}

func newKind(tb testing.TB, kind string, dim int) Index {
	tb.Helper()
	if kind == KindHNSWInt8 {
		return NewCompactHNSW(Config{Dim: dim, Seed: 7}, tempStore(tb))
	}
	x, err := New(kind, Config{Dim: dim, Seed: 7})
	if err != nil {
		tb.Fatal(err)
	}
	return x
}

// allKinds are the kinds New makes; searchKinds adds the compact graph,
// which needs a vector file.
func allKinds() []string { return []string{KindExact, KindInt8, KindHNSW} }

func searchKinds() []string { return append(allKinds(), KindHNSWInt8) }

// tempStore is a vector file in the test's temporary directory, as the
// node would keep one beside its shard.
func tempStore(tb testing.TB) *os.File {
	tb.Helper()
	f, err := os.CreateTemp(tb.TempDir(), "vectors")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { f.Close() })
	return f
}

// memStore is a VectorStore in memory; fail makes every call fail, as a
// full disk would.
type memStore struct {
	b    []byte
	fail bool
}

func (m *memStore) WriteAt(p []byte, off int64) (int, error) {
	if m.fail {
		return 0, errors.New("no space left on device")
	}
	if end := int(off) + len(p); end > len(m.b) {
		m.b = append(m.b, make([]byte, end-len(m.b))...)
	}
	return copy(m.b[off:], p), nil
}

func (m *memStore) ReadAt(p []byte, off int64) (int, error) {
	if m.fail {
		return 0, errors.New("input/output error")
	}
	if int(off)+len(p) > len(m.b) {
		return 0, io.EOF
	}
	return copy(p, m.b[off:]), nil
}

// loadLike loads data as an index of x's kind, giving a compact graph x's
// vector file.
func loadLike(x Index, data []byte) (Index, error) {
	if h, ok := x.(*HNSW); ok && h.store != nil {
		return LoadCompact(bytes.NewReader(data), h.store, Config{})
	}
	return Load(bytes.NewReader(data))
}
