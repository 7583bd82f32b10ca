package vector

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"
)

// The benchmarks measure what the issue asks for: top-10 over 100k × 384
// unit vectors, uniform (the hard case) and clustered in 1000 Gaussian
// clusters (closer to real embeddings), one query at a time. Run on one
// core, without the race detector:
//
//	go test -run XXX -bench . -cpu 1 -benchtime 1000x -timeout 30m ./node/vector/
//
// Each reports p50 and p99 latency over 200 queries (each run several
// times; see runQueries) and recall@10 against the exact scan; those over
// all 100k vectors also report the heap and stored bytes per vector, and
// HNSW the seconds its build took. Building the 100k graph
// takes about a minute, so the first run stores it (and its build time) in
// the temp directory via WriteTo and later runs load it; delete
// $TMPDIR/edgerag-vector-bench-* to rebuild.

const (
	benchN, benchDim, benchK = 100_000, 384, 10
	benchQueries             = 200
)

// fixture is one data set with its queries and exact answers.
type fixture struct {
	name    string
	vs, qs  [][]float32
	truth   [][]Hit
	indexes map[string]*benchIndex
}

// benchIndex is an index of the whole fixture and what it cost.
type benchIndex struct {
	Index
	heap  uint64        // bytes it holds after garbage collection
	build time.Duration // for HNSW: inserting all vectors
}

// fixtures are built once per process; generating them and the ground
// truth takes several seconds each.
var fixtures = map[string]*fixture{}

func benchFixture(b *testing.B, name string) *fixture {
	if f := fixtures[name]; f != nil {
		return f
	}
	f := &fixture{name: name, indexes: map[string]*benchIndex{}}
	switch name {
	case "uniform":
		f.vs, f.qs = uniform(benchN, benchDim, 1), uniform(benchQueries, benchDim, 2)
	case "clustered":
		var centres [][]float32
		f.vs, centres = clustered(benchN, benchDim, 1000, 3)
		// Queries are new points from the same clusters, not stored vectors.
		r := rand.New(rand.NewPCG(4, 4))
		for range benchQueries {
			f.qs = append(f.qs, jitter(r, centres[r.IntN(len(centres))]))
		}
	}
	ex := f.index(b, KindExact)
	for _, q := range f.qs {
		t, err := ex.Search(q, benchK, nil)
		if err != nil {
			b.Fatal(err)
		}
		f.truth = append(f.truth, t)
	}
	fixtures[name] = f
	return f
}

// index returns the fixture's index of a kind, building (or for HNSW,
// loading from the temp directory) on first use.
func (f *fixture) index(b *testing.B, kind string) *benchIndex {
	if x := f.indexes[kind]; x != nil {
		return x
	}
	bi := &benchIndex{}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	if kind == KindHNSW {
		bi.Index, bi.build = f.hnsw(b)
	} else {
		bi.Index = newKind(b, kind, benchDim)
		fill(b, bi.Index, seqIDs(len(f.vs)), f.vs)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	bi.heap = after.HeapAlloc - before.HeapAlloc
	f.indexes[kind] = bi
	return bi
}

// hnsw loads the fixture's graph from the temp directory or builds and
// stores it there, returning the time the build took.
func (f *fixture) hnsw(b *testing.B) (Index, time.Duration) {
	cfg := Config{Dim: benchDim, Seed: 1}.withDefaults()
	path := filepath.Join(os.TempDir(), fmt.Sprintf("edgerag-vector-bench-%s-%d-M%d-efc%d.idx", f.name, benchN, cfg.M, cfg.EfConstruction))
	if data, err := os.ReadFile(path); err == nil {
		x, err := Load(bytes.NewReader(data))
		s, err2 := os.ReadFile(path + ".build")
		took, err3 := time.ParseDuration(string(s))
		if err == nil && err2 == nil && err3 == nil && x.Len() == benchN {
			return x, took
		}
	}
	x := NewHNSW(cfg)
	start := time.Now()
	fill(b, x, seqIDs(len(f.vs)), f.vs)
	took := time.Since(start)
	var buf bytes.Buffer
	if _, err := x.WriteTo(&buf); err != nil {
		b.Fatal(err)
	}
	_ = os.WriteFile(path, buf.Bytes(), 0o644)
	_ = os.WriteFile(path+".build", []byte(took.String()), 0o644)
	return x, took
}

// reportSize reports the index's heap and stored bytes per vector.
func reportSize(b *testing.B, x *benchIndex) {
	stored, err := x.WriteTo(io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(x.heap)/benchN, "heap-B/vec")
	b.ReportMetric(float64(stored)/benchN, "stored-B/vec")
}

// runQueries searches the fixture's queries round-robin, timing each, and
// reports recall and latency percentiles over the queries. A query's
// latency is the median of its repetitions: the machine is shared, and a
// single sample can include time the thread spent descheduled.
func runQueries(b *testing.B, f *fixture, x Index) {
	b.Helper()
	dst := make([]Hit, 0, benchK)
	var sum float64
	for i, q := range f.qs { // warms the scratch, and measures recall
		dst, _ = x.Search(q, benchK, dst[:0])
		sum += recall(dst, f.truth[i])
	}
	const maxReps = 64
	lat := make([][]time.Duration, len(f.qs))
	cpu := make([][]time.Duration, len(f.qs))
	for i := range lat {
		lat[i] = make([]time.Duration, 0, maxReps)
		cpu[i] = make([]time.Duration, 0, maxReps)
	}
	// One OS thread, so that its CPU clock is the query's.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		qi := i % len(f.qs)
		t0, c0 := time.Now(), threadCPU()
		dst, _ = x.Search(f.qs[qi], benchK, dst[:0])
		if l := &lat[qi]; len(*l) < cap(*l) {
			*l = append(*l, time.Since(t0))
			cpu[qi] = append(cpu[qi], threadCPU()-c0)
		}
	}
	b.StopTimer()
	us := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }
	wall, cpus := perQueryMedians(lat), perQueryMedians(cpu)
	b.ReportMetric(us(wall[len(wall)/2]), "p50-µs")
	b.ReportMetric(us(wall[len(wall)*99/100]), "p99-µs")
	b.ReportMetric(us(cpus[len(cpus)/2]), "cpu-p50-µs")
	b.ReportMetric(us(cpus[len(cpus)*99/100]), "cpu-p99-µs")
	b.ReportMetric(sum/float64(len(f.qs)), "recall@10")
}

// perQueryMedians returns each query's median over its repetitions, sorted.
func perQueryMedians(samples [][]time.Duration) []time.Duration {
	var out []time.Duration
	for _, l := range samples {
		if len(l) > 0 {
			slices.Sort(l)
			out = append(out, l[len(l)/2])
		}
	}
	slices.Sort(out)
	return out
}

// BenchmarkScan: exact and int8 scans over the first n vectors; at n=100k
// the exact scan is the baseline, at 4096 and 12288 they are Choose's
// thresholds.
func BenchmarkScan(b *testing.B) {
	for _, data := range []string{"uniform", "clustered"} {
		for _, kind := range []string{KindExact, KindInt8} {
			for _, n := range []int{4096, 12288, benchN} {
				b.Run(data+"/"+kind+"/n="+strconv.Itoa(n), func(b *testing.B) {
					f := benchFixture(b, data)
					var x Index
					if n == benchN {
						bi := f.index(b, kind)
						defer reportSize(b, bi) // after runQueries resets metrics
						x = bi
					} else {
						x = newKind(b, kind, benchDim)
						fill(b, x, seqIDs(n), f.vs[:n])
					}
					sub := &fixture{name: data, qs: f.qs, truth: f.truth}
					if n != benchN {
						ex := NewExact(benchDim)
						fill(b, ex, seqIDs(n), f.vs[:n])
						sub.truth = nil
						for _, q := range f.qs {
							t, _ := ex.Search(q, benchK, nil)
							sub.truth = append(sub.truth, t)
						}
					}
					runQueries(b, sub, x)
				})
			}
		}
	}
}

// BenchmarkHNSW: the 100k graph at several search widths.
func BenchmarkHNSW(b *testing.B) {
	for _, data := range []string{"uniform", "clustered"} {
		for _, ef := range []int{40, 64, 100} {
			b.Run(data+"/ef="+strconv.Itoa(ef), func(b *testing.B) {
				f := benchFixture(b, data)
				bi := f.index(b, KindHNSW)
				if err := bi.Index.(*HNSW).SetEfSearch(ef); err != nil {
					b.Fatal(err)
				}
				runQueries(b, f, bi)
				reportSize(b, bi)
				b.ReportMetric(bi.build.Seconds(), "build-s")
			})
		}
	}
}
