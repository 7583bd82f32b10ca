package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
)

func pagedSample(t testing.TB, n int) (Shard, map[Hash][]byte, []byte) {
	t.Helper()
	m := sampleShard(n)
	_, priv := testKey(t, 3)
	signed, pages, err := SignPaged(priv, &m, Paging{Min: 4, Target: 16, Max: 64})
	if err != nil {
		t.Fatal(err)
	}
	store := make(map[Hash][]byte, len(pages))
	for _, p := range pages {
		store[HashOf(p)] = p
	}
	return m, store, signed
}

func getFrom(store map[Hash][]byte) func(PageRef) ([]byte, error) {
	return func(p PageRef) ([]byte, error) {
		b, ok := store[p.Hash]
		if !ok {
			return nil, errors.New("not stored")
		}
		return b, nil
	}
}

func TestPagedRoundTrip(t *testing.T) {
	for _, n := range []int{1, 5, 1000} {
		m, store, signed := pagedSample(t, n)
		pub, _ := testKey(t, 3)
		r, err := OpenRoot(signed, pub)
		if err != nil {
			t.Fatalf("%d chunks: %v", n, err)
		}
		if r.Inline || r.Chunks() != n || r.Shard.Name != m.Name || r.Shard.Version != m.Version || r.Shard.MinVersion != m.MinVersion {
			t.Fatalf("%d chunks: root %+v", n, r)
		}
		got, err := r.Assemble(getFrom(store))
		if err != nil {
			t.Fatal(err)
		}
		want, _ := m.Marshal()
		have, _ := got.Marshal()
		if !bytes.Equal(want, have) {
			t.Fatalf("%d chunks: assembled manifest differs from the one paged", n)
		}
		body, _ := r.Marshal()
		e, _ := UnmarshalEnvelope(signed)
		if !bytes.Equal(body, e.Body) {
			t.Fatal("root does not encode back to the signed body")
		}
	}
}

// An old single-body manifest still opens, as an inline root.
func TestRootReadsFormat1(t *testing.T) {
	pub, priv := testKey(t, 4)
	m := sampleShard(10)
	signed, err := SignShard(priv, &m)
	if err != nil {
		t.Fatal(err)
	}
	r, err := OpenRoot(signed, pub)
	if err != nil || !r.Inline || r.Chunks() != 10 {
		t.Fatalf("format 1 via OpenRoot: %+v %v", r, err)
	}
	got, err := r.Assemble(nil)
	if err != nil || len(got.Chunks) != 10 {
		t.Fatalf("assemble inline: %v", err)
	}
	if rr, err := ReadRoot(signed); err != nil || !rr.Inline {
		t.Fatalf("ReadRoot: %v", err)
	}
}

func TestAssembleRefusesBadPages(t *testing.T) {
	_, store, signed := pagedSample(t, 300)
	r, err := ReadRoot(signed)
	if err != nil {
		t.Fatal(err)
	}
	first := r.Pages[0].Hash
	cases := []struct {
		name string
		edit func(map[Hash][]byte)
		want error
	}{
		{"altered page", func(s map[Hash][]byte) { b := bytes.Clone(s[first]); b[5] ^= 1; s[first] = b }, ErrBadPage},
		{"truncated page", func(s map[Hash][]byte) { s[first] = s[first][:len(s[first])-1] }, ErrBadPage},
		{"page swapped for another", func(s map[Hash][]byte) { s[first] = s[r.Pages[1].Hash] }, ErrBadPage},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := make(map[Hash][]byte, len(store))
			for k, v := range store {
				s[k] = v
			}
			c.edit(s)
			if _, err := r.Assemble(getFrom(s)); !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
	delete(store, first)
	if _, err := r.Assemble(getFrom(store)); err == nil {
		t.Fatal("a missing page assembled")
	}
}

// A change of 1% of the chunks, in a few runs of consecutive chunks (a few
// documents re-ingested), changes a few pages: the cut rule is content
// defined, so boundaries outside the edits stay where they were.
func TestCutPagesStableUnderEdits(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	chunks := make([]ChunkRef, 100_000)
	for i := range chunks {
		chunks[i] = ChunkRef{Hash: HashOf(fmt.Appendf(nil, "c%d", i)), Size: 500}
	}
	pages := func(cs []ChunkRef) map[Hash]bool {
		cut, err := CutPages(cs, DefaultPaging)
		if err != nil {
			t.Fatal(err)
		}
		out := make(map[Hash]bool, len(cut))
		for _, p := range cut {
			b, _ := MarshalPage(p)
			out[HashOf(b)] = true
		}
		return out
	}
	before := pages(chunks)
	edited := append([]ChunkRef(nil), chunks...)
	// 20 documents of 50 chunks each rewritten (1%), one of them grown by
	// 10 chunks: an insertion shifts every position after it.
	for d := range 20 {
		at := rng.IntN(len(edited) - 100)
		for i := at; i < at+50; i++ {
			edited[i].Hash = HashOf(fmt.Appendf(nil, "v2-%d-%d", d, i))
		}
		if d == 0 {
			extra := make([]ChunkRef, 10)
			for i := range extra {
				extra[i] = ChunkRef{Hash: HashOf(fmt.Appendf(nil, "new%d", i)), Size: 500}
			}
			edited = append(edited[:at+50], append(extra, edited[at+50:]...)...)
		}
	}
	after := pages(edited)
	changed := 0
	for h := range after {
		if !before[h] {
			changed++
		}
	}
	t.Logf("%d pages before, %d after, %d new", len(before), len(after), changed)
	if changed > 60 || len(after) < 200 {
		t.Fatalf("a 1%% edit in 20 runs changed %d of %d pages; want at most 3 a run", changed, len(after))
	}
}

func TestCutPagesBounds(t *testing.T) {
	cases := []struct {
		name   string
		n      int
		p      Paging
		pages  int
		errors bool
	}{
		{"empty", 0, DefaultPaging, 0, false},
		{"max forces cuts", 100, Paging{Min: 10, Target: 1 << 30, Max: 10}, 10, false},
		{"target 1 cuts at min", 100, Paging{Min: 25, Target: 1, Max: 50}, 4, false},
		{"min 0 refused", 10, Paging{Min: 0, Target: 1, Max: 5}, 0, true},
		{"max over limit refused", 10, Paging{Min: 1, Target: 1, Max: MaxPageChunks + 1}, 0, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cs := make([]ChunkRef, c.n)
			for i := range cs {
				cs[i] = ChunkRef{Hash: HashOf([]byte{byte(i)}), Size: 1}
			}
			got, err := CutPages(cs, c.p)
			if (err != nil) != c.errors || len(got) != c.pages {
				t.Fatalf("got %d pages, err %v; want %d pages, error %v", len(got), err, c.pages, c.errors)
			}
		})
	}
}

func TestUnmarshalRootRefuses(t *testing.T) {
	_, _, signed := pagedSample(t, 100)
	e, _ := UnmarshalEnvelope(signed)
	body := e.Body
	cases := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"format 3", append([]byte{3}, body[1:]...)},
		{"trailing byte", append(bytes.Clone(body), 0)},
		{"truncated", body[:len(body)-1]},
		{"no pages", func() []byte {
			r, _ := UnmarshalRoot(body)
			var e enc
			e.byte1(pagedFormat)
			r.Shard.header(&e)
			e.uvarint(0)
			return e.b
		}()},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := UnmarshalRoot(c.b); !errors.Is(err, ErrMalformed) {
				t.Fatalf("got %v, want ErrMalformed", err)
			}
		})
	}
	for _, b := range [][]byte{nil, {1}, {1, 0}, {2, 1}, {1, 1, 0}} {
		if _, err := UnmarshalPage(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("page % x: got %v, want ErrMalformed", b, err)
		}
	}
}

// FuzzPaged feeds arbitrary bytes to the root and page decoders: none may
// panic, and whatever one accepts must encode back to the same bytes.
func FuzzPaged(f *testing.F) {
	m := sampleShard(40)
	root, pages, _ := m.Paginate(Paging{Min: 2, Target: 8, Max: 16})
	f.Add(root)
	f.Add(pages[0])
	f.Add([]byte{2})
	f.Fuzz(func(t *testing.T, b []byte) {
		if r, err := UnmarshalRoot(b); err == nil {
			out, err := r.Marshal()
			if err != nil || !bytes.Equal(out, b) {
				t.Fatalf("root not canonical: %v", err)
			}
		}
		if cs, err := UnmarshalPage(b); err == nil {
			out, err := MarshalPage(cs)
			if err != nil || !bytes.Equal(out, b) {
				t.Fatalf("page not canonical: %v", err)
			}
		}
	})
}

// A 1M-chunk shard, over the old single-body cap, pages and assembles.
func TestMillionChunkShardPages(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: pages a 1M-chunk manifest")
	}
	m := sampleShard(0)
	m.Chunks = make([]ChunkRef, 1_100_000)
	for i := range m.Chunks {
		m.Chunks[i] = ChunkRef{Hash: HashOf(fmt.Appendf(nil, "%d", i)), Size: 600}
	}
	if _, err := m.Marshal(); err == nil {
		t.Fatal("a single body of 1.1M chunks was accepted")
	}
	pub, priv := testKey(t, 5)
	signed, pages, err := SignPaged(priv, &m, DefaultPaging)
	if err != nil {
		t.Fatal(err)
	}
	var total int
	store := make(map[Hash][]byte, len(pages))
	for _, p := range pages {
		total += len(p)
		store[HashOf(p)] = p
	}
	t.Logf("1.1M chunks: signed root %d bytes, %d pages, %d page bytes", len(signed), len(pages), total)
	r, err := OpenRoot(signed, pub)
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.Assemble(getFrom(store))
	if err != nil || len(got.Chunks) != len(m.Chunks) || got.Chunks[777_777] != m.Chunks[777_777] {
		t.Fatalf("assemble: %v", err)
	}
}
