package vector

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"unsafe"
)

// KindHNSWInt8 is the compact graph: HNSW over 7-bit codes of the vectors
// in RAM, the float32 vectors in a file (see NewCompactHNSW).
const KindHNSWInt8 = "hnsw-int8"

// VectorStore holds a compact graph's float32 vectors: node i's vector is
// the dim little-endian float32s at byte offset i·dim·4. An *os.File is
// one; reading it with pread keeps the vectors in the page cache, which the
// kernel can drop under memory pressure, rather than in the process.
type VectorStore interface {
	io.ReaderAt
	io.WriterAt
}

// NewCompactHNSW returns an empty graph that holds in RAM only 7-bit codes
// of the vectors (one byte a component, as the int8 kind's) beside the
// links, and writes the normalised float32 vectors to store. The walk
// through the graph scores with the codes; only the best candidates it
// finds are read back from store and rescored exactly. At 384 dimensions
// that is under 600 bytes a vector in RAM against HNSW's 1.7 KB. Like
// NewHNSW it panics on a configuration New would reject.
func NewCompactHNSW(cfg Config, store VectorStore) *HNSW {
	if store == nil {
		panic("vector: NewCompactHNSW needs a VectorStore")
	}
	h := NewHNSW(cfg)
	h.store = store
	h.codes = newRows[uint64](codeWords(h.cfg.Dim))
	return h
}

// vecBytes is the size of one stored float32 vector.
func (h *HNSW) vecBytes() int { return 4 * h.cfg.Dim }

// addCompact writes node's normalised vector to the store and appends its
// codes.
func (h *HNSW) addCompact(node uint32, v []float32, norm float32) error {
	if len(h.vbuf) != h.cfg.Dim {
		h.vbuf, h.wbuf = make([]float32, h.cfg.Dim), make([]byte, h.vecBytes())
	}
	scaleInto(h.vbuf, v, norm)
	for i, x := range h.vbuf {
		binary.LittleEndian.PutUint32(h.wbuf[4*i:], math.Float32bits(x))
	}
	if _, err := h.store.WriteAt(h.wbuf, int64(node)*int64(h.vecBytes())); err != nil {
		return fmt.Errorf("vector: writing vector %d to the vector file: %w", node, err)
	}
	scale, sum := quantize(h.codes.grow(), h.vbuf)
	h.scales = append(h.scales, scale)
	h.sums = append(h.sums, sum)
	return nil
}

// setQuery prepares s to score nodes against the query q.
func (h *HNSW) setQuery(s *hnswScratch, q []float32) {
	if h.store == nil {
		s.q = q
		return
	}
	w := h.codes.width
	if len(s.qw) != w || cap(s.qw) != w {
		s.qw = make([]uint64, w, w)
	}
	s.qscale, s.qsum = quantize(s.qw, q)
	h.spread(s)
}

// nodeQuery prepares s to score nodes against stored node, while inserting
// it.
func (h *HNSW) nodeQuery(s *hnswScratch, node uint32) {
	if h.store == nil {
		s.q = h.vecs.at(int(node))
		return
	}
	s.qw, s.qscale, s.qsum = h.codes.at(int(node)), h.scales[node], h.sums[node]
	h.spread(s)
}

// spread fills the portable kernel's form of the query codes.
func (h *HNSW) spread(s *hnswScratch) {
	if hasSIMD {
		return
	}
	if len(s.even) != len(s.qw) {
		s.even, s.odd = make([]uint64, len(s.qw)), make([]uint64, len(s.qw))
	}
	spreadQuery(s.even, s.odd, s.qw)
}

// sim is the similarity of the query in s to node: exact in a float graph,
// from the codes in a compact one.
func (h *HNSW) sim(s *hnswScratch, node uint32) float32 {
	if h.store == nil {
		return dot(s.q, h.vecs.at(int(node)))
	}
	raw := dotCodes(s.qw, s.even, s.odd, h.codes.at(int(node)))
	return float32(unbias(raw, h.sums[node], s.qsum, h.codes.width)) * h.scales[node] * s.qscale
}

// pair is the similarity of two stored nodes.
func (h *HNSW) pair(a, b uint32) float32 {
	if h.store == nil {
		return dot(h.vecs.at(int(a)), h.vecs.at(int(b)))
	}
	ca, cb := h.codes.at(int(a)), h.codes.at(int(b))
	var raw uint64
	if hasSIMD {
		raw = dotCodesAsm(ca, cb)
	} else {
		raw = dotBytesGo(ca, cb)
	}
	return float32(unbias(raw, h.sums[a], h.sums[b], h.codes.width)) * h.scales[a] * h.scales[b]
}

// touch reads one word of each cache line of node's vector or codes; see
// the function touch.
func (h *HNSW) touch(node uint32) uint32 {
	if h.store == nil {
		v := h.vecs.at(int(node))
		if prefetchOK {
			prefetch(unsafe.Pointer(&v[0]), 4*len(v))
			return 0
		}
		return touch(v)
	}
	c := h.codes.at(int(node))
	if prefetchOK {
		prefetch(unsafe.Pointer(&c[0]), 8*len(c))
		return 0
	}
	var x uint64
	for j := 0; j < len(c); j += 8 { // 8 words to a 64-byte line
		x ^= c[j]
	}
	return uint32(x)
}

// rerankCount is how many of the graph's best candidates a compact search
// rescores from the vector file: Config.Rerank, by default max(2k, 20).
// Each is one read from the file, the dearest step after the walk. At 100k
// and 1M clustered vectors (BenchmarkCompactHNSW) reranking 20, 40 or all
// ef candidates gave the same recall@10: what the walk misses, no rerank
// restores, and the codes' error (about 0.002 on a cosine) rarely pushes a
// true top-10 below 20th.
func (h *HNSW) rerankCount(k int) int {
	if h.cfg.Rerank > 0 {
		return max(h.cfg.Rerank, k)
	}
	return max(2*k, 20)
}

// rerank reads the float32 vectors of the best candidates in s.res from
// the store and appends the k best by exact score to dst.
func (h *HNSW) rerank(s *hnswScratch, q []float32, k int, dst []Hit) ([]Hit, error) {
	sortBest(s.res)
	cands := s.res[:min(len(s.res), h.rerankCount(k))]
	if len(s.raw) != h.vecBytes() {
		s.raw, s.vec = make([]byte, h.vecBytes()), make([]float32, h.cfg.Dim)
	}
	out := s.top[:0]
	for _, c := range cands {
		if _, err := h.store.ReadAt(s.raw, int64(c.ID)*int64(h.vecBytes())); err != nil {
			return dst, fmt.Errorf("vector: reading vector %d from the vector file: %w", c.ID, err)
		}
		for i := range s.vec {
			s.vec[i] = math.Float32frombits(binary.LittleEndian.Uint32(s.raw[4*i:]))
		}
		out = offer(out, k, Hit{ID: h.ids[c.ID], Score: dot(q, s.vec)})
	}
	s.top = out
	dst, res := topIn(dst, k)
	res = append(res, out...)
	sortBest(res)
	return dst[:len(dst)+len(res)], nil
}
