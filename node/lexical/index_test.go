package lexical

import (
	"math"
	"testing"

	"github.com/edgerag/edgerag/node/shard"
)

// chunkOf builds a chunk whose terms are ids with the given frequencies.
func chunkOf(text string, tfs map[uint32]uint32) Chunk {
	c := Chunk{ID: shard.HashText(text)}
	for id, tf := range tfs {
		c.Terms = append(c.Terms, TermFreq{Term: id, TF: tf})
		c.Length += tf
	}
	return c
}

func TestIDFMatchesLucene(t *testing.T) {
	for _, tc := range []struct {
		n, df uint64
		want  float64
	}{
		{10, 1, math.Log(1 + 9.5/1.5)},
		{10, 10, math.Log(1 + 0.5/10.5)}, // a term in every chunk still counts a little
		{1000, 0, math.Log(1 + 1000.5/0.5)},
	} {
		if got := IDF(tc.n, tc.df); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("IDF(%d,%d) = %v, want %v", tc.n, tc.df, got, tc.want)
		}
		if IDF(tc.n, tc.df) < 0 {
			t.Errorf("IDF(%d,%d) negative", tc.n, tc.df)
		}
	}
}

func TestSearchRanksByBM25(t *testing.T) {
	ix := New()
	// term 0 = "pump", 1 = "seal", 2 = "filler"
	must(t, ix.Add("a", []Chunk{chunkOf("a", map[uint32]uint32{0: 3, 2: 3})}))
	must(t, ix.Add("b", []Chunk{chunkOf("b", map[uint32]uint32{0: 1, 1: 1, 2: 20})}))
	must(t, ix.Add("c", []Chunk{chunkOf("c", map[uint32]uint32{2: 5})}))
	q := []QueryTerm{{ID: 0, Weight: float32(IDF(3, 2)), Bit: 0}, {ID: 1, Weight: float32(IDF(3, 1)), Bit: 1}}
	hits := ix.Search(q, 10, DefaultParams(), new(Scratch), nil)
	if len(hits) != 2 {
		t.Fatalf("got %d hits, want 2 (c matches nothing)", len(hits))
	}
	// b matches both terms, the rarer one included: it must win over a.
	if got := ix.Slot(hits[0].Slot).DocID; got != "b" {
		t.Errorf("top hit %q, want b", got)
	}
	if hits[0].Matched != 0b11 || hits[1].Matched != 0b01 {
		t.Errorf("matched masks %b %b, want 11 01", hits[0].Matched, hits[1].Matched)
	}
	if hits[0].Score < hits[1].Score {
		t.Errorf("hits not sorted: %v", hits)
	}
}

func TestSearchKAndTies(t *testing.T) {
	ix := New()
	for _, d := range []string{"d0", "d1", "d2", "d3"} {
		must(t, ix.Add(d, []Chunk{chunkOf(d, map[uint32]uint32{7: 1})}))
	}
	q := []QueryTerm{{ID: 7, Weight: 1}}
	sc := new(Scratch)
	hits := ix.Search(q, 2, DefaultParams(), sc, nil)
	if len(hits) != 2 || ix.Slot(hits[0].Slot).DocID != "d0" || ix.Slot(hits[1].Slot).DocID != "d1" {
		t.Fatalf("equal scores must keep insertion order, got %+v", hits)
	}
	// The scratch buffer is clean after a query: the same query again scores the same.
	again := ix.Search(q, 2, DefaultParams(), sc, nil)
	if again[0].Score != hits[0].Score {
		t.Errorf("second search scored %v, first %v: scratch not reset", again[0].Score, hits[0].Score)
	}
}

func TestRemoveHidesChunksAndFixesDF(t *testing.T) {
	ix := New()
	a := []Chunk{chunkOf("a", map[uint32]uint32{1: 2})}
	must(t, ix.Add("a", a))
	must(t, ix.Add("b", []Chunk{chunkOf("b", map[uint32]uint32{1: 1})}))
	if ix.DF(1) != 2 {
		t.Fatalf("df = %d, want 2", ix.DF(1))
	}
	ix.Remove("a", a)
	if ix.DF(1) != 1 || ix.Live() != 1 || ix.Dead() != 1 || ix.HasDoc("a") {
		t.Fatalf("after remove: df %d live %d dead %d", ix.DF(1), ix.Live(), ix.Dead())
	}
	hits := ix.Search([]QueryTerm{{ID: 1, Weight: 1}}, 10, DefaultParams(), new(Scratch), nil)
	if len(hits) != 1 || ix.Slot(hits[0].Slot).DocID != "b" {
		t.Fatalf("removed document still found: %+v", hits)
	}
	if err := ix.Add("b", nil); err == nil {
		t.Error("adding a document twice must fail")
	}
	must(t, ix.Add("a", a)) // re-adding after removal works
}

func TestDictAssignForget(t *testing.T) {
	d := NewDict()
	ids, fresh := d.Assign([]string{"pump", "seal", "pump"}, nil, nil)
	if ids[0] != 0 || ids[1] != 1 || ids[2] != 0 || len(fresh) != 2 {
		t.Fatalf("ids %v fresh %v", ids, fresh)
	}
	_, fresh2 := d.Assign([]string{"valve"}, nil, nil)
	d.Forget(fresh2)
	if _, ok := d.Lookup("valve"); ok || d.Len() != 2 {
		t.Fatal("forgotten term still known")
	}
	ids, _ = d.Assign([]string{"oil"}, nil, nil)
	if ids[0] != 2 {
		t.Fatalf("ids must stay dense after Forget, got %d", ids[0])
	}
}

func TestParamsValidate(t *testing.T) {
	if err := DefaultParams().Validate(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []Params{{K1: -1, B: 0.5}, {K1: 1, B: 1.5}, {K1: math.NaN(), B: 0.5}} {
		if p.Validate() == nil {
			t.Errorf("%+v accepted", p)
		}
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestQuantisedLengthIsATightLowerBound(t *testing.T) {
	prev := uint8(0)
	for n := uint32(0); n < 1<<20; n++ {
		q := quantLen(n)
		if q < prev {
			t.Fatalf("quantLen(%d) = %d falls below quantLen(%d) = %d", n, q, n-1, prev)
		}
		prev = q
		lo := unquantLen(q)
		if lo > n || (n < 4096 && float64(n-lo) > float64(n)/32) {
			t.Fatalf("length %d quantised to %d reads back as %d", n, q, lo)
		}
	}
	for _, n := range []uint32{1 << 24, 1<<32 - 1} {
		if lo := unquantLen(quantLen(n)); lo > n {
			t.Fatalf("length %d reads back as %d", n, lo)
		}
	}
}
