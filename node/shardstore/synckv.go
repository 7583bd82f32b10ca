package shardstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/edgerag/edgerag/node/lexical"
	"github.com/edgerag/edgerag/node/shard"
)

// Fleet sync keeps its own records in the same database, under a prefix no
// shard write touches (shard writes only use t/, s/, d/, v/ and o/), so that
// a shard's data can never overwrite the version an edge has applied:
//
//	y/<anything> → fleet sync's records (see sync/fleet)
//	a/<anything> → the node's tokens and audit log (see node/auth)
//	r/<anything> → the node's own routing state (its recalibration)
const (
	prefixSync  = "y/"
	prefixAuth  = "a/"
	prefixRoute = "r/"
)

// KV is one record of fleet sync's key space. Keys are given without the
// y/ prefix.
type KV = shard.KV

// SyncKV is the fleet-sync key space of a store: a small key/value API whose
// every write is one durable transaction.
type SyncKV struct {
	s      *Store
	prefix string
}

// SyncKV returns the store's fleet-sync key space.
func (s *Store) SyncKV() *SyncKV { return &SyncKV{s: s, prefix: prefixSync} }

// AuthKV returns the key space of the node's tokens and audit log: the same
// small API under its own prefix, so neither shard writes nor fleet sync can
// touch a credential.
func (s *Store) AuthKV() *SyncKV { return &SyncKV{s: s, prefix: prefixAuth} }

// RouteKV returns the key space of what the node learned about routing
// (the recalibration of its confidence), kept apart so that neither shard
// writes nor fleet sync can reset it.
func (s *Store) RouteKV() *SyncKV { return &SyncKV{s: s, prefix: prefixRoute} }

func (kv *SyncKV) key(k string) []byte { return append([]byte(kv.prefix), k...) }

// Get returns a copy of the value of key, or an error wrapping ErrNotFound.
func (kv *SyncKV) Get(key string) ([]byte, error) {
	var out []byte
	err := kv.s.view(func(txn *badger.Txn) error {
		item, err := txn.Get(kv.key(key))
		if err != nil {
			return err
		}
		out, err = item.ValueCopy(nil)
		return err
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, fmt.Errorf("sync record %q: %w", key, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read sync record %q: %w", key, err)
	}
	return out, nil
}

// GetMany returns the values of keys in one consistent read; a missing key
// gives a nil value.
func (kv *SyncKV) GetMany(keys []string) ([][]byte, error) {
	out := make([][]byte, len(keys))
	err := kv.s.view(func(txn *badger.Txn) error {
		for i, k := range keys {
			item, err := txn.Get(kv.key(k))
			if errors.Is(err, badger.ErrKeyNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if out[i], err = item.ValueCopy(nil); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read sync records: %w", err)
	}
	return out, nil
}

// Update sets and deletes records in one transaction: all of it is durable
// when Update returns nil, or none of it is.
func (kv *SyncKV) Update(ctx context.Context, sets []KV, deletes []string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	n := int64(64 * len(deletes))
	for _, s := range sets {
		n += int64(len(s.Key) + len(s.Value))
	}
	if err := kv.s.checkSpace(n); err != nil {
		return err
	}
	txn, end, err := kv.s.begin()
	if err != nil {
		return err
	}
	defer end()
	for _, d := range deletes {
		if err := txn.Delete(kv.key(d)); err != nil {
			return kv.s.txnErr(err)
		}
	}
	for _, s := range sets {
		if err := txn.Set(kv.key(s.Key), s.Value); err != nil {
			return kv.s.txnErr(err)
		}
	}
	if err := txn.Commit(); err != nil {
		return kv.s.txnErr(err)
	}
	return nil
}

// Scan calls fn with every key (without y/) under prefix, in order, and its
// value unless keysOnly. Values are only valid during the call.
func (kv *SyncKV) Scan(ctx context.Context, prefix string, keysOnly bool, fn func(key string, value []byte) error) error {
	full := string(kv.key(prefix))
	key := func(k []byte) string { return string(k[len(kv.prefix):]) }
	err := kv.s.view(func(txn *badger.Txn) error {
		if keysOnly {
			return iterateKeys(ctx, txn, full, func(k []byte) error { return fn(key(k), nil) })
		}
		return iterate(ctx, txn, full, func(k, v []byte) error { return fn(key(k), v) })
	})
	if err != nil {
		return fmt.Errorf("scan sync records %q: %w", prefix, err)
	}
	return nil
}

// DocSnapshot is one document of a shard as read by Snapshot, with the text
// of each of its chunks.
type DocSnapshot struct {
	Meta  DocMeta
	Texts []string
}

// Snapshot streams every document of one shard, with its chunk texts, from
// one consistent read, in document id order, and returns the shard's record
// as of that read. Central cuts published versions from it.
func (s *Store) Snapshot(ctx context.Context, shardName string, fn func(DocSnapshot) error) (ShardMeta, error) {
	var meta ShardMeta
	err := s.view(func(txn *badger.Txn) error {
		var err error
		if meta, err = getShard(txn, shardName); err != nil {
			return err
		}
		return iterate(ctx, txn, string(docKey(prefixDoc, shardName, "")), func(_, v []byte) error {
			var d DocSnapshot
			if err := json.Unmarshal(v, &d.Meta); err != nil {
				return fmt.Errorf("document record: %w", err)
			}
			d.Texts = make([]string, len(d.Meta.Chunks))
			for i, c := range d.Meta.Chunks {
				id, err := shard.ParseChunkID(c.ID)
				if err != nil {
					return fmt.Errorf("document %q: %w: %w", d.Meta.ID, errCorrupt, err)
				}
				item, err := txn.Get(textKey(id))
				if err != nil {
					return fmt.Errorf("document %q: chunk %s: %w", d.Meta.ID, c.ID, err)
				}
				if err := item.Value(func(v []byte) (err error) { d.Texts[i], err = decodeText(v); return err }); err != nil {
					return err
				}
			}
			return fn(d)
		})
	})
	if err != nil {
		return meta, fmt.Errorf("snapshot shard %q: %w", shardName, err)
	}
	return meta, nil
}

// DocRecord returns a document's record and term vectors from one
// consistent read. Fleet sync copies the already-analysed form of a
// document a new version leaves unchanged instead of analysing it again.
func (s *Store) DocRecord(shardName, docID string) (DocMeta, []lexical.Chunk, error) {
	var m DocMeta
	var vecs []lexical.Chunk
	err := s.view(func(txn *badger.Txn) error {
		item, err := txn.Get(docKey(prefixDoc, shardName, docID))
		if err != nil {
			return err
		}
		if err := item.Value(func(v []byte) error { return json.Unmarshal(v, &m) }); err != nil {
			return fmt.Errorf("%w: %w", errCorrupt, err)
		}
		if item, err = txn.Get(docKey(prefixVec, shardName, docID)); err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			// Fresh slices: the caller keeps them past the transaction.
			vecs, _, err = decodeVectors(v, nil, nil)
			return err
		})
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return m, nil, fmt.Errorf("document %q in shard %q: %w", docID, shardName, ErrNotFound)
	}
	if err != nil {
		return m, nil, fmt.Errorf("read document %q of shard %q: %w", docID, shardName, err)
	}
	return m, vecs, nil
}

// DocIDs returns the ids of every document of a shard, in order.
func (s *Store) DocIDs(ctx context.Context, shardName string) ([]string, error) {
	var ids []string
	err := s.view(func(txn *badger.Txn) error {
		return iterateKeys(ctx, txn, string(docKey(prefixVec, shardName, "")), func(k []byte) error {
			_, id, _ := splitDocKey(k)
			ids = append(ids, id)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list documents of shard %q: %w", shardName, err)
	}
	return ids, nil
}

// DropShard deletes a shard: its documents, in as many transactions as it
// takes, then its record. A crash in between leaves a shard with fewer
// documents, which a second DropShard finishes.
func (s *Store) DropShard(ctx context.Context, shardName string, now time.Time) error {
	ids, err := s.DocIDs(ctx, shardName)
	if err != nil {
		return err
	}
	for len(ids) > 0 {
		n := min(len(ids), 512)
		if _, err := s.Apply(ctx, Write{Shard: shardName, Deletes: ids[:n], Now: now}); err != nil {
			return fmt.Errorf("drop shard %q: %w", shardName, err)
		}
		ids = ids[n:]
	}
	err = s.update(func(txn *badger.Txn) error { return txn.Delete(shardKey(shardName)) })
	if err != nil {
		return fmt.Errorf("drop shard %q: %w", shardName, err)
	}
	return nil
}

// ShardNames returns the name of every shard record in the store.
func (s *Store) ShardNames(ctx context.Context) ([]string, error) {
	var out []string
	err := s.view(func(txn *badger.Txn) error {
		return iterateKeys(ctx, txn, prefixShard, func(k []byte) error {
			out = append(out, string(k[len(prefixShard):]))
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list shards: %w", err)
	}
	return out, nil
}
