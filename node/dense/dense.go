// Package dense keeps the dense (embedding) side of a node's retrieval: it
// embeds chunks in the background with a models.Embedder, stores their
// vectors in the shard store under the model's name, keeps one vector index
// per shard (package vector) and answers nearest-neighbour searches for a
// question. Ingest never waits for it: new chunks are queued and embedded by
// Run, and a shard whose chunks are not all embedded yet is still searched
// over what it has (Ready says when it is whole), so the node can keep BM25
// alone until then.
//
// Changing the embedding model (SetEmbedder) re-embeds every chunk in the
// background into a second set of indexes while searches keep using the old
// model and its indexes; once every chunk has a vector of the new model the
// manager swaps the sets, marks the new set complete in the store and logs
// it.
//
// Chunks are addressed the way the lexical index addresses them, by shard
// and slot, so that hits of both retrievers can be fused. Inside, every
// occurrence of a chunk gets a stable vector id; slots map onto these ids, so
// that when the node rebuilds a shard's lexical index and its slots are
// renumbered, ReplaceShard only remaps them and nothing is re-embedded or
// re-indexed. Only the node and its tests import this package.
package dense

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgerag/edgerag/models"
	"github.com/edgerag/edgerag/node/shard"
	"github.com/edgerag/edgerag/node/shardstore"
	"github.com/edgerag/edgerag/node/vector"
)

// Store is what the manager needs of the shard store; *shardstore.Store
// implements it.
type Store interface {
	PutEmbeddings(ctx context.Context, model string, dims int, ids []shard.ChunkID, vecs [][]float32) error
	Embeddings(ctx context.Context, model string, fn func(id shard.ChunkID, v []float32) error) error
	EmbeddingsFor(ctx context.Context, model string, ids []shard.ChunkID, fn func(i int, v []float32) error) error
	EmbeddingModel(ctx context.Context, model string) (shardstore.EmbeddingMeta, error)
	SetEmbeddingModel(ctx context.Context, meta shardstore.EmbeddingMeta) error
	// Texts returns the text of each chunk; its error wraps
	// shardstore.ErrNotFound when one of them is gone.
	Texts(ids []shard.ChunkID) ([]string, error)
}

var _ Store = (*shardstore.Store)(nil)

// ErrNoVectors reports a search of shards that have no vectors yet. It wraps
// models.ErrUnavailable, so a caller that falls back to BM25 on an
// unavailable model does the same here.
var ErrNoVectors = fmt.Errorf("%w: no chunk vectors to search yet", models.ErrUnavailable)

// Chunk is one chunk of a shard as the lexical index numbers it.
type Chunk struct {
	Shard string
	Slot  uint32
	ID    shard.ChunkID
	// Text is the chunk's text, when the caller has it at hand (ingest
	// does). It may be empty: the manager then reads it from the store
	// when it embeds the chunk.
	Text string
}

// Hit is one chunk found by a dense search. Score is the cosine similarity
// of the chunk's vector and the question's.
type Hit struct {
	Shard string
	Slot  uint32
	Score float32
}

// Progress reports how far embedding has got, for the status page.
type Progress struct {
	Model    string            // the embedding model, with its version
	Dims     int               // its vector size; 0 until the first vector
	Embedded int               // chunks with a vector of Model
	Pending  int               // chunks still waiting for one
	Kind     map[string]string // shard → vector index kind, for shards with vectors
	// Err is the last failure while the manager is backing off from it,
	// "" when the last attempt worked; RetryAt is when it tries again.
	Err     string
	RetryAt time.Time
	// Next is the model being built in the background after SetEmbedder,
	// nil when none is; searches use Model until Next is complete.
	Next *Progress
}

// Defaults of the tunables; New sets them and tests shrink them.
const (
	// defaultBatch is how many distinct texts go to the embedder at once:
	// large enough to amortise a request, small enough that one batch on a
	// small device takes about a second and a vector write stays far under
	// a transaction's limit (32 × 1024 dims × 4 B = 128 KB).
	defaultBatch = 32
	// Backoff after a failure doubles from min to max: a model server that
	// restarts is back within seconds, one that is gone should not be
	// hammered.
	defaultBackoffMin = time.Second
	defaultBackoffMax = 30 * time.Second
	// defaultCooldown bounds how long searches fail at once after the
	// embedder was found unavailable, as the node's generation breaker
	// does: long enough to spare queries a timeout each, short enough that
	// a restarted model server is used again within seconds.
	defaultCooldown = 5 * time.Second
	// defaultTextBudget bounds the bytes of chunk text the queue holds.
	// Texts handed to Enqueue are kept while within it; beyond it only the
	// chunk's id is queued and its text is read back from the store when
	// it is embedded. A bulk ingest of 100k chunks with the model server
	// down would otherwise hold some 70 MB of text.
	defaultTextBudget = 4 << 20
	// idleWait is how long Run sleeps with nothing to do and no wake-up.
	idleWait = time.Hour
)

// ref is one occurrence of a chunk, while Load matches vectors to chunks.
type ref struct {
	b     *book
	shard string
	vid   uint32
}

// entry is one occurrence of a chunk in a shard. Its index in book.ents is
// its vector id, the id the shard's vector index stores it under.
type entry struct {
	id   shard.ChunkID
	slot uint32
	live bool
}

// book is the manager's record of one shard's chunks. Vector ids are never
// reused, so a queued item that names a removed entry is simply skipped; the
// price is 24 bytes for every chunk occurrence ingested since start, which
// a restart (Load) reclaims.
type book struct {
	ents  []entry
	slots map[uint32]uint32 // slot → vector id of the live entry there
	live  int
}

func newBook() *book { return &book{slots: make(map[uint32]uint32)} }

// add records a new live entry and returns its vector id.
func (b *book) add(id shard.ChunkID, slot uint32) uint32 {
	vid := uint32(len(b.ents))
	b.ents = append(b.ents, entry{id: id, slot: slot, live: true})
	b.slots[slot] = vid
	b.live++
	return vid
}

// part is one shard's vector index within one generation.
type part struct {
	gen   *gen   // immutable
	shard string // immutable

	mu sync.RWMutex // guards ix: its pointer and its contents
	ix vector.Index // nil until the shard's first vector
	vf *os.File     // a compact graph's vector file (see persist.go), guarded by mu

	// Guarded by Manager.mu.
	kind    string // ix.Kind(), readable without the part's mu
	has     []bool // vector id → has a vector in this generation
	done    int    // live entries with a vector
	deleted int    // vectors deleted since ix was built (HNSW keeps them as dead nodes)
	unsaved bool   // a compact graph changed since it was last saved
}

func (p *part) hasVec(vid uint32) bool { return int(vid) < len(p.has) && p.has[vid] }

func (p *part) setHas(vid uint32, v bool) {
	if int(vid) >= len(p.has) {
		if !v {
			return
		}
		p.has = append(p.has, make([]bool, int(vid)+1-len(p.has))...)
	}
	p.has[vid] = v
}

// item is a queued chunk occurrence waiting for a vector.
type item struct {
	shard string
	vid   uint32
	text  string // "" when it must be read from the store
}

// gen is the state of one embedding model: the serving one, or the one being
// built after SetEmbedder. All fields but model are guarded by Manager.mu.
type gen struct {
	model string // emb.Model() when the generation was made; immutable

	emb      models.Embedder
	dims     int // 0 until known
	metaRead bool
	marked   bool // the store's record of the model says complete
	parts    map[string]*part
	queue    []item

	backoff   time.Duration
	retryAt   time.Time // Run waits until then after a failure
	downUntil time.Time // searches fail fast until then: the embedder is unavailable
	lastErr   error
}

func newGen(emb models.Embedder) *gen {
	return &gen{model: emb.Model(), emb: emb, parts: make(map[string]*part)}
}

// Manager keeps the dense side of a node. Its methods are safe for
// concurrent use; Load must run before Run, and Run runs once.
type Manager struct {
	st  Store
	log *slog.Logger

	// Tunables, fixed after New; tests change them before use.
	batch      int
	backoffMin time.Duration
	backoffMax time.Duration
	cooldown   time.Duration
	textBudget int
	choose     func(n, dim int) string
	now        func() time.Time
	dir        string        // compact graphs' files; "" keeps every index in memory
	noDir      atomic.Bool   // dir refused a file: keep every index in memory
	saveEvery  time.Duration // see defaultSaveEvery
	lastSave   time.Time     // Run's own

	wake    chan struct{} // capacity 1: a pending wake-up for Run
	running atomic.Bool

	// Lock order: a part's mu before mu, never the other way round, so
	// the background loop can hold a part while it checks the books, and
	// no one holds mu across an index operation.
	mu         sync.RWMutex
	books      map[string]*book
	cur        *gen   // serves searches
	next       *gen   // being built after SetEmbedder; nil when none
	queuedText int    // bytes of text held by queued items
	retired    []*gen // dropped generations whose files Run deletes
	dirty      map[*part]struct{}
}

// New returns a manager that embeds with emb and keeps vectors in st. It
// does no I/O; call Load, then Run.
func New(st Store, emb models.Embedder, log *slog.Logger) *Manager {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Manager{
		st:         st,
		log:        log,
		batch:      defaultBatch,
		backoffMin: defaultBackoffMin,
		backoffMax: defaultBackoffMax,
		cooldown:   defaultCooldown,
		textBudget: defaultTextBudget,
		choose:     vector.Choose,
		now:        time.Now,
		saveEvery:  defaultSaveEvery,
		wake:       make(chan struct{}, 1),
		books:      make(map[string]*book),
		cur:        newGen(emb),
		dirty:      make(map[*part]struct{}),
	}
}

// signal wakes Run without ever blocking the caller.
func (m *Manager) signal() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// partOf returns g's part for a shard, creating it. The caller holds mu.
func (m *Manager) partOf(g *gen, shardName string) *part {
	p, ok := g.parts[shardName]
	if !ok {
		p = &part{gen: g, shard: shardName}
		g.parts[shardName] = p
	}
	return p
}

// loadMeta reads what the store knows of g's model: its size, and whether
// its set was once complete.
func (m *Manager) loadMeta(ctx context.Context, g *gen) error {
	m.mu.RLock()
	read := g.metaRead
	m.mu.RUnlock()
	if read {
		return nil
	}
	meta, err := m.st.EmbeddingModel(ctx, g.model)
	if err != nil && !errors.Is(err, shardstore.ErrNotFound) {
		return fmt.Errorf("dense: read the record of model %q: %w", g.model, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	g.metaRead = true
	if err == nil {
		g.dims = meta.Dims
		g.marked = meta.Complete
	}
	return nil
}

// Load builds the manager's state at start: the chunks of every shard (with
// the slots the lexical index gives them) and, from the vectors the store
// holds for the embedder's model, each shard's index. Chunks without a
// stored vector are queued for Run. Loading a shard as large as HNSW suits
// builds an int8 index first, which is several times faster to build, and
// Run upgrades it in the background, so start-up stays short. Load replaces
// any earlier state and must not run while Run does.
//
// It is long because it is one pass over the chunks that fills every shard's
// maps and queue together; split, those maps would travel half built between
// helpers.
func (m *Manager) Load(ctx context.Context, chunks iter.Seq[Chunk]) error {
	if m.running.Load() {
		return errors.New("dense: Load while Run is running: load before starting the background loop")
	}
	start := time.Now()
	m.mu.RLock()
	emb := m.cur.emb
	m.mu.RUnlock()
	g := newGen(emb)
	if err := m.loadMeta(ctx, g); err != nil {
		return err
	}

	books := make(map[string]*book)
	refs := make(map[shard.ChunkID][]ref)
	texts := make(map[ref]string)
	textBytes := 0
	for c := range chunks {
		b, ok := books[c.Shard]
		if !ok {
			b = newBook()
			books[c.Shard] = b
		}
		if old, ok := b.slots[c.Slot]; ok {
			// A slot listed twice: the later chunk wins.
			b.ents[old].live = false
			b.live--
		}
		vid := b.add(c.ID, c.Slot)
		r := ref{b, c.Shard, vid}
		refs[c.ID] = append(refs[c.ID], r)
		if c.Text != "" && textBytes+len(c.Text) <= m.textBudget {
			texts[r] = c.Text
			textBytes += len(c.Text)
		}
	}

	vectors, keep, err := m.loadVectors(ctx, g, books, refs)
	if err != nil {
		return err
	}

	// Queue what has no vector, shards and slots in order so the order of
	// embedding does not depend on map iteration.
	names := make([]string, 0, len(books))
	for name := range books {
		names = append(names, name)
	}
	slices.Sort(names)
	pending := 0
	for _, name := range names {
		b := books[name]
		p := g.parts[name]
		for vid, e := range b.ents {
			if !e.live || (p != nil && p.hasVec(uint32(vid))) {
				continue
			}
			r := ref{b, name, uint32(vid)}
			g.queue = append(g.queue, item{shard: name, vid: uint32(vid), text: texts[r]})
			pending++
		}
	}
	queuedText := 0
	for _, it := range g.queue {
		queuedText += len(it.text)
	}

	m.mu.Lock()
	var old []*part
	for _, c := range []*gen{m.cur, m.next} {
		if c != nil {
			for _, p := range c.parts {
				old = append(old, p)
			}
		}
	}
	m.books = books
	m.cur = g
	m.next = nil
	m.queuedText = queuedText
	m.dirty = make(map[*part]struct{})
	for _, p := range g.parts {
		m.dirty[p] = struct{}{} // Run upgrades what Load built as int8
	}
	m.mu.Unlock()
	for _, p := range old {
		p.mu.Lock()
		if p.vf != nil {
			p.vf.Close()
			p.vf, p.ix = nil, nil
		}
		p.mu.Unlock()
	}
	m.sweep(keep)
	m.signal()
	m.log.Info("dense: index loaded", "model", g.model, "dims", g.dims, "shards", len(books), "vectors", vectors,
		"pending", pending, "load_ms", time.Since(start).Milliseconds())
	return nil
}

// Enqueue records newly ingested chunks and queues them for embedding. It
// never blocks on the embedder or the store: the queue is an unbounded list
// of small records (the chunk's shard, id and, within a byte budget, its
// text), because the chunks are already durable in the store and dropping
// any would leave them without a vector until the next start. A chunk whose
// slot already holds the same chunk is left alone; a slot that held another
// chunk is replaced.
func (m *Manager) Enqueue(cs ...Chunk) {
	if len(cs) == 0 {
		return
	}
	var dels []deletion
	m.mu.Lock()
	for _, c := range cs {
		b, ok := m.books[c.Shard]
		if !ok {
			b = newBook()
			m.books[c.Shard] = b
		}
		if vid, ok := b.slots[c.Slot]; ok {
			if b.ents[vid].id == c.ID {
				continue
			}
			dels = m.kill(dels, c.Shard, b, vid)
		}
		vid := b.add(c.ID, c.Slot)
		text := c.Text
		if m.queuedText+len(text) > m.textBudget {
			text = ""
		}
		m.queuedText += len(text)
		m.cur.queue = append(m.cur.queue, item{shard: c.Shard, vid: vid, text: text})
		if m.next != nil {
			// Only the serving model's queue holds texts, so the budget
			// counts each text once.
			m.next.queue = append(m.next.queue, item{shard: c.Shard, vid: vid})
		}
	}
	m.mu.Unlock()
	m.applyDeletions(dels)
	m.signal()
}

// deletion is a vector to take out of a part's index once mu is released.
type deletion struct {
	p   *part
	vid uint32
}

// kill marks a live entry removed and returns the index deletions to make.
// The caller holds mu.
func (m *Manager) kill(dels []deletion, shardName string, b *book, vid uint32) []deletion {
	e := &b.ents[vid]
	if !e.live {
		return dels
	}
	e.live = false
	b.live--
	if b.slots[e.slot] == vid {
		delete(b.slots, e.slot)
	}
	for _, g := range []*gen{m.cur, m.next} {
		if g == nil {
			continue
		}
		p := g.parts[shardName]
		if p == nil || !p.hasVec(vid) {
			continue
		}
		p.setHas(vid, false)
		p.done--
		p.deleted++
		p.unsaved = p.kind == vector.KindHNSWInt8
		m.dirty[p] = struct{}{}
		dels = append(dels, deletion{p, vid})
	}
	return dels
}

// applyDeletions deletes vectors from their indexes. The caller must not
// hold mu (lock order).
func (m *Manager) applyDeletions(dels []deletion) {
	for _, d := range dels {
		d.p.mu.Lock()
		if d.p.ix != nil {
			d.p.ix.Delete(d.vid)
		}
		d.p.mu.Unlock()
	}
}

// Remove forgets chunks of a shard by slot, for documents deleted or
// replaced; their vectors leave the indexes at once. Their stored vectors
// stay, since other documents may share them (see
// shardstore.PruneEmbeddings).
func (m *Manager) Remove(shardName string, slots ...uint32) {
	var dels []deletion
	m.mu.Lock()
	if b, ok := m.books[shardName]; ok {
		for _, s := range slots {
			if vid, ok := b.slots[s]; ok {
				dels = m.kill(dels, shardName, b, vid)
			}
		}
	}
	m.mu.Unlock()
	m.applyDeletions(dels)
	m.signal() // an HNSW graph may now carry enough dead nodes to rebuild
}

// ReplaceShard gives the manager a shard's complete list of chunks again,
// after the node rebuilt the shard's lexical index and so renumbered its
// slots. Chunks the manager already has keep their vectors and index
// entries, matched by chunk id; new ones are queued; chunks not in the list
// are removed. Nothing already embedded is embedded again. An empty list
// drops the shard's chunks.
func (m *Manager) ReplaceShard(shardName string, chunks iter.Seq[Chunk]) {
	var dels []deletion
	m.mu.Lock()
	b, ok := m.books[shardName]
	if !ok {
		b = newBook()
		m.books[shardName] = b
	}
	// Live entries by chunk id, in vector id order, to hand out again.
	have := make(map[shard.ChunkID][]uint32, b.live)
	for vid, e := range b.ents {
		if e.live {
			have[e.id] = append(have[e.id], uint32(vid))
		}
	}
	old := b.slots
	b.slots = make(map[uint32]uint32, len(old))
	b.live = 0
	for _, e := range have {
		for _, vid := range e {
			b.ents[vid].live = false // revived below when listed
		}
	}
	for c := range chunks {
		if prev, ok := b.slots[c.Slot]; ok {
			// A slot listed twice: the later chunk wins.
			b.ents[prev].live = false
			b.live--
			have[b.ents[prev].id] = append(have[b.ents[prev].id], prev)
		}
		if vids := have[c.ID]; len(vids) > 0 {
			vid := vids[0]
			have[c.ID] = vids[1:]
			e := &b.ents[vid]
			e.slot, e.live = c.Slot, true
			b.slots[c.Slot] = vid
			b.live++
			continue
		}
		vid := b.add(c.ID, c.Slot)
		text := c.Text
		if m.queuedText+len(text) > m.textBudget {
			text = ""
		}
		m.queuedText += len(text)
		m.cur.queue = append(m.cur.queue, item{shard: shardName, vid: vid, text: text})
		if m.next != nil {
			m.next.queue = append(m.next.queue, item{shard: shardName, vid: vid})
		}
	}
	// Entries not listed again are gone: undo the provisional marking so
	// kill sees them live and accounts for them.
	for _, vids := range have {
		for _, vid := range vids {
			if b.ents[vid].live {
				continue
			}
			b.ents[vid].live = true
			b.live++
			b.ents[vid].slot = ^uint32(0) // in no slot any more
			dels = m.kill(dels, shardName, b, vid)
		}
	}
	m.mu.Unlock()
	m.applyDeletions(dels)
	m.signal()
}

// SetEmbedder changes the embedding model. A different model is built in
// the background: Run embeds every chunk with it (reusing vectors the store
// already holds for it) into a second set of indexes while searches keep
// using the current model, and swaps the sets when the new one is complete.
// The same model (by name) only replaces the embedder that reaches it, and
// cancels a switch in progress.
func (m *Manager) SetEmbedder(emb models.Embedder) {
	model := emb.Model()
	m.mu.Lock()
	switch {
	case model == m.cur.model:
		m.cur.emb = emb
		// A new embedder (say, another server) is worth trying at once.
		m.cur.retryAt, m.cur.downUntil = time.Time{}, time.Time{}
		if m.next != nil {
			m.log.Info("dense: model switch cancelled", "model", model, "abandoned", m.next.model)
			m.retired = append(m.retired, m.next)
			m.next = nil
		}
	case m.next != nil && model == m.next.model:
		m.next.emb = emb
		m.next.retryAt, m.next.downUntil = time.Time{}, time.Time{}
	default:
		if m.next != nil {
			m.log.Info("dense: model switch replaced", "abandoned", m.next.model, "model", model)
			m.retired = append(m.retired, m.next)
		}
		g := newGen(emb)
		names := make([]string, 0, len(m.books))
		for name := range m.books {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			for vid, e := range m.books[name].ents {
				if e.live {
					g.queue = append(g.queue, item{shard: name, vid: uint32(vid)})
				}
			}
		}
		m.next = g
		m.log.Info("dense: re-embedding with a new model in the background; searches keep the old one until it is complete",
			"from", m.cur.model, "to", model, "chunks", len(g.queue))
	}
	m.mu.Unlock()
	m.signal()
}

// Embedder returns the embedder of the model searches use, so that callers
// can embed texts in the same space as the index.
func (m *Manager) Embedder() models.Embedder {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.cur.emb
}

// Ready reports whether every chunk of the shard has a vector of the model
// searches use. It is false for a shard the manager does not know.
func (m *Manager) Ready(shardName string) bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	b, ok := m.books[shardName]
	if !ok {
		return false
	}
	done := 0
	if p := m.cur.parts[shardName]; p != nil {
		done = p.done
	}
	return done == b.live
}

// Progress reports the state of the serving model and of a model being
// built.
func (m *Manager) Progress() Progress {
	m.mu.RLock()
	defer m.mu.RUnlock()
	p := m.progress(m.cur)
	if m.next != nil {
		n := m.progress(m.next)
		p.Next = &n
	}
	return p
}

// progress summarises g. The caller holds mu.
func (m *Manager) progress(g *gen) Progress {
	p := Progress{Model: g.model, Dims: g.dims, Kind: make(map[string]string)}
	for name, b := range m.books {
		done := 0
		if pt := g.parts[name]; pt != nil {
			done = pt.done
			if pt.kind != "" {
				p.Kind[name] = pt.kind
			}
		}
		p.Embedded += done
		p.Pending += b.live - done
	}
	if g.lastErr != nil {
		p.Err, p.RetryAt = g.lastErr.Error(), g.retryAt
	}
	return p
}

// complete reports whether every live chunk has a vector in g. The caller
// holds mu.
func (m *Manager) complete(g *gen) bool {
	for name, b := range m.books {
		done := 0
		if p := g.parts[name]; p != nil {
			done = p.done
		}
		if done != b.live {
			return false
		}
	}
	return true
}
