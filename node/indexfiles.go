package node

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/edgerag/edgerag/node/lexical"
	"github.com/edgerag/edgerag/node/shardstore"
)

// loadIndexes gives every searched shard its index: the snapshot Close
// wrote when it still matches the store (same shard version and update
// time), which opens without reading a posting, else a rebuild from the
// stored term vectors. A node killed without Close rebuilds the shards
// written since its last snapshot; nothing else depends on the snapshots.
func (n *Node) loadIndexes(ctx context.Context) error {
	for name, s := range n.shards {
		if s.store == "" {
			if ix := n.openSnapshot(name, s.meta); ix != nil {
				s.ix = ix
				continue
			}
		}
		ks := name
		if s.store != "" {
			ks = s.store // a fleet-synced shard's current key space
		}
		start := time.Now()
		err := n.store.Vectors(ctx, ks, func(doc string, chunks []lexical.Chunk) error { return s.ix.Add(doc, chunks) })
		if err != nil {
			return err
		}
		s.ix.Compact()
		n.log.Info("index rebuilt from the store", "shard", name, "chunks", s.ix.Live(), "ms", time.Since(start).Milliseconds())
	}
	return nil
}

func (n *Node) openSnapshot(name string, meta shardstore.ShardMeta) *lexical.Index {
	b, release, err := n.store.OpenIndexSnapshot(name)
	if err != nil {
		if !errors.Is(err, shardstore.ErrNotFound) {
			n.log.Warn("index snapshot unreadable; rebuilding", "shard", name, "err", err)
		}
		return nil
	}
	v, stamp, err := lexical.SnapshotVersion(b)
	if err != nil || v != meta.Version || stamp != snapshotStamp(meta) {
		release()
		n.log.Info("index snapshot out of date; rebuilding", "shard", name, "snapshot_version", v, "store_version", meta.Version)
		return nil
	}
	ix, err := lexical.OpenSnapshot(b, n.store.PostingsArena(), release)
	if err != nil {
		release()
		n.log.Warn("index snapshot damaged; rebuilding", "shard", name, "err", err)
		return nil
	}
	return ix
}

// snapshotStamp tells a shard from an earlier one of the same name and
// version (deleted and made again).
func snapshotStamp(m shardstore.ShardMeta) uint64 { return uint64(m.UpdatedAt.UnixNano()) }

// saveIndexes writes every ordinary shard's index snapshot so the next Open
// can skip the rebuild. Failing only costs that rebuild, so it is logged.
func (n *Node) saveIndexes() {
	n.mu.RLock()
	defer n.mu.RUnlock()
	for name, s := range n.shards {
		if s.store != "" {
			continue
		}
		s.mu.Lock()
		err := n.store.WriteIndexSnapshot(name, func(w io.Writer) error {
			return s.ix.WriteSnapshot(w, s.meta.Version, snapshotStamp(s.meta))
		})
		s.mu.Unlock()
		if err != nil {
			n.log.Warn("index snapshot not written; the next start rebuilds the index", "shard", name, "err", err)
		}
	}
}
