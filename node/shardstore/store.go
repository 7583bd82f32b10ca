// Package shardstore keeps a node's shards on disk in one BadgerDB database:
// documents with their provenance, content-addressed chunk texts, the term
// vectors the BM25 index is rebuilt from, the term dictionary and each shard's
// version. Writes are atomic per call and durable once acknowledged. Only the
// node package and its tests import it, and sync/fleet for its own key space
// (SyncKV).
package shardstore

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/edgerag/edgerag/node/lexical"
	"github.com/edgerag/edgerag/node/shard"
)

// Errors callers branch on.
var (
	ErrNotFound = shard.ErrNotFound
	// ErrTooLarge reports a write that does not fit in one transaction;
	// callers split the batch and retry.
	ErrTooLarge = errors.New("write too large for one transaction")
)

// Options configure a store.
type Options struct {
	Dir string // directory of the Badger database; created if missing
	// NoSync skips the fsync on commit. Acknowledged writes then survive a
	// crash of the process but not a power cut; tests and scratch
	// evaluation nodes use it.
	NoSync bool
	// Reserve is the free disk space the store keeps (see Space); 0:
	// DefaultReserve. Below it writes fail with ErrDiskFull, and a store
	// opened below it opens read-only.
	Reserve int64
	Logger  *slog.Logger // nil: discard
}

// ChunkMeta is one chunk as a document record lists it.
type ChunkMeta struct {
	ID       string `json:"id"` // shard.ChunkID in hex
	Position int    `json:"position"`
	Heading  string `json:"heading,omitempty"`
	Tokens   int    `json:"tokens"`
	// Flags and Spans are what the injection and poisoning screen found:
	// the flags' names and the byte spans of the flagged text in the
	// chunk's normalised text. Records written before screening have
	// neither (see DocMeta.Screened).
	Flags []string `json:"flags,omitempty"`
	Spans [][2]int `json:"spans,omitempty"`
}

// DocMeta is the stored record of a document: its provenance and chunk list.
type DocMeta struct {
	ID         string            `json:"id"`
	Title      string            `json:"title,omitempty"`
	Source     string            `json:"source,omitempty"`
	Metadata   map[string]string `json:"metadata,omitempty"`
	IngestedAt time.Time         `json:"ingested_at"`
	Chunks     []ChunkMeta       `json:"chunks"`
	// Provenance. Trust is central, local or untrusted; "" (a record
	// written before trust existed) reads as local. Origin is how the
	// text came (ingest, crawler, upload, sync) and Principal who sent
	// it, when the caller was authenticated.
	Trust     string `json:"trust,omitempty"`
	Origin    string `json:"origin,omitempty"`
	Principal string `json:"principal,omitempty"`
	// Flags are document-level findings (hidden markup, a flagged title).
	Flags []string `json:"flags,omitempty"`
	// Screened is set once the screen ran on the chunks; Released once an
	// admin released the flagged ones, which then answer like any other.
	Screened bool `json:"screened,omitempty"`
	Released bool `json:"released,omitempty"`
}

// ShardMeta is the stored record of a shard.
type ShardMeta struct {
	Name      string    `json:"name"`
	Version   uint64    `json:"version"`
	UpdatedAt time.Time `json:"updated_at"`
}

// DocWrite is a document to store: its record, the text of each chunk and the
// term vectors of each chunk, in the order of Meta.Chunks.
type DocWrite struct {
	Meta    DocMeta
	Texts   []string
	Vectors []lexical.Chunk
}

// Term is a dictionary entry.
type Term struct {
	Term string
	ID   uint32
}

// Write is one atomic change to a shard.
type Write struct {
	Shard    string
	Puts     []DocWrite // replace or create these documents
	Deletes  []string   // remove these documents
	NewTerms []Term     // dictionary entries first used by Puts
	Now      time.Time  // the shard's update time
}

// Result reports what a Write changed.
type Result struct {
	Version uint64 // the shard's version after the write
	// Removed holds the term vectors of documents the write replaced or
	// deleted, so the in-memory index can forget them exactly.
	Removed map[string][]lexical.Chunk
	// Missing lists deletes of documents that did not exist.
	Missing []string
}

// Store is a node's shard storage. It is safe for concurrent use; writes are
// serialised.
type Store struct {
	dir     string
	noSync  bool
	log     *slog.Logger
	reserve int64

	// dbMu guards db, which a store opened read-only replaces by a
	// read-write one once space returns (see reopen). Every use of db holds
	// it for reading; the swap takes it only when no use is in flight.
	dbMu     sync.RWMutex
	db       *badger.DB  // nil after Close, or when a reopen failed both ways
	readOnly atomic.Bool // db is read-only: the disk was full or not writable
	roFull   atomic.Bool // ... because the disk was full (not a read-only mount)
	kick     chan struct{}
	gate     atomic.Pointer[chan struct{}] // set while a reopen drains reads

	mu     sync.Mutex              // serialises writes and guards refs
	refs   map[shard.ChunkID]int32 // live references to each chunk text
	loaded bool                    // Load has run: refs is complete

	aclMu sync.RWMutex                 // guards acl (not its maps, which are replaced, never changed)
	acl   map[string]map[string]string // store shard → restricted doc id → groups
}

// Load streams what the in-memory index is built from: every dictionary term
// to term, every shard to shardFn, and every document's term vectors to doc.
// The slices passed to doc are reused after it returns.
func (s *Store) Load(ctx context.Context, term func(Term), shardFn func(ShardMeta), doc func(shardName, docID string, chunks []lexical.Chunk) error) error {
	if err := s.LoadMeta(ctx, term, shardFn); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.refs)
	var chunks []lexical.Chunk
	var terms []lexical.TermFreq
	err := s.view(func(txn *badger.Txn) error {
		return iterate(ctx, txn, prefixVec, func(k, v []byte) error {
			sh, id, ok := splitDocKey(k)
			if !ok {
				return fmt.Errorf("key %q: %w", k, errCorrupt)
			}
			var err error
			chunks, terms, err = decodeVectors(v, chunks, terms)
			if err != nil {
				return fmt.Errorf("document %q in shard %q: %w", id, sh, err)
			}
			for _, c := range chunks {
				s.refs[c.ID]++
			}
			return doc(sh, id, chunks)
		})
	})
	if err != nil {
		return fmt.Errorf("load shard store: %w", err)
	}
	s.loaded = true
	return nil
}

// LoadMeta streams the dictionary and the shard records, not the documents:
// a node whose index snapshots are current needs nothing more to start. The
// chunk reference counts writes need are then counted by the first Apply.
func (s *Store) LoadMeta(ctx context.Context, term func(Term), shardFn func(ShardMeta)) error {
	err := s.view(func(txn *badger.Txn) error {
		if err := iterate(ctx, txn, prefixTerm, func(k, v []byte) error {
			id, n := binary.Uvarint(v)
			if n <= 0 || id > 1<<32-1 {
				return fmt.Errorf("term %q: %w", k[len(prefixTerm):], errCorrupt)
			}
			term(Term{Term: string(k[len(prefixTerm):]), ID: uint32(id)})
			return nil
		}); err != nil {
			return err
		}
		if err := s.loadGroups(ctx, txn); err != nil {
			return err
		}
		return iterate(ctx, txn, prefixShard, func(_, v []byte) error {
			var m ShardMeta
			if err := json.Unmarshal(v, &m); err != nil {
				return fmt.Errorf("shard record: %w", err)
			}
			shardFn(m)
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("load shard store: %w", err)
	}
	return nil
}

// countRefs counts the references to every chunk text from the stored term
// vectors; s.mu must be held.
func (s *Store) countRefs(ctx context.Context) error {
	clear(s.refs)
	var chunks []lexical.Chunk
	var terms []lexical.TermFreq
	err := s.view(func(txn *badger.Txn) error {
		return iterate(ctx, txn, prefixVec, func(k, v []byte) error {
			var err error
			if chunks, terms, err = decodeVectors(v, chunks, terms); err != nil {
				return fmt.Errorf("key %q: %w", k, err)
			}
			for _, c := range chunks {
				s.refs[c.ID]++
			}
			return nil
		})
	})
	if err != nil {
		clear(s.refs)
		return fmt.Errorf("count chunk references: %w", err)
	}
	s.loaded = true
	return nil
}

// iterate calls fn for each key with the prefix and its value, in key
// order. Keys and values are only valid during the call.
func iterate(ctx context.Context, txn *badger.Txn, prefix string, fn func(k, v []byte) error) error {
	return eachItem(ctx, txn, prefix, func(item *badger.Item) error {
		return item.Value(func(v []byte) error { return fn(item.Key(), v) })
	})
}

// iterateKeys is iterate without the values, which it never reads: values
// kept in the value log (large sync records) cost a read each.
func iterateKeys(ctx context.Context, txn *badger.Txn, prefix string, fn func(k []byte) error) error {
	return eachItem(ctx, txn, prefix, func(item *badger.Item) error { return fn(item.Key()) })
}

func eachItem(ctx context.Context, txn *badger.Txn, prefix string, fn func(*badger.Item) error) error {
	o := badger.DefaultIteratorOptions
	o.Prefix = []byte(prefix)
	o.PrefetchValues = false // a value is read in the callback that wants it; keys-only scans want none
	it := txn.NewIterator(o)
	defer it.Close()
	n := 0
	for it.Rewind(); it.Valid(); it.Next() {
		if n++; n%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if err := fn(it.Item()); err != nil {
			return err
		}
	}
	return nil
}

// Apply makes one atomic change to a shard and bumps its version. Either all
// of it is durable when Apply returns nil, or none of it is.
//
// It is long because the store's lock and one Badger transaction must span
// every step of the change for it to be atomic.
func (s *Store) Apply(ctx context.Context, w Write) (Result, error) {
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.loaded {
		if err := s.countRefs(ctx); err != nil {
			return Result{}, err
		}
	}
	if err := s.checkSpace(w.size()); err != nil {
		return Result{}, err
	}
	res := Result{Removed: make(map[string][]lexical.Chunk)}
	delta := make(map[shard.ChunkID]int32)
	var acl aclChange
	restricted := s.Restricted(w.Shard)
	txn, end, err := s.begin()
	if err != nil {
		return Result{}, err
	}
	defer end()

	meta, err := getShard(txn, w.Shard)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Result{}, err
	}
	meta.Name = w.Shard
	meta.Version++
	meta.UpdatedAt = w.Now
	res.Version = meta.Version

	// remove drops a document's records and releases its chunk texts.
	remove := func(id string) (bool, error) {
		item, err := txn.Get(docKey(prefixVec, w.Shard, id))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("read document %q: %w", id, err)
		}
		v, err := item.ValueCopy(nil)
		if err != nil {
			return false, fmt.Errorf("read document %q: %w", id, err)
		}
		old, _, err := decodeVectors(v, nil, nil)
		if err != nil {
			return false, fmt.Errorf("document %q: %w", id, err)
		}
		res.Removed[id] = old
		if _, ok := restricted[id]; ok {
			acl.put(id, "")
		}
		for _, c := range old {
			delta[c.ID]--
		}
		if err := txn.Delete(docKey(prefixVec, w.Shard, id)); err != nil {
			return false, err
		}
		return true, txn.Delete(docKey(prefixDoc, w.Shard, id))
	}

	for _, id := range w.Deletes {
		found, err := remove(id)
		if err != nil {
			return Result{}, s.txnErr(err)
		}
		if !found {
			res.Missing = append(res.Missing, id)
		}
	}
	var vec []byte
	for _, d := range w.Puts {
		if len(d.Texts) != len(d.Meta.Chunks) || len(d.Vectors) != len(d.Meta.Chunks) {
			return Result{}, fmt.Errorf("document %q: %d chunks, %d texts, %d vectors", d.Meta.ID, len(d.Meta.Chunks), len(d.Texts), len(d.Vectors))
		}
		if _, err := remove(d.Meta.ID); err != nil {
			return Result{}, s.txnErr(err)
		}
		rec, err := json.Marshal(d.Meta)
		if err != nil {
			return Result{}, fmt.Errorf("encode document %q: %w", d.Meta.ID, err)
		}
		if g := docGroups(d.Meta); g != "" || acl.set[d.Meta.ID] != "" {
			acl.put(d.Meta.ID, g)
		}
		vec = appendVectors(vec[:0], d.Vectors)
		if err := txn.Set(docKey(prefixDoc, w.Shard, d.Meta.ID), rec); err != nil {
			return Result{}, s.txnErr(err)
		}
		if err := txn.Set(docKey(prefixVec, w.Shard, d.Meta.ID), append([]byte(nil), vec...)); err != nil {
			return Result{}, s.txnErr(err)
		}
		for i, c := range d.Vectors {
			if s.refs[c.ID]+delta[c.ID] <= 0 {
				if err := txn.Set(textKey(c.ID), encodeText(d.Texts[i])); err != nil {
					return Result{}, s.txnErr(err)
				}
			}
			delta[c.ID]++
		}
	}
	// Texts no longer referenced by any document of any shard go.
	for id, d := range delta {
		if d < 0 && s.refs[id]+d <= 0 {
			if err := txn.Delete(textKey(id)); err != nil {
				return Result{}, s.txnErr(err)
			}
		}
	}
	var idb []byte
	for _, t := range w.NewTerms {
		idb = binary.AppendUvarint(idb[:0], uint64(t.ID))
		if err := txn.Set(termKey(t.Term), append([]byte(nil), idb...)); err != nil {
			return Result{}, s.txnErr(err)
		}
	}
	if err := acl.stage(txn, w.Shard); err != nil {
		return Result{}, s.txnErr(err)
	}
	rec, _ := json.Marshal(meta)
	if err := txn.Set(shardKey(w.Shard), rec); err != nil {
		return Result{}, s.txnErr(err)
	}
	if err := txn.Commit(); err != nil {
		return Result{}, s.txnErr(err)
	}
	s.commitACL(w.Shard, acl)
	for id, d := range delta {
		if n := s.refs[id] + d; n > 0 {
			s.refs[id] = n
		} else {
			delete(s.refs, id)
		}
	}
	return res, nil
}

// size estimates the bytes a write adds.
func (w Write) size() int64 {
	var n int64
	for _, p := range w.Puts {
		n += 512 + int64(len(p.Meta.Title)+len(p.Meta.Source))
		for _, t := range p.Texts {
			n += int64(len(t))
		}
		for _, c := range p.Vectors {
			n += 16 + 8*int64(len(c.Terms))
		}
	}
	return n + 64*int64(len(w.Deletes)+len(w.NewTerms))
}

func (s *Store) txnErr(err error) error {
	if errors.Is(err, badger.ErrTxnTooBig) {
		return fmt.Errorf("%w: %w", ErrTooLarge, err)
	}
	if de := s.diskErr(err); errors.Is(de, ErrDiskFull) {
		return de
	}
	return fmt.Errorf("shard store write: %w", err)
}

func getShard(txn *badger.Txn, name string) (ShardMeta, error) {
	var m ShardMeta
	item, err := txn.Get(shardKey(name))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return m, fmt.Errorf("shard %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return m, fmt.Errorf("read shard %q: %w", name, err)
	}
	err = item.Value(func(v []byte) error { return json.Unmarshal(v, &m) })
	if err != nil {
		return m, fmt.Errorf("read shard %q: %w", name, err)
	}
	return m, nil
}
