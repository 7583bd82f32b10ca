package vector

import (
	"bytes"
	"strings"
	"testing"
)

// TestCompactHNSWRecall: the graph walks on 7-bit codes and reranks from
// the vector file, and must find as much as the float graph does.
func TestCompactHNSWRecall(t *testing.T) {
	const n, dim, k = 5000, 48, 10
	for _, tt := range recallSets(n, dim, 30) {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{Dim: dim, EfConstruction: 40, Seed: 1}
			x := NewCompactHNSW(cfg, &memStore{})
			ids := seqIDs(n)
			fill(t, x, ids, tt.vs)
			r := meanRecall(t, x, tt.vs, ids, tt.qs, k)
			f := NewHNSW(cfg)
			fill(t, f, ids, tt.vs)
			rf := meanRecall(t, f, tt.vs, ids, tt.qs, k)
			t.Logf("recall@%d = %.3f compact, %.3f float", k, r, rf)
			// Uniform vectors at 48 dimensions are hard for both graphs
			// (about 0.95); the codes must not cost more than 0.02.
			if r < 0.9 || r < rf-0.02 {
				t.Errorf("compact HNSW recall@%d = %.3f, want ≥ 0.9 and within 0.02 of the float graph's %.3f", k, r, rf)
			}
		})
	}
}

// TestCompactScoresExact: what a compact graph returns carries the exact
// score read back from the vector file, not the codes' estimate.
func TestCompactScoresExact(t *testing.T) {
	const n, dim = 300, 20
	vs := uniform(n, dim, 70)
	x := NewCompactHNSW(Config{Dim: dim, Seed: 3}, &memStore{})
	fill(t, x, seqIDs(n), vs)
	for _, q := range uniform(10, dim, 71) {
		got, err := x.Search(q, 5, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range got {
			if want := dotGo(q, vs[h.ID]); abs32(h.Score-want) > 1e-5 {
				t.Fatalf("hit %d scored %v, exact %v", h.ID, h.Score, want)
			}
		}
	}
}

func abs32(x float32) float32 { return max(x, -x) }

// TestCompactStoreFailures: a vector file that cannot be written leaves
// the index as it was, and one that cannot be read fails the search with
// an error saying so, rather than returning estimates.
func TestCompactStoreFailures(t *testing.T) {
	const dim = 8
	st := &memStore{}
	x := NewCompactHNSW(Config{Dim: dim}, st)
	vs := uniform(50, dim, 72)
	fill(t, x, seqIDs(40), vs[:40])
	st.fail = true
	if err := x.Add(99, vs[45]); err == nil || !strings.Contains(err.Error(), "no space left") {
		t.Fatalf("Add with a failing vector file: %v", err)
	}
	if err := x.Add(3, vs[46]); err == nil {
		t.Fatal("replacing with a failing vector file succeeded")
	}
	if x.Len() != 40 || len(x.ids) != 40 || x.codes.len() != 40 || x.Dead() != 0 {
		t.Fatalf("after failed adds: Len %d, nodes %d, codes %d, dead %d; want 40, 40, 40, 0", x.Len(), len(x.ids), x.codes.len(), x.Dead())
	}
	if _, err := x.Search(vs[0], 5, nil); err == nil || !strings.Contains(err.Error(), "vector file") {
		t.Fatalf("Search with an unreadable vector file: %v", err)
	}
	st.fail = false
	got, err := x.Search(vs[3], 1, nil)
	if err != nil || len(got) != 1 || got[0].ID != 3 {
		t.Fatalf("Search after the file recovers: %v %v, want id 3", got, err)
	}
}

// TestLoadCompactRejects: the stored graph does not load without its
// vector file, nor with one too short for it.
func TestLoadCompactRejects(t *testing.T) {
	const n, dim = 30, 8
	st := &memStore{}
	x := NewCompactHNSW(Config{Dim: dim}, st)
	fill(t, x, seqIDs(n), uniform(n, dim, 73))
	data := encode(t, x)
	if _, err := Load(bytes.NewReader(data)); err == nil || !strings.Contains(err.Error(), "LoadCompact") {
		t.Fatalf("Load of a compact graph: %v", err)
	}
	short := &memStore{b: st.b[:len(st.b)-1]}
	if _, err := LoadCompact(bytes.NewReader(data), short, Config{}); err == nil || !strings.Contains(err.Error(), "does not hold") {
		t.Fatalf("LoadCompact with a short vector file: %v", err)
	}
	if _, err := LoadCompact(bytes.NewReader(data), st, Config{Dim: dim + 1}); err == nil {
		t.Fatal("LoadCompact with the wrong dimension succeeded")
	}
	bad := bytes.Clone(data)
	codesAt := len(data) - 4 - len(x.upper)*4 - x.links0.len()*x.links0.width*4 - n*4 - n*x.codes.width*8
	bad[codesAt] = 0x80
	if _, err := LoadCompact(bytes.NewReader(fixCRC(bad)), st, Config{}); err == nil || !strings.Contains(err.Error(), "outside 1..127") {
		t.Fatalf("LoadCompact with a code byte of 128: %v", err)
	}
	bad[codesAt] = 0
	if _, err := LoadCompact(bytes.NewReader(fixCRC(bad)), st, Config{}); err == nil || !strings.Contains(err.Error(), "outside 1..127") {
		t.Fatalf("LoadCompact with a code byte of 0: %v", err)
	}
}

// FuzzLoadCompact: whatever loads must search and round-trip.
func FuzzLoadCompact(f *testing.F) {
	st := &memStore{}
	x := NewCompactHNSW(Config{Dim: 4}, st)
	fill(f, x, seqIDs(20), uniform(20, 4, 74))
	f.Add(encode(f, x))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, b := range [][]byte{data, fixCRC(data)} {
			y, err := LoadCompact(bytes.NewReader(b), st, Config{})
			if err != nil {
				continue
			}
			checkLoadedGraph(t, y, func(b []byte) error {
				_, err := LoadCompact(bytes.NewReader(b), st, Config{})
				return err
			})
		}
	})
}

// checkLoadedGraph holds a graph a fuzz target managed to load to what a
// loaded graph owes: a search answers or names the vector file, and it
// writes a form that reload (the target's loader) takes back.
func checkLoadedGraph(t *testing.T, y *HNSW, reload func([]byte) error) {
	t.Helper()
	q := make([]float32, y.Dim())
	q[0] = 1
	if _, err := y.Search(q, 5, nil); err != nil && !strings.Contains(err.Error(), "vector file") {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if _, err := y.WriteTo(&out); err != nil {
		t.Fatal(err)
	}
	if err := reload(out.Bytes()); err != nil {
		t.Fatalf("re-loading a loaded graph: %v", err)
	}
}
