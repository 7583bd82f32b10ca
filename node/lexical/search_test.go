package lexical

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"syscall"
	"testing"
	"time"
)

// exhaustive is the reference ranking: every chunk added (raw, by slot)
// scored term at a time in query order, as the index did before it had
// blocks and pruning. Search must return exactly this, scores bit for bit.
func exhaustive(ix *Index, raw []Chunk, terms []QueryTerm, k int, p Params, allow Filter) []Hit {
	avg := float64(ix.totalLen) / float64(ix.live)
	k1, base, slope := float32(p.K1), float32(p.K1*(1-p.B)), float32(p.K1*p.B/avg)
	acc := make(map[uint32]float32)
	mask := make(map[uint32]uint64)
	for _, qt := range terms {
		if !(qt.Weight > 0) {
			continue
		}
		w := qt.Weight * (k1 + 1)
		for s, c := range raw {
			for _, t := range c.Terms {
				if t.Term == qt.ID {
					tf := float32(min(t.TF, maxTF))
					acc[uint32(s)] += w * tf / (tf + base + slope*float32(c.Length))
					mask[uint32(s)] |= uint64(1) << min(qt.Bit, 63)
				}
			}
		}
	}
	var hits []Hit
	for s, v := range acc {
		if ix.removed(s) || (allow != nil && !allow(s)) {
			continue
		}
		hits = append(hits, Hit{Slot: s, Score: v, Matched: mask[s]})
	}
	slices.SortFunc(hits, func(a, b Hit) int {
		if better(a, b) {
			return -1
		}
		return 1
	})
	return hits[:min(k, len(hits))]
}

// zipfCorpus adds docs documents of one to three chunks whose terms follow
// a Zipf law over vocab ids, freezing now and then so searches cross the
// frozen blocks and the heap tail, and removing every seventh document.
func zipfCorpus(t testing.TB, rng *rand.Rand, docs, vocab int, freezeEvery int) (*Index, []Chunk) {
	ix := New()
	var raw []Chunk
	z := rand.NewZipf(rng, 1.1, 2, uint64(vocab-1))
	for d := range docs {
		var chunks []Chunk
		for c := range 1 + rng.IntN(3) {
			tfs := map[uint32]uint32{}
			for range 5 + rng.IntN(80) {
				tfs[uint32(z.Uint64())]++
			}
			if rng.IntN(50) == 0 {
				tfs[1] = 300 // past maxTF
			}
			chunks = append(chunks, chunkOf(fmt.Sprintf("%d/%d", d, c), tfs))
		}
		id := fmt.Sprint("doc", d)
		raw = append(raw, chunks...)
		if err := ix.Add(id, chunks); err != nil {
			t.Fatal(err)
		}
		if d%7 == 3 {
			ix.Remove(id, chunks)
		}
		if freezeEvery > 0 && d%freezeEvery == freezeEvery-1 {
			if err := ix.Freeze(); err != nil {
				t.Fatal(err)
			}
		}
	}
	return ix, raw
}

func TestFilterKeepsChunksOutOfRetrieval(t *testing.T) {
	ix := New()
	for _, d := range []string{"d0", "d1", "d2", "d3"} {
		must(t, ix.Add(d, []Chunk{chunkOf(d, map[uint32]uint32{7: 1})}))
	}
	must(t, ix.Freeze())
	asked := map[uint32]int{}
	allow := func(s uint32) bool { asked[s]++; return ix.Slot(s).DocID != "d0" }
	hits := ix.SearchFiltered([]QueryTerm{{ID: 7, Weight: 1}}, 2, DefaultParams(), allow, new(Scratch), nil)
	if len(hits) != 2 || ix.Slot(hits[0].Slot).DocID != "d1" || ix.Slot(hits[1].Slot).DocID != "d2" {
		t.Fatalf("a refused chunk must not take a place in the top k: %+v", hits)
	}
	if asked[0] != 1 {
		t.Errorf("filter asked %d times about slot 0, want once", asked[0])
	}
}

func TestFreezeMovesPostingsOffTheHeapTail(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	ix, _ := zipfCorpus(t, rng, 500, 400, 0)
	fz, tail := ix.Postings()
	if fz != 0 || tail == 0 {
		t.Fatalf("before freeze: frozen %d tail %d", fz, tail)
	}
	var arena countingArena
	ix.SetArena(&arena)
	ix.Compact()
	fz2, tail2 := ix.Postings()
	if fz2 != tail || tail2 != 0 || arena.allocs != 1 {
		t.Fatalf("after compact: frozen %d tail %d allocs %d, want %d 0 1", fz2, tail2, arena.allocs, tail)
	}
	must(t, ix.Add("late", []Chunk{chunkOf("late", map[uint32]uint32{2: 1})}))
	must(t, ix.Freeze())
	if arena.frees != 1 {
		t.Errorf("the replaced blocks were freed %d times, want 1", arena.frees)
	}
}

type countingArena struct{ allocs, frees int }

func (a *countingArena) Alloc(n int) ([]byte, error) { a.allocs++; return make([]byte, n), nil }
func (a *countingArena) Free([]byte)                 { a.frees++ }

func BenchmarkSearchZipf(b *testing.B) {
	rng := rand.New(rand.NewPCG(9, 9))
	ix, _ := zipfCorpus(b, rng, 40000, 20000, 0)
	ix.Compact()
	queries := make([][]QueryTerm, 256)
	for i := range queries {
		for j := range 6 {
			id := uint32(rng.IntN(2000))
			queries[i] = append(queries[i], QueryTerm{ID: id, Weight: float32(IDF(uint64(ix.Live()), uint64(ix.DF(id)))), Bit: uint8(j)})
		}
	}
	sc := new(Scratch)
	var out []Hit
	runtime.GC()
	b.ResetTimer()
	cpu0 := processCPU()
	for i := range b.N {
		out = ix.Search(queries[i%len(queries)], 10, DefaultParams(), sc, out[:0])
	}
	// CPU time beside wall time: on a shared machine the wall time
	// measures the neighbours as much as the search.
	b.ReportMetric(float64((processCPU()-cpu0).Nanoseconds())/1e3/float64(b.N), "cpu-us/op")
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
