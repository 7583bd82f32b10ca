package membership

import (
	"errors"
	"fmt"
	"hash/fnv"
)

// TermFilter is a Bloom filter of the analysed terms of one shard. Peers
// test a question's terms against it to tell which of them a shard holds
// without fetching its vocabulary: no false negatives, a few percent of
// false positives (a term counted as held that is not), which only makes a
// peer look slightly better than it is.
//
// The hashing is part of the shard-list protocol: FNV-1a 64 of the term,
// split into two 32-bit halves for Kirsch–Mitzenmacher double hashing.
// Changing it needs a new field name.
type TermFilter struct {
	K    uint8  `json:"k"`    // hash functions
	Bits []byte `json:"bits"` // the bit array (base64 in JSON)
}

// Filter sizing: 10 bits per term and 7 hashes give ~1% false positives;
// a filter is capped so that a node's whole shard list fits one response.
const (
	filterBitsPerTerm = 10
	filterK           = 7
	minFilterBytes    = 64
	maxFilterBytes    = 64 << 10
	// MaxFilterTotal bounds the filters of one shard list (raw bytes;
	// base64 adds a third, within the 1 MiB response limit).
	MaxFilterTotal = 512 << 10
)

// NewTermFilter sizes a filter for n terms within maxBytes.
func NewTermFilter(n, maxBytes int) TermFilter {
	size := (n*filterBitsPerTerm + 7) / 8
	size = max(minFilterBytes, min(size, maxBytes, maxFilterBytes))
	return TermFilter{K: filterK, Bits: make([]byte, size)}
}

func filterHashes(term string) (uint32, uint32) {
	h := fnv.New64a()
	h.Write([]byte(term))
	s := h.Sum64()
	return uint32(s), uint32(s>>32) | 1 // odd step: visits distinct bits
}

// Add records term.
func (f TermFilter) Add(term string) {
	m := uint32(len(f.Bits) * 8)
	a, b := filterHashes(term)
	for i := uint32(0); i < uint32(f.K); i++ {
		bit := (a + i*b) % m
		f.Bits[bit/8] |= 1 << (bit % 8)
	}
}

// Has reports whether term may have been added (always true if it was).
func (f TermFilter) Has(term string) bool {
	if len(f.Bits) == 0 || f.K == 0 {
		return false
	}
	m := uint32(len(f.Bits) * 8)
	a, b := filterHashes(term)
	for i := uint32(0); i < uint32(f.K); i++ {
		bit := (a + i*b) % m
		if f.Bits[bit/8]&(1<<(bit%8)) == 0 {
			return false
		}
	}
	return true
}

// validate checks a filter received from a peer.
func (f TermFilter) validate() error {
	if f.K == 0 || f.K > 16 {
		return fmt.Errorf("term filter with %d hashes; want 1 to 16", f.K)
	}
	if len(f.Bits) < minFilterBytes || len(f.Bits) > maxFilterBytes {
		return fmt.Errorf("term filter of %d bytes; want %d to %d", len(f.Bits), minFilterBytes, maxFilterBytes)
	}
	return nil
}

var errFilterTotal = errors.New("term filters exceed their total size limit")
