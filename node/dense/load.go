package dense

import (
	"context"
	"fmt"

	"github.com/edgerag/edgerag/node/shard"
	"github.com/edgerag/edgerag/node/vector"
)

// loadVectors gives Load's parts of g their indexes: the saved compact
// graphs of shards that have one (see persist.go), matched to the chunks by
// chunk id, and for the other shards the vectors in the store. It returns
// the vectors indexed and the names of the files the parts use.
//
// Without saved graphs it streams the model's whole set once; with them it
// reads only the other shards' vectors, so that a node whose large shards
// are saved opens them without reading their vectors. What a saved graph
// lacks (chunks ingested after it was saved) is queued, and Run adds it
// from the store, rather than holding up the start.
func (m *Manager) loadVectors(ctx context.Context, g *gen, books map[string]*book, refs map[shard.ChunkID][]ref) (int, map[string]bool, error) {
	keep := make(map[string]bool)
	adopted := make(map[string]bool)
	vectors := 0
	for name, b := range books {
		l := m.openSaved(name, g.model, g.dims)
		if l == nil {
			continue
		}
		n := m.adopt(g, name, b, l, refs)
		if g.dims == 0 {
			g.dims = l.rec.dims
		}
		adopted[name] = true
		vectors += n
		base := fileBase(name, g.model)
		keep[base+".graph"], keep[base+".ids"], keep[l.rec.vecName] = true, true, true
	}

	// Give each vector to every live occurrence of its chunk that lacks
	// one. Indexes are private to Load until published, so no part lock
	// is needed.
	give := func(id shard.ChunkID, v []float32) error {
		if g.dims == 0 {
			g.dims = len(v)
		}
		if len(v) != g.dims {
			return fmt.Errorf("chunk %s has a %d-dimensional vector, the model %d: the stored set is inconsistent; delete it to re-embed", id, len(v), g.dims)
		}
		for _, r := range refs[id] {
			if !r.b.ents[r.vid].live || adopted[r.shard] {
				continue
			}
			p := m.partOf(g, r.shard)
			if p.hasVec(r.vid) {
				continue
			}
			if p.ix == nil {
				// Int8 at most: it builds several times faster than a
				// graph, and Run upgrades it in the background.
				kind := m.chooseKind(r.b.live, g.dims)
				if kindRank(kind) > kindRank(vector.KindInt8) {
					kind = vector.KindInt8
				}
				ix, _, err := m.newIndex(kind, r.shard, g.model, g.dims)
				if err != nil {
					return err
				}
				p.ix, p.kind = ix, ix.Kind()
			}
			if err := p.ix.Add(r.vid, v); err != nil {
				m.log.Warn("dense: stored vector cannot be indexed; the chunk will not be found by meaning", "shard", r.shard, "chunk", id, "err", err)
			}
			p.setHas(r.vid, true)
			p.done++
			vectors++
		}
		return nil
	}
	var err error
	if len(adopted) == 0 {
		err = m.st.Embeddings(ctx, g.model, func(id shard.ChunkID, v []float32) error {
			if len(refs[id]) == 0 {
				return nil // a vector of a chunk the node no longer holds
			}
			return give(id, v)
		})
	} else {
		var ids []shard.ChunkID
		for id, rs := range refs {
			for _, r := range rs {
				if !adopted[r.shard] && r.b.ents[r.vid].live {
					ids = append(ids, id)
					break
				}
			}
		}
		err = m.st.EmbeddingsFor(ctx, g.model, ids, func(i int, v []float32) error { return give(ids[i], v) })
	}
	if err != nil {
		for _, p := range g.parts {
			if p.vf != nil {
				p.vf.Close()
			}
		}
		return 0, nil, fmt.Errorf("dense: load vectors of model %q: %w", g.model, err)
	}
	return vectors, keep, nil
}

// adopt makes a saved graph shard name's index in g: its vector ids are
// renamed to this start's, matched by chunk id, and the nodes of chunks
// the shard no longer holds are deleted. It returns the vectors kept.
func (m *Manager) adopt(g *gen, name string, b *book, l *loaded, refs map[shard.ChunkID][]ref) int {
	p := m.partOf(g, name)
	// The saved vector id of each chunk occurrence, matched in order to
	// this start's occurrences of the same chunk in the shard.
	next := make(map[uint32]uint32, len(l.rec.vids))
	taken := make(map[uint32]bool, len(l.rec.vids))
	for i, old := range l.rec.vids {
		for _, r := range refs[l.rec.chunks[i]] {
			if r.b == b && r.b.ents[r.vid].live && !taken[r.vid] {
				taken[r.vid] = true
				next[old] = r.vid
				break
			}
		}
	}
	l.h.Remap(func(id uint32) (uint32, bool) {
		vid, ok := next[id]
		return vid, ok
	})
	for vid := range taken {
		p.setHas(vid, true)
	}
	tuneEf(l.h)
	p.ix, p.vf, p.kind = l.h, l.vf, vector.KindHNSWInt8
	p.done, p.deleted = len(taken), l.h.Dead()
	// Saved again only if the chunks changed: renamed ids alone are what
	// the record on disk already says.
	p.unsaved = len(taken) != len(l.rec.vids)
	return len(taken)
}
