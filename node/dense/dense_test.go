package dense

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgerag/edgerag/models"
	"github.com/edgerag/edgerag/node/lexical"
	"github.com/edgerag/edgerag/node/nodetest/waitfor"
	"github.com/edgerag/edgerag/node/shard"
	"github.com/edgerag/edgerag/node/shardstore"
	"github.com/edgerag/edgerag/node/vector"
)

// fakeEmbedder hashes the words of a text into dims buckets: a bag of words,
// so texts sharing rare words are similar, and the same text always gets
// the same vector. Two fakes with different salts are different models.
type fakeEmbedder struct {
	model string
	dims  int
	salt  string

	mu    sync.Mutex
	down  bool // Embed fails with models.ErrUnavailable
	allow int  // when > 0, calls left before the fake goes down
	calls int
	texts []string // every text embedded, in order
}

func newFake(model, salt string) *fakeEmbedder {
	return &fakeEmbedder{model: model, dims: 64, salt: salt}
}

func (f *fakeEmbedder) Model() string { return f.model }

func (f *fakeEmbedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.calls++
	if f.allow > 0 {
		f.allow--
		if f.allow == 0 {
			defer func() { f.down = true }()
		}
	}
	down := f.down
	if !down {
		f.texts = append(f.texts, texts...)
	}
	f.mu.Unlock()
	if down {
		return nil, fmt.Errorf("%w: fake %s is down", models.ErrUnavailable, f.model)
	}
	out := make([][]float32, len(texts))
	for i, t := range texts {
		v := make([]float32, f.dims)
		for _, w := range strings.Fields(strings.ToLower(t)) {
			w = strings.Trim(w, ".,?!")
			h := fnv.New64a()
			h.Write([]byte(f.salt + w))
			x := h.Sum64()
			sign := float32(1)
			if x>>63 == 1 {
				sign = -1
			}
			v[x%uint64(f.dims)] += sign
		}
		out[i] = v
	}
	return out, nil
}

func (f *fakeEmbedder) set(down bool, allow int) {
	f.mu.Lock()
	f.down, f.allow = down, allow
	f.mu.Unlock()
}

func (f *fakeEmbedder) stats() (calls int, texts []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls, slices.Clone(f.texts)
}

var corpus = []string{
	"reset the pump by holding the red button for five seconds",
	"the battery lasts eight hours on a full charge",
	"replace the water filter every three months",
	"solar panels charge the battery during the day",
	"the valve opens when pressure exceeds two bar",
	"clean the sensor with a dry cloth",
}

const pumpQuestion = "how do I reset the pump"

func chunksOf(shardName string, texts ...string) []Chunk {
	out := make([]Chunk, len(texts))
	for i, t := range texts {
		out[i] = Chunk{Shard: shardName, Slot: uint32(i), ID: shard.HashText(t), Text: t}
	}
	return out
}

func openStore(t *testing.T, dir string) *shardstore.Store {
	t.Helper()
	st, err := shardstore.Open(shardstore.Options{Dir: dir, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// newManager returns a manager with short backoffs.
func newManager(st Store, emb models.Embedder) *Manager {
	m := New(st, emb, nil)
	m.backoffMin, m.backoffMax, m.cooldown = 10*time.Millisecond, 40*time.Millisecond, 30*time.Millisecond
	return m
}

// run starts m.Run and stops it when the test ends.
func run(t *testing.T, m *Manager) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

func settled(m *Manager) func() bool {
	return func() bool {
		p := m.Progress()
		return p.Pending == 0 && p.Next == nil && p.Err == ""
	}
}

func load(t *testing.T, m *Manager, cs []Chunk) {
	t.Helper()
	if err := m.Load(context.Background(), slices.Values(cs)); err != nil {
		t.Fatal(err)
	}
}

func search(t *testing.T, m *Manager, q, shardName string, k int) []Hit {
	t.Helper()
	hits, err := m.Search(context.Background(), q, shardName, k)
	if err != nil {
		t.Fatalf("Search(%q, %q): %v", q, shardName, err)
	}
	return hits
}

func TestEmbedAndSearch(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	emb := newFake("fake-a", "a")
	m := newManager(st, emb)
	cs := append(chunksOf("manuals", corpus...), chunksOf("other", "the pump room is in the basement", "lunch is at noon")...)
	load(t, m, cs)
	if m.Ready("manuals") {
		t.Error("Ready before anything was embedded")
	}
	if _, err := m.Search(ctx, pumpQuestion, "manuals", 3); !errors.Is(err, ErrNoVectors) || !errors.Is(err, models.ErrUnavailable) {
		t.Errorf("search before embedding: %v, want ErrNoVectors wrapping models.ErrUnavailable", err)
	}
	run(t, m)
	waitfor.Until(t, 30*time.Second, "everything embedded", settled(m))

	p := m.Progress()
	if p.Model != "fake-a" || p.Dims != 64 || p.Embedded != len(cs) || p.Kind["manuals"] != vector.KindExact {
		t.Errorf("progress: %+v", p)
	}
	if !m.Ready("manuals") || !m.Ready("other") || m.Ready("unknown") {
		t.Error("Ready wrong after embedding")
	}
	hits := search(t, m, pumpQuestion, "manuals", 3)
	if len(hits) != 3 || hits[0] != (Hit{Shard: "manuals", Slot: 0, Score: hits[0].Score}) || hits[0].Score <= hits[1].Score {
		t.Fatalf("hits = %+v, want slot 0 of manuals first", hits)
	}
	if hits := search(t, m, "when does the battery charge", "manuals", 2); hits[0].Slot != 1 && hits[0].Slot != 3 {
		t.Errorf("battery question found %+v", hits)
	}
	// Every shard: the two pump chunks, one of each shard, rank first.
	all := search(t, m, pumpQuestion, "", 2)
	if len(all) != 2 || all[0].Slot != 0 || all[1].Slot != 0 || all[0].Shard == all[1].Shard || all[0].Score < all[1].Score {
		t.Errorf("all shards: %+v", all)
	}
	if _, err := m.Search(ctx, pumpQuestion, "unknown", 3); !errors.Is(err, ErrNoVectors) {
		t.Errorf("unknown shard: %v", err)
	}

	// The vectors are in the store under the model, and the set is marked
	// complete once every chunk has one.
	waitfor.Until(t, 30*time.Second, "set marked complete", func() bool {
		meta, err := st.EmbeddingModel(ctx, "fake-a")
		return err == nil && meta.Complete && meta.Dims == 64
	})
	n := 0
	if err := st.Embeddings(ctx, "fake-a", func(shard.ChunkID, []float32) error { n++; return nil }); err != nil || n != len(cs) {
		t.Errorf("%d stored vectors, %v; want %d", n, err, len(cs))
	}
}

func TestRestartLoadsStoredVectors(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	first := newFake("fake-a", "a")
	m := newManager(st, first)
	cs := chunksOf("manuals", corpus...)
	load(t, m, cs)
	run(t, m)
	waitfor.Until(t, 30*time.Second, "embedded", settled(m))
	if _, texts := first.stats(); len(texts) != len(corpus) {
		t.Fatalf("embedded %d texts, want %d", len(texts), len(corpus))
	}

	// A new manager on the same store, as after a restart, with one chunk
	// more than before: only that one is embedded.
	again := newFake("fake-a", "a")
	m2 := newManager(st, again)
	extra := Chunk{Shard: "manuals", Slot: uint32(len(cs)), ID: shard.HashText("a brand new chunk about pumps"), Text: "a brand new chunk about pumps"}
	load(t, m2, append(slices.Clone(cs), extra))
	if p := m2.Progress(); p.Embedded != len(cs) || p.Pending != 1 || p.Dims != 64 {
		t.Fatalf("after load: %+v", p)
	}
	// Stored vectors are searchable before Run.
	if hits := search(t, m2, pumpQuestion, "manuals", 1); hits[0].Slot != 0 {
		t.Errorf("after load: %+v", hits)
	}
	run(t, m2)
	waitfor.Until(t, 30*time.Second, "the new chunk embedded", settled(m2))
	calls, texts := again.stats()
	if !slices.Equal(texts, []string{pumpQuestion, extra.Text}) || calls != 2 {
		t.Errorf("after restart the embedder saw %q in %d calls; want only the question and the new chunk", texts, calls)
	}
}

func TestSameTextEmbeddedOnce(t *testing.T) {
	st := openStore(t, t.TempDir())
	emb := newFake("fake-a", "a")
	m := newManager(st, emb)
	m.batch = 2
	load(t, m, nil)
	run(t, m)
	m.Enqueue(chunksOf("a", corpus[0], corpus[1])...)
	m.Enqueue(chunksOf("b", corpus[1], corpus[0], corpus[2])...)
	waitfor.Until(t, 30*time.Second, "embedded", settled(m))
	if _, texts := emb.stats(); len(texts) != 3 {
		t.Errorf("embedded %q; each distinct text should be embedded once", texts)
	}
	if hits := search(t, m, pumpQuestion, "b", 1); hits[0].Slot != 1 {
		t.Errorf("shard b: %+v", hits)
	}
	if p := m.Progress(); p.Embedded != 5 {
		t.Errorf("progress %+v, want 5 embedded", p)
	}
	// Enqueueing what is known already changes nothing.
	m.Enqueue(chunksOf("a", corpus[0])...)
	if p := m.Progress(); p.Pending != 0 || p.Embedded != 5 {
		t.Errorf("re-enqueue: %+v", p)
	}
}

// storeDocs writes texts as one document of a shard, so the manager can read
// them back from the store.
func storeDocs(t *testing.T, st *shardstore.Store, shardName string, texts ...string) {
	t.Helper()
	ctx := context.Background()
	if err := st.Load(ctx, func(shardstore.Term) {}, func(shardstore.ShardMeta) {}, func(string, string, []lexical.Chunk) error { return nil }); err != nil {
		t.Fatal(err)
	}
	d := shardstore.DocWrite{Meta: shardstore.DocMeta{ID: "doc"}}
	for i, tx := range texts {
		id := shard.HashText(tx)
		d.Meta.Chunks = append(d.Meta.Chunks, shardstore.ChunkMeta{ID: id.String(), Position: i})
		d.Texts = append(d.Texts, tx)
		d.Vectors = append(d.Vectors, lexical.Chunk{ID: id, Position: i})
	}
	if _, err := st.Apply(ctx, shardstore.Write{Shard: shardName, Puts: []shardstore.DocWrite{d}}); err != nil {
		t.Fatal(err)
	}
}

func TestTextsReadFromStore(t *testing.T) {
	st := openStore(t, t.TempDir())
	storeDocs(t, st, "manuals", corpus...)
	emb := newFake("fake-a", "a")
	m := newManager(st, emb)
	m.batch = 4
	cs := chunksOf("manuals", corpus...)
	for i := range cs {
		cs[i].Text = "" // as a node passes them at start
	}
	// A chunk whose text is not in the store (deleted meanwhile) is skipped.
	gone := Chunk{Shard: "manuals", Slot: 99, ID: shard.HashText("deleted")}
	load(t, m, append(cs, gone))
	run(t, m)
	waitfor.Until(t, 30*time.Second, "the stored texts embedded", func() bool { return m.Progress().Embedded == len(corpus) })
	if _, texts := emb.stats(); len(texts) != len(corpus) {
		t.Errorf("embedded %q", texts)
	}
	if hits := search(t, m, pumpQuestion, "manuals", 1); hits[0].Slot != 0 {
		t.Errorf("%+v", hits)
	}
	// The node removes the deleted chunk, and the shard becomes ready.
	m.Remove("manuals", 99)
	if p := m.Progress(); p.Pending != 0 || !m.Ready("manuals") {
		t.Errorf("after removing the lost chunk: %+v", p)
	}
}

func TestUnavailableBackoffAndRecovery(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	emb := newFake("fake-a", "a")
	emb.set(true, 0)
	m := newManager(st, emb)
	load(t, m, chunksOf("manuals", corpus...))
	run(t, m)
	waitfor.Until(t, 30*time.Second, "the failure reported", func() bool { return m.Progress().Err != "" })
	time.Sleep(200 * time.Millisecond)
	calls, _ := emb.stats()
	// 10, 20, 40, 40, 40 ms ... : about 6 tries in 200 ms, not hundreds.
	if calls < 2 || calls > 12 {
		t.Errorf("%d embed calls in 200 ms of backoff", calls)
	}
	if p := m.Progress(); !strings.Contains(p.Err, "fake fake-a is down") || p.RetryAt.IsZero() || p.Pending != len(corpus) {
		t.Errorf("progress while down: %+v", p)
	}
	emb.set(false, 0)
	waitfor.Until(t, 30*time.Second, "recovery", settled(m))
	if hits := search(t, m, pumpQuestion, "manuals", 1); hits[0].Slot != 0 {
		t.Errorf("after recovery: %+v", hits)
	}

	// With vectors in place, a down model fails searches with
	// ErrUnavailable, and for a short while without asking it again.
	emb.set(true, 0)
	before, _ := emb.stats()
	if _, err := m.Search(ctx, pumpQuestion, "manuals", 1); !errors.Is(err, models.ErrUnavailable) {
		t.Fatalf("search with the model down: %v", err)
	}
	if _, err := m.Search(ctx, pumpQuestion, "manuals", 1); !errors.Is(err, models.ErrUnavailable) || !strings.Contains(err.Error(), "is down") {
		t.Fatalf("second search: %v", err)
	}
	if after, _ := emb.stats(); after != before+1 {
		t.Errorf("%d embed calls for two searches; the second should fail fast", after-before)
	}
	emb.set(false, 0)
	waitfor.Until(t, 30*time.Second, "searches to try the model again", func() bool {
		_, err := m.Search(ctx, pumpQuestion, "manuals", 1)
		return err == nil
	})
}

func TestModelSwitch(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	storeDocs(t, st, "manuals", append(slices.Clone(corpus), "the pump manual is blue")...)
	a := newFake("fake-a", "a")
	m := newManager(st, a)
	m.batch = 2
	load(t, m, chunksOf("manuals", corpus...))
	run(t, m)
	waitfor.Until(t, 30*time.Second, "model a complete", settled(m))
	want := search(t, m, pumpQuestion, "manuals", 3)

	// Model b manages one batch, then goes down: the switch is half done.
	b := newFake("fake-b", "b")
	b.set(false, 1)
	m.SetEmbedder(b)
	waitfor.Until(t, 30*time.Second, "b to fail after one batch", func() bool {
		p := m.Progress()
		return p.Next != nil && p.Next.Err != ""
	})
	p := m.Progress()
	if p.Model != "fake-a" || p.Next.Model != "fake-b" || p.Next.Embedded != 2 || p.Next.Pending != len(corpus)-2 {
		t.Fatalf("half-way progress: %+v, next %+v", p, *p.Next)
	}

	// Searches keep using model a and its vectors meanwhile.
	aCalls, _ := a.stats()
	if got := search(t, m, pumpQuestion, "manuals", 3); !slices.Equal(got, want) {
		t.Errorf("during the switch: %+v, want %+v", got, want)
	}
	if n, _ := a.stats(); n != aCalls+1 {
		t.Error("the question was not embedded by the serving model")
	}
	// A chunk ingested meanwhile becomes searchable with model a at once,
	// and joins b's queue.
	m.Enqueue(Chunk{Shard: "manuals", Slot: 6, ID: shard.HashText("the pump manual is blue"), Text: "the pump manual is blue"})
	waitfor.Until(t, 30*time.Second, "the new chunk embedded by a", func() bool { return m.Ready("manuals") })
	if p := m.Progress(); p.Model != "fake-a" || p.Next.Pending != len(corpus)-1 {
		t.Errorf("after ingest during the switch: %+v next %+v", p, *p.Next)
	}
	if _, err := st.EmbeddingModel(ctx, "fake-b"); err != nil {
		t.Errorf("b's partial set not stored: %v", err)
	}
	if meta, _ := st.EmbeddingModel(ctx, "fake-b"); meta.Complete {
		t.Error("b's partial set marked complete")
	}

	// b comes back; the switch completes and searches move to b.
	b.set(false, 0)
	waitfor.Until(t, 30*time.Second, "the switch", func() bool {
		p := m.Progress()
		return p.Model == "fake-b" && p.Next == nil && p.Pending == 0
	})
	waitfor.Until(t, 30*time.Second, "b marked complete", func() bool {
		meta, err := st.EmbeddingModel(ctx, "fake-b")
		return err == nil && meta.Complete
	})
	bCalls, _ := b.stats()
	aCalls, _ = a.stats()
	if hits := search(t, m, pumpQuestion, "manuals", 1); hits[0].Slot != 0 {
		t.Errorf("after the switch: %+v", hits)
	}
	if n, _ := b.stats(); n != bCalls+1 {
		t.Error("the question was not embedded by the new model")
	}
	if n, _ := a.stats(); n != aCalls {
		t.Error("the old model is still asked")
	}
	// The old set stays in the store until the node deletes it.
	if meta, err := st.EmbeddingModel(ctx, "fake-a"); err != nil || !meta.Complete {
		t.Errorf("old set: %+v %v", meta, err)
	}
}

func TestSwitchBackReusesStoredVectors(t *testing.T) {
	st := openStore(t, t.TempDir())
	storeDocs(t, st, "manuals", corpus...)
	a, b := newFake("fake-a", "a"), newFake("fake-b", "b")
	m := newManager(st, a)
	load(t, m, chunksOf("manuals", corpus...))
	run(t, m)
	waitfor.Until(t, 30*time.Second, "a", settled(m))
	m.SetEmbedder(b)
	waitfor.Until(t, 30*time.Second, "b", func() bool { return m.Progress().Model == "fake-b" && m.Progress().Next == nil })
	before, _ := a.stats()
	a2 := newFake("fake-a", "a")
	m.SetEmbedder(a2)
	waitfor.Until(t, 30*time.Second, "back to a", func() bool { return m.Progress().Model == "fake-a" && m.Progress().Next == nil })
	if n, _ := a2.stats(); n != 0 {
		t.Errorf("switching back embedded again (%d calls); the stored vectors should be reused", n)
	}
	if n, _ := a.stats(); n != before {
		t.Error("the replaced embedder was used")
	}
	// Setting the serving model again cancels a switch in progress.
	c := newFake("fake-c", "c")
	c.set(true, 0)
	m.SetEmbedder(c)
	m.SetEmbedder(a2)
	if p := m.Progress(); p.Next != nil || p.Model != "fake-a" {
		t.Errorf("switch not cancelled: %+v", p)
	}
}

func TestRemoveAndReplaceShard(t *testing.T) {
	st := openStore(t, t.TempDir())
	emb := newFake("fake-a", "a")
	m := newManager(st, emb)
	load(t, m, chunksOf("manuals", corpus...))
	run(t, m)
	waitfor.Until(t, 30*time.Second, "embedded", settled(m))

	m.Remove("manuals", 0, 42)
	for _, h := range search(t, m, pumpQuestion, "manuals", 10) {
		if h.Slot == 0 {
			t.Fatal("removed slot 0 still found")
		}
	}
	if p := m.Progress(); p.Embedded != len(corpus)-1 {
		t.Errorf("after remove: %+v", p)
	}

	// The node rebuilt its lexical index: the surviving chunks get new
	// slots (reversed here), one is gone, one is new, and the pump chunk
	// comes back. Nothing known is embedded again.
	_, seen := emb.stats()
	texts := append([]string{"the pump manual is blue", corpus[0]}, corpus[2:]...)
	var cs []Chunk
	for i, tx := range texts {
		cs = append(cs, Chunk{Shard: "manuals", Slot: uint32(100 - i), ID: shard.HashText(tx), Text: tx})
	}
	m.ReplaceShard("manuals", slices.Values(cs))
	waitfor.Until(t, 30*time.Second, "the new chunks embedded", settled(m))
	// The pump chunk's vector is still in the store: only the new chunk
	// is embedded.
	if _, now := emb.stats(); !slices.Equal(now[len(seen):], texts[:1]) {
		t.Errorf("ReplaceShard embedded %q; want only the new chunk", now[len(seen):])
	}
	if p := m.Progress(); p.Embedded != len(texts) {
		t.Errorf("after ReplaceShard: %+v", p)
	}
	hits := search(t, m, pumpQuestion, "manuals", len(texts)+1)
	if len(hits) != len(texts) || hits[0].Slot != 99 {
		t.Fatalf("after ReplaceShard: %+v; want %d hits, the pump chunk (slot 99) first", hits, len(texts))
	}
	for _, h := range hits {
		if h.Slot > 100 || h.Slot < 100-uint32(len(texts))+1 {
			t.Errorf("hit in an old slot: %+v", h)
		}
	}
	// The battery chunk (corpus[1]) is gone.
	for _, h := range search(t, m, "battery eight hours full charge", "manuals", 10) {
		if h.Score > 0.9 {
			t.Errorf("removed chunk still found: %+v", h)
		}
	}
	// An empty list drops the shard.
	m.ReplaceShard("manuals", slices.Values([]Chunk(nil)))
	if p := m.Progress(); p.Embedded != 0 || p.Pending != 0 {
		t.Errorf("after dropping: %+v", p)
	}
	if hits, err := m.Search(context.Background(), pumpQuestion, "manuals", 3); err != nil || len(hits) != 0 {
		t.Errorf("dropped shard: %+v %v", hits, err)
	}
}

// smallKinds switches kinds at a few vectors, so tests see every kind.
func smallKinds(n, _ int) string {
	switch {
	case n < 4:
		return vector.KindExact
	case n < 8:
		return vector.KindInt8
	}
	return vector.KindHNSW
}

func TestIndexKindGrowsWithShard(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	emb := newFake("fake-a", "a")
	m := newManager(st, emb)
	m.choose = smallKinds
	load(t, m, chunksOf("manuals", corpus[:3]...))
	run(t, m)
	waitfor.Until(t, 30*time.Second, "embedded", settled(m))
	if k := m.Progress().Kind["manuals"]; k != vector.KindExact {
		t.Errorf("3 chunks: %s", k)
	}
	more := chunksOf("manuals", corpus...)[3:]
	m.Enqueue(more...)
	waitfor.Until(t, 30*time.Second, "int8", func() bool { return m.Progress().Kind["manuals"] == vector.KindInt8 })
	var extra []Chunk
	for i := range 4 {
		tx := fmt.Sprintf("extra chunk number %d about nothing", i)
		extra = append(extra, Chunk{Shard: "manuals", Slot: uint32(10 + i), ID: shard.HashText(tx), Text: tx})
	}
	m.Enqueue(extra...)
	waitfor.Until(t, 30*time.Second, "hnsw", func() bool { return m.Progress().Kind["manuals"] == vector.KindHNSW })
	waitfor.Until(t, 30*time.Second, "embedded", settled(m))
	if hits := search(t, m, pumpQuestion, "manuals", 3); hits[0].Slot != 0 || len(hits) != 3 {
		t.Errorf("after upgrades: %+v", hits)
	}

	// At start a shard HNSW suits is loaded as int8, then upgraded.
	all := append(chunksOf("manuals", corpus...), extra...)
	m2 := newManager(st, newFake("fake-a", "a"))
	m2.choose = smallKinds
	load(t, m2, all)
	if k := m2.Progress().Kind["manuals"]; k != vector.KindInt8 {
		t.Errorf("loaded as %s, want int8 first", k)
	}
	run(t, m2)
	waitfor.Until(t, 30*time.Second, "upgrade after load", func() bool { return m2.Progress().Kind["manuals"] == vector.KindHNSW })
	if hits := search(t, m2, pumpQuestion, "manuals", 1); hits[0].Slot != 0 {
		t.Errorf("after load and upgrade: %+v", hits)
	}
}

func TestHNSWRebuiltAfterManyDeletes(t *testing.T) {
	st := openStore(t, t.TempDir())
	emb := newFake("fake-a", "a")
	m := newManager(st, emb)
	m.choose = func(int, int) string { return vector.KindHNSW }
	var cs []Chunk
	for i := range 600 {
		tx := fmt.Sprintf("chunk %d of %d words", i, i%7)
		cs = append(cs, Chunk{Shard: "s", Slot: uint32(i), ID: shard.HashText(tx), Text: tx})
	}
	m.batch = 200
	load(t, m, cs)
	run(t, m)
	waitfor.Until(t, 30*time.Second, "embedded", settled(m))
	var slots []uint32
	for i := range 300 {
		slots = append(slots, uint32(i))
	}
	m.Remove("s", slots...)
	part := func() *part {
		m.mu.RLock()
		defer m.mu.RUnlock()
		return m.cur.parts["s"]
	}
	waitfor.Until(t, 30*time.Second, "rebuild", func() bool {
		m.mu.RLock()
		defer m.mu.RUnlock()
		return m.cur.parts["s"].deleted == 0
	})
	p := part()
	p.mu.RLock()
	h := p.ix.(*vector.HNSW)
	dead, n := h.Dead(), h.Len()
	p.mu.RUnlock()
	if dead != 0 || n != 300 {
		t.Errorf("after rebuild: %d live, %d dead; want 300 and 0", n, dead)
	}
}

func TestSearchConcurrentWithRun(t *testing.T) {
	st := openStore(t, t.TempDir())
	notes := make([]string, 40)
	for i := range notes {
		notes[i] = fmt.Sprintf("note %d on the pump and its seal", i)
	}
	storeDocs(t, st, "manuals", append(slices.Clone(corpus), notes...)...)
	emb := newFake("fake-a", "a")
	m := newManager(st, emb)
	m.batch = 3
	m.choose = smallKinds
	load(t, m, chunksOf("manuals", corpus...))
	run(t, m)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				hits, err := m.Search(ctx, pumpQuestion, "", 5)
				if err != nil && !errors.Is(err, models.ErrUnavailable) && ctx.Err() == nil {
					t.Errorf("search: %v", err)
					return
				}
				for _, h := range hits {
					if h.Shard != "manuals" {
						t.Errorf("hit %+v", h)
					}
				}
				_ = m.Progress()
				_ = m.Ready("manuals")
			}
		}()
	}
	for i, tx := range notes {
		m.Enqueue(Chunk{Shard: "manuals", Slot: uint32(100 + i), ID: shard.HashText(tx), Text: tx})
		if i%3 == 0 {
			m.Remove("manuals", uint32(100+i-1))
		}
		if i == 20 {
			m.SetEmbedder(newFake("fake-b", "b"))
		}
	}
	waitfor.Until(t, 30*time.Second, "settled", settled(m))
	cancel()
	wg.Wait()
	if p := m.Progress(); p.Model != "fake-b" || p.Embedded != len(corpus)+40-13 {
		t.Errorf("progress %+v", p)
	}
}

func TestRunStopsAndRefusesLoad(t *testing.T) {
	st := openStore(t, t.TempDir())
	m := newManager(st, newFake("fake-a", "a"))
	load(t, m, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.Run(ctx)
	}()
	waitfor.Until(t, 30*time.Second, "Run to start", m.running.Load)
	if err := m.Load(ctx, slices.Values([]Chunk(nil))); err == nil {
		t.Error("Load while running succeeded")
	}
	m.Run(ctx) // a second Run returns at once
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not stop when its context ended")
	}
}

func TestTextBudget(t *testing.T) {
	st := openStore(t, t.TempDir())
	storeDocs(t, st, "manuals", corpus...)
	emb := newFake("fake-a", "a")
	m := newManager(st, emb)
	m.textBudget = len(corpus[0]) + 1 // room for one text
	m.batch = 2
	load(t, m, nil)
	m.Enqueue(chunksOf("manuals", corpus...)...)
	m.mu.RLock()
	held := m.queuedText
	m.mu.RUnlock()
	if held != len(corpus[0]) {
		t.Errorf("queue holds %d bytes of text, want only the first text's %d", held, len(corpus[0]))
	}
	run(t, m)
	waitfor.Until(t, 30*time.Second, "embedded", settled(m))
	if _, texts := emb.stats(); !slices.Equal(texts, corpus) {
		t.Errorf("embedded %q, want the corpus in order", texts)
	}
	m.mu.RLock()
	held = m.queuedText
	m.mu.RUnlock()
	if held != 0 {
		t.Errorf("drained queue still counts %d bytes of text", held)
	}
}

func TestModelChangedSizeUnderSameName(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	if err := st.PutEmbeddings(ctx, "fake-a", 32, []shard.ChunkID{shard.HashText("x")}, [][]float32{make([]float32, 32)}); err != nil {
		t.Fatal(err)
	}
	m := newManager(st, newFake("fake-a", "a")) // 64 dimensions
	load(t, m, chunksOf("manuals", corpus...))
	run(t, m)
	waitfor.Until(t, 30*time.Second, "the failure reported", func() bool {
		return strings.Contains(m.Progress().Err, "changed under the same name")
	})
	if p := m.Progress(); p.Embedded != 0 || p.Pending != len(corpus) {
		t.Errorf("progress: %+v", p)
	}
}
