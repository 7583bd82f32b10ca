package dense

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/edgerag/edgerag/models"
	"github.com/edgerag/edgerag/node/shard"
	"github.com/edgerag/edgerag/node/shardstore"
	"github.com/edgerag/edgerag/node/vector"
)

// Run is the background loop: it embeds queued chunks in batches, stores
// their vectors and adds them to their shard's index; upgrades a shard's
// index kind when the shard outgrows it; finishes a model switch. After a
// failure it backs off (1 s doubling to 30 s) and tries again, so a model
// server that comes back is used again without anyone's help. It returns
// when ctx ends; a batch in flight is abandoned and its chunks stay queued.
// Only one Run may be active at a time; a second returns at once.
func (m *Manager) Run(ctx context.Context) {
	if !m.running.CompareAndSwap(false, true) {
		m.log.Error("dense: Run called while already running; ignoring the second call")
		return
	}
	defer m.running.Store(false)
	for ctx.Err() == nil {
		wait := m.step(ctx)
		if wait <= 0 {
			continue
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-m.wake:
		case <-t.C:
		}
		t.Stop()
	}
	m.saveAll()
}

// step does one unit of work and returns 0, or returns how long to wait
// for the next one when there is none.
func (m *Manager) step(ctx context.Context) time.Duration {
	m.retire()
	if m.finish(ctx) || m.upgrade(ctx) {
		return 0
	}
	now := m.now()
	m.mu.RLock()
	var g *gen
	wait := idleWait
	// The serving model first: new chunks become searchable before a model
	// switch progresses. A serving model that is down does not hold the
	// switch up, which may be the very reason for it.
	for _, c := range []*gen{m.cur, m.next} {
		if c == nil || len(c.queue) == 0 {
			continue
		}
		if d := c.retryAt.Sub(now); d > 0 {
			wait = min(wait, d)
			continue
		}
		g = c
		break
	}
	m.mu.RUnlock()
	if g == nil {
		// Idle: a good time to write a changed graph.
		saved, w := m.saveIdle()
		if saved {
			return 0
		}
		if w > 0 {
			wait = min(wait, w)
		}
		return wait
	}
	m.embedBatch(ctx, g)
	return 0
}

// unsavedParts returns the parts whose compact graph changed since it was
// saved.
func (m *Manager) unsavedParts() []*part {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []*part
	for _, g := range []*gen{m.cur, m.next} {
		if g == nil {
			continue
		}
		for _, p := range g.parts {
			if p.unsaved {
				out = append(out, p)
			}
		}
	}
	return out
}

// saveIdle saves one changed graph unless one was saved less than
// saveEvery ago; it reports whether it saved, or how long until it may.
func (m *Manager) saveIdle() (bool, time.Duration) {
	ps := m.unsavedParts()
	if len(ps) == 0 {
		return false, 0
	}
	now := m.now()
	if d := m.lastSave.Add(m.saveEvery).Sub(now); d > 0 {
		return false, d
	}
	m.lastSave = now
	if err := m.save(ps[0]); err != nil {
		m.log.Warn("dense: graph not saved; a restart rebuilds what it lacks from the stored vectors", "shard", ps[0].shard, "err", err)
	}
	return true, 0
}

// saveAll saves every changed graph, as Run stops.
func (m *Manager) saveAll() {
	for _, p := range m.unsavedParts() {
		if err := m.save(p); err != nil {
			m.log.Warn("dense: graph not saved at stop; the next start rebuilds what it lacks", "shard", p.shard, "err", err)
		}
	}
}

// fail records a failure of g's work and schedules the retry. The caller
// holds mu.
func (m *Manager) fail(g *gen, err error) {
	if g.backoff == 0 {
		g.backoff = m.backoffMin
	} else {
		g.backoff = min(2*g.backoff, m.backoffMax)
	}
	now := m.now()
	g.retryAt = now.Add(g.backoff)
	if errors.Is(err, models.ErrUnavailable) {
		// Searches fail fast for a while, but not for the whole backoff:
		// a query that finds the model back ends the backoff early.
		g.downUntil = now.Add(min(g.backoff, m.cooldown))
	}
	if g.lastErr == nil {
		m.log.Warn("dense: embedding stalled; retrying in the background (BM25 keeps answering meanwhile)",
			"model", g.model, "retry_in", g.backoff, "err", err)
	} else {
		m.log.Debug("dense: embedding still failing", "model", g.model, "retry_in", g.backoff, "err", err)
	}
	g.lastErr = err
}

// succeed clears g's failure state. The caller holds mu.
func (m *Manager) succeed(g *gen) {
	if g.lastErr != nil {
		m.log.Info("dense: embedding resumed", "model", g.model)
	}
	g.backoff, g.retryAt, g.downUntil, g.lastErr = 0, time.Time{}, time.Time{}, nil
}

// batchWork is one batch of distinct chunks and their occurrences.
type batchWork struct {
	ids   []shard.ChunkID
	texts []string // per id; "" when it must be read from the store
	items []item
	of    []int // items[i] is an occurrence of ids[of[i]]
}

// take pops up to m.batch distinct chunks from g's queue, skipping items
// whose entry was removed or already has a vector. The caller holds mu.
func (m *Manager) take(g *gen) batchWork {
	var w batchWork
	at := make(map[shard.ChunkID]int)
	n := 0
	for ; n < len(g.queue); n++ {
		it := g.queue[n]
		if g == m.cur {
			m.queuedText -= len(it.text)
		}
		b := m.books[it.shard]
		if b == nil || int(it.vid) >= len(b.ents) || !b.ents[it.vid].live {
			continue
		}
		if p := g.parts[it.shard]; p != nil && p.hasVec(it.vid) {
			continue
		}
		id := b.ents[it.vid].id
		i, ok := at[id]
		if !ok {
			if len(w.ids) == m.batch {
				if g == m.cur {
					m.queuedText += len(it.text) // not taken after all
				}
				break
			}
			i = len(w.ids)
			at[id] = i
			w.ids = append(w.ids, id)
			w.texts = append(w.texts, "")
		}
		if w.texts[i] == "" {
			w.texts[i] = it.text
		}
		w.items = append(w.items, it)
		w.of = append(w.of, i)
	}
	g.queue = g.queue[n:]
	if len(g.queue) == 0 {
		g.queue = nil // let a long drained queue's array go
	}
	return w
}

// requeue puts a batch back at the front of g's queue after a failure. The
// caller holds mu.
func (m *Manager) requeue(g *gen, w batchWork) {
	if g == m.cur {
		for _, it := range w.items {
			m.queuedText += len(it.text)
		}
	}
	g.queue = append(slices.Clip(w.items), g.queue...)
}

// embedBatch embeds one batch for g: vectors the store already holds for a
// chunk (the same text elsewhere, or an earlier run) are reused, the rest
// are embedded and stored, and all are added to their shards' indexes.
func (m *Manager) embedBatch(ctx context.Context, g *gen) {
	if err := m.loadMeta(ctx, g); err != nil {
		m.mu.Lock()
		m.fail(g, err)
		m.mu.Unlock()
		return
	}
	m.mu.Lock()
	w := m.take(g)
	emb := g.emb
	m.mu.Unlock()
	if len(w.ids) == 0 {
		return
	}
	vecs, err := m.vectorsFor(ctx, g, emb, &w)
	m.mu.Lock()
	if err != nil {
		m.requeue(g, w)
		if ctx.Err() == nil {
			m.fail(g, err)
		}
		m.mu.Unlock()
		return
	}
	m.succeed(g)
	m.mu.Unlock()
	m.index(g, w, vecs)
}

// vectorsFor returns a vector per id of w (nil for a chunk whose text has
// gone from the store: it was deleted since it was queued).
func (m *Manager) vectorsFor(ctx context.Context, g *gen, emb models.Embedder, w *batchWork) ([][]float32, error) {
	vecs := make([][]float32, len(w.ids))
	err := m.st.EmbeddingsFor(ctx, g.model, w.ids, func(i int, v []float32) error {
		vecs[i] = slices.Clone(v)
		return nil
	})
	if err != nil {
		return nil, err
	}
	var miss []int
	for i, v := range vecs {
		if v == nil {
			miss = append(miss, i)
		}
	}
	if len(miss) == 0 {
		return vecs, nil
	}
	if err := m.fillTexts(w, miss); err != nil {
		return nil, err
	}
	var ids []shard.ChunkID
	var texts []string
	var at []int
	for _, i := range miss {
		if w.texts[i] == "" {
			continue // gone from the store
		}
		ids, texts, at = append(ids, w.ids[i]), append(texts, w.texts[i]), append(at, i)
	}
	if len(texts) == 0 {
		return vecs, nil
	}
	out, err := emb.Embed(ctx, texts)
	if err != nil {
		return nil, fmt.Errorf("dense: embed %d chunks with %s: %w", len(texts), g.model, err)
	}
	if len(out) != len(texts) {
		return nil, fmt.Errorf("%w: dense: %s returned %d vectors for %d texts", models.ErrUnavailable, g.model, len(out), len(texts))
	}
	m.mu.Lock()
	dims := g.dims
	if dims == 0 && len(out[0]) > 0 {
		dims = len(out[0])
		g.dims = dims
	}
	m.mu.Unlock()
	for _, v := range out {
		if len(v) != dims {
			return nil, fmt.Errorf("dense: %s returned a %d-dimensional vector where its vectors have %d: the model changed under the same name; give it a new name or delete its stored vectors", g.model, len(v), dims)
		}
	}
	if err := m.st.PutEmbeddings(ctx, g.model, dims, ids, out); err != nil {
		return nil, fmt.Errorf("dense: store vectors: %w", err)
	}
	for j, i := range at {
		vecs[i] = out[j]
	}
	return vecs, nil
}

// fillTexts reads from the store the texts of w's chunks at miss that the
// queue did not carry. A chunk whose text is gone keeps "".
func (m *Manager) fillTexts(w *batchWork, miss []int) error {
	var need []int
	for _, i := range miss {
		if w.texts[i] == "" {
			need = append(need, i)
		}
	}
	if len(need) == 0 {
		return nil
	}
	ids := make([]shard.ChunkID, len(need))
	for j, i := range need {
		ids[j] = w.ids[i]
	}
	texts, err := m.st.Texts(ids)
	if errors.Is(err, shardstore.ErrNotFound) {
		// Some chunk was deleted since it was queued; find which, one by
		// one. This is rare and the batch is small.
		for j, i := range need {
			t, err := m.st.Texts(ids[j : j+1])
			if errors.Is(err, shardstore.ErrNotFound) {
				// Normally the document was deleted and Remove follows;
				// if not, the chunk stays pending, and this says why.
				m.log.Warn("dense: chunk text is not in the store; the chunk gets no vector until it is ingested again", "chunk", ids[j])
				continue
			}
			if err != nil {
				return fmt.Errorf("dense: read chunk text: %w", err)
			}
			w.texts[i] = t[0]
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("dense: read chunk texts: %w", err)
	}
	for j, i := range need {
		w.texts[i] = texts[j]
	}
	return nil
}

// index adds a batch's vectors to the indexes of g. Each occurrence is
// checked against the books under the part's lock, so one removed meanwhile
// is not added.
func (m *Manager) index(g *gen, w batchWork, vecs [][]float32) {
	for k, it := range w.items {
		v := vecs[w.of[k]]
		if v == nil {
			continue
		}
		m.mu.Lock()
		p := m.partOf(g, it.shard)
		m.mu.Unlock()

		p.mu.Lock()
		m.mu.Lock()
		b := m.books[it.shard]
		ok := b != nil && int(it.vid) < len(b.ents) && b.ents[it.vid].live && !p.hasVec(it.vid)
		var err error
		if ok && p.ix == nil {
			kind := m.chooseKind(b.live, g.dims)
			if p.ix, p.vf, err = m.newIndex(kind, it.shard, g.model, g.dims); err == nil {
				p.kind = p.ix.Kind()
			}
		}
		if ok && err == nil {
			p.setHas(it.vid, true)
			p.done++
			p.unsaved = p.vf != nil
			m.dirty[p] = struct{}{}
		}
		m.mu.Unlock()
		if ok && err == nil {
			if err = p.ix.Add(it.vid, v); err == nil {
				tuneEf(p.ix)
			}
		}
		p.mu.Unlock()
		if err != nil {
			// The chunk still counts as embedded: retrying cannot fix a
			// vector the index refuses (a zero vector, say).
			m.log.Warn("dense: vector cannot be indexed; the chunk will not be found by meaning", "shard", it.shard, "model", g.model, "err", err)
		}
	}
}

// finish completes a model switch whose new set is whole, and marks the
// serving model's set complete in the store once it is. It reports whether
// it did anything.
func (m *Manager) finish(ctx context.Context) bool {
	m.mu.Lock()
	if n := m.next; n != nil && len(n.queue) == 0 && m.complete(n) {
		old := m.cur
		for _, it := range old.queue {
			m.queuedText -= len(it.text)
		}
		m.cur, m.next = n, nil
		m.retired = append(m.retired, old)
		embedded := 0
		for _, p := range n.parts {
			embedded += p.done
		}
		m.mu.Unlock()
		m.log.Info("dense: embedding model switched; searches now use the new vectors",
			"from", old.model, "to", n.model, "dims", n.dims, "chunks", embedded)
		return true
	}
	c := m.cur
	mark := !c.marked && c.dims > 0 && len(c.queue) == 0 && m.complete(c) && !m.now().Before(c.retryAt)
	meta := shardstore.EmbeddingMeta{Model: c.model, Dims: c.dims, Complete: true, Completed: m.now().UTC()}
	m.mu.Unlock()
	if !mark {
		return false
	}
	err := m.st.SetEmbeddingModel(ctx, meta)
	m.mu.Lock()
	defer m.mu.Unlock()
	if err != nil {
		if ctx.Err() == nil {
			m.fail(c, fmt.Errorf("dense: mark the vectors of %s complete: %w", c.model, err))
		}
		return true
	}
	c.marked = true
	m.log.Info("dense: every chunk has a vector", "model", c.model, "dims", c.dims)
	return true
}

// upgrade rebuilds one index that needs it: a shard that outgrew its index
// kind, or an HNSW graph carrying many deleted nodes. It reports whether it
// rebuilt one.
func (m *Manager) upgrade(ctx context.Context) bool {
	m.mu.Lock()
	var p *part
	var kind string
	for d := range m.dirty {
		delete(m.dirty, d)
		if d.gen != m.cur && d.gen != m.next {
			continue // a generation dropped by a switch
		}
		b := m.books[d.shard]
		if b == nil || d.kind == "" {
			continue
		}
		want := m.chooseKind(b.live, d.gen.dims)
		switch {
		case kindRank(want) > kindRank(d.kind):
			p, kind = d, want
		case isGraph(d.kind) && d.deleted > max(256, b.live/5):
			p, kind = d, d.kind
		}
		if p != nil {
			break
		}
	}
	m.mu.Unlock()
	if p == nil {
		return false
	}
	if err := m.rebuild(ctx, p, kind); err != nil && ctx.Err() == nil {
		m.log.Warn("dense: index rebuild failed; keeping the old index", "shard", p.shard, "kind", kind, "err", err)
	}
	return true
}

// rebuild builds p's index anew as kind from the stored vectors and swaps
// it in. Only Run adds vectors, so nothing is added meanwhile; removals are
// replayed at the swap.
func (m *Manager) rebuild(ctx context.Context, p *part, kind string) error {
	start := time.Now()
	g := p.gen
	m.mu.RLock()
	b := m.books[p.shard]
	var vids []uint32
	var ids []shard.ChunkID
	for vid, e := range b.ents {
		if e.live && p.hasVec(uint32(vid)) {
			vids, ids = append(vids, uint32(vid)), append(ids, e.id)
		}
	}
	dims := g.dims
	m.mu.RUnlock()
	ix, vf, err := m.newIndex(kind, p.shard, g.model, dims)
	if err != nil {
		return err
	}
	done := false
	defer func() {
		if !done {
			m.dropFile(vf)
		}
	}()
	found := make([]bool, len(ids))
	err = m.st.EmbeddingsFor(ctx, g.model, ids, func(i int, v []float32) error {
		found[i] = true
		if err := ix.Add(vids[i], v); err != nil {
			m.log.Debug("dense: vector cannot be indexed", "shard", p.shard, "err", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	tuneEf(ix)
	p.mu.Lock()
	m.mu.Lock()
	for i, vid := range vids {
		switch {
		case !b.ents[vid].live || !p.hasVec(vid):
			ix.Delete(vid) // removed while the index was built
		case !found[i]:
			// The store lost the vector: embed the chunk again.
			p.setHas(vid, false)
			p.done--
			g.queue = append(g.queue, item{shard: p.shard, vid: vid})
		}
	}
	oldFile := p.vf
	p.ix, p.vf, p.kind, p.deleted = ix, vf, ix.Kind(), 0
	p.unsaved = vf != nil
	done = true
	m.mu.Unlock()
	p.mu.Unlock()
	if vf != nil {
		// Saved at once: a restart would otherwise rebuild it again.
		if err := m.save(p); err != nil {
			m.log.Warn("dense: rebuilt graph not saved; Run tries again when idle", "shard", p.shard, "err", err)
		}
	}
	m.dropFile(oldFile)
	m.log.Info("dense: index rebuilt", "shard", p.shard, "model", g.model, "kind", ix.Kind(), "vectors", ix.Len(),
		"ms", time.Since(start).Milliseconds())
	return nil
}

// Search embeds the question with the serving model and returns the k
// chunks of the shard (every shard when shardName is "") whose vectors are
// most similar, best first; ties go to the lower shard name and slot. A
// shard not fully embedded is searched over the vectors it has (see Ready).
//
// Its error wraps models.ErrUnavailable when there are no vectors to
// search (ErrNoVectors) and when the embedder cannot serve: the caller
// should then answer from BM25 alone. After such a failure searches fail at
// once for up to a few seconds instead of each waiting for the embedder, and
// a question the embedder answers again ends the background loop's backoff.
//
// It is long because the breaker's fast failure, the question's embedding
// and the search of each shard share one deadline and one error path.
func (m *Manager) Search(ctx context.Context, question, shardName string, k int) ([]Hit, error) {
	if k <= 0 {
		return nil, nil
	}
	m.mu.RLock()
	g := m.cur
	emb, dims, down, lastErr := g.emb, g.dims, g.downUntil, g.lastErr
	var parts []*part
	if shardName != "" {
		if p := g.parts[shardName]; p != nil && p.kind != "" {
			parts = append(parts, p)
		}
	} else {
		for _, p := range g.parts {
			if p.kind != "" {
				parts = append(parts, p)
			}
		}
	}
	m.mu.RUnlock()
	if len(parts) == 0 {
		if shardName != "" {
			return nil, fmt.Errorf("dense search of shard %q: %w", shardName, ErrNoVectors)
		}
		return nil, fmt.Errorf("dense search: %w", ErrNoVectors)
	}
	if now := m.now(); now.Before(down) {
		return nil, fmt.Errorf("%w: dense search: embedding model %s is down (retrying in %s): %w",
			models.ErrUnavailable, g.model, down.Sub(now).Round(time.Millisecond), lastErr)
	}

	vs, err := emb.Embed(ctx, []string{question})
	if err == nil && (len(vs) != 1 || len(vs[0]) != dims) {
		got := 0
		if len(vs) == 1 {
			got = len(vs[0])
		}
		err = fmt.Errorf("%w: %s returned %d vectors of %d dimensions for one question; the index has %d",
			models.ErrUnavailable, g.model, len(vs), got, dims)
	}
	if err != nil {
		if ctx.Err() == nil && errors.Is(err, models.ErrUnavailable) {
			m.mu.Lock()
			if until := m.now().Add(m.cooldown); until.After(g.downUntil) {
				g.downUntil = until
			}
			m.mu.Unlock()
		}
		return nil, fmt.Errorf("dense search: embed the question: %w", err)
	}
	if errors.Is(lastErr, models.ErrUnavailable) {
		// The model answered a question, so it is back: let the
		// background loop retry now rather than at the end of its backoff.
		// Checked on the copy first, so a healthy search never takes the
		// write lock.
		m.mu.Lock()
		if errors.Is(g.lastErr, models.ErrUnavailable) {
			g.retryAt, g.downUntil = time.Time{}, time.Time{}
			m.signal()
		}
		m.mu.Unlock()
	}
	q := slices.Clone(vs[0])
	vector.Normalize(q)

	type found struct {
		p   *part
		hit vector.Hit
	}
	var all []found
	var hits []vector.Hit
	for _, p := range parts {
		p.mu.RLock()
		if p.ix != nil {
			hits, err = p.ix.Search(q, k, hits[:0])
		}
		p.mu.RUnlock()
		if err != nil {
			return nil, fmt.Errorf("dense search of shard %q: %w", p.shard, err)
		}
		for _, h := range hits {
			all = append(all, found{p, h})
		}
	}
	out := make([]Hit, 0, len(all))
	m.mu.RLock()
	for _, f := range all {
		b := m.books[f.p.shard]
		if b == nil || int(f.hit.ID) >= len(b.ents) || !b.ents[f.hit.ID].live {
			continue // removed since the search
		}
		out = append(out, Hit{Shard: f.p.shard, Slot: b.ents[f.hit.ID].slot, Score: f.hit.Score})
	}
	m.mu.RUnlock()
	slices.SortFunc(out, func(a, b Hit) int {
		if c := cmp.Compare(b.Score, a.Score); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Shard, b.Shard); c != 0 {
			return c
		}
		return cmp.Compare(a.Slot, b.Slot)
	})
	if len(out) > k {
		out = out[:k]
	}
	return out, nil
}
