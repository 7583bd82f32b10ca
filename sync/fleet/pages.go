package fleet

import (
	"context"
	"fmt"

	"github.com/edgerag/edgerag/node/shard"
	"github.com/edgerag/edgerag/sync/manifest"
	"github.com/edgerag/edgerag/sync/wire"
)

// Shard manifests are paged (sync/manifest page.go): m/<shard>/<version>
// holds the signed root, and each page is stored like a chunk record, under
// r/<hash>, on central and on edges alike. Pages and records are both
// content-addressed blobs: central serves both through TypeChunks, its
// store's garbage collection and the edge's keep them by the same rule (a
// kept version keeps what it lists), and an edge that already holds a page
// from the version before does not fetch it again.

// loadShard decodes a stored signed manifest of either format and reads its
// pages from kv. It does not check the signature: the node's own store.
func loadShard(ctx context.Context, kv KV, env []byte) (manifest.Shard, manifest.Root, error) {
	r, err := manifest.ReadRoot(env)
	if err != nil {
		return manifest.Shard{}, r, err
	}
	if r.Inline {
		return r.Shard, r, nil
	}
	pages, err := readPages(ctx, kv, r.Pages)
	if err != nil {
		return manifest.Shard{}, r, err
	}
	m, err := r.Assemble(func(p manifest.PageRef) ([]byte, error) {
		b := pages[p.Hash]
		if b == nil {
			return nil, fmt.Errorf("not in the store: %w", shard.ErrNotFound)
		}
		return b, nil
	})
	return m, r, err
}

// LoadShard returns the whole manifest of a stored signed manifest of
// either format, its pages read from kv (a node's fleet-sync key space).
func LoadShard(ctx context.Context, kv KV, env []byte) (manifest.Shard, error) {
	m, _, err := loadShard(ctx, kv, env)
	return m, err
}

// readPages returns the stored pages among refs, by hash; a page not stored
// is absent from the map.
func readPages(ctx context.Context, kv KV, refs []manifest.PageRef) (map[manifest.Hash][]byte, error) {
	out := make(map[manifest.Hash][]byte, len(refs))
	keys := make([]string, 0, 1024)
	for start := 0; start < len(refs); start += 1024 {
		part := refs[start:min(start+1024, len(refs))]
		keys = keys[:0]
		for _, p := range part {
			keys = append(keys, recordKey(p.Hash))
		}
		vals, err := kv.GetMany(keys)
		if err != nil {
			return nil, err
		}
		for i, v := range vals {
			if v != nil {
				out[part[i].Hash] = v
			}
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// pageKeys returns the store keys of a root's pages.
func pageKeys(r *manifest.Root) []string {
	out := make([]string, len(r.Pages))
	for i, p := range r.Pages {
		out[i] = recordKey(p.Hash)
	}
	return out
}

// fetchPages brings the pages of a verified root that the store lacks from
// central, checks each against the root and stores it, then returns the
// whole manifest. Pages are stored as they arrive: a cut link loses at most
// the batch in flight, and the next poll asks only for the rest.
func (s *Syncer) fetchPages(ctx context.Context, name string, r *manifest.Root) (manifest.Shard, error) {
	kv := s.cfg.Target.KV()
	have, err := readPages(ctx, kv, r.Pages)
	if err != nil {
		return manifest.Shard{}, err
	}
	var missing []manifest.ChunkRef
	seen := make(map[manifest.Hash]bool)
	for _, p := range r.Pages {
		if have[p.Hash] == nil && !seen[p.Hash] {
			seen[p.Hash] = true
			missing = append(missing, manifest.ChunkRef{Hash: p.Hash, Size: p.Size})
		}
	}
	refs := make(map[manifest.Hash]manifest.PageRef, len(missing))
	for _, p := range r.Pages {
		refs[p.Hash] = p
	}
	s.update(name, func(st *ShardStatus) {
		st.Target, st.State, st.PagesTotal, st.PagesFetched, st.PageBytes = r.Shard.Version, "paging", len(r.Pages), 0, 0
	})
	for _, batch := range manifest.Batches(missing, s.cfg.BatchBytes, MaxBatch) {
		req := make([]byte, 0, len(batch)*len(manifest.Hash{}))
		for _, c := range batch {
			req = append(req, c.Hash[:]...)
		}
		resp, err := s.cfg.Client.Call(ctx, s.cfg.Central, s.cfg.CentralName, wire.TypeChunks, req)
		if err != nil {
			return manifest.Shard{}, fmt.Errorf("fetch manifest pages: %w", linkError{err})
		}
		got, err := splitRecords(resp, len(batch))
		if err != nil {
			return manifest.Shard{}, err
		}
		sets := make([]shard.KV, len(batch))
		var n int64
		for i, c := range batch {
			if err := manifest.CheckPage(refs[c.Hash], got[i]); err != nil {
				return manifest.Shard{}, err
			}
			have[c.Hash] = got[i]
			sets[i] = shard.KV{Key: recordKey(c.Hash), Value: got[i]}
			n += int64(len(got[i]))
		}
		if err := kv.Update(ctx, sets, nil); err != nil {
			return manifest.Shard{}, err
		}
		s.update(name, func(st *ShardStatus) { st.PagesFetched += len(batch); st.PageBytes += n })
		if err := s.hook("page"); err != nil {
			return manifest.Shard{}, err
		}
	}
	return r.Assemble(func(p manifest.PageRef) ([]byte, error) { return have[p.Hash], nil })
}

// signShard signs version m, paged by the publisher's rule, and returns the
// root and the pages to store under their hashes.
func (p *Publisher) signShard(m *manifest.Shard) ([]byte, []shard.KV, error) {
	paging := p.cfg.Paging
	if paging == (manifest.Paging{}) {
		paging = manifest.DefaultPaging
	}
	signed, pages, err := manifest.SignPaged(p.cfg.Key, m, paging)
	if err != nil {
		return nil, nil, err
	}
	sets := make([]shard.KV, len(pages))
	for i, b := range pages {
		sets[i] = shard.KV{Key: recordKey(manifest.HashOf(b)), Value: b}
	}
	return signed, sets, nil
}

// storeNew writes the sets whose keys the store lacks, in batches; content
// addressed values need no overwrite. It returns how many it wrote.
func storeNew(ctx context.Context, kv KV, sets []shard.KV) (int, error) {
	written := 0
	for start := 0; start < len(sets); start += 512 {
		part := sets[start:min(start+512, len(sets))]
		keys := make([]string, len(part))
		for i, s := range part {
			keys[i] = s.Key
		}
		have, err := kv.GetMany(keys)
		if err != nil {
			return written, err
		}
		var out []shard.KV
		for i, s := range part {
			if have[i] == nil {
				out = append(out, s)
			}
		}
		if err := kv.Update(ctx, out, nil); err != nil {
			return written, err
		}
		written += len(out)
	}
	return written, nil
}
