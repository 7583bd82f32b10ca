// Command bleve is the bleve side of scripts/bench-peers.sh: it indexes the
// analysed corpus that `benchpeers export` wrote (one chunk a line, terms
// split by spaces) with BM25 at edgerag's k1 0.9 and b 0.4, and times the
// same questions. It is its own module so bleve never enters edgerag's
// dependencies.
//
//	bleve ingest CHUNKS.txt INDEXDIR
//	bleve query INDEXDIR QUERIES.txt
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/custom"
	"github.com/blevesearch/bleve/v2/analysis/tokenizer/whitespace"
	"github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/query"
)

func main() {
	search.BM25_k1, search.BM25_b = 0.9, 0.4
	var err error
	switch {
	case len(os.Args) == 4 && os.Args[1] == "ingest":
		err = ingest(os.Args[2], os.Args[3], "")
	case len(os.Args) == 5 && os.Args[1] == "ingest":
		err = ingest(os.Args[2], os.Args[3], os.Args[4])
	case len(os.Args) == 4 && os.Args[1] == "query":
		err = queries(os.Args[2], os.Args[3])
	default:
		err = fmt.Errorf("usage: bleve ingest CHUNKS INDEXDIR [TEXTS] | bleve query INDEXDIR QUERIES")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bleve:", err)
		os.Exit(1)
	}
}

// ingest indexes the analysed chunks; with texts (one a line, as
// benchpeers export writes them) it also stores each chunk's text,
// unindexed, as an engine that answers with passages must.
func ingest(chunks, dir, texts string) error {
	im := bleve.NewIndexMapping()
	im.ScoringModel = "bm25"
	if err := im.AddCustomAnalyzer("ws", map[string]any{"type": custom.Name, "tokenizer": whitespace.Name}); err != nil {
		return err
	}
	im.DefaultAnalyzer = "ws"
	dm := bleve.NewDocumentMapping()
	f := bleve.NewTextFieldMapping()
	f.Analyzer, f.Store, f.IncludeTermVectors, f.IncludeInAll = "ws", false, false, false
	dm.AddFieldMappingsAt("t", f)
	x := bleve.NewTextFieldMapping()
	x.Index, x.Store, x.IncludeTermVectors, x.IncludeInAll, x.DocValues = false, true, false, false, false
	dm.AddFieldMappingsAt("x", x)
	im.DefaultMapping = dm
	cpu0, t0 := cpuTime(), time.Now()
	ix, err := bleve.New(dir, im)
	if err != nil {
		return err
	}
	in, err := os.Open(chunks)
	if err != nil {
		return err
	}
	defer in.Close()
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	var ts *bufio.Scanner
	if texts != "" {
		tf, err := os.Open(texts)
		if err != nil {
			return err
		}
		defer tf.Close()
		ts = bufio.NewScanner(tf)
		ts.Buffer(make([]byte, 1<<20), 1<<24)
	}
	b := ix.NewBatch()
	n := 0
	for sc.Scan() {
		doc := map[string]string{"t": sc.Text()}
		if ts != nil && ts.Scan() {
			doc["x"] = ts.Text()
		}
		if err := b.Index(strconv.Itoa(n), doc); err != nil {
			return err
		}
		n++
		if b.Size() == 4000 { // edgerag's batches: 1,000 documents of four chunks
			if err := ix.Batch(b); err != nil {
				return err
			}
			b.Reset()
		}
	}
	if err := ix.Batch(b); err != nil {
		return err
	}
	if err := ix.Close(); err != nil {
		return err
	}
	wall, cpu := time.Since(t0), cpuTime()-cpu0
	return emit(map[string]any{"step": "ingest", "engine": "bleve", "chunks": n,
		"wall_s": wall.Seconds(), "cpu_s": cpu.Seconds(),
		"chunks_per_s": float64(n) / wall.Seconds(), "chunks_per_cpu_s": float64(n) / cpu.Seconds(),
		"peak_rss_mb": peakRSS(), "disk_mb": diskMB(dir)})
}

func queries(dir, qfile string) error {
	raw, err := os.ReadFile(qfile)
	if err != nil {
		return err
	}
	lines := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
	cpu0, t0 := cpuTime(), time.Now()
	ix, err := bleve.Open(dir)
	if err != nil {
		return err
	}
	defer ix.Close()
	openWall, openCPU := time.Since(t0), cpuTime()-cpu0
	runtime.LockOSThread()
	run := func(line string) error {
		var qs []query.Query
		for _, t := range strings.Fields(line) {
			tq := bleve.NewTermQuery(t)
			tq.SetField("t")
			qs = append(qs, tq)
		}
		if len(qs) == 0 {
			return nil
		}
		req := bleve.NewSearchRequestOptions(bleve.NewDisjunctionQuery(qs...), 10, 0, false)
		_, err := ix.Search(req)
		return err
	}
	for _, l := range lines[:min(200, len(lines))] {
		if err := run(l); err != nil {
			return err
		}
	}
	var wall, cpu []time.Duration
	for _, l := range lines {
		c0, w0 := threadCPU(), time.Now()
		if err := run(l); err != nil {
			return err
		}
		wall, cpu = append(wall, time.Since(w0)), append(cpu, threadCPU()-c0)
	}
	st := procStatus()
	return emit(map[string]any{"step": "query", "engine": "bleve", "questions": len(lines),
		"open_wall_ms": ms(openWall), "open_cpu_ms": ms(openCPU),
		"p50_ms": ms(pct(wall, 50)), "p99_ms": ms(pct(wall, 99)),
		"cpu_p50_ms": ms(pct(cpu, 50)), "cpu_p99_ms": ms(pct(cpu, 99)),
		"rss_mb": st["VmRSS"], "rss_anon_mb": st["RssAnon"], "rss_file_mb": st["RssFile"], "disk_mb": diskMB(dir)})
}

func pct(d []time.Duration, p int) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[min(len(s)-1, len(s)*p/100)]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func emit(v map[string]any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Println(string(b))
	return err
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func threadCPU() time.Duration {
	var ts syscall.Timespec
	const clockThreadCPUTime = 3
	_, _, _ = syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTime, uintptr(unsafe.Pointer(&ts)), 0)
	return time.Duration(ts.Nano())
}

func peakRSS() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Maxrss) / 1024
}

func procStatus() map[string]float64 {
	out := map[string]float64{}
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return out
	}
	for _, line := range strings.Split(string(b), "\n") {
		var key string
		var kb float64
		if _, err := fmt.Sscanf(strings.Replace(line, ":", " ", 1), "%s %f kB", &key, &kb); err == nil {
			out[key] = kb / 1024
		}
	}
	return out
}

func diskMB(dir string) float64 {
	var total int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				if st, ok := fi.Sys().(*syscall.Stat_t); ok {
					total += st.Blocks * 512
				}
			}
		}
		return nil
	})
	return float64(total) / (1 << 20)
}
