package vector

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
)

func (e *encoder) u64s(vs []uint64) {
	for _, v := range vs {
		e.u64(v)
	}
}

func (d *decoder) u64s(dst []uint64) {
	for len(dst) > 0 {
		n := min(len(dst), ioChunk/8)
		p := d.read(8 * n)
		for i := range dst[:n] {
			dst[i] = binary.LittleEndian.Uint64(p[8*i:])
		}
		dst = dst[n:]
	}
}

// LoadCompact reads a compact graph written by its WriteTo; store must
// hold the vectors it was built with. It checks that store is long enough,
// not what it holds: a wrong file shows as poor results, not as damage.
func LoadCompact(r io.Reader, store VectorStore, cfg Config) (*HNSW, error) {
	d := newDecoder(r)
	hd, err := readAs(d, KindHNSWInt8, cfg.Dim)
	if err != nil {
		return nil, err
	}
	h := NewCompactHNSW(Config{Dim: hd.dim, Rerank: cfg.Rerank}, store)
	if err := h.readBody(d, hd); err != nil {
		return nil, err
	}
	if err := h.checkStore(); err != nil {
		return nil, err
	}
	return h, nil
}

// checkStore checks that the vector file is long enough for the graph.
func (h *HNSW) checkStore() error {
	if n := len(h.ids); n > 0 {
		var one [4]byte
		if _, err := h.store.ReadAt(one[:], int64(n)*int64(h.vecBytes())-4); err != nil {
			return fmt.Errorf("vector: the vector file does not hold the graph's %d vectors (%w): give the file the graph was built with, or rebuild both", n, err)
		}
	}
	return nil
}

// codesPad is the number of zero bytes the stored form of a compact graph
// of n nodes has before its codes, so that they start 8-byte aligned and a
// mapped file can be used in place (see LoadCompactMapped). What precedes
// them is 48 bytes of header, 5 bytes a node and 8 per 64 nodes.
func codesPad(n int) int { return (8 - 5*n%8) % 8 }

// readCodes reads n nodes' codes and scales and recomputes their sums.
func (h *HNSW) readCodes(d *decoder, n int) {
	if !viewRows(d, &h.codes, n) {
		growRows(d, &h.codes, n)
	}
	for len(h.scales) < n && d.err == nil {
		m := min(n-len(h.scales), ioChunk/4)
		h.scales = append(h.scales, make([]float32, m)...)
		d.f32s(h.scales[len(h.scales)-m:])
	}
	h.sums = make([]int32, 0, len(h.scales))
	for i := range h.codes.len() {
		h.sums = append(h.sums, codeSum(h.codes.at(i)))
	}
}

// codeSum is the sum of the signed codes packed in words. It adds the
// bytes four to a word in 16-bit lanes rather than one at a time: at 1M
// vectors it runs over 384 MB while a node starts.
func codeSum(words []uint64) int32 {
	const lanes = 0x00FF00FF00FF00FF
	var total int64
	for len(words) > 0 {
		// 64 words add at most 64 × 2 × 255 to a lane: no overflow.
		chunk := words[:min(len(words), 64)]
		words = words[len(chunk):]
		var acc uint64
		for _, w := range chunk {
			acc += w&lanes + w>>8&lanes
		}
		total += int64(acc&0xFFFF + acc>>16&0xFFFF + acc>>32&0xFFFF + acc>>48)
		total -= int64(len(chunk)) * 8 * codeBias
	}
	return int32(total)
}

// checkCodes rejects codes outside 1..127 and non-finite or negative
// scales: the vector kernels assume the former, and either would poison
// every score.
func (h *HNSW) checkCodes() error {
	const high, low = 0x8080808080808080, 0x0101010101010101
	for i := range h.codes.len() {
		for _, w := range h.codes.at(i) {
			// A zero byte has its high bit set after subtracting 1 from
			// every byte (borrows aside, which only arise from a zero).
			if w&high != 0 || (w-low)&^w&high != 0 {
				return fmt.Errorf("vector: stored node %d has a code outside 1..127: %s", i, corrupt)
			}
		}
		if sc := h.scales[i]; math.IsNaN(float64(sc)) || math.IsInf(float64(sc), 0) || sc < 0 {
			return fmt.Errorf("vector: stored node %d has scale %v: %s", i, sc, corrupt)
		}
	}
	return nil
}
