package shardstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"
	"unicode/utf8"

	"github.com/dgraph-io/badger/v4"

	"github.com/edgerag/edgerag/node/shard"
)

// Embeddings of chunks (dense vectors), apart from the term vectors above:
//
//	e/<model> 0x00 <chunk id>  → the vector: dims little-endian float32s
//	m/<model>                  → EmbeddingMeta (JSON)
//
// Vectors are keyed by chunk id, not by shard and slot, because a chunk id is
// the hash of the text: the same text in two documents or two shards has one
// vector per model, and replacing a document whose chunks mostly did not
// change re-embeds only the chunks that did. The model name is part of the
// key so that a node switching models keeps serving the old set while the
// new one is built beside it. Model names cannot contain 0x00, so the
// separator is safe. A 384-dimensional vector is 1.5 KB, under the value
// threshold, so vectors live in the LSM tree and a start-up scan reads them
// sequentially.
//
// The method names say "embedding" rather than "vector" because Vectors
// already names the term vectors of the BM25 index.
const (
	prefixEmb      = "e/"
	prefixEmbModel = "m/"
)

// Bounds on what an embedding record may hold: a model name stays short in
// every key, and a dimension beyond any real model means a corrupt record.
const (
	MaxModelLen     = 256
	MaxEmbeddingDim = 1 << 16
)

// embDeleteBatch is how many keys one transaction of DeleteEmbeddings or
// PruneEmbeddings deletes: about 80 bytes a key keeps a batch near 0.5 MB,
// well under Badger's transaction limit (1.8 MB here).
const embDeleteBatch = 4096

// EmbeddingMeta describes the stored vectors of one embedding model.
type EmbeddingMeta struct {
	// Model names the model with the version that made the vectors, as
	// models.Embedder.Model reports it.
	Model string `json:"model"`
	// Dims is the length of every vector of the model.
	Dims int `json:"dims"`
	// Created is when the first vector of the model was stored.
	Created time.Time `json:"created"`
	// Complete is set once every chunk the node held had a vector of this
	// model: a set that is not complete must not replace a complete one.
	Complete bool `json:"complete"`
	// Completed is when Complete was last set.
	Completed time.Time `json:"completed,omitzero"`
}

func validModel(model string) error {
	if model == "" || len(model) > MaxModelLen || !utf8.ValidString(model) || bytes.IndexByte([]byte(model), 0) >= 0 {
		return fmt.Errorf("embedding model name %q: must be 1 to %d bytes of UTF-8 without NUL; use the name models.Embedder.Model reports", model, MaxModelLen)
	}
	return nil
}

func embPrefix(model string) []byte {
	k := make([]byte, 0, len(prefixEmb)+len(model)+1)
	k = append(k, prefixEmb...)
	k = append(k, model...)
	return append(k, 0)
}

func embKey(model string, id shard.ChunkID) []byte {
	return append(embPrefix(model), id[:]...)
}

func embModelKey(model string) []byte { return append([]byte(prefixEmbModel), model...) }

// appendEmbedding encodes v as little-endian float32s.
func appendEmbedding(b []byte, v []float32) []byte {
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
	}
	return b
}

// decodeEmbedding decodes appendEmbedding's output into dst, reusing its
// capacity.
func decodeEmbedding(b []byte, dst []float32) ([]float32, error) {
	if len(b) == 0 || len(b)%4 != 0 {
		return dst, fmt.Errorf("embedding of %d bytes: %w", len(b), errCorrupt)
	}
	dst = dst[:0]
	for i := 0; i < len(b); i += 4 {
		dst = append(dst, math.Float32frombits(binary.LittleEndian.Uint32(b[i:])))
	}
	return dst, nil
}

func getEmbModel(txn *badger.Txn, model string) (EmbeddingMeta, error) {
	var m EmbeddingMeta
	item, err := txn.Get(embModelKey(model))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return m, fmt.Errorf("embedding model %q: %w", model, ErrNotFound)
	}
	if err != nil {
		return m, fmt.Errorf("read embedding model %q: %w", model, err)
	}
	if err := item.Value(func(v []byte) error { return json.Unmarshal(v, &m) }); err != nil {
		return m, fmt.Errorf("read embedding model %q: %w: %w", model, errCorrupt, err)
	}
	return m, nil
}

func setEmbModel(txn *badger.Txn, m EmbeddingMeta) error {
	rec, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode embedding model %q: %w", m.Model, err)
	}
	return txn.Set(embModelKey(m.Model), rec)
}

// PutEmbeddings stores vecs[i] as the vector of ids[i] under model, all in
// one transaction. Every vector must have dims finite components, and dims
// must match what the model's earlier vectors had: a model whose output size
// changed under the same name is a different model and needs another name.
// The model's record is created with the first vector. Writes are serialised
// with the store's other writes. A batch too large for one transaction
// fails with ErrTooLarge; store fewer vectors at a time.
func (s *Store) PutEmbeddings(ctx context.Context, model string, dims int, ids []shard.ChunkID, vecs [][]float32) error {
	if err := validModel(model); err != nil {
		return err
	}
	if dims < 1 || dims > MaxEmbeddingDim {
		return fmt.Errorf("store embeddings of %q: dimension %d out of range 1..%d", model, dims, MaxEmbeddingDim)
	}
	if len(ids) != len(vecs) {
		return fmt.Errorf("store embeddings of %q: %d ids for %d vectors; pass one id per vector", model, len(ids), len(vecs))
	}
	if err := s.checkSpace(int64(len(vecs) * (4*dims + 32))); err != nil {
		return err
	}
	for i, v := range vecs {
		if len(v) != dims {
			return fmt.Errorf("store embeddings of %q: vector %d (chunk %s) has %d dimensions, want %d", model, i, ids[i], len(v), dims)
		}
		for j, x := range v {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				return fmt.Errorf("store embeddings of %q: vector %d (chunk %s) component %d is %v: the model produced a non-finite value", model, i, ids[i], j, x)
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	txn, end, err := s.begin()
	if err != nil {
		return err
	}
	defer end()
	meta, err := getEmbModel(txn, model)
	switch {
	case errors.Is(err, ErrNotFound):
		meta = EmbeddingMeta{Model: model, Dims: dims, Created: time.Now().UTC()}
		if err := setEmbModel(txn, meta); err != nil {
			return s.txnErr(err)
		}
	case err != nil:
		return err
	case meta.Dims != dims:
		return fmt.Errorf("store embeddings of %q: the stored vectors have %d dimensions, these %d; the model changed under the same name: give it a new name or delete the old set with DeleteEmbeddings", model, meta.Dims, dims)
	}
	buf := make([]byte, 0, 4*dims*len(vecs))
	for i, v := range vecs {
		start := len(buf)
		buf = appendEmbedding(buf, v)
		if err := txn.Set(embKey(model, ids[i]), buf[start:len(buf):len(buf)]); err != nil {
			return s.txnErr(err)
		}
	}
	if err := txn.Commit(); err != nil {
		return s.txnErr(err)
	}
	return nil
}

// Embeddings streams every stored vector of model, in chunk id order. The
// slice passed to fn is reused after it returns; an error from fn stops the
// stream and is returned. A model with no vectors streams nothing.
func (s *Store) Embeddings(ctx context.Context, model string, fn func(id shard.ChunkID, v []float32) error) error {
	if err := validModel(model); err != nil {
		return err
	}
	prefix := embPrefix(model)
	var v []float32
	err := s.view(func(txn *badger.Txn) error {
		dims := -1
		if m, err := getEmbModel(txn, model); err == nil {
			dims = m.Dims
		} else if !errors.Is(err, ErrNotFound) {
			return err
		}
		return iterate(ctx, txn, string(prefix), func(k, val []byte) error {
			var id shard.ChunkID
			if len(k) != len(prefix)+len(id) {
				return fmt.Errorf("key %q: %w", k, errCorrupt)
			}
			copy(id[:], k[len(prefix):])
			var err error
			if v, err = decodeEmbedding(val, v); err != nil {
				return fmt.Errorf("chunk %s: %w", id, err)
			}
			if dims >= 0 && len(v) != dims {
				return fmt.Errorf("chunk %s: %d dimensions, the model has %d: %w", id, len(v), dims, errCorrupt)
			}
			return fn(id, v)
		})
	})
	if err != nil {
		return fmt.Errorf("read embeddings of %q: %w", model, err)
	}
	return nil
}

// EmbeddingsFor looks up the vectors of ids under model in one transaction
// and calls fn with the index into ids of each one found; ids without a
// vector are skipped. The slice passed to fn is reused after it returns.
func (s *Store) EmbeddingsFor(ctx context.Context, model string, ids []shard.ChunkID, fn func(i int, v []float32) error) error {
	if err := validModel(model); err != nil {
		return err
	}
	var v []float32
	err := s.view(func(txn *badger.Txn) error {
		key := embPrefix(model)
		base := len(key)
		for i, id := range ids {
			if i%256 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			key = append(key[:base], id[:]...)
			item, err := txn.Get(key)
			if errors.Is(err, badger.ErrKeyNotFound) {
				continue
			}
			if err != nil {
				return fmt.Errorf("chunk %s: %w", id, err)
			}
			if err := item.Value(func(val []byte) error {
				v, err = decodeEmbedding(val, v)
				return err
			}); err != nil {
				return fmt.Errorf("chunk %s: %w", id, err)
			}
			if err := fn(i, v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read embeddings of %q: %w", model, err)
	}
	return nil
}

// EmbeddingModel returns the record of model's vectors, or an error wrapping
// ErrNotFound when none were ever stored.
func (s *Store) EmbeddingModel(ctx context.Context, model string) (EmbeddingMeta, error) {
	if err := validModel(model); err != nil {
		return EmbeddingMeta{}, err
	}
	if err := ctx.Err(); err != nil {
		return EmbeddingMeta{}, err
	}
	var m EmbeddingMeta
	err := s.view(func(txn *badger.Txn) error {
		var err error
		m, err = getEmbModel(txn, model)
		return err
	})
	return m, err
}

// EmbeddingModels returns the record of every model with stored vectors, in
// name order, so an operator can see which sets take space.
func (s *Store) EmbeddingModels(ctx context.Context) ([]EmbeddingMeta, error) {
	var out []EmbeddingMeta
	err := s.view(func(txn *badger.Txn) error {
		return iterate(ctx, txn, prefixEmbModel, func(k, v []byte) error {
			var m EmbeddingMeta
			if err := json.Unmarshal(v, &m); err != nil {
				return fmt.Errorf("embedding model %q: %w: %w", k[len(prefixEmbModel):], errCorrupt, err)
			}
			out = append(out, m)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list embedding models: %w", err)
	}
	return out, nil
}

// SetEmbeddingModel replaces the record of meta.Model, typically to mark the
// set complete. It fails when the record's dimension contradicts the stored
// one, because the vectors would then not match their record.
func (s *Store) SetEmbeddingModel(ctx context.Context, meta EmbeddingMeta) error {
	if err := validModel(meta.Model); err != nil {
		return err
	}
	if meta.Dims < 1 || meta.Dims > MaxEmbeddingDim {
		return fmt.Errorf("set embedding model %q: dimension %d out of range 1..%d", meta.Model, meta.Dims, MaxEmbeddingDim)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	txn, end, err := s.begin()
	if err != nil {
		return err
	}
	defer end()
	old, err := getEmbModel(txn, meta.Model)
	switch {
	case errors.Is(err, ErrNotFound):
	case err != nil:
		return err
	case old.Dims != meta.Dims:
		return fmt.Errorf("set embedding model %q: stored vectors have %d dimensions, the record says %d; delete the set with DeleteEmbeddings first", meta.Model, old.Dims, meta.Dims)
	}
	if meta.Created.IsZero() {
		meta.Created = old.Created
	}
	if err := setEmbModel(txn, meta); err != nil {
		return s.txnErr(err)
	}
	if err := txn.Commit(); err != nil {
		return s.txnErr(err)
	}
	return nil
}

// DeleteEmbeddings drops every vector of model and its record, for example
// the old model's set after a switch has completed. It first marks the set
// incomplete, so a crash half-way leaves a set nothing will serve from, then
// deletes in batches that each fit a transaction, and the record last, so
// the set stays listed by EmbeddingModels until it is gone. It returns how
// many vectors it deleted.
func (s *Store) DeleteEmbeddings(ctx context.Context, model string) (int, error) {
	meta, err := s.EmbeddingModel(ctx, model)
	switch {
	case errors.Is(err, ErrNotFound):
	case err != nil:
		return 0, err
	case meta.Complete:
		meta.Complete, meta.Completed = false, time.Time{}
		if err := s.SetEmbeddingModel(ctx, meta); err != nil {
			return 0, fmt.Errorf("delete embeddings of %q: %w", model, err)
		}
	}
	n, err := s.deleteEmbeddings(ctx, model, nil)
	if err != nil {
		return n, fmt.Errorf("delete embeddings of %q (%d deleted so far; run again to finish): %w", model, n, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.update(func(txn *badger.Txn) error { return txn.Delete(embModelKey(model)) }); err != nil {
		return n, fmt.Errorf("delete embeddings of %q: %w", model, s.txnErr(err))
	}
	return n, nil
}

// PruneEmbeddings drops the vectors of model whose chunk text the store no
// longer holds: vectors are content-addressed and outlive the documents that
// used them, so without pruning a node that replaces documents keeps every
// vector it ever computed. Each batch runs under the store's write lock, so
// a chunk cannot come back between the check and the delete. It returns how
// many vectors it deleted.
func (s *Store) PruneEmbeddings(ctx context.Context, model string) (int, error) {
	n, err := s.deleteEmbeddings(ctx, model, func(txn *badger.Txn, id shard.ChunkID) (bool, error) {
		_, err := txn.Get(textKey(id))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return true, nil
		}
		return false, err
	})
	if err != nil {
		return n, fmt.Errorf("prune embeddings of %q (%d deleted so far): %w", model, n, err)
	}
	return n, nil
}

// deleteEmbeddings deletes the vectors of model that drop reports true for
// (all when drop is nil), one batch per transaction, resuming each batch
// after the last key the previous one looked at.
func (s *Store) deleteEmbeddings(ctx context.Context, model string, drop func(*badger.Txn, shard.ChunkID) (bool, error)) (int, error) {
	if err := validModel(model); err != nil {
		return 0, err
	}
	prefix := embPrefix(model)
	start := prefix
	deleted := 0
	for {
		if err := ctx.Err(); err != nil {
			return deleted, err
		}
		var next []byte
		n := 0
		err := func() error {
			s.mu.Lock()
			defer s.mu.Unlock()
			txn, end, err := s.begin()
			if err != nil {
				return err
			}
			defer end()
			o := badger.DefaultIteratorOptions
			o.Prefix = prefix
			o.PrefetchValues = false
			it := txn.NewIterator(o)
			// The batch is bounded by keys looked at, not keys deleted, so
			// a prune that finds little to drop still gives way to ingest.
			var keys [][]byte
			scanned := 0
			for it.Seek(start); it.Valid() && scanned < embDeleteBatch; it.Next() {
				scanned++
				k := it.Item().KeyCopy(nil)
				next = k
				var id shard.ChunkID
				if len(k) != len(prefix)+len(id) {
					it.Close()
					return fmt.Errorf("key %q: %w", k, errCorrupt)
				}
				copy(id[:], k[len(prefix):])
				if drop != nil {
					ok, err := drop(txn, id)
					if err != nil {
						it.Close()
						return err
					}
					if !ok {
						continue
					}
				}
				keys = append(keys, k)
			}
			done := !it.Valid()
			it.Close()
			for _, k := range keys {
				if err := txn.Delete(k); err != nil {
					return s.txnErr(err)
				}
			}
			if err := txn.Commit(); err != nil {
				return s.txnErr(err)
			}
			n = len(keys)
			if done {
				next = nil
			}
			return nil
		}()
		deleted += n
		if err != nil {
			return deleted, err
		}
		if next == nil {
			return deleted, nil
		}
		// Resume just after the last key looked at.
		start = append(next, 0)
	}
}
