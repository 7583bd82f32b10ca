package vector

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"
)

// denseN is the vector count the compact benchmarks run at: benchN, or
// EDGERAG_DENSE_N.
func denseN(b *testing.B) int {
	s := os.Getenv("EDGERAG_DENSE_N")
	if s == "" {
		return benchN
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1000 {
		b.Fatalf("EDGERAG_DENSE_N=%q: give a vector count of at least 1000", s)
	}
	return n
}

// BenchmarkCompactHNSW measures the compact graph (codes in RAM, vectors
// in a file) at EDGERAG_DENSE_N vectors of 384 dimensions (default 100k;
// the goal is at 1M), from the same clustered generator as the
// other benchmarks (1000 Gaussian clusters, queries new points from them),
// streamed so the process never holds the float vectors. Building 1M on
// one core takes tens of minutes, so the graph, its vector file and the
// exact answers are kept in ~/.cache/edgerag/dense-bench/n=N and reused;
// REUSE=0 rebuilds them; EDGERAG_DENSE_EF picks the search widths and
// rerank counts (see compactSweep).
//
//	EDGERAG_DENSE_N=1000000 go test -run XXX -bench CompactHNSW -cpu 1 -benchtime 2000x -timeout 3h ./node/vector/
//
// It reports, besides the latency and recall of runQueries, the Go heap the
// loaded graph holds after serving queries (codes, links, ids, map and
// search scratch) per vector, the process's anonymous RSS, the build's
// seconds and the seconds LoadCompact took to read the cached graph.
func BenchmarkCompactHNSW(b *testing.B) {
	n := denseN(b)
	c := compactCache(b, n)
	for _, p := range compactSweep(b) {
		b.Run(fmt.Sprintf("n=%d/ef=%d/rerank=%d", n, p.ef, p.rerank), func(b *testing.B) {
			if err := c.x.SetEfSearch(p.ef); err != nil {
				b.Fatal(err)
			}
			c.x.cfg.Rerank = p.rerank
			runQueries(b, &fixture{qs: c.qs, truth: c.truth}, c.x)
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			b.ReportMetric(float64(ms.HeapAlloc-c.heapBefore)/float64(n), "heap-B/vec")
			b.ReportMetric(float64(rssAnon(b))/(1<<20), "rss-anon-MiB")
			b.ReportMetric(c.build.Seconds(), "build-s")
			b.ReportMetric(c.load.Seconds(), "load-s")
		})
	}
}

// compactSweep returns the (EfSearch, Rerank) pairs to measure, from
// EDGERAG_DENSE_EF ("40:10,64:40,...") or a default sweep.
func compactSweep(b *testing.B) []struct{ ef, rerank int } {
	spec := os.Getenv("EDGERAG_DENSE_EF")
	if spec == "" {
		spec = "40:10,40:20,40:40,64:20,64:40,100:40,160:40"
	}
	var out []struct{ ef, rerank int }
	for _, pair := range strings.Split(spec, ",") {
		e, r, ok := strings.Cut(pair, ":")
		ef, err1 := strconv.Atoi(e)
		rr, err2 := strconv.Atoi(r)
		if !ok || err1 != nil || err2 != nil {
			b.Fatalf("EDGERAG_DENSE_EF=%q: give ef:rerank pairs such as 64:40,100:40", spec)
		}
		out = append(out, struct{ ef, rerank int }{ef, rr})
	}
	return out
}

// compactBench is the loaded graph and its queries.
type compactBench struct {
	x          *HNSW
	qs         [][]float32
	truth      [][]Hit
	heapBefore uint64
	build      time.Duration
	load       time.Duration // LoadCompact from the cached file
}

var compactBenches = map[int]*compactBench{}

func compactCache(b *testing.B, n int) *compactBench {
	if c := compactBenches[n]; c != nil {
		return c
	}
	home, err := os.UserHomeDir()
	if err != nil {
		b.Fatal(err)
	}
	dir := filepath.Join(home, ".cache", "edgerag", "dense-bench", fmt.Sprintf("n=%d", n))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	graph, vecs, truthPath, buildPath := filepath.Join(dir, "graph.idx"), filepath.Join(dir, "vectors.f32"), filepath.Join(dir, "truth.bin"), filepath.Join(dir, "build-time")
	_, gerr := os.Stat(graph)
	if os.Getenv("REUSE") == "0" || gerr != nil {
		buildCompact(b, n, graph, vecs, buildPath)
	}
	c := &compactBench{qs: benchQueriesFor(n)}
	// The queries beside the vectors, for the peers (scripts/bench-dense-peers.py).
	var qraw []byte
	for _, q := range c.qs {
		for _, x := range q {
			qraw = binary.LittleEndian.AppendUint32(qraw, math.Float32bits(x))
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "queries.f32"), qraw, 0o644); err != nil {
		b.Fatal(err)
	}
	if s, err := os.ReadFile(buildPath); err == nil {
		c.build, _ = time.ParseDuration(strings.TrimSpace(string(s)))
	}
	f, err := os.Open(vecs)
	if err != nil {
		b.Fatal(err)
	}
	// Not closed: the loaded graph is cached for the process's other
	// benchmarks (compactBenches), which rerank from this file.
	c.truth = exactTruth(b, f, n, c.qs, truthPath)
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	c.heapBefore = ms.HeapAlloc
	g, err := os.Open(graph)
	if err != nil {
		b.Fatal(err)
	}
	defer g.Close()
	t0 := time.Now()
	if c.x, err = LoadCompact(bufio.NewReaderSize(g, 1<<20), f, Config{}); err != nil {
		b.Fatal(err)
	}
	c.load = time.Since(t0)
	debug.FreeOSMemory()
	compactBenches[n] = c
	return c
}

// streamClustered calls fn with the vectors clustered(n, benchDim, 1000, 3)
// returns, one at a time, without holding them.
func streamClustered(n int, fn func(i int, v []float32)) {
	r := rand.New(rand.NewPCG(3, 2))
	centres := uniform(1000, benchDim, 3+1000)
	for i := range n {
		fn(i, jitter(r, centres[r.IntN(len(centres))]))
	}
}

// benchQueriesFor returns the clustered fixture's queries.
func benchQueriesFor(int) [][]float32 {
	centres := uniform(1000, benchDim, 3+1000)
	r := rand.New(rand.NewPCG(4, 4))
	qs := make([][]float32, benchQueries)
	for i := range qs {
		qs[i] = jitter(r, centres[r.IntN(len(centres))])
	}
	return qs
}

func buildCompact(b *testing.B, n int, graph, vecs, buildPath string) {
	f, err := os.Create(vecs)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	x := NewCompactHNSW(Config{Dim: benchDim, Seed: 1}, f)
	start := time.Now()
	streamClustered(n, func(i int, v []float32) {
		if err := x.Add(uint32(i), v); err != nil {
			b.Fatal(err)
		}
		if (i+1)%100_000 == 0 {
			b.Logf("built %d of %d in %v", i+1, n, time.Since(start).Round(time.Second))
		}
	})
	took := time.Since(start)
	var buf bytes.Buffer
	if _, err := x.WriteTo(&buf); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(graph, buf.Bytes(), 0o644); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(buildPath, []byte(took.String()), 0o644); err != nil {
		b.Fatal(err)
	}
}

// exactTruth returns the exact top-10 of each query over the vector file,
// scanning it in blocks, and caches it beside the file.
func exactTruth(b *testing.B, f *os.File, n int, qs [][]float32, path string) [][]Hit {
	if data, err := os.ReadFile(path); err == nil && len(data) == len(qs)*benchK*8 && os.Getenv("REUSE") != "0" {
		truth := make([][]Hit, len(qs))
		for i := range truth {
			for j := range benchK {
				p := data[(i*benchK+j)*8:]
				truth[i] = append(truth[i], Hit{ID: binary.LittleEndian.Uint32(p), Score: math.Float32frombits(binary.LittleEndian.Uint32(p[4:]))})
			}
		}
		return truth
	}
	heaps := make([][]Hit, len(qs))
	const rowsPer = 4096
	raw := make([]byte, rowsPer*benchDim*4)
	v := make([]float32, benchDim)
	for start := 0; start < n; start += rowsPer {
		m := min(rowsPer, n-start)
		if _, err := f.ReadAt(raw[:m*benchDim*4], int64(start)*benchDim*4); err != nil {
			b.Fatal(err)
		}
		for r := range m {
			for j := range v {
				v[j] = math.Float32frombits(binary.LittleEndian.Uint32(raw[(r*benchDim+j)*4:]))
			}
			for qi, q := range qs {
				c := Hit{ID: uint32(start + r), Score: dot(q, v)}
				if len(heaps[qi]) < benchK || !worse(c, heaps[qi][0]) {
					heaps[qi] = offer(heaps[qi], benchK, c)
				}
			}
		}
	}
	var out []byte
	for _, h := range heaps {
		sortBest(h)
		for _, x := range h {
			out = binary.LittleEndian.AppendUint32(out, x.ID)
			out = binary.LittleEndian.AppendUint32(out, math.Float32bits(x.Score))
		}
	}
	if err := os.WriteFile(path, out, 0o644); err != nil {
		b.Fatal(err)
	}
	return heaps
}

// rssAnon returns the process's anonymous resident memory in bytes, from
// /proc/self/status (0 where there is none).
func rssAnon(b *testing.B) int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "RssAnon:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb << 10
		}
	}
	return 0
}
