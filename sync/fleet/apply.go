package fleet

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/edgerag/edgerag/node/shard"
	"github.com/edgerag/edgerag/sync/manifest"
	"github.com/edgerag/edgerag/sync/wire"
)

// How an edge applies one shard version: fetch the chunks it lacks into
// staging, verify each against the signed manifest, stage the version where
// queries do not see it, then switch to it in one step and collect what no
// version kept needs.

// SyncShard brings one shard to version want (0: the latest central
// publishes), unless that is not newer than what the node applied.
func (s *Syncer) SyncShard(ctx context.Context, name string, want uint64) error {
	tgt := s.cfg.Target
	ptr, err := tgt.Pointer(name)
	if err != nil {
		return s.fail(name, err)
	}
	s.update(name, func(st *ShardStatus) { st.Applied, st.Previous = ptr.Current, ptr.Previous })
	if want != 0 && want <= ptr.Highest {
		// Up to date. A staging log left by a process killed just after
		// applying has nothing more to give.
		if err := os.Remove(filepath.Join(s.cfg.StageDir, name+".stage")); err != nil && !errors.Is(err, os.ErrNotExist) {
			s.log.Warn("fleet sync: remove staging log", "err", err)
		}
		return nil
	}
	req, _ := json.Marshal(manifestRequest{Kind: "shard", Name: name, Version: want})
	env, err := s.cfg.Client.Call(ctx, s.cfg.Central, s.cfg.CentralName, wire.TypeManifest, req)
	if err != nil {
		return s.fail(name, fmt.Errorf("fetch manifest: %w", err))
	}
	root, err := manifest.OpenRoot(env, s.cfg.Trusted...)
	m := root.Shard
	switch {
	case err != nil:
		return s.fail(name, fmt.Errorf("manifest of version %d refused: %w", want, err))
	case m.Name != name:
		return s.fail(name, fmt.Errorf("manifest refused: it describes shard %q", m.Name))
	case m.Version <= ptr.Highest:
		return s.fail(name, fmt.Errorf("manifest refused: version %d is not newer than version %d already applied (replayed or stale manifest)", m.Version, ptr.Highest))
	case want != 0 && m.Version != want:
		return s.fail(name, fmt.Errorf("manifest refused: central announced version %d but sent version %d", want, m.Version))
	case m.Index.Analyzer != tgt.Analyzer():
		return s.fail(name, fmt.Errorf("manifest refused: version %d needs analyzer %q, this node has %q: upgrade it", m.Version, m.Index.Analyzer, tgt.Analyzer()))
	}
	// The root is verified; its pages are checked against it.
	if m, err = s.fetchPages(ctx, name, &root); err != nil {
		if ctx.Err() != nil {
			s.update(name, func(st *ShardStatus) { st.State = "idle" })
			return err
		}
		if !errors.As(err, new(linkError)) {
			s.report(ctx, name, root.Shard.Version, err)
		}
		return s.fail(name, err)
	}
	if err := s.apply(ctx, name, ptr, &m, env); err != nil {
		if ctx.Err() != nil {
			s.update(name, func(st *ShardStatus) { st.State = "idle" })
			return err
		}
		// Central signed this version but it did not apply here: a staged
		// rollout must hear of it before it reaches more edges. A link
		// that failed says nothing about the version; the next poll
		// resumes.
		if !errors.As(err, new(linkError)) {
			s.report(ctx, name, m.Version, err)
		}
		return s.fail(name, err)
	}
	return nil
}

// apply fetches what version m lacks, stages and activates it.
//
// It is long because fetch, stage, verify and activate share the stage and
// must run in this order, so that a kill between any two leaves the shard as
// it was.
func (s *Syncer) apply(ctx context.Context, name string, ptr Pointer, m *manifest.Shard, env []byte) error {
	kv := s.cfg.Target.KV()
	// A canary measures the version queries see now, before the new one
	// replaces it (probes.go).
	probed := s.probeBefore(ctx, name, ptr.Current)
	if err := kv.Update(ctx, []shard.KV{{Key: stagedKey(name), Value: env}}, nil); err != nil {
		return err
	}
	stage, err := openStage(s.cfg.StageDir, name)
	if err != nil {
		return err
	}
	defer func() {
		if stage != nil {
			stage.close()
		}
	}()
	// What the node lacks: records none of the versions it keeps has. Only
	// those are listed (a delta is small; a set of every chunk held would
	// cost a node a map over the whole shard per version).
	var absent manifest.Shard
	err = eachRecord(ctx, kv, m.Chunks, 4096, func(c manifest.ChunkRef, rec []byte) error {
		if rec == nil {
			absent.Chunks = append(absent.Chunks, c)
		}
		return nil
	})
	if err != nil {
		return err
	}
	// Records staged by an earlier, interrupted transfer need no fetch.
	missing := manifest.Missing(&absent, stage.has)
	var total int64
	for _, c := range missing {
		total += int64(c.Size)
	}
	s.update(name, func(st *ShardStatus) {
		st.Target, st.State, st.ChunksTotal, st.ChunksDone, st.BytesTotal, st.BytesDone = m.Version, "fetching", len(missing), 0, total, 0
	})
	if err := s.hook("fetch"); err != nil {
		return err
	}
	for _, batch := range manifest.Batches(missing, s.cfg.BatchBytes, MaxBatch) {
		if err := s.fetch(ctx, name, batch, stage); err != nil {
			return err
		}
		s.progress(ctx, name)
	}
	if err := stage.sync(); err != nil {
		return err
	}
	s.update(name, func(st *ShardStatus) { st.State = "staging" })
	if err := s.hook("staged"); err != nil {
		return err
	}
	// Staged records join the store's records, so the next version's
	// delta knows the node holds them.
	// That includes records staged before an earlier run was killed.
	var sets []shard.KV
	size := 0
	for _, c := range manifest.Missing(&absent, func(manifest.Hash) bool { return false }) {
		rec, err := stage.get(c.Hash)
		if err != nil {
			return err
		}
		sets = append(sets, shard.KV{Key: recordKey(c.Hash), Value: rec})
		if size += len(rec) + 64; size > 512<<10 {
			if err := kv.Update(ctx, sets, nil); err != nil {
				return err
			}
			sets, size = sets[:0], 0
		}
	}
	if err := kv.Update(ctx, sets, nil); err != nil {
		return err
	}
	if err := s.hook("recorded"); err != nil {
		return err
	}
	if err := s.cfg.Target.Stage(ctx, name, m.Version, func(yield func(Doc) error) error { return s.docs(ctx, m, yield) }); err != nil {
		return err
	}
	if err := s.hook("materialized"); err != nil {
		return err
	}
	s.update(name, func(st *ShardStatus) { st.State = "applying" })
	// The switch records the manifest and forgets the staging record in
	// the same transaction; manifests of versions no longer kept go too.
	var deletes []string
	deletes = append(deletes, stagedKey(name))
	err = kv.Scan(ctx, "m/"+name+"/", true, func(k string, _ []byte) error {
		if k != manifestKey(name, ptr.Current) {
			deletes = append(deletes, k)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := s.cfg.Target.Activate(ctx, name, m.Version, []shard.KV{{Key: manifestKey(name, m.Version), Value: env}}, deletes); err != nil {
		return err
	}
	if err := s.hook("applied"); err != nil {
		return err
	}
	err = stage.remove()
	stage = nil
	if err != nil {
		s.log.Warn("fleet sync: remove staging log", "err", err)
	}
	s.update(name, func(st *ShardStatus) {
		st.State, st.Applied, st.Previous, st.Target, st.AppliedAt, st.LastError = "idle", m.Version, ptr.Current, 0, s.cfg.Now().UTC(), ""
	})
	s.log.Info("fleet sync: version applied", "shard", name, "version", m.Version, "previous", ptr.Current, "fetched_chunks", len(missing), "fetched_bytes", total)
	s.gc(ctx, name, m, ptr.Current)
	s.reportQuality(ctx, name, m.Version, nil, s.probeAfter(ctx, name, m.Version, probed))
	return nil
}

// fetch asks central for one batch of records, verifies each against the
// manifest and stages it.
func (s *Syncer) fetch(ctx context.Context, name string, batch []manifest.ChunkRef, stage *stageLog) error {
	req := make([]byte, 0, len(batch)*len(manifest.Hash{}))
	for _, c := range batch {
		req = append(req, c.Hash[:]...)
	}
	resp, err := s.cfg.Client.Call(ctx, s.cfg.Central, s.cfg.CentralName, wire.TypeChunks, req)
	if err != nil {
		return fmt.Errorf("fetch chunks: %w", linkError{err})
	}
	recs, err := splitRecords(resp, len(batch))
	if err != nil {
		return err
	}
	for i, c := range batch {
		rec := recs[i]
		if got := manifest.HashOf(rec); got != c.Hash || len(rec) != int(c.Size) {
			return fmt.Errorf("chunk %s refused: hash mismatch (got %s, %d bytes, want %d): it was altered on the way or central's store is damaged", c.Hash, got, len(rec), c.Size)
		}
		if s.cfg.OnVerified != nil {
			s.cfg.OnVerified(c.Hash)
		}
		if err := stage.append(c.Hash, rec); err != nil {
			return err
		}
		s.update(name, func(st *ShardStatus) { st.ChunksDone++; st.BytesDone += int64(len(rec)) })
		if err := s.hook("chunk"); err != nil {
			return err
		}
	}
	return nil
}

// linkError marks a failure to reach central, as opposed to a version that
// does not apply.
type linkError struct{ err error }

func (e linkError) Error() string { return e.err.Error() }
func (e linkError) Unwrap() error { return e.err }

// splitRecords cuts a chunk response (each record prefixed by its length
// as a uvarint) into exactly n records, which alias resp.
func splitRecords(resp []byte, n int) ([][]byte, error) {
	out := make([][]byte, 0, min(n, len(resp)))
	for i := range n {
		size, k := binary.Uvarint(resp)
		if k <= 0 || size > uint64(len(resp)-k) {
			return nil, fmt.Errorf("central's chunk response is truncated or malformed at record %d of %d", i+1, n)
		}
		out = append(out, resp[k:k+int(size):k+int(size)])
		resp = resp[k+int(size):]
	}
	if len(resp) != 0 {
		return nil, fmt.Errorf("central's chunk response has %d bytes more than the %d records asked for", len(resp), n)
	}
	return out, nil
}

// eachRecord calls fn with each chunk and its stored record (nil when the
// store lacks it), reading n records at a time in one consistent read, so
// that a 100k-chunk manifest costs a few dozen reads, not 100k.
func eachRecord(ctx context.Context, kv KV, chunks []manifest.ChunkRef, n int, fn func(c manifest.ChunkRef, rec []byte) error) error {
	keys := make([]string, 0, n)
	for start := 0; start < len(chunks); start += n {
		part := chunks[start:min(start+n, len(chunks))]
		keys = keys[:0]
		for _, c := range part {
			keys = append(keys, recordKey(c.Hash))
		}
		vals, err := kv.GetMany(keys)
		if err != nil {
			return err
		}
		for i, v := range vals {
			if err := fn(part[i], v); err != nil {
				return err
			}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return nil
}

// docs yields version m's documents, reading each record from the store.
// Records of one document are consecutive in the manifest.
func (s *Syncer) docs(ctx context.Context, m *manifest.Shard, yield func(Doc) error) error {
	kv := s.cfg.Target.KV()
	var cur *Doc
	err := eachRecord(ctx, kv, m.Chunks, 1024, func(c manifest.ChunkRef, v []byte) error {
		if v == nil {
			return fmt.Errorf("chunk %s of version %d is neither stored nor staged", c.Hash, m.Version)
		}
		r, err := manifest.UnmarshalRecord(v)
		if err != nil {
			return fmt.Errorf("chunk %s: %w", c.Hash, err)
		}
		if cur != nil && cur.ID != r.DocID {
			if err := yield(*cur); err != nil {
				return err
			}
			cur = nil
		}
		if cur == nil {
			cur = &Doc{ID: r.DocID, Title: r.Title, Source: r.Source, Metadata: r.Metadata}
		}
		cur.Chunks = append(cur.Chunks, r)
		return nil
	})
	if err != nil {
		return err
	}
	if cur != nil {
		return yield(*cur)
	}
	return nil
}

// gc deletes stored records no kept version lists. Failure costs only disk.
// What is kept is a set of hashes, not of keys: a key string per chunk of
// every kept version is what made gc the biggest allocation of a sync.
func (s *Syncer) gc(ctx context.Context, name string, m *manifest.Shard, previous uint64) {
	kv := s.cfg.Target.KV()
	keep := make(map[manifest.Hash]struct{}, len(m.Chunks))
	add := func(ms *manifest.Shard) {
		for _, c := range ms.Chunks {
			keep[c.Hash] = struct{}{}
		}
	}
	add(m)
	// Other synced shards' kept versions share the record space, and
	// every kept version keeps its manifest pages (this one's included).
	err := kv.Scan(ctx, "m/", false, func(k string, v []byte) error {
		if k == manifestKey(name, m.Version) {
			// Its chunks are m's; only its pages are wanted.
			r, err := manifest.ReadRoot(v)
			for _, p := range r.Pages {
				keep[p.Hash] = struct{}{}
			}
			return err
		}
		ms, r, err := loadShard(ctx, kv, v)
		if err != nil {
			return err
		}
		for _, p := range r.Pages {
			keep[p.Hash] = struct{}{}
		}
		add(&ms)
		return nil
	})
	if err != nil {
		s.log.Warn("fleet sync: gc of old records skipped", "err", err)
		return
	}
	var drop []string
	err = kv.Scan(ctx, "r/", true, func(k string, _ []byte) error {
		// A key that names no hash is no kept version's either.
		if h, err := manifest.ParseHash(strings.TrimPrefix(k, "r/")); err == nil {
			if _, ok := keep[h]; ok {
				return nil
			}
		}
		drop = append(drop, k)
		return nil
	})
	for err == nil && len(drop) > 0 {
		n := min(len(drop), 4096)
		err = kv.Update(ctx, nil, drop[:n])
		drop = drop[n:]
	}
	if err != nil {
		s.log.Warn("fleet sync: gc of old records", "err", err)
	}
}
