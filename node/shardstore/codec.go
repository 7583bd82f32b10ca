package shardstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/edgerag/edgerag/node/lexical"
	"github.com/edgerag/edgerag/node/shard"
)

// Key layout. One Badger database holds every shard of a node:
//
//	t/<term>                → term id (uvarint), shared by all shards
//	s/<shard>               → shard record (JSON)
//	d/<shard> 0x00 <doc id> → document record (JSON): provenance and chunk list
//	v/<shard> 0x00 <doc id> → term vectors of the document's chunks (binary)
//	o/<chunk id>            → chunk text, content-addressed and shared
//	                          (deflated when that is shorter: textcodec.go)
//
// Term vectors live apart from document records because start-up reads all
// of them and nothing else, and queries read document records and never
// term vectors. Shard names cannot contain 0x00, so the separator is safe.
const (
	prefixTerm  = "t/"
	prefixShard = "s/"
	prefixDoc   = "d/"
	prefixVec   = "v/"
	prefixText  = "o/"
)

func termKey(term string) []byte  { return append([]byte(prefixTerm), term...) }
func shardKey(name string) []byte { return append([]byte(prefixShard), name...) }
func textKey(id shard.ChunkID) []byte {
	return append([]byte(prefixText), id[:]...)
}

func docKey(prefix, shardName, docID string) []byte {
	k := make([]byte, 0, len(prefix)+len(shardName)+1+len(docID))
	k = append(k, prefix...)
	k = append(k, shardName...)
	k = append(k, 0)
	return append(k, docID...)
}

// splitDocKey returns the shard and document id of a d/ or v/ key.
func splitDocKey(k []byte) (shardName, docID string, ok bool) {
	k = k[2:]
	i := slices.Index(k, 0)
	if i < 0 {
		return "", "", false
	}
	return string(k[:i]), string(k[i+1:]), true
}

var errCorrupt = errors.New("corrupt term vector record")

// appendVectors encodes the term vectors of a document's chunks. Term ids are
// sorted and delta-coded, so a typical chunk costs about two bytes a term.
func appendVectors(b []byte, chunks []lexical.Chunk) []byte {
	b = binary.AppendUvarint(b, uint64(len(chunks)))
	for _, c := range chunks {
		b = append(b, c.ID[:]...)
		b = binary.AppendUvarint(b, uint64(c.Position))
		b = binary.AppendUvarint(b, uint64(c.Length))
		b = binary.AppendUvarint(b, uint64(len(c.Terms)))
		slices.SortFunc(c.Terms, func(x, y lexical.TermFreq) int { return int(x.Term) - int(y.Term) })
		prev := uint32(0)
		for _, t := range c.Terms {
			b = binary.AppendUvarint(b, uint64(t.Term-prev))
			b = binary.AppendUvarint(b, uint64(t.TF))
			prev = t.Term
		}
	}
	return b
}

// decodeVectors decodes appendVectors' output into chunks, reusing the
// capacity of chunks and terms; the results alias terms.
func decodeVectors(b []byte, chunks []lexical.Chunk, terms []lexical.TermFreq) ([]lexical.Chunk, []lexical.TermFreq, error) {
	chunks, terms = chunks[:0], terms[:0]
	next := func() (uint64, error) {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return 0, errCorrupt
		}
		b = b[n:]
		return v, nil
	}
	nc, err := next()
	if err != nil || nc > uint64(len(b)) {
		return nil, nil, errCorrupt
	}
	type span struct{ from, to int }
	spans := make([]span, 0, nc)
	for range nc {
		var c lexical.Chunk
		if len(b) < len(c.ID) {
			return nil, nil, errCorrupt
		}
		copy(c.ID[:], b)
		b = b[len(c.ID):]
		pos, err1 := next()
		length, err2 := next()
		nt, err3 := next()
		if err := errors.Join(err1, err2, err3); err != nil || nt > uint64(len(b)) {
			return nil, nil, errCorrupt
		}
		c.Position, c.Length = int(pos), uint32(length)
		from := len(terms)
		prev := uint64(0)
		for range nt {
			d, err1 := next()
			tf, err2 := next()
			if err1 != nil || err2 != nil {
				return nil, nil, errCorrupt
			}
			prev += d
			if prev > 1<<32-1 {
				return nil, nil, fmt.Errorf("%w: term id %d", errCorrupt, prev)
			}
			terms = append(terms, lexical.TermFreq{Term: uint32(prev), TF: uint32(tf)})
		}
		spans = append(spans, span{from, len(terms)})
		chunks = append(chunks, c)
	}
	// Slice terms only once it has stopped growing, so every chunk points
	// into the final backing array.
	for i, s := range spans {
		chunks[i].Terms = terms[s.from:s.to:s.to]
	}
	return chunks, terms, nil
}
