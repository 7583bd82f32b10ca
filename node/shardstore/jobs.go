package shardstore

import (
	"context"
	"fmt"
	"strings"

	"github.com/dgraph-io/badger/v4"
)

// Ingest jobs are kept in their own key space:
//
//	j/<job id>/m       → the job record (JSON, owned by package jobs)
//	j/<job id>/p/<n>   → part n of the job's documents (JSON), n zero-padded
//
// A job's parts are written first, each in its own transaction (a job may
// be larger than one), and its record last: a job without a record was
// never acknowledged, and its parts are dropped at start.
const prefixJob = "j/"

func jobKey(id, rest string) []byte { return []byte(prefixJob + id + "/" + rest) }

// jobPartBudget keeps one part well inside Badger's transaction limit.
const jobPartBudget = 1 << 20

// PutJob stores a job durably: its parts, then its record. When PutJob
// returns nil, the job survives a crash or a kill.
func (s *Store) PutJob(ctx context.Context, id string, record []byte, parts [][]byte) error {
	var n int64
	for _, p := range parts {
		n += int64(len(p))
	}
	if err := s.checkSpace(n + int64(len(record))); err != nil {
		return err
	}
	for i, p := range parts {
		if err := ctx.Err(); err != nil {
			return err
		}
		if len(p) > jobPartBudget {
			return fmt.Errorf("%w: job part of %d bytes", ErrTooLarge, len(p))
		}
		if err := s.update(func(txn *badger.Txn) error {
			return txn.Set(jobKey(id, fmt.Sprintf("p/%08d", i)), p)
		}); err != nil {
			return s.txnErr(err)
		}
	}
	if err := s.update(func(txn *badger.Txn) error { return txn.Set(jobKey(id, "m"), record) }); err != nil {
		return s.txnErr(err)
	}
	return nil
}

// SetJobRecord replaces a job's record (its progress); with dropParts the
// job's documents are deleted too, once they are indexed.
func (s *Store) SetJobRecord(ctx context.Context, id string, record []byte, dropParts bool) error {
	var parts [][]byte
	if dropParts {
		if err := s.view(func(txn *badger.Txn) error {
			return iterateKeys(ctx, txn, prefixJob+id+"/p/", func(k []byte) error {
				parts = append(parts, append([]byte(nil), k...))
				return nil
			})
		}); err != nil {
			return fmt.Errorf("list job %s: %w", id, err)
		}
	}
	// Even a delete goes through Badger's memory-mapped write-ahead log
	// first, which faults on a disk with no block left: small as it is,
	// the record waits for the reserve like every write. Refused, the
	// record on disk stays behind the one in memory, and a restart redoes
	// the job from there (ids replace, so that is harmless).
	if err := s.room(int64(len(record) + 64*len(parts))); err != nil {
		return err
	}
	wb, end, err := s.batch()
	if err != nil {
		return err
	}
	defer end()
	for _, k := range parts {
		if err := wb.Delete(k); err != nil {
			return s.txnErr(err)
		}
	}
	if err := wb.Set(jobKey(id, "m"), record); err != nil {
		return s.txnErr(err)
	}
	if err := wb.Flush(); err != nil {
		return s.txnErr(err)
	}
	return nil
}

// JobParts returns a job's stored document parts in order.
func (s *Store) JobParts(ctx context.Context, id string) ([][]byte, error) {
	var parts [][]byte
	err := s.view(func(txn *badger.Txn) error {
		return iterate(ctx, txn, prefixJob+id+"/p/", func(_, v []byte) error {
			parts = append(parts, append([]byte(nil), v...))
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("read job %s: %w", id, err)
	}
	return parts, nil
}

// Jobs calls fn with every job record. Parts of jobs without a record
// (a crash between the parts and the record) are deleted.
func (s *Store) Jobs(ctx context.Context, fn func(id string, record []byte) error) error {
	var orphans [][]byte
	recorded := map[string]bool{}
	err := s.view(func(txn *badger.Txn) error {
		return iterate(ctx, txn, prefixJob, func(k, v []byte) error {
			id, rest, ok := strings.Cut(strings.TrimPrefix(string(k), prefixJob), "/")
			if !ok {
				return nil
			}
			if rest == "m" {
				recorded[id] = true
				return fn(id, v)
			}
			// Keys sort "m" before "p/", so a job's record comes first.
			if !recorded[id] {
				orphans = append(orphans, append([]byte(nil), k...))
			}
			return nil
		})
	})
	if err != nil || len(orphans) == 0 || s.readOnly.Load() {
		return err
	}
	wb, end, err := s.batch()
	if err != nil {
		return err
	}
	defer end()
	for _, k := range orphans {
		if err := wb.Delete(k); err != nil {
			return s.txnErr(err)
		}
	}
	return s.txnErr2(wb.Flush())
}

func (s *Store) txnErr2(err error) error {
	if err == nil {
		return nil
	}
	return s.txnErr(err)
}
