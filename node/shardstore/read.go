package shardstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/edgerag/edgerag/node/lexical"
	"github.com/edgerag/edgerag/node/shard"
)

// Doc returns the record of a document.
func (s *Store) Doc(shardName, docID string) (DocMeta, error) {
	var m DocMeta
	err := s.view(func(txn *badger.Txn) error {
		item, err := txn.Get(docKey(prefixDoc, shardName, docID))
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error { return json.Unmarshal(v, &m) })
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return m, fmt.Errorf("document %q in shard %q: %w", docID, shardName, ErrNotFound)
	}
	if err != nil {
		return m, fmt.Errorf("read document %q: %w", docID, err)
	}
	return m, nil
}

// Texts returns the text of each chunk, in order, reading them in one
// transaction so a concurrent write cannot interleave.
func (s *Store) Texts(ids []shard.ChunkID) ([]string, error) {
	out := make([]string, len(ids))
	err := s.view(func(txn *badger.Txn) error {
		for i, id := range ids {
			item, err := txn.Get(textKey(id))
			if err != nil {
				return fmt.Errorf("chunk %s: %w", id, err)
			}
			if err := item.Value(func(v []byte) (err error) { out[i], err = decodeText(v); return err }); err != nil {
				return fmt.Errorf("chunk %s: %w", id, err)
			}
		}
		return nil
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, fmt.Errorf("read chunk texts: %w", ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read chunk texts: %w", err)
	}
	return out, nil
}

// Size returns the bytes the store takes on disk, measured now: the space
// allocated to the value log's files, and to everything else (LSM tables,
// the write-ahead memtables, the manifest, frozen postings). Badger's own
// figure is refreshed once a minute, so a new node reported 0, and it counts
// the value log's preallocated, mostly empty files at their full length.
func (s *Store) Size() (lsm, vlog int64) {
	_ = filepath.WalkDir(s.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil // a file removed by compaction meanwhile: skip it
		}
		fi, err := d.Info()
		if err != nil || !fi.Mode().IsRegular() {
			return nil
		}
		if n := allocated(fi); strings.HasSuffix(path, ".vlog") {
			vlog += n
		} else {
			lsm += n
		}
		return nil
	})
	return lsm, vlog
}

// reopenEvery is how often a read-only store looks for space to reopen
// for writing.
const reopenEvery = 2 * time.Second

// RunGC runs the store's maintenance until ctx ends: every interval it
// reclaims value-log space (Badger never does this on its own; without it,
// replaced documents keep their disk space), and while the store is
// read-only it reopens it for writing as soon as the disk has room.
func (s *Store) RunGC(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	w := time.NewTicker(reopenEvery)
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.C:
			s.reopen()
			continue
		case <-s.kick:
			s.reopen()
			continue
		case <-t.C:
		}
		s.gc(ctx)
	}
}

// gc rewrites value-log files while it is worth it. The rewrite writes
// through memory maps like every Badger write, so it waits for the reserve.
func (s *Store) gc(ctx context.Context) {
	if s.readOnly.Load() {
		return // nothing to rewrite into
	}
	if free, need, err := s.Space(); err != nil || free < need {
		return
	}
	db, done, err := s.use()
	if err != nil {
		return
	}
	defer done()
	// Each call rewrites at most one file; repeat until nothing is worth
	// rewriting, but give way to shutdown between files.
	for ctx.Err() == nil {
		err := db.RunValueLogGC(0.5)
		if err != nil {
			if !errors.Is(err, badger.ErrNoRewrite) && !errors.Is(err, badger.ErrRejected) {
				s.log.Warn("value log gc", "err", err)
			}
			break
		}
	}
}

// Vectors streams the term vectors of every document of one shard. The
// slices passed to fn are reused after it returns.
func (s *Store) Vectors(ctx context.Context, shardName string, fn func(docID string, chunks []lexical.Chunk) error) error {
	var chunks []lexical.Chunk
	var terms []lexical.TermFreq
	err := s.view(func(txn *badger.Txn) error {
		return iterate(ctx, txn, string(docKey(prefixVec, shardName, "")), func(k, v []byte) error {
			_, id, _ := splitDocKey(k)
			var err error
			if chunks, terms, err = decodeVectors(v, chunks, terms); err != nil {
				return fmt.Errorf("document %q: %w", id, err)
			}
			return fn(id, chunks)
		})
	})
	if err != nil {
		return fmt.Errorf("read shard %q: %w", shardName, err)
	}
	return nil
}
