// Command benchpeers measures edgerag's BM25 retrieval on the synthetic
// benchmark corpus and exports that corpus, analysed, for the peers that
// scripts/bench-peers.sh measures beside it (Xapian, bleve). Each step runs
// in its own process so that peak memory belongs to one engine:
//
//	benchpeers export -chunks N -out DIR   corpus and questions for the peers
//	benchpeers ingest -chunks N -data DIR  build an edgerag node, fsync on
//	benchpeers query -data DIR -questions DIR/questions.txt [-memory-limit BYTES] [-repeat N]
//	benchpeers generate -chunks N          the generator's own CPU, which
//	                                       ingest's figures include
//
// Every step prints one JSON object of figures. Peers are given edgerag's
// analysed terms (stopwords dropped, Porter-stemmed) so that all engines
// index and search the same terms and differ only in how.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/edgerag/edgerag/node"
	"github.com/edgerag/edgerag/node/analysis"
	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/node/chunk"
	"github.com/edgerag/edgerag/node/evalset"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: benchpeers export|ingest|query [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "export":
		err = export(os.Args[2:])
	case "ingest":
		err = ingest(os.Args[2:])
	case "query":
		err = query(os.Args[2:])
	case "generate":
		err = generate(os.Args[2:])
	default:
		err = fmt.Errorf("unknown step %q: want export, ingest or query", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchpeers:", err)
		os.Exit(1)
	}
}

// corpus is the generator of `make bench`'s corpora scaled to n chunks:
// four ~90-word sections a document, one chunk each.
func corpus(chunks int) evalset.Synthetic {
	return evalset.Synthetic{Docs: chunks / 4, SectionsPerDoc: 4, WordsPerSection: 90, Vocabulary: 50000, Seed: 1}
}

const nQuestions = 2000

// export writes DIR/chunks.txt (one chunk a line: its analysed terms, title
// and heading included, as the node indexes them), DIR/queries.txt (the
// analysed terms of each question) and DIR/questions.txt (the questions).
func export(args []string) error {
	fl := flag.NewFlagSet("export", flag.ExitOnError)
	n := fl.Int("chunks", 100000, "corpus size in chunks")
	out := fl.String("out", "", "output directory")
	_ = fl.Parse(args)
	if *out == "" {
		return errors.New("export: -out DIR is required")
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	an := analysis.New()
	cf, err := os.Create(filepath.Join(*out, "chunks.txt"))
	if err != nil {
		return err
	}
	defer cf.Close()
	w := bufio.NewWriterSize(cf, 1<<20)
	// The chunk texts too, one a line (newlines as spaces, same bytes), for
	// a peer to store as document data: an engine that answers with
	// passages keeps them, as edgerag does.
	tf, err := os.Create(filepath.Join(*out, "texts.txt"))
	if err != nil {
		return err
	}
	defer tf.Close()
	tw := bufio.NewWriterSize(tf, 1<<20)
	syn := corpus(*n)
	rng := rand.New(rand.NewPCG(7, 7))
	every := max(1, syn.Docs/nQuestions)
	var questions []string
	count := 0
	err = syn.Generate(func(d evalset.Doc) error {
		pieces, err := chunk.Chunk(chunk.FormatMarkdown, d.Text, chunk.Options{})
		if err != nil {
			return err
		}
		title := an.Terms(d.Title)
		for _, p := range pieces {
			terms := append(slices.Clone(title), an.Terms(p.Heading)...)
			terms = an.AppendTerms(terms, p.Text)
			fmt.Fprintln(w, strings.Join(terms, " "))
			fmt.Fprintln(tw, strings.ReplaceAll(p.Text, "\n", " "))
			count++
		}
		if count/4%every == 0 && len(questions) < nQuestions {
			questions = append(questions, syn.Query(rng, d.Text))
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var qs, qt strings.Builder
	for _, q := range questions {
		qs.WriteString(q + "\n")
		qt.WriteString(strings.Join(an.Terms(q), " ") + "\n")
	}
	if err := os.WriteFile(filepath.Join(*out, "questions.txt"), []byte(qs.String()), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(*out, "queries.txt"), []byte(qt.String()), 0o644); err != nil {
		return err
	}
	return emit(map[string]any{"step": "export", "chunks": count, "questions": len(questions)})
}

// ingest builds a node of n chunks as `edgerag ingest` does: batches of
// 1,000 documents, two in flight, fsync on.
func ingest(args []string) error {
	fl := flag.NewFlagSet("ingest", flag.ExitOnError)
	n := fl.Int("chunks", 100000, "corpus size in chunks")
	data := fl.String("data", "", "node data directory (must not exist)")
	limit := fl.Int64("memory-limit", 0, "Go soft memory limit in bytes, as serve --memory-limit")
	prof := fl.String("cpuprofile", "", "write a CPU profile of the ingest here")
	screen := fl.Bool("screen", false, "run the trust screen at ingest (the peers have none)")
	heap := fl.String("heapprofile", "", "write a heap profile here when the last batch is in, before closing")
	_ = fl.Parse(args)
	if *limit > 0 {
		debug.SetMemoryLimit(*limit)
	}
	if *prof != "" {
		f, err := os.Create(*prof)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	ctx := context.Background()
	anon := watchAnon()
	defer anon.stop()
	nd, err := node.New(node.Config{DataDir: *data, DisableScreening: !*screen})
	if err != nil {
		return err
	}
	if err := nd.Open(ctx); err != nil {
		return err
	}
	next := make(chan []api.Document, 1)
	errc := make(chan error, 2)
	var wg sync.WaitGroup
	var mu sync.Mutex
	chunks := 0
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for batch := range next {
				resp, err := nd.Ingest(ctx, batch)
				if err != nil {
					errc <- err
					continue
				}
				mu.Lock()
				for _, d := range resp.Documents {
					chunks += d.Chunks
				}
				mu.Unlock()
			}
		}()
	}
	cpu0, t0 := cpuTime(), time.Now()
	var batch []api.Document
	err = corpus(*n).Generate(func(d evalset.Doc) error {
		batch = append(batch, api.Document{ID: d.ID, Title: d.Title, Format: "markdown", Body: d.Text})
		if len(batch) == 1000 {
			next <- batch
			batch = nil
		}
		return nil
	})
	if len(batch) > 0 {
		next <- batch
	}
	close(next)
	wg.Wait()
	wall, cpu := time.Since(t0), cpuTime()-cpu0
	if err != nil {
		return err
	}
	select {
	case err := <-errc:
		return err
	default:
	}
	if err := heapProfile(*heap); err != nil {
		return err
	}
	if err := nd.Close(); err != nil {
		return err
	}
	return emit(map[string]any{
		"step": "ingest", "engine": map[bool]string{false: "edgerag", true: "edgerag+screen"}[*screen], "chunks": chunks,
		"wall_s": wall.Seconds(), "cpu_s": cpu.Seconds(),
		"chunks_per_s": float64(chunks) / wall.Seconds(), "chunks_per_cpu_s": float64(chunks) / cpu.Seconds(),
		"peak_rss_mb": peakRSS(), "peak_anon_mb": anon.stop(), "disk_mb": diskMB(*data),
	})
}

// generate runs the corpus generator alone, as ingest runs it, and reports
// its CPU time: ingest generates the documents in the process it measures,
// while the peers read a file, so this part of edgerag's ingest CPU is the
// benchmark's, not the engine's.
func generate(args []string) error {
	fl := flag.NewFlagSet("generate", flag.ExitOnError)
	n := fl.Int("chunks", 100000, "corpus size in chunks")
	_ = fl.Parse(args)
	cpu0, t0 := cpuTime(), time.Now()
	docs := 0
	var batch []api.Document
	err := corpus(*n).Generate(func(d evalset.Doc) error {
		batch = append(batch, api.Document{ID: d.ID, Title: d.Title, Format: "markdown", Body: d.Text})
		if docs++; len(batch) == 1000 {
			batch = nil
		}
		return nil
	})
	if err != nil {
		return err
	}
	return emit(map[string]any{"step": "generate", "chunks": *n, "documents": docs,
		"wall_s": time.Since(t0).Seconds(), "cpu_s": (cpuTime() - cpu0).Seconds()})
}

// query opens the node, times it to ready, then asks every question in
// process (wall and thread CPU time each) and over HTTP on loopback.
func query(args []string) error {
	fl := flag.NewFlagSet("query", flag.ExitOnError)
	data := fl.String("data", "", "node data directory")
	qfile := fl.String("questions", "", "questions, one a line")
	limit := fl.Int64("memory-limit", 0, "Go soft memory limit in bytes, as serve --memory-limit")
	prof := fl.String("open-cpuprofile", "", "write a CPU profile of opening the node here")
	heap := fl.String("heapprofile", "", "write a heap profile here after the questions")
	qprof := fl.String("cpuprofile", "", "write a CPU profile of the in-process questions here")
	hprof := fl.String("http-cpuprofile", "", "write a CPU profile of the questions over HTTP here")
	repeat := fl.Int("repeat", 1, "ask the in-process questions this many times more and report each question's least CPU time too (cpu_min_p50_ms, cpu_min_p99_ms): on a shared machine the least of several runs is the question's own cost, the rest the neighbours'")
	_ = fl.Parse(args)
	if *limit > 0 {
		debug.SetMemoryLimit(*limit)
	}
	stopOpen, err := cpuProfile(*prof)
	if err != nil {
		return err
	}
	raw, err := os.ReadFile(*qfile)
	if err != nil {
		return err
	}
	questions := strings.Split(strings.TrimSpace(string(raw)), "\n")
	ctx := context.Background()
	anon := watchAnon()
	defer anon.stop()
	cpu0, t0 := cpuTime(), time.Now()
	nd, err := node.New(node.Config{DataDir: *data})
	if err != nil {
		return err
	}
	if err := nd.Open(ctx); err != nil {
		return err
	}
	openWall, openCPU := time.Since(t0), cpuTime()-cpu0
	stopOpen()
	defer nd.Close()

	// In process, on one locked thread so its CPU clock is the query's.
	runtime.LockOSThread()
	for _, q := range questions[:min(200, len(questions))] { // warm up
		if _, err := nd.Search(ctx, q, "", 10); err != nil {
			return err
		}
	}
	stopQuestions, err := cpuProfile(*qprof)
	if err != nil {
		return err
	}
	var wall, cpu []time.Duration
	var is phaseStats
	is.start()
	for _, q := range questions {
		c0, w0 := threadCPU(), time.Now()
		if _, err := nd.Search(ctx, q, "", 10); err != nil {
			return err
		}
		wall, cpu = append(wall, time.Since(w0)), append(cpu, threadCPU()-c0)
	}
	is.stop(len(questions))
	least := slices.Clone(cpu)
	for range max(*repeat, 1) - 1 {
		for i, q := range questions {
			c0 := threadCPU()
			if _, err := nd.Search(ctx, q, "", 10); err != nil {
				return err
			}
			least[i] = min(least[i], threadCPU()-c0)
		}
	}
	runtime.UnlockOSThread()
	stopQuestions()

	hw, hs, err := askHTTP(ctx, nd, questions, *hprof)
	if err != nil {
		return err
	}
	st := procStatus()
	if err := heapProfile(*heap); err != nil {
		return err
	}
	return emit(map[string]any{
		"step": "query", "engine": "edgerag", "questions": len(questions),
		"open_wall_ms": ms(openWall), "open_cpu_ms": ms(openCPU),
		"p50_ms": ms(pct(wall, 50)), "p99_ms": ms(pct(wall, 99)),
		"cpu_p50_ms": ms(pct(cpu, 50)), "cpu_p99_ms": ms(pct(cpu, 99)),
		"cpu_min_p50_ms": ms(pct(least, 50)), "cpu_min_p99_ms": ms(pct(least, 99)), "repeat": max(*repeat, 1),
		"http_p50_ms": ms(pct(hw, 50)), "http_p99_ms": ms(pct(hw, 99)),
		"proc_cpu_ms_per_q": is.cpuPerQ, "gc_cycles": is.gcs, "minflt": is.minflt, "majflt": is.majflt,
		"http_cpu_ms_per_q": hs.cpuPerQ, "http_gc_cycles": hs.gcs, "http_gc_pause_ms": hs.pauseMS,
		"http_minflt": hs.minflt, "http_majflt": hs.majflt,
		"rss_mb": st["VmRSS"], "rss_anon_mb": st["RssAnon"], "rss_file_mb": st["RssFile"],
		"peak_anon_mb": anon.stop(), "disk_mb": diskMB(*data),
	})
}

// askHTTP asks the questions over HTTP on loopback, after the first 200 as
// a warm-up, and returns each one's wall time and the phase's process
// costs; a CPU profile of the timed questions goes to prof unless it is "".
func askHTTP(ctx context.Context, nd *node.Node, questions []string, prof string) ([]time.Duration, phaseStats, error) {
	srv := httptest.NewServer(api.NewHandler(nd, nil))
	defer srv.Close()
	c := api.NewClient(srv.URL, srv.Client())
	warm := min(200, len(questions))
	var hw []time.Duration
	var hs phaseStats
	for i, q := range append(questions[:warm:warm], questions...) {
		if i == warm {
			stop, err := cpuProfile(prof)
			if err != nil {
				return nil, hs, err
			}
			defer stop()
			hs.start()
		}
		w0 := time.Now()
		if _, err := c.Query(ctx, api.QueryRequest{Question: q}); err != nil {
			return nil, hs, err
		}
		if i >= warm {
			hw = append(hw, time.Since(w0))
		}
	}
	hs.stop(len(hw))
	return hw, hs, nil
}

// cpuProfile starts a CPU profile written to path (none when path is
// empty) and returns what stops it.
func cpuProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// heapProfile writes a heap profile to path, if one is given.
func heapProfile(path string) error {
	if path == "" {
		return nil
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return pprof.WriteHeapProfile(f)
}

func pct(d []time.Duration, p float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return evalset.Percentile(s, p)
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

// threadCPU is the calling thread's CPU time, to the nanosecond
// (CLOCK_THREAD_CPUTIME_ID; getrusage counts in scheduler ticks).
func threadCPU() time.Duration {
	var ts syscall.Timespec
	const clockThreadCPUTime = 3
	_, _, _ = syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTime, uintptr(unsafe.Pointer(&ts)), 0)
	return time.Duration(ts.Nano())
}

// phaseStats is what a phase of questions cost the whole process (client,
// server and answer path together): CPU per question, collections and
// their pauses, and page faults (major ones are reads of the mapped
// snapshot or tables from disk).
type phaseStats struct {
	cpu0           time.Duration
	gc0, pause0    uint64
	min0, maj0     int64
	cpuPerQ        float64
	gcs            uint64
	pauseMS        float64
	minflt, majflt int64
}

func (p *phaseStats) read() (cpu time.Duration, gcs, pause uint64, minflt, majflt int64) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), uint64(ms.NumGC), ms.PauseTotalNs, int64(ru.Minflt), int64(ru.Majflt) // int32 on 32-bit Linux
}

func (p *phaseStats) start() { p.cpu0, p.gc0, p.pause0, p.min0, p.maj0 = p.read() }

func (p *phaseStats) stop(questions int) {
	cpu, gcs, pause, minflt, majflt := p.read()
	p.cpuPerQ = ms(cpu-p.cpu0) / float64(max(questions, 1))
	p.gcs, p.pauseMS = gcs-p.gc0, float64(pause-p.pause0)/1e6
	p.minflt, p.majflt = minflt-p.min0, majflt-p.maj0
}

func peakRSS() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Maxrss) / 1024
}

// anonWatch samples the process's anonymous resident memory: ru_maxrss
// also counts the pages of memory-mapped files (Badger's tables, the
// postings), which are page cache the kernel reclaims under pressure.
type anonWatch struct {
	done chan struct{}
	peak chan float64
}

func watchAnon() *anonWatch {
	w := &anonWatch{done: make(chan struct{}), peak: make(chan float64, 1)}
	go func() {
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		peak := 0.0
		for {
			peak = max(peak, procStatus()["RssAnon"])
			select {
			case <-w.done:
				w.peak <- peak
				return
			case <-t.C:
			}
		}
	}()
	return w
}

// stop ends the sampling and returns the peak in MB; later calls return 0.
func (w *anonWatch) stop() float64 {
	select {
	case <-w.done:
		return 0
	default:
	}
	close(w.done)
	return <-w.peak
}

// procStatus returns /proc/self/status's memory lines in MB.
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
					total += st.Blocks * 512 // allocated, as du counts
				} else {
					total += fi.Size()
				}
			}
		}
		return nil
	})
	return float64(total) / (1 << 20)
}
