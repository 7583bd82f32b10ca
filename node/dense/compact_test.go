package dense

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edgerag/edgerag/node/nodetest/waitfor"
	"github.com/edgerag/edgerag/node/shard"
	"github.com/edgerag/edgerag/node/vector"
)

// compactAbove is Choose with the compact graph's threshold brought down
// to n vectors, so a test shard reaches it.
func compactAbove(n int) func(int, int) string {
	return func(live, _ int) string {
		if live < n {
			return vector.KindExact
		}
		return vector.KindHNSWInt8
	}
}

// wordy returns n chunks of shard of twelve words each from a vocabulary
// of 400, so that the fake embedder's vectors spread out and ties are rare.
func wordy(shardName string, n int, seed uint64) []Chunk {
	r := rand.New(rand.NewPCG(seed, 9))
	out := make([]Chunk, n)
	for i := range out {
		var w []string
		for range 12 {
			w = append(w, fmt.Sprintf("w%d", r.IntN(400)))
		}
		tx := fmt.Sprintf("%s chunk%d", strings.Join(w, " "), i)
		out[i] = Chunk{Shard: shardName, Slot: uint32(i), ID: shard.HashText(tx), Text: tx}
	}
	return out
}

func questions(n int, seed uint64) []string {
	r := rand.New(rand.NewPCG(seed, 10))
	out := make([]string, n)
	for i := range out {
		var w []string
		for range 5 {
			w = append(w, fmt.Sprintf("w%d", r.IntN(400)))
		}
		out[i] = strings.Join(w, " ")
	}
	return out
}

// startRun starts m.Run and returns a function that stops it and waits.
func startRun(t *testing.T, m *Manager) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.Run(ctx)
	}()
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
		}
	}
	t.Cleanup(stop)
	return stop
}

// meanRecall is the share of the reference's top k that m finds, over qs.
func meanRecall(t *testing.T, m, ref *Manager, shardName string, qs []string, k int) float64 {
	t.Helper()
	var sum float64
	for _, q := range qs {
		got, want := search(t, m, q, shardName, k), search(t, ref, q, shardName, k)
		in := map[uint32]bool{}
		for _, h := range got {
			in[h.Slot] = true
		}
		n := 0
		for _, h := range want {
			if in[h.Slot] {
				n++
			}
		}
		sum += float64(n) / float64(len(want))
	}
	return sum / float64(len(qs))
}

func vecFiles(t *testing.T, dir string) []string {
	t.Helper()
	return filesOf(t, dir, "*.vec")
}

// filesOf lists the files in dir that match pattern.
func filesOf(t *testing.T, dir, pattern string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, pattern))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestCompactShard: a shard above the compact threshold is served by the
// compact graph with recall ≥ 0.95 against an exact scan; after a restart
// it is served from the saved graph at once, without re-embedding or
// re-adding anything; Remove and ReplaceShard keep working on it and
// across a further restart; and a damaged saved graph is rebuilt.
func TestCompactShard(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	vdir := t.TempDir()
	const n = 1200
	cs := append(wordy("big", n, 1), chunksOf("small", corpus...)...)
	qs := questions(60, 2)
	open := func() *Manager {
		m := newManager(st, newFake("fake-a", "a"))
		m.choose = compactAbove(100)
		m.SetDir(vdir)
		m.saveEvery = 0
		m.batch = 200
		return m
	}
	m := open()
	load(t, m, cs)
	stop := startRun(t, m)
	waitfor.Until(t, 60*time.Second, "embedded, compact and saved", func() bool {
		return settled(m)() && m.Progress().Kind["big"] == vector.KindHNSWInt8 && len(m.unsavedParts()) == 0
	})
	if k := m.Progress().Kind["small"]; k != vector.KindExact {
		t.Errorf("small shard is %s, want exact", k)
	}
	// The reference: every shard scanned exactly, from the same store.
	ref := newManager(st, newFake("fake-a", "a"))
	ref.choose = func(int, int) string { return vector.KindExact }
	load(t, ref, cs)
	r := meanRecall(t, m, ref, "big", qs, 10)
	t.Logf("compact shard of %d: recall@10 %.3f against the exact scan", n, r)
	if r < 0.95 {
		t.Fatalf("compact shard recall@10 = %.3f against the exact scan, want ≥ 0.95", r)
	}
	before := search(t, m, qs[0], "big", 10)
	stop()
	idsPaths := filesOf(t, vdir, "*.ids")
	if len(idsPaths) != 1 {
		t.Fatalf("ids files %v", idsPaths)
	}
	firstIDs, err := os.ReadFile(idsPaths[0])
	if err != nil {
		t.Fatal(err)
	}
	if files := vecFiles(t, vdir); len(files) != 1 {
		t.Fatalf("vector files %v, want one", files)
	}

	// Restart: the saved graph serves at once.
	m2 := open()
	emb2 := m2.Embedder().(*fakeEmbedder)
	load(t, m2, cs)
	if p := m2.Progress(); p.Kind["big"] != vector.KindHNSWInt8 || p.Embedded != len(cs) || p.Pending != 0 {
		t.Fatalf("after restart: %+v", p)
	}
	if got := search(t, m2, qs[0], "big", 10); !slices.Equal(got, before) {
		t.Errorf("after restart: %+v, before %+v", got, before)
	}
	if r := meanRecall(t, m2, ref, "big", qs, 10); r < 0.95 {
		t.Errorf("recall after restart %.3f", r)
	}
	if _, texts := emb2.stats(); len(texts) != len(qs)+1 {
		t.Errorf("the restart embedded %d texts beyond the questions", len(texts)-len(qs)-1)
	}

	// Remove one chunk, renumber the rest, drop another, add a new one.
	stop2 := startRun(t, m2)
	m2.Remove("big", 0)
	gone := cs[1]
	fresh := wordy("big", 1, 99)[0]
	var again []Chunk
	for i, c := range cs[2:n] {
		c.Slot = uint32(5000 + i)
		again = append(again, c)
	}
	fresh.Slot = 9999
	again = append(again, fresh)
	m2.ReplaceShard("big", slices.Values(again))
	waitfor.Until(t, 60*time.Second, "re-listed shard settled and saved", func() bool {
		return settled(m2)() && len(m2.unsavedParts()) == 0
	})
	check := func(m *Manager, when string) {
		t.Helper()
		for _, c := range []Chunk{cs[0], gone} {
			for _, h := range search(t, m, c.Text, "big", 3) {
				if h.Score > 0.999 {
					t.Errorf("%s: removed chunk still found: %+v", when, h)
				}
			}
		}
		if h := search(t, m, fresh.Text, "big", 1); len(h) != 1 || h[0].Slot != 9999 {
			t.Errorf("%s: the new chunk: %+v, want slot 9999", when, h)
		}
		if h := search(t, m, cs[7].Text, "big", 1); len(h) != 1 || h[0].Slot != 5005 {
			t.Errorf("%s: a renumbered chunk: %+v, want slot 5005", when, h)
		}
		if p := m.Progress(); p.Embedded != len(again)+len(corpus) || p.Kind["big"] != vector.KindHNSWInt8 {
			t.Errorf("%s: %+v", when, p)
		}
	}
	check(m2, "after ReplaceShard")
	stop2()

	all := append(slices.Clone(again), chunksOf("small", corpus...)...)
	m3 := open()
	load(t, m3, all)
	check(m3, "after the second restart")

	// A torn graph file: the shard is rebuilt from the stored vectors, and
	// the files of the damaged graph are swept.
	graphs := filesOf(t, vdir, "*.graph")
	if len(graphs) != 1 {
		t.Fatalf("graph files %v", graphs)
	}
	fi, err := os.Stat(graphs[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(graphs[0], fi.Size()/2); err != nil {
		t.Fatal(err)
	}
	m4 := open()
	load(t, m4, all)
	if k := m4.Progress().Kind["big"]; k == vector.KindHNSWInt8 {
		t.Fatal("a torn graph loaded")
	}
	if files := vecFiles(t, vdir); len(files) != 0 {
		t.Errorf("the damaged graph's vector file was kept: %v", files)
	}
	stop4 := startRun(t, m4)
	waitfor.Until(t, 60*time.Second, "rebuilt as compact", func() bool {
		return settled(m4)() && m4.Progress().Kind["big"] == vector.KindHNSWInt8 && len(m4.unsavedParts()) == 0
	})
	check(m4, "after rebuilding a torn graph")
	if _, err := m4.Search(ctx, qs[1], "", 5); err != nil {
		t.Fatal(err)
	}
	stop4()

	// A crash between the two renames of a save: the new graph beside the
	// ids record of an older one. It must not load as that graph.
	if err := os.WriteFile(idsPaths[0], firstIDs, 0o600); err != nil {
		t.Fatal(err)
	}
	m5 := open()
	load(t, m5, all)
	if k := m5.Progress().Kind["big"]; k == vector.KindHNSWInt8 {
		t.Fatal("a graph loaded with another save's ids record")
	}
	startRun(t, m5)
	waitfor.Until(t, 60*time.Second, "rebuilt as compact", func() bool {
		return settled(m5)() && m5.Progress().Kind["big"] == vector.KindHNSWInt8
	})
	check(m5, "after a save torn between its renames")
}

// TestCompactModelSwitch: switching models builds the new model's compact
// graph beside the old one's, serves it once complete, and deletes the old
// model's files; a switch cancelled half-way deletes the new model's.
func TestCompactModelSwitch(t *testing.T) {
	st := openStore(t, t.TempDir())
	vdir := t.TempDir()
	cs := wordy("big", 300, 3)
	texts := make([]string, len(cs))
	for i, c := range cs {
		texts[i] = c.Text
	}
	// A model switch reads the texts back from the store.
	storeDocs(t, st, "big", texts...)
	m := newManager(st, newFake("fake-a", "a"))
	m.choose = compactAbove(50)
	m.SetDir(vdir)
	m.saveEvery = 0
	m.batch = 100
	load(t, m, cs)
	startRun(t, m)
	files := func() []string {
		ents, err := os.ReadDir(vdir)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range ents {
			out = append(out, e.Name())
		}
		return out
	}
	// A model's saved files: a graph, its ids and its vectors, and no
	// temporary file of a save in progress.
	savedOnly := func(model string) bool {
		f := files()
		tag := fmt.Sprintf("-%016x", fnv64(model))
		n := 0
		for _, name := range f {
			if strings.Contains(name, tag) {
				n++
			}
		}
		return len(f) == 3 && n == 3
	}
	waitfor.Until(t, 60*time.Second, "model a compact and saved", func() bool { return settled(m)() && savedOnly("fake-a") })

	m.SetEmbedder(newFake("fake-b", "b"))
	// Run deletes the old model's files at its next step.
	waitfor.Until(t, 60*time.Second, "switched to b, b saved, a's files deleted", func() bool {
		p := m.Progress()
		m.signal()
		return settled(m)() && p.Model == "fake-b" && p.Kind["big"] == vector.KindHNSWInt8 && savedOnly("fake-b")
	})
	if h := search(t, m, cs[5].Text, "big", 1); len(h) != 1 || h[0].Slot != 5 {
		t.Errorf("after the switch: %+v", h)
	}

	// A switch to c, cancelled by going back to b once c has a graph.
	c := newFake("fake-c", "c")
	c.set(false, 2)
	m.SetEmbedder(c)
	waitfor.Until(t, 30*time.Second, "c half built", func() bool {
		p := m.Progress()
		return p.Next != nil && p.Next.Err != "" && p.Next.Kind["big"] != ""
	})
	if f := files(); len(f) < 4 {
		t.Fatalf("files while c is half built: %v, want c's vector file beside b's", f)
	}
	m.SetEmbedder(newFake("fake-b", "b"))
	waitfor.Until(t, 30*time.Second, "c's files deleted", func() bool {
		m.signal()
		return savedOnly("fake-b")
	})
}

// TestCompactDirUnusable: when the vector directory cannot hold a file, a
// shard above the threshold is served by the in-memory graph instead of not
// at all.
func TestCompactDirUnusable(t *testing.T) {
	st := openStore(t, t.TempDir())
	notDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cs := wordy("big", 200, 4)
	m := newManager(st, newFake("fake-a", "a"))
	m.choose = compactAbove(50)
	m.SetDir(filepath.Join(notDir, "vectors")) // under a file: MkdirAll fails
	m.batch = 100
	load(t, m, cs)
	startRun(t, m)
	waitfor.Until(t, 30*time.Second, "embedded", settled(m))
	if k := m.Progress().Kind["big"]; k != vector.KindHNSW {
		t.Errorf("kind %q, want the in-memory graph", k)
	}
	if h := search(t, m, cs[9].Text, "big", 1); len(h) != 1 || h[0].Slot != 9 {
		t.Errorf("search: %+v", h)
	}
}
