package dense

import (
	"fmt"
	"os"

	"github.com/edgerag/edgerag/node/vector"
)

// SetDir gives the manager a directory for the files of shards large
// enough for the compact graph (vector.KindHNSWInt8), whose vectors live in
// a file and whose graph is saved there, so that a restart opens it
// instead of rebuilding it. Without one, such shards get the in-memory
// graph. Call it before Load.
func (m *Manager) SetDir(dir string) { m.dir = dir }

// chooseKind is choose, less the compact graph when there is no directory
// for its files or it refused one.
func (m *Manager) chooseKind(n, dims int) string {
	k := m.choose(n, dims)
	if k == vector.KindHNSWInt8 && (m.dir == "" || m.noDir.Load()) {
		k = vector.KindHNSW
	}
	return k
}

// kindRank orders the kinds by the shard sizes they suit, so the manager
// only ever upgrades an index and a shard near a threshold cannot make it
// flip back and forth.
func kindRank(kind string) int {
	switch kind {
	case vector.KindInt8:
		return 1
	case vector.KindHNSW:
		return 2
	case vector.KindHNSWInt8:
		return 3
	}
	return 0
}

// isGraph reports whether a kind keeps deleted vectors as dead nodes.
func isGraph(kind string) bool { return kind == vector.KindHNSW || kind == vector.KindHNSWInt8 }

// newIndex returns an empty index for a shard under model, and for a
// compact graph the new vector file it writes (the caller closes and
// deletes it when the index goes); the index's Kind may be KindHNSW where
// KindHNSWInt8 was asked, when the file cannot be made. The HNSW seed comes from the shard name, so a rebuilt graph
// is the same graph.
func (m *Manager) newIndex(kind, shardName, model string, dims int) (vector.Index, *os.File, error) {
	cfg := vector.Config{Dim: dims, Seed: fnv64(shardName)}
	if kind == vector.KindHNSWInt8 {
		if dims < 1 || dims > vector.MaxDim {
			return nil, nil, fmt.Errorf("dense: index for shard %q: %d dimensions, want 1..%d", shardName, dims, vector.MaxDim)
		}
		vf, err := m.createVectorFile(shardName, model)
		if err == nil {
			return vector.NewCompactHNSW(cfg, vf), vf, nil
		}
		// Serving from memory beats not serving: the float graph, until
		// a restart tries the directory again.
		m.noDir.Store(true)
		m.log.Error("dense: cannot create a vector file; large shards keep their vectors in memory until restart",
			"dir", m.dir, "shard", shardName, "err", err)
		kind = vector.KindHNSW
	}
	ix, err := vector.New(kind, cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("dense: index for shard %q: %w", shardName, err)
	}
	return ix, nil, nil
}

// dropFile closes and deletes a vector file an index no longer uses.
func (m *Manager) dropFile(vf *os.File) {
	if vf == nil {
		return
	}
	vf.Close()
	if err := os.Remove(vf.Name()); err != nil {
		m.log.Warn("dense: cannot delete an unused vector file", "file", vf.Name(), "err", err)
	}
}

// tuneEf widens a graph's search as it grows (vector.EfSearchFor), so its
// recall holds. The caller holds the part's write lock, or owns ix alone.
func tuneEf(ix vector.Index) {
	if h, ok := ix.(*vector.HNSW); ok {
		if ef := vector.EfSearchFor(h.Len()); h.Config().EfSearch != ef {
			_ = h.SetEfSearch(ef) // in range by construction
		}
	}
}
