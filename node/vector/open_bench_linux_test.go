package vector

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// BenchmarkCompactOpen measures what a restart costs with a saved compact
// graph: opening the cached graph of EDGERAG_DENSE_N vectors (see
// BenchmarkCompactHNSW, which builds the cache) with LoadCompactMapped over a private mapping, from
// the page cache ("warm") and with the graph file's pages first dropped
// from it ("cold", posix_fadvise DONTNEED on that file only), then serving
// the queries at EfSearchFor(n). It reports the opening's seconds (wall
// and the thread's CPU, page faults included), recall,
// latency, and the process's anonymous and file-backed RSS per vector. Run
// it alone, so that nothing else in the process holds memory:
//
//	EDGERAG_DENSE_N=1000000 go test -run XXX -bench CompactOpen -cpu 1 -benchtime 2000x -timeout 1h ./node/vector/
func BenchmarkCompactOpen(b *testing.B) {
	n := denseN(b)
	home, err := os.UserHomeDir()
	if err != nil {
		b.Fatal(err)
	}
	dir := filepath.Join(home, ".cache", "edgerag", "dense-bench", fmt.Sprintf("n=%d", n))
	graph := filepath.Join(dir, "graph.idx")
	if _, err := os.Stat(graph); err != nil {
		b.Skipf("no cached graph of %d vectors (%v): run BenchmarkCompactHNSW with EDGERAG_DENSE_N=%d first", n, err, n)
	}
	vf, err := os.Open(filepath.Join(dir, "vectors.f32"))
	if err != nil {
		b.Fatal(err)
	}
	defer vf.Close()
	qs := benchQueriesFor(n)
	truth := exactTruth(b, vf, n, qs, filepath.Join(dir, "truth.bin"))
	for _, cold := range []bool{false, true} {
		name := "warm"
		if cold {
			name = "cold"
		}
		b.Run(fmt.Sprintf("n=%d/%s", n, name), func(b *testing.B) {
			if cold {
				dropCache(b, graph)
			}
			debug.FreeOSMemory()
			anon0, file0 := rss(b)
			runtime.LockOSThread() // so the thread's CPU clock is the opening's
			t0, c0 := time.Now(), threadCPU()
			x, err := loadCompactFile(graph, vf, Config{})
			if err != nil {
				b.Fatal(err)
			}
			open, openCPU := time.Since(t0), threadCPU()-c0
			runtime.UnlockOSThread()
			if err := x.SetEfSearch(EfSearchFor(n)); err != nil {
				b.Fatal(err)
			}
			runQueries(b, &fixture{qs: qs, truth: truth}, x)
			runtime.GC()
			anon, file := rss(b)
			b.ReportMetric(open.Seconds(), "open-s")
			b.ReportMetric(openCPU.Seconds(), "open-cpu-s")
			b.ReportMetric(float64(anon-anon0)/float64(n), "anon-B/vec")
			b.ReportMetric(float64(file-file0)/float64(n), "file-B/vec")
			b.ReportMetric(float64(anon)/(1<<20), "rss-anon-MiB")
			b.ReportMetric(float64(EfSearchFor(n)), "ef")
			runtime.KeepAlive(x)
		})
		debug.FreeOSMemory()
	}
}

// rss returns the process's anonymous and file-backed resident bytes.
func rss(b *testing.B) (anon, file int64) {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		for key, dst := range map[string]*int64{"RssAnon:": &anon, "RssFile:": &file} {
			if rest, ok := strings.CutPrefix(line, key); ok {
				kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
				if err != nil {
					b.Fatal(err)
				}
				*dst = kb << 10
			}
		}
	}
	return anon, file
}

// dropCache asks the kernel to drop one file's pages from the page cache.
func dropCache(b *testing.B, path string) {
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		b.Skipf("posix_fadvise: %v", err)
	}
}
