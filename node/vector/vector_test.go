package vector

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
)

func TestNormalize(t *testing.T) {
	tests := []struct {
		name string
		in   []float32
		want []float32
	}{
		{"3-4-5", []float32{3, 4}, []float32{0.6, 0.8}},
		{"already unit", []float32{0, 1, 0}, []float32{0, 1, 0}},
		{"negative", []float32{-2, 0}, []float32{-1, 0}},
		{"zero stays zero", []float32{0, 0}, []float32{0, 0}},
		{"empty", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := slices.Clone(tt.in)
			Normalize(v)
			for i := range v {
				if math.Abs(float64(v[i]-tt.want[i])) > 1e-6 {
					t.Fatalf("Normalize(%v) = %v, want %v", tt.in, v, tt.want)
				}
			}
		})
	}
}

func TestChoose(t *testing.T) {
	tests := []struct {
		n, dim int
		want   string
	}{
		{0, 384, KindExact},
		{1000, 384, KindExact},
		{4095, 384, KindExact},
		{4096, 384, KindInt8},
		{12287, 384, KindInt8},
		{12288, 384, KindHNSWInt8},
		{1_000_000, 384, KindHNSWInt8},
		{3000, 768, KindInt8}, // twice the dimension, half the vectors
		{10000, 96, KindExact},
		{100, 0, KindExact},
	}
	for _, tt := range tests {
		if got := Choose(tt.n, tt.dim); got != tt.want {
			t.Errorf("Choose(%d, %d) = %q, want %q", tt.n, tt.dim, got, tt.want)
		}
	}
}

func TestEfSearchFor(t *testing.T) {
	tests := []struct{ n, want int }{
		{0, DefaultEfSearch},
		{100_000, DefaultEfSearch},
		{200_000, 98},
		{1_000_000, 255},
		{10_000_000, maxDefaultEf},
		{MaxLen, maxDefaultEf},
	}
	for _, tt := range tests {
		if got := EfSearchFor(tt.n); got != tt.want {
			t.Errorf("EfSearchFor(%d) = %d, want %d", tt.n, got, tt.want)
		}
	}
}

func TestNewRejects(t *testing.T) {
	tests := []struct {
		name, kind string
		cfg        Config
		want       string
	}{
		{"unknown kind", "ivf", Config{Dim: 8}, "unknown index kind"},
		{"zero dim", KindExact, Config{}, "dimension 0"},
		{"huge dim", KindInt8, Config{Dim: MaxDim + 1}, "dimension"},
		{"M too small", KindHNSW, Config{Dim: 8, M: 1}, "M=1"},
		{"ef negative", KindHNSW, Config{Dim: 8, EfSearch: -1}, "EfSearch=-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.kind, tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New(%q, %+v) error %v, want one mentioning %q", tt.kind, tt.cfg, err, tt.want)
			}
		})
	}
	for _, kind := range allKinds() {
		x, err := New(kind, Config{Dim: 4})
		if err != nil || x.Kind() != kind || x.Dim() != 4 || x.Len() != 0 {
			t.Errorf("New(%q): %v, %v", kind, x, err)
		}
	}
}

func TestAddRejects(t *testing.T) {
	inf := float32(math.Inf(1))
	nan := float32(math.NaN())
	tests := []struct {
		name string
		v    []float32
		want string
	}{
		{"short", []float32{1, 2}, "2-dimensional vector for an index of 3"},
		{"long", []float32{1, 2, 3, 4}, "4-dimensional"},
		{"NaN", []float32{1, nan, 0}, "component 1 is NaN"},
		{"Inf", []float32{inf, 0, 0}, "component 0 is +Inf"},
		{"zero", []float32{0, 0, 0}, "zero vector"},
	}
	for _, kind := range searchKinds() {
		for _, tt := range tests {
			t.Run(kind+"/"+tt.name, func(t *testing.T) {
				x := newKind(t, kind, 3)
				err := x.Add(1, tt.v)
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("Add(%v) error %v, want one mentioning %q", tt.v, err, tt.want)
				}
				if x.Len() != 0 {
					t.Fatalf("Len = %d after a rejected Add", x.Len())
				}
				if _, err := x.Search([]float32{1, 0}, 1, nil); err == nil {
					t.Fatal("Search with a 2-d query on a 3-d index: no error")
				}
			})
		}
	}
}

// TestSearch checks every kind against the reference on a small set, where
// even the approximate kinds must be exact.
func TestSearch(t *testing.T) {
	const n, dim = 300, 16
	vs := uniform(n, dim, 1)
	ids := make([]uint32, n)
	for i := range ids {
		ids[i] = uint32(1000 + 7*i) // sparse, not the row numbers
	}
	qs := uniform(20, dim, 2)
	tests := []struct {
		name string
		k    int
	}{{"k=0", 0}, {"k=1", 1}, {"k=10", 10}, {"k=n", n}, {"k>n", n + 5}}
	for _, kind := range searchKinds() {
		x := newKind(t, kind, dim)
		fill(t, x, ids, vs)
		if x.Len() != n {
			t.Fatalf("%s: Len = %d, want %d", kind, x.Len(), n)
		}
		for _, tt := range tests {
			t.Run(kind+"/"+tt.name, func(t *testing.T) {
				for _, q := range qs {
					prefix := []Hit{{ID: 42, Score: 9}}
					got, err := x.Search(q, tt.k, prefix)
					if err != nil {
						t.Fatal(err)
					}
					if got[0] != prefix[0] {
						t.Fatalf("Search overwrote dst's prefix: %v", got[0])
					}
					got = got[1:]
					want := bruteTop(vs, ids, q, tt.k)
					if kind == KindHNSW && tt.k >= n {
						// A graph search finds what it reaches, not
						// necessarily every node; compare the head only.
						got, want = got[:min(len(got), 10)], want[:10]
					}
					if len(got) != len(want) {
						t.Fatalf("got %d hits, want %d", len(got), len(want))
					}
					for i := range want {
						if got[i].ID != want[i].ID || math.Abs(float64(got[i].Score-want[i].Score)) > 1e-5 {
							t.Fatalf("hit %d = %+v, want %+v", i, got[i], want[i])
						}
					}
				}
			})
		}
	}
}

func TestSearchTiesByID(t *testing.T) {
	for _, kind := range searchKinds() {
		x := newKind(t, kind, 2)
		for _, id := range []uint32{9, 3, 7, 5} {
			if err := x.Add(id, []float32{1, 1}); err != nil {
				t.Fatal(err)
			}
		}
		got, _ := x.Search([]float32{1, 0}, 3, nil)
		if ids := []uint32{got[0].ID, got[1].ID, got[2].ID}; !slices.Equal(ids, []uint32{3, 5, 7}) {
			t.Errorf("%s: equal scores ranked %v, want by id 3 5 7", kind, ids)
		}
	}
}

func TestDeleteAndReplace(t *testing.T) {
	const n, dim = 200, 8
	vs := uniform(n, dim, 3)
	for _, kind := range searchKinds() {
		t.Run(kind, func(t *testing.T) {
			x := newKind(t, kind, dim)
			fill(t, x, seqIDs(n), vs)
			x.Delete(5)
			x.Delete(5)       // twice is harmless
			x.Delete(n + 100) // absent is harmless
			if x.Len() != n-1 {
				t.Fatalf("Len = %d after one delete, want %d", x.Len(), n-1)
			}
			got, _ := x.Search(vs[5], n, nil)
			for _, h := range got {
				if h.ID == 5 {
					t.Fatal("deleted id 5 still found")
				}
			}
			// Replace id 6 with id 5's old vector: querying it finds 6.
			if err := x.Add(6, vs[5]); err != nil {
				t.Fatal(err)
			}
			got, _ = x.Search(vs[5], 1, nil)
			if got[0].ID != 6 || got[0].Score < 0.999 {
				t.Fatalf("after replacing 6, top hit %+v, want id 6 with score 1", got[0])
			}
			got, _ = x.Search(vs[6], n, nil)
			for _, h := range got {
				if h.ID == 6 && h.Score > 0.999 {
					t.Fatal("id 6's old vector still found")
				}
			}
			// Deleting moves rows around in the scanning kinds; results
			// must still be exact.
			if kind != KindHNSW {
				var rest [][]float32
				var restIDs []uint32
				for i := 10; i < n; i++ {
					if i%3 == 0 {
						x.Delete(uint32(i))
						continue
					}
					rest = append(rest, vs[i])
					restIDs = append(restIDs, uint32(i))
				}
				rest = append(rest, vs[5]) // id 6 now holds vs[5]
				restIDs = append(restIDs, 6)
				for i := range 10 {
					if i != 5 && i != 6 {
						rest = append(rest, vs[i])
						restIDs = append(restIDs, uint32(i))
					}
				}
				for _, q := range uniform(10, dim, 13) {
					got, _ := x.Search(q, 10, nil)
					want := bruteTop(rest, restIDs, q, 10)
					for i := range want {
						if got[i].ID != want[i].ID {
							t.Fatalf("after deletes hit %d = %+v, want %+v", i, got[i], want[i])
						}
					}
				}
				for i := 12; i < n; i += 3 {
					if err := x.Add(uint32(i), vs[i]); err != nil {
						t.Fatal(err)
					}
				}
			}
			// Re-adding a deleted id brings it back.
			if err := x.Add(5, vs[5]); err != nil {
				t.Fatal(err)
			}
			if x.Len() != n {
				t.Fatalf("Len = %d, want %d", x.Len(), n)
			}
			for i := range n {
				x.Delete(uint32(i))
			}
			if got, _ := x.Search(vs[0], 10, nil); x.Len() != 0 || len(got) != 0 {
				t.Fatalf("after deleting all: Len %d, %d hits", x.Len(), len(got))
			}
		})
	}
}

func TestSearchDoesNotAllocate(t *testing.T) {
	const n, dim = 1000, 32
	vs := uniform(n, dim, 4)
	q := uniform(1, dim, 5)[0]
	for _, kind := range searchKinds() {
		x := newKind(t, kind, dim)
		fill(t, x, seqIDs(n), vs)
		x.Delete(3)
		dst := make([]Hit, 0, 10)
		if _, err := x.Search(q, 10, dst); err != nil { // warm the scratch
			t.Fatal(err)
		}
		allocs := testing.AllocsPerRun(50, func() {
			dst, _ = x.Search(q, 10, dst[:0])
		})
		if allocs != 0 {
			t.Errorf("%s: Search allocates %.1f times per call, want 0", kind, allocs)
		}
	}
}

// TestConcurrentSearch is for the race detector: searches share the index
// and its scratch pool.
func TestConcurrentSearch(t *testing.T) {
	const n, dim = 500, 16
	vs := uniform(n, dim, 6)
	qs := uniform(8, dim, 7)
	for _, kind := range searchKinds() {
		x := newKind(t, kind, dim)
		fill(t, x, seqIDs(n), vs)
		want := make([][]Hit, len(qs))
		for i, q := range qs {
			want[i], _ = x.Search(q, 5, nil)
		}
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Go(func() {
				var dst []Hit
				for r := range 20 {
					i := (g + r) % len(qs)
					dst, _ = x.Search(qs[i], 5, dst[:0])
					if !slices.Equal(dst, want[i]) {
						t.Errorf("%s: concurrent search %d differs", kind, i)
						return
					}
				}
			})
		}
		wg.Wait()
	}
}

func TestDot(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8))
	for _, n := range []int{0, 1, 3, 4, 5, 8, 17, 384} {
		a, b := gaussian(r, n, 1), gaussian(r, n, 1)
		var want float64
		for i := range a {
			want += float64(a[i]) * float64(b[i])
		}
		if got := dot(a, b); math.Abs(float64(got)-want) > 1e-4*math.Max(1, math.Abs(want)) {
			t.Errorf("dot of length %d = %v, want %v", n, got, want)
		}
	}
}

// TestDot7 checks the packed multiply trick against a plain sum over the
// codes, including the extremes where a carry would show.
func TestDot7(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	tests := []struct {
		name string
		q, x []float32
	}{
		{"random 384", gaussian(r, 384, 1), gaussian(r, 384, 1)},
		{"random odd length", gaussian(r, 13, 1), gaussian(r, 13, 1)},
		{"all max", fillConst(16, 1), fillConst(16, 1)},
		{"all min against max", fillConst(16, -1), fillConst(16, 1)},
		{"single", []float32{-0.5}, []float32{2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := codeWords(len(tt.q))
			qw, xw := make([]uint64, w), make([]uint64, w)
			_, sq := quantize(qw, tt.q)
			_, sx := quantize(xw, tt.x)
			even, odd := make([]uint64, w), make([]uint64, w)
			spreadQuery(even, odd, qw)
			got := unbias(dot7(even, odd, xw), sx, sq, w)
			var want int64
			for i := range w * 8 {
				want += int64(code(qw, i)) * int64(code(xw, i))
			}
			if got != want {
				t.Fatalf("dot7 = %d, want %d", got, want)
			}
		})
	}
}

func TestRows(t *testing.T) {
	tests := []struct{ width, n int }{{1, 1}, {3, blockRows - 1}, {2, blockRows}, {5, 2*blockRows + 7}}
	for _, tt := range tests {
		r := newRows[uint32](tt.width)
		for i := range tt.n {
			row := r.grow()
			for j := range row {
				row[j] = uint32(i*tt.width + j)
			}
		}
		for r.len() > 0 {
			i := r.len() - 1
			for j, v := range r.at(i) {
				if v != uint32(i*tt.width+j) {
					t.Fatalf("width %d: row %d[%d] = %d", tt.width, i, j, v)
				}
			}
			r.shrink()
			if want := (r.len() + blockRows - 1) / blockRows; len(r.blocks) > max(want, 1) {
				t.Fatalf("width %d: %d rows hold %d blocks", tt.width, r.len(), len(r.blocks))
			}
		}
		if row := r.grow(); len(row) != tt.width || row[0] != 0 {
			t.Fatalf("regrown row %v not zeroed", row)
		}
	}
}

func fillConst(n int, v float32) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = v
	}
	return s
}

// code unpacks the signed code at position i.
func code(words []uint64, i int) int {
	return int(words[i/8]>>(8*(i%8))&0xFF) - codeBias
}

func TestQuantizeError(t *testing.T) {
	r := rand.New(rand.NewPCG(10, 10))
	for range 100 {
		q, x := gaussian(r, 384, 1), gaussian(r, 384, 1)
		Normalize(q)
		Normalize(x)
		w := codeWords(384)
		qw, xw := make([]uint64, w), make([]uint64, w)
		scq, sq := quantize(qw, q)
		scx, sx := quantize(xw, x)
		even, odd := make([]uint64, w), make([]uint64, w)
		spreadQuery(even, odd, qw)
		approx := float32(unbias(dot7(even, odd, xw), sx, sq, w)) * scq * scx
		if d := math.Abs(float64(approx - dot(q, x))); d > 0.01 {
			t.Fatalf("quantised dot off by %v", d)
		}
	}
}

func TestHeapKeepsBest(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 11))
	for _, k := range []int{1, 2, 7, 50} {
		var h []Hit
		var all []Hit
		for i := range 200 {
			x := Hit{ID: uint32(i), Score: float32(r.IntN(20))} // many ties
			all = append(all, x)
			h = offer(h, k, x)
		}
		sortBest(h)
		slices.SortFunc(all, func(a, b Hit) int {
			if worse(b, a) {
				return -1
			}
			return 1
		})
		if !slices.Equal(h, all[:k]) {
			t.Fatalf("k=%d: kept %v, want %v", k, h, all[:k])
		}
	}
}
