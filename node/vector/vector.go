// Package vector is the dense retrieval index of a node: given embedding
// vectors of chunks it finds the chunks most similar to a query embedding.
// Three kinds trade build cost and memory for query time as a shard grows
// (see Choose): an exact scan, a scan over 7-bit codes with a float rerank,
// and an HNSW graph. A fourth, the compact graph (NewCompactHNSW), walks
// HNSW over the 7-bit codes and keeps the float vectors in a file read only
// to rerank, for shards whose vectors do not fit in a device's memory. The
// package does no I/O of its own but through the compact graph's
// VectorStore; LoadCompactMapped uses a saved compact graph in place in
// memory its caller mapped (node/dense, with node/mapfile); every index writes and reads a compact checksummed form
// through io.Writer and io.Reader, so the node can save it and load it at
// start instead of rebuilding. The dot products run in assembly on
// amd64 (AVX2, FMA) and arm64 (NEON) and in portable Go elsewhere.
// Only the node and its tests import it.
//
// Concurrency: Search may run concurrently with other Searches on the same
// index. Add, Delete and ReadFrom change the index and need exclusive access;
// the caller serialises them against each other and against Search (the node
// holds its shard's write lock).
package vector

import (
	"fmt"
	"io"
	"math"
	"runtime"
)

// Index kinds, as returned by Kind and accepted by New.
const (
	KindExact = "exact"
	KindInt8  = "int8"
	KindHNSW  = "hnsw"
)

// MaxDim bounds the dimension an index accepts. Embedding models in use have
// 384–1024 dimensions; the bound mainly stops a forged header from asking
// for absurd rows.
const MaxDim = 1 << 16

// MaxLen bounds the vectors one index holds: ids are uint32 chunk slots and
// the node's lexical index addresses 1<<24 of them per shard.
const MaxLen = 1 << 26

// Hit is one search result. Score is the dot product of the stored vector
// and the query: the cosine similarity when the query has unit length.
type Hit struct {
	ID    uint32
	Score float32
}

// Index is what every kind offers. Vectors stored with Add are normalised to
// unit length, so scores are cosine similarities up to the query's norm.
type Index interface {
	// Add stores v under id, replacing any vector id had. It fails when v
	// has the wrong dimension, a non-finite component, or zero length.
	Add(id uint32, v []float32) error
	// Delete removes id; deleting an absent id does nothing.
	Delete(id uint32)
	// Search appends to dst the k stored vectors most similar to q, best
	// first, ties broken by lower id. It does not allocate when dst has
	// room for k more hits and the index has served a query since it last
	// grew. It fails when q has the wrong dimension, and a compact graph
	// also when its vector file cannot be read.
	Search(q []float32, k int, dst []Hit) ([]Hit, error)
	// Len returns the number of live vectors.
	Len() int
	// Dim returns the dimension of the vectors.
	Dim() int
	// Kind returns KindExact, KindInt8 or KindHNSW.
	Kind() string
	io.WriterTo
	io.ReaderFrom
}

// Config holds what an index needs to know up front. Only Dim matters to the
// exact and int8 kinds; the rest tunes HNSW and defaults when zero.
type Config struct {
	Dim int
	// M is the number of neighbours a node links to on the upper layers of
	// the graph; layer 0 allows 2M. Default 16.
	M int
	// EfConstruction is the candidate list length while inserting; larger
	// builds a better graph more slowly. Default 100.
	EfConstruction int
	// EfSearch is the candidate list length while searching (at least k is
	// used); larger finds more of the true neighbours more slowly. Default 64.
	EfSearch int
	// Seed makes level assignment, and so the whole graph, reproducible.
	Seed uint64
	// Rerank is how many of its best candidates a compact graph (see
	// NewCompactHNSW) rescores with the float32 vectors; at least k is
	// used. Default max(2k, 20). Not stored with the graph.
	Rerank int
}

// Defaults for HNSW, chosen from bench_test.go. On 100k clustered vectors
// of 384 dimensions (one core, AMD EPYC) EfSearch 40 gives recall@10 0.999
// at 166 µs p50 and 64 gives 1.000 at 225 µs; 64 leaves margin for real
// embeddings, which are less tidy than synthetic clusters. Uniform random
// vectors have no neighbourhood structure for a graph to exploit and reach
// only 0.09 at 64: use the int8 scan if embeddings look like that.
const (
	DefaultM              = 16
	DefaultEfConstruction = 100
	DefaultEfSearch       = 64
)

// maxM bounds M so a layer-0 list (2M links and a count) stays small and a
// forged header cannot ask for huge rows.
const maxM = 256

// maxEf bounds the candidate lists; beyond this HNSW is slower than a scan.
const maxEf = 1 << 14

func (c Config) withDefaults() Config {
	if c.M == 0 {
		c.M = DefaultM
	}
	if c.EfConstruction == 0 {
		c.EfConstruction = DefaultEfConstruction
	}
	if c.EfSearch == 0 {
		c.EfSearch = DefaultEfSearch
	}
	return c
}

func (c Config) validate() error {
	if c.Dim < 1 || c.Dim > MaxDim {
		return fmt.Errorf("vector: dimension %d out of range: give the embedding model's output size (1..%d)", c.Dim, MaxDim)
	}
	if c.M < 2 || c.M > maxM {
		return fmt.Errorf("vector: HNSW M=%d out of range: use 2..%d (16 suits most data)", c.M, maxM)
	}
	if c.EfConstruction < 1 || c.EfConstruction > maxEf {
		return fmt.Errorf("vector: HNSW EfConstruction=%d out of range: use 1..%d", c.EfConstruction, maxEf)
	}
	if c.EfSearch < 1 || c.EfSearch > maxEf {
		return fmt.Errorf("vector: HNSW EfSearch=%d out of range: use 1..%d", c.EfSearch, maxEf)
	}
	return nil
}

// New returns an empty index of the given kind.
func New(kind string, cfg Config) (Index, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	switch kind {
	case KindExact:
		return NewExact(cfg.Dim), nil
	case KindInt8:
		return NewInt8(cfg.Dim), nil
	case KindHNSW:
		return NewHNSW(cfg), nil
	}
	return nil, fmt.Errorf("vector: unknown index kind %q: use %q, %q or %q", kind, KindExact, KindInt8, KindHNSW)
}

// Thresholds of Choose, in stored float32 components (vectors × dimension),
// so that a model with twice the dimension moves to the next kind at half the
// vectors. Measured one core, AMD EPYC, 384 dimensions, AVX2 kernels, CPU
// p50 under load 6–11 (BenchmarkCrossover, BENCHMARKS.md 2026-12-06):
//
//	vectors  exact    int8     hnsw     hnsw-int8
//	10k      0.50 ms  0.20 ms  0.24 ms  0.14 ms
//	30k      1.79 ms  0.39 ms  0.23 ms  0.21 ms
//	100k     8.8 ms   2.6 ms   0.24 ms  0.44 ms
//	1M       see BENCHMARKS.md   —      0.6–0.7 ms at recall 0.96–0.97
//
// The exact scan stays under half a millisecond to about 10k vectors but
// the int8 one is 2.5× faster at any size; it holds 25% more memory, which
// small shards need not spend, so the exact kind keeps them to 4k. A graph
// beats the int8 scan from about 12k, where building it (0.5–1 ms an insert)
// starts to pay. The compact graph is as fast as the float one up to some
// 30k vectors and within 2× of it at 100k, holds a third of its memory (561
// against 1,707 bytes a vector) and builds faster, so it is the graph
// Choose picks; the float graph (KindHNSW) serves where there is no file for
// the vectors. A Raspberry Pi is several times slower, so it reaches the
// kinds' limits sooner but in the same order.
const (
	exactMaxComponents = 4096 * 384
	int8MaxComponents  = 12288 * 384
)

// Choose returns the kind of index suited to a shard of n vectors of the
// given dimension: exact below about 4k vectors of 384 dimensions, int8
// below about 12k, the compact graph (KindHNSWInt8) above. A caller that
// cannot give the compact graph a vector file uses KindHNSW instead.
func Choose(n, dim int) string {
	c := int64(n) * int64(max(dim, 1))
	switch {
	case c < exactMaxComponents:
		return KindExact
	case c < int8MaxComponents:
		return KindInt8
	}
	return KindHNSWInt8
}

// EfSearchFor returns the HNSW search width that keeps recall@10 at or
// above 0.95 in a graph of n vectors. A wider graph needs a wider search:
// on the benchmarks' clustered 384-d vectors (BENCHMARKS.md, 2026-12-06)
// ef 64 gives 1.000 at 100k, while 1M needs 200 for 0.956 and 250 for
// 0.971. It is DefaultEfSearch up to 100k and grows as n^0.6 beyond, which
// gives 255 at 1M, with the cap maxDefaultEf for larger graphs.
func EfSearchFor(n int) int {
	const base = 100_000
	if n <= base {
		return DefaultEfSearch
	}
	ef := float64(DefaultEfSearch) * math.Pow(float64(n)/base, 0.6)
	return min(int(math.Ceil(ef)), maxDefaultEf)
}

// maxDefaultEf caps EfSearchFor: past it a query costs several
// milliseconds, and a shard that large is better split.
const maxDefaultEf = 512

// Normalize scales v in place to unit length, leaving a zero vector alone.
func Normalize(v []float32) {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	if s == 0 {
		return
	}
	inv := float32(1 / math.Sqrt(s))
	for i := range v {
		v[i] *= inv
	}
}

// checkVector reports whether v can be stored in an index of dimension dim
// and returns the factor that normalises it.
func checkVector(v []float32, dim int) (float32, error) {
	if len(v) != dim {
		return 0, fmt.Errorf("vector: got a %d-dimensional vector for an index of %d: embed with the model the index was built for, or rebuild the index", len(v), dim)
	}
	var s float64
	for i, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return 0, fmt.Errorf("vector: component %d is %v: the embedding model produced a non-finite value", i, x)
		}
		s += float64(x) * float64(x)
	}
	if s == 0 {
		return 0, fmt.Errorf("vector: a zero vector has no direction: skip the chunk or fix its embedding")
	}
	return float32(1 / math.Sqrt(s)), nil
}

func scaleInto(dst, v []float32, f float32) {
	for i, x := range v {
		dst[i] = x * f
	}
}

func checkQuery(q []float32, dim int) error {
	if len(q) != dim {
		return fmt.Errorf("vector: got a %d-dimensional query for an index of %d: embed the query with the model the index was built for", len(q), dim)
	}
	return nil
}

// pool keeps per-query scratch between Searches. Unlike sync.Pool it is not
// emptied by garbage collection: refilling scratch after every GC cycle put
// allocations, and so more GC, on the query path.
type pool[T any] struct{ free chan *T }

func newPool[T any]() pool[T] {
	return pool[T]{free: make(chan *T, max(4, runtime.GOMAXPROCS(0)))}
}

func (p pool[T]) get() *T {
	select {
	case s := <-p.free:
		return s
	default:
		return new(T)
	}
}

func (p pool[T]) put(s *T) {
	select {
	case p.free <- s:
	default:
	}
}
