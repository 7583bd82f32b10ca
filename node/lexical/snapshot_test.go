package lexical

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"unsafe"
)

func TestSnapshotReopensTheSameIndex(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	ix, raw := zipfCorpus(t, rng, 2000, 800, 600)
	var buf bytes.Buffer
	must(t, ix.WriteSnapshot(&buf, 42, 7))
	b := buf.Bytes()
	if v, st, err := SnapshotVersion(b); err != nil || v != 42 || st != 7 {
		t.Fatalf("version %d stamp %d %v", v, st, err)
	}
	released := 0
	re, err := OpenSnapshot(b, nil, func() { released++ })
	must(t, err)
	if re.Live() != ix.Live() || re.Dead() != ix.Dead() || re.Docs() != ix.Docs() || re.TotalLen() != ix.TotalLen() {
		t.Fatalf("reopened live %d dead %d docs %d len %d, want %d %d %d %d", re.Live(), re.Dead(), re.Docs(), re.TotalLen(), ix.Live(), ix.Dead(), ix.Docs(), ix.TotalLen())
	}
	for s := range uint32(len(raw)) {
		a, b := ix.Slot(s), re.Slot(s)
		if a.dead {
			a.DocID = "" // a removed slot's document is not kept
		}
		if a != b {
			t.Fatalf("slot %d: %+v, want %+v", s, b, a)
		}
	}
	if !slices.Equal(ix.df, re.df) {
		t.Fatal("document frequencies differ after reopening")
	}
	for id := range ix.docs {
		if !slices.Equal(ix.DocSlots(id), re.DocSlots(id)) {
			t.Fatalf("document %s slots differ", id)
		}
	}
	check := func(what string, ix *Index, raw []Chunk) {
		sc := new(Scratch)
		for q := range 100 {
			var terms []QueryTerm
			for i := range 1 + rng.IntN(6) {
				id := uint32(rng.IntN(60))
				terms = append(terms, QueryTerm{ID: id, Weight: float32(IDF(uint64(ix.Live()), uint64(ix.DF(id)))), Bit: uint8(i)})
			}
			want := exhaustive(ix, raw, terms, 10, DefaultParams(), nil)
			if got := ix.Search(terms, 10, DefaultParams(), sc, nil); !slices.Equal(got, want) {
				t.Fatalf("%s, query %d: got %v want %v", what, q, got, want)
			}
		}
	}
	check("reopened", re, raw)
	// The reopened index takes new chunks and removals like any other.
	for d := range 50 {
		c := chunkOf(fmt.Sprint("new", d), map[uint32]uint32{uint32(d % 7): 2, 3: 1})
		must(t, re.Add(fmt.Sprint("new", d), []Chunk{c}))
		raw = append(raw, c)
	}
	re.Remove("doc1", nil)
	check("reopened and grown", re, raw)
	must(t, re.Freeze())
	if released != 1 {
		t.Errorf("snapshot mapping released %d times after a freeze replaced it, want 1", released)
	}
	check("reopened, grown and frozen", re, raw)
}

func TestSnapshotRefusesDamage(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 6))
	ix, _ := zipfCorpus(t, rng, 300, 200, 0)
	var buf bytes.Buffer
	must(t, ix.WriteSnapshot(&buf, 1, 1))
	good := buf.Bytes()
	for name, b := range map[string][]byte{
		"empty":       nil,
		"wrong magic": append([]byte("edgesnp0"), good[8:]...),
		// An older layout is refused, so the node rebuilds from its store.
		"edgesnp2 (one-point block bounds)": append([]byte("edgesnp2"), good[8:]...),
		"truncated":                         good[:len(good)/2],
		"header only":                       good[:snapHeaderSize],
		"no postings":                       good[:len(good)-len(ix.fz.mem.b)+10],
	} {
		if _, err := OpenSnapshot(b, nil, nil); !errors.Is(err, ErrSnapshot) {
			t.Errorf("%s: err %v, want ErrSnapshot", name, err)
		}
	}
}

// OpenSnapshot reads a file from disk: whatever the bytes, it refuses them
// or returns an index, never panics.
func FuzzOpenSnapshot(f *testing.F) {
	rng := rand.New(rand.NewPCG(8, 8))
	ix, _ := zipfCorpus(f, rng, 40, 30, 0)
	var buf bytes.Buffer
	if err := ix.WriteSnapshot(&buf, 3, 4); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add([]byte(snapMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		re, err := OpenSnapshot(b, nil, nil)
		if err != nil {
			if !errors.Is(err, ErrSnapshot) {
				t.Fatalf("error %v is not ErrSnapshot", err)
			}
			return
		}
		_ = re.Live()
	})
}

// TestSnapshotUsedInPlace: opening reads the slot columns and documents in
// place, so a restart costs neither their decoding nor their heap; the
// first change moves them onto the heap, and lookups by document id from
// concurrent searches build the document map once.
func TestSnapshotUsedInPlace(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	ix, _ := zipfCorpus(t, rng, 200, 100, 0)
	var buf bytes.Buffer
	must(t, ix.WriteSnapshot(&buf, 1, 1))
	b := buf.Bytes()
	re, err := OpenSnapshot(b, nil, nil)
	must(t, err)
	inB := func(p unsafe.Pointer) bool {
		lo := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
		return uintptr(p) >= lo && uintptr(p) < lo+uintptr(len(b))
	}
	if littleEndian && (!inB(unsafe.Pointer(&re.ids[0])) || !inB(unsafe.Pointer(&re.owner[0])) || re.docs != nil) {
		t.Fatal("the opened index copied its slot columns or documents")
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			ix.DocIDs(func(id string) {
				if !re.HasDoc(id) {
					t.Errorf("document %s lost", id)
				}
			})
		})
	}
	wg.Wait()
	must(t, re.Add("late", []Chunk{chunkOf("late", map[uint32]uint32{1: 1})}))
	if inB(unsafe.Pointer(&re.owner[0])) || re.snap != nil {
		t.Fatal("a changed index still uses the snapshot's memory")
	}
	if re.Docs() != ix.Docs()+1 || re.Slot(0) != ix.Slot(0) {
		t.Fatalf("after the change: %d documents, slot 0 %+v; want %d, %+v", re.Docs(), re.Slot(0), ix.Docs()+1, ix.Slot(0))
	}
}
