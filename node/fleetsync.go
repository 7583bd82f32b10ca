package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/edgerag/edgerag/node/lexical"
	"github.com/edgerag/edgerag/node/shard"
	"github.com/edgerag/edgerag/node/shardstore"
)

// Shards that fleet sync delivers are stored one version per key space:
// version 7 of shard "manuals" lives in the store as shard "manuals@7" ('@'
// cannot appear in a shard name, so no user shard collides with it). A
// pointer record in fleet sync's key space, which shard writes never touch,
// names the version queries see and the one kept for rollback. Staging a
// version writes its key space in as many transactions as it takes while
// queries keep reading the current one; applying it is one transaction that
// moves the pointer plus an in-memory swap of the shard's index, so a query
// sees the old version or the new one, never a mix.

// SyncPointer is an edge's record of a synced shard's versions.
type SyncPointer struct {
	Current  uint64 `json:"current"`  // version queries see; 0: none applied
	Previous uint64 `json:"previous"` // kept for rollback; 0: none
	// Highest is the highest version ever applied. Fleet sync refuses any
	// manifest not above it, so a replayed old manifest cannot take the
	// node back; only an explicit rollback can.
	Highest uint64 `json:"highest"`
}

func pointerKey(name string) string { return "p/" + name }

// keyspace is the store shard that holds version v of a synced shard.
func keyspace(name string, v uint64) string { return name + "@" + strconv.FormatUint(v, 10) }

// splitKeyspace parses a keyspace name; ok is false for an ordinary shard.
func splitKeyspace(ks string) (name string, v uint64, ok bool) {
	name, vs, ok := strings.Cut(ks, "@")
	if !ok {
		return "", 0, false
	}
	v, err := strconv.ParseUint(vs, 10, 64)
	return name, v, err == nil && v > 0
}

// storeName is the store shard holding the data queries of s read.
func (s *shardState) storeName(name string) string {
	if s.store != "" {
		return s.store
	}
	return name
}

// syncLoad is what Open needs to know of fleet sync while loading.
type syncLoad struct {
	ptrs map[string]SyncPointer // by shard name
	ks   map[string]string      // searched key space → shard name
}

// loadPointers reads every sync pointer before the index is loaded.
func loadPointers(ctx context.Context, st *shardstore.Store) (*syncLoad, error) {
	out := make(map[string]SyncPointer)
	err := st.SyncKV().Scan(ctx, "p/", false, func(k string, v []byte) error {
		var p SyncPointer
		if err := json.Unmarshal(v, &p); err != nil {
			return fmt.Errorf("sync pointer %q: %w", k, err)
		}
		out[strings.TrimPrefix(k, "p/")] = p
		return nil
	})
	return &syncLoad{ptrs: out, ks: make(map[string]string)}, err
}

// loadShard registers a shard record during Open. Key spaces of synced
// shards other than the current version (the previous one, a version being
// staged) are held in the store but not searched; neither is an ordinary
// shard whose name fleet sync has taken over.
func (n *Node) loadShard(l *syncLoad, m shardstore.ShardMeta) {
	name, v, synced := splitKeyspace(m.Name)
	if !synced {
		if _, managed := l.ptrs[m.Name]; !managed {
			n.shards[m.Name] = &shardState{ix: n.newIndex(), meta: m}
		}
		return
	}
	if p, ok := l.ptrs[name]; ok && p.Current == v {
		meta := m
		meta.Name, meta.Version = name, v
		n.shards[name] = &shardState{ix: n.newIndex(), meta: meta, store: m.Name}
		l.ks[m.Name] = name
	}
}

// SyncKV is the store's key space for fleet sync's own records.
func (n *Node) SyncKV() *shardstore.SyncKV { return n.store.SyncKV() }

// SyncPointer returns the versions of a synced shard; the zero value when
// nothing was ever applied.
func (n *Node) SyncPointer(name string) (SyncPointer, error) {
	var p SyncPointer
	b, err := n.store.SyncKV().Get(pointerKey(name))
	if errors.Is(err, shardstore.ErrNotFound) {
		return p, nil
	}
	if err != nil {
		return p, err
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return p, fmt.Errorf("sync pointer of %q: %w", name, err)
	}
	return p, nil
}

// syncManaged reports whether fleet sync owns a shard, in which case local
// writes to it are refused: central is its only source.
func (n *Node) syncManaged(name string) bool {
	n.mu.RLock()
	s, ok := n.shards[name]
	n.mu.RUnlock()
	if !ok {
		return false
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.store != ""
}

func errSyncManaged(name string) error {
	return errorf(ErrConflict, "shard %q is delivered by fleet sync from central: change it there and publish a new version", name)
}

// SyncDoc is one document of a shard version fleet sync delivers: the
// provenance and chunks central shipped, from which the node rebuilds term
// vectors with its own analyzer.
type SyncDoc struct {
	ID       string
	Title    string
	Source   string
	Metadata map[string]string
	Chunks   []SyncChunk // by position
}

// SyncChunk is one chunk of a SyncDoc.
type SyncChunk struct {
	Position int
	Heading  string
	Text     string
}

// AnalyzerName names the analysis chain term vectors are built with; a
// shard manifest naming another cannot be applied.
const AnalyzerName = "english-porter"

// StageVersion writes version v of a synced shard into its own key space
// from docs, in as many transactions as it takes. Queries do not see it
// until ActivateVersion. It can be run again after a crash: documents are
// replaced whole. Documents the applied version holds unchanged are copied
// from its key space, already analysed (see reuseSynced).
func (n *Node) StageVersion(ctx context.Context, name string, v uint64, docs func(yield func(SyncDoc) error) error) error {
	if err := shard.ValidName(name); err != nil {
		return err
	}
	ks := keyspace(name, v)
	// Documents the applied version already holds unchanged are copied in
	// their analysed form; only new or changed ones are analysed.
	ptr, err := n.SyncPointer(name)
	if err != nil {
		return fmt.Errorf("stage version %d of shard %q: %w", v, name, err)
	}
	from := ""
	if ptr.Current != 0 && ptr.Current != v {
		from = keyspace(name, ptr.Current)
	}
	var batch []prepared
	size := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := n.stageWrite(ctx, ks, batch)
		batch, size = batch[:0], 0
		return err
	}
	err = docs(func(d SyncDoc) error {
		p, ok, err := n.reuseSynced(from, ks, d)
		if err != nil {
			return err
		}
		if ok {
			n.staged.copied.Add(1)
		} else {
			if p, err = n.prepareSynced(ks, d); err != nil {
				return err
			}
			n.staged.analysed.Add(1)
		}
		if size+p.size > txnBudget {
			if err := flush(); err != nil {
				return err
			}
		}
		batch, size = append(batch, p), size+p.size
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return fmt.Errorf("stage version %d of shard %q: %w", v, name, err)
	}
	return nil
}

// prepareSynced analyses a delivered document like ingest does (title and
// heading indexed with every chunk), keeping central's chunking.
func (n *Node) prepareSynced(ks string, d SyncDoc) (prepared, error) {
	if err := shard.ValidID(d.ID); err != nil {
		return prepared{}, err
	}
	if len(d.Chunks) == 0 {
		return prepared{}, fmt.Errorf("document %q has no chunks", d.ID)
	}
	md, released := syncedMetadata(d.Metadata)
	p := prepared{shard: ks, meta: shardstore.DocMeta{ID: d.ID, Title: d.Title, Source: d.Source, Metadata: md, IngestedAt: n.cfg.Now().UTC()}}
	n.screenSynced(&p.meta, released)
	titleTerms := n.analyzer.Terms(d.Title)
	var scratch []string
	for i, c := range d.Chunks {
		if c.Position != i {
			return prepared{}, fmt.Errorf("document %q: chunk at index %d has position %d; chunks must be complete and in order", d.ID, i, c.Position)
		}
		scratch = n.addChunk(&p, titleTerms, i, c.Heading, c.Text, scratch, nil)
	}
	p.size += len(d.Title) + len(d.Source) + 256
	return p, nil
}

// stageCounts counts the documents fleet sync staging analysed and the ones
// it copied from the applied version.
type stageCounts struct{ analysed, copied atomic.Uint64 }

// StagedDocs reports how many documents staging versions has analysed and
// how many it copied, already analysed, from the applied version, since
// the node opened.
func (n *Node) StagedDocs() (analysed, copied uint64) {
	return n.staged.analysed.Load(), n.staged.copied.Load()
}

// reuseSynced prepares d from its stored form in key space from (the
// applied version) when it is unchanged there: the same chunk texts in the
// same order under the same headings, and the same title, source and
// metadata. Term vectors depend on nothing else (the analyzer is fixed, see
// AnalyzerName; term ids are global), so the copy is what analysing d would
// produce. ok is false when d must be analysed.
func (n *Node) reuseSynced(from, ks string, d SyncDoc) (p prepared, ok bool, err error) {
	if from == "" || shard.ValidID(d.ID) != nil || len(d.Chunks) == 0 {
		return prepared{}, false, nil // prepareSynced reports what is wrong
	}
	old, vecs, err := n.store.DocRecord(from, d.ID)
	if errors.Is(err, shardstore.ErrNotFound) {
		return prepared{}, false, nil
	}
	if err != nil {
		return prepared{}, false, err
	}
	md, released := syncedMetadata(d.Metadata)
	if old.Title != d.Title || old.Source != d.Source || !maps.Equal(old.Metadata, md) || old.Released != released ||
		len(old.Chunks) != len(d.Chunks) || len(vecs) != len(d.Chunks) {
		return prepared{}, false, nil
	}
	p = prepared{shard: ks, meta: shardstore.DocMeta{ID: d.ID, Title: d.Title, Source: d.Source, Metadata: md, IngestedAt: n.cfg.Now().UTC()}, vectors: vecs}
	n.screenSynced(&p.meta, released)
	if old.Screened != p.meta.Screened {
		return prepared{}, false, nil // screened now and not then, or the reverse: analyse again
	}
	p.meta.Chunks = make([]shardstore.ChunkMeta, len(d.Chunks))
	p.texts = make([]string, len(d.Chunks))
	for i, c := range d.Chunks {
		oc := old.Chunks[i]
		if c.Position != i || oc.Position != i || vecs[i].Position != i || c.Heading != oc.Heading {
			return prepared{}, false, nil
		}
		text := shard.Normalize(c.Text)
		id := shard.HashText(text)
		if id != vecs[i].ID || id.String() != oc.ID {
			return prepared{}, false, nil
		}
		p.meta.Chunks[i] = shardstore.ChunkMeta{ID: oc.ID, Position: i, Heading: c.Heading, Tokens: oc.Tokens, Flags: oc.Flags, Spans: oc.Spans}
		p.texts[i] = text
		p.size += len(text) + 4*len(vecs[i].Terms) + 64
	}
	p.size += len(d.Title) + len(d.Source) + 256
	return p, true, nil
}

// stageWrite stores prepared documents in a key space without touching any
// searched index; a batch too large for one transaction is halved.
func (n *Node) stageWrite(ctx context.Context, ks string, preps []prepared) error {
	n.writeMu.Lock()
	w := shardstore.Write{Shard: ks, Now: n.cfg.Now().UTC()}
	_, fresh := n.assignTerms(&w, preps)
	w.NewTerms = n.newTerms(fresh)
	_, err := n.store.Apply(ctx, w)
	if err != nil {
		n.dict.Forget(fresh)
	}
	n.writeMu.Unlock()
	if errors.Is(err, shardstore.ErrTooLarge) && len(preps) > 1 {
		half := len(preps) / 2
		if err := n.stageWrite(ctx, ks, preps[:half]); err != nil {
			return err
		}
		return n.stageWrite(ctx, ks, preps[half:])
	}
	return err
}

// ActivateVersion makes staged version v of a shard the one queries see:
// it builds the index from the staged key space, then in one transaction
// moves the pointer (the current version becomes the previous one) and
// writes sets and deletes (fleet sync's own records of the switch), then
// swaps the index in. Key spaces older than the previous version are
// dropped afterwards.
func (n *Node) ActivateVersion(ctx context.Context, name string, v uint64, sets []shardstore.KV, deletes []string) error {
	err := n.switchVersion(ctx, name, v, func(p SyncPointer) (SyncPointer, error) {
		if v <= p.Highest {
			return p, fmt.Errorf("version %d was already applied; only newer versions apply", p.Highest)
		}
		return SyncPointer{Current: v, Previous: p.Current, Highest: v}, nil
	}, sets, deletes)
	if err != nil {
		return fmt.Errorf("activate version %d of shard %q: %w", v, name, err)
	}
	return nil
}

// RollbackShard returns a synced shard to its previous version. allow may
// refuse the switch (a version below the shard's floor); the version rolled
// back from is kept as the new previous one.
func (n *Node) RollbackShard(ctx context.Context, name string, allow func(from, to uint64) error) (from, to uint64, err error) {
	p, err := n.SyncPointer(name)
	if err != nil {
		return 0, 0, err
	}
	if p.Current == 0 {
		return 0, 0, errorf(ErrNotFound, "shard %q was never delivered by fleet sync: nothing to roll back", name)
	}
	if p.Previous == 0 {
		return p.Current, 0, errorf(ErrConflict, "shard %q has no previous version kept (only version %d was applied)", name, p.Current)
	}
	// After a rollback the version rolled back from is kept as the
	// previous one, but it is newer: "back" from there would move forward.
	if p.Previous > p.Current {
		return p.Current, 0, errorf(ErrConflict,
			"shard %q is already rolled back to version %d (from %d); no older version is kept, so there is nothing to roll back to", name, p.Current, p.Previous)
	}
	if allow != nil {
		if err := allow(p.Current, p.Previous); err != nil {
			return p.Current, p.Previous, errorf(ErrConflict, "roll back shard %q: %v", name, err)
		}
	}
	err = n.switchVersion(ctx, name, p.Previous, func(now SyncPointer) (SyncPointer, error) {
		if now != p {
			return now, errors.New("the shard's versions changed meanwhile (a sync applied one); try again")
		}
		return SyncPointer{Current: p.Previous, Previous: p.Current, Highest: p.Highest}, nil
	}, nil, nil)
	if err != nil {
		return p.Current, p.Previous, fmt.Errorf("roll back shard %q to version %d: %w", name, p.Previous, err)
	}
	n.log.Info("shard rolled back", "shard", name, "from", p.Current, "to", p.Previous)
	return p.Current, p.Previous, nil
}

// switchVersion is the atomic switch: index built first, pointer moved in
// one transaction, then the index swapped in under the shard's lock.
// The pointer is read and moved under writeMu, so a sync and a rollback
// cannot interleave; move says what it becomes, or refuses.
func (n *Node) switchVersion(ctx context.Context, name string, v uint64, move func(SyncPointer) (SyncPointer, error), sets []shardstore.KV, deletes []string) error {
	ks := keyspace(name, v)
	ix := n.newIndex()
	docs := 0
	err := n.store.Vectors(ctx, ks, func(doc string, chunks []lexical.Chunk) error {
		docs++
		return ix.Add(doc, chunks)
	})
	if err != nil {
		return err
	}
	if docs == 0 {
		return fmt.Errorf("version %d is not staged (key space %s is empty)", v, ks)
	}
	ix.Compact()
	// writeMu keeps a concurrent stage, ingest or switch from interleaving
	// with the switch and the drop below.
	n.writeMu.Lock()
	defer n.writeMu.Unlock()
	p, err := n.SyncPointer(name)
	if err != nil {
		return err
	}
	next, err := move(p)
	if err != nil {
		return err
	}
	rec, _ := json.Marshal(next)
	sets = append(slices.Clip(sets), shardstore.KV{Key: pointerKey(name), Value: rec})
	if err := n.store.SyncKV().Update(ctx, sets, deletes); err != nil {
		return err
	}
	meta := shardstore.ShardMeta{Name: name, Version: next.Current, UpdatedAt: n.cfg.Now().UTC()}
	n.mu.Lock()
	s, ok := n.shards[name]
	if !ok {
		// A shard's first version: it appears whole, never half-built.
		n.shards[name] = &shardState{ix: ix, store: ks, meta: meta}
		n.mu.Unlock()
	} else {
		n.mu.Unlock()
		s.mu.Lock()
		s.ix, s.store, s.meta = ix, ks, meta
		s.mu.Unlock()
	}
	if n.dense != nil {
		n.dense.ReplaceShard(name, n.liveChunks(name))
	}
	n.dropKeyspaces(ctx, name, next)
	return nil
}

// dropKeyspaces deletes the stored versions of a shard that are neither
// current nor previous. Failure only costs disk space until the next
// switch, so it is logged, not returned. The caller holds writeMu.
func (n *Node) dropKeyspaces(ctx context.Context, name string, keep SyncPointer) {
	names, err := n.store.ShardNames(ctx)
	if err != nil {
		n.log.Warn("fleet sync: list stored versions", "shard", name, "err", err)
		return
	}
	for _, ks := range names {
		base, v, ok := splitKeyspace(ks)
		if base != name || (ok && (v == keep.Current || v == keep.Previous || v > keep.Highest)) {
			continue // versions above Highest are being staged
		}
		// The plain shard of that name (local data before sync took it
		// over) is kept: it is invisible, but it was the user's.
		if !ok {
			continue
		}
		if err := n.store.DropShard(ctx, ks, n.cfg.Now().UTC()); err != nil {
			n.log.Warn("fleet sync: drop old version", "keyspace", ks, "err", err)
		}
	}
}

// Snapshot streams a shard's documents with their chunk texts from one
// consistent read; central publishes versions from it.
func (n *Node) Snapshot(ctx context.Context, name string, fn func(shardstore.DocSnapshot) error) (shardstore.ShardMeta, error) {
	return n.store.Snapshot(ctx, name, fn)
}
