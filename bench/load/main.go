//go:build benchload

// Command load is the surge benchmark behind 'make bench-load': it starts an
// edgerag node as a child process on loopback, loads a dataset's corpus,
// finds the node's query and ingest capacity with a closed loop, measures
// latency at half that load, then offers a multiple of capacity open-loop
// (requests sent on a fixed schedule whatever the answers, so that a slow
// node cannot slow the offered load down) for queries alone and for queries
// plus ingest. It reports goodput, p50/p99 of accepted requests against the
// normal run, refusals by status and how fast they came, peak RSS, and
// acknowledged writes lost after a kill -9 and restart.
//
// The node and the generator are pinned to different CPUs (by default the
// halves of the machine's; --node-cpus, --gen-cpus), so that capacity and
// overload are measured in the same placement and the generator's CPU,
// which it reports, does not come out of the node's.
//
// With -perf DIR (and an unstripped -bin, perf on the machine) it records a
// perf profile of the node per run: the split of the node's CPU between
// answers, refusals and the runtime, which unlike goodput as a share of
// capacity does not move with the CPU share a busy machine leaves the node.
//
// It lives behind a build tag so that 'go test ./...' and 'go vet ./...'
// never build it by accident; run it with make bench-load.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/node/evalset"
)

func main() {
	bin := flag.String("bin", "bin/edgerag", "edgerag binary to run")
	dataset := flag.String("dataset", "../shared/eval/squad-v1.1-dev", "dataset whose corpus the node holds and whose questions are asked")
	dur := flag.Duration("duration", 30*time.Second, "length of each overload run")
	factor := flag.Float64("factor", 10, "offered load as a multiple of capacity")
	memLimit := flag.String("memory-limit", "200MiB", "the node's --memory-limit")
	timeout := flag.Duration("client-timeout", 5*time.Second, "a client gives up after this long")
	nodeCPUs := flag.String("node-cpus", "", "CPUs the node runs on (taskset list); default: the second half of the CPUs when there are 2 or more, \"-\": not pinned")
	genCPUs := flag.String("gen-cpus", "", "CPUs the generator runs on; default: the first half")
	perfDir := flag.String("perf", "", "directory for a perf profile of the node per run (run1: normal, run2: queries, run3: mixed); needs perf and an unstripped -bin")
	flag.Parse()
	if *nodeCPUs == "" && *genCPUs == "" && runtime.NumCPU() >= 2 {
		half := runtime.NumCPU() / 2
		*genCPUs, *nodeCPUs = cpuRange(0, half-1), cpuRange(half, runtime.NumCPU()-1)
	}
	if _, err := exec.LookPath("taskset"); err != nil && *nodeCPUs != "" && *nodeCPUs != "-" {
		fmt.Fprintln(os.Stderr, "bench-load: taskset (util-linux) not found: running unpinned")
		*nodeCPUs = "-"
	}
	if *nodeCPUs == "-" {
		*nodeCPUs, *genCPUs = "", ""
	}
	if *genCPUs != "" {
		if err := pin(*genCPUs); err != nil {
			fmt.Fprintln(os.Stderr, "bench-load:", err)
			os.Exit(1)
		}
		// The runtime sized itself for every CPU; one P per CPU left.
		runtime.GOMAXPROCS(countCPUs(*genCPUs))
	}
	if err := run(*bin, *dataset, *dur, *factor, *memLimit, *timeout, *nodeCPUs, *genCPUs, *perfDir); err != nil {
		fmt.Fprintln(os.Stderr, "bench-load:", err)
		os.Exit(1)
	}
}

type child struct {
	cmd   *exec.Cmd
	url   string
	token string
	logs  *bytes.Buffer
}

func start(bin, data, memLimit, cpus string) (*child, error) {
	ready := filepath.Join(data, "..", "ready")
	_ = os.Remove(ready)
	c := &child{logs: new(bytes.Buffer)}
	args := []string{"serve", "--data", data, "--http", "127.0.0.1:0", "--name", "load",
		"--memory-limit", memLimit, "--log-level", "error", "--ready-file", ready}
	c.cmd = exec.Command(bin, args...)
	if cpus != "" {
		// taskset execs the node in place: the pid is the node's.
		c.cmd = exec.Command("taskset", append([]string{"-c", cpus, bin}, args...)...)
	}
	c.cmd.Stdout, c.cmd.Stderr = c.logs, c.logs
	if err := c.cmd.Start(); err != nil {
		return nil, err
	}
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if b, err := os.ReadFile(ready); err == nil && strings.HasSuffix(string(b), "\n") {
			c.url = strings.Fields(string(b))[0]
			tok, err := os.ReadFile(filepath.Join(data, "admin.token"))
			if err != nil {
				return nil, fmt.Errorf("the node's admin token: %w", err)
			}
			c.token = strings.TrimSpace(string(tok))
			return c, nil
		}
	}
	_ = c.cmd.Process.Kill()
	return nil, fmt.Errorf("node did not start:\n%s", c.logs)
}

// rss returns the child's resident set in bytes.
func (c *child) rss() int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", c.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// goroutines reads go_goroutines from the node's metrics.
func (c *child) goroutines() int {
	req, err := http.NewRequest(http.MethodGet, c.url+"/metrics", nil)
	if err != nil {
		return -1
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
			n, _ := strconv.ParseFloat(v, 64)
			return int(n)
		}
	}
	return -1
}

type result struct {
	kind       string // query or ingest
	status     int    // 0: client error or timeout
	timeout    bool
	latency    time.Duration // from sending the request
	sched      time.Duration // from the time it was due (open loop)
	retryAfter bool
	id         string // ingest: the document id
}

type loader struct {
	addr    string
	src     *source
	timeout time.Duration
	// perfDir, when set, receives a perf profile of the node per run
	// (perf record -g): where the node's CPU went, which unlike goodput
	// does not depend on the share of the CPU the machine leaves it.
	perfDir string
	runs    int
}

func (l *loader) do(c *conn, kind string) result {
	req, id := l.src.next(kind)
	start := time.Now()
	status, ra, err := c.roundTrip(req, l.timeout)
	r := result{kind: kind, id: id, latency: time.Since(start), status: status, retryAfter: ra}
	if err != nil {
		r.timeout, r.status = true, 0
	}
	return r
}

// marker is a word that only the document id carries, to find it again.
func marker(id string) string {
	return "zq" + strings.NewReplacer("-", "x").Replace(strings.TrimPrefix(id, "load-"))
}

// closed runs workers back to back for d, one connection each, and returns
// the rate of 200s.
func (l *loader) closed(kind string, workers int, d time.Duration) float64 {
	end := time.Now().Add(d)
	var ok atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &conn{addr: l.addr}
			defer func() {
				if c.c != nil {
					c.c.Close()
				}
			}()
			for time.Now().Before(end) {
				if r := l.do(c, kind); r.status == 200 {
					ok.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return float64(ok.Load()) / d.Seconds()
}

// open offers rate requests per second of kind for d, on schedule, through
// workers keep-alive connections, and returns every outcome. Latency
// counts from the time a request was due. A request that falls due while
// every connection is busy is counted as unsent rather than queued in the
// client: an unbounded client queue measures the generator, not the node.
func (l *loader) open(kind string, rate float64, d time.Duration, workers int, out chan<- result, unsent *atomic.Int64, wg *sync.WaitGroup) {
	defer wg.Done()
	due := make(chan time.Time)
	var inner sync.WaitGroup
	for range workers {
		inner.Add(1)
		go func() {
			defer inner.Done()
			c := &conn{addr: l.addr}
			defer func() {
				if c.c != nil {
					c.c.Close()
				}
			}()
			for at := range due {
				r := l.do(c, kind)
				r.sched = time.Since(at)
				out <- r
			}
		}()
	}
	begin := time.Now()
	total := int(rate * d.Seconds())
	for i := 0; i < total; i++ {
		at := begin.Add(time.Duration(float64(i) / rate * float64(time.Second)))
		// Sleep only for a while worth a wake-up; requests due meanwhile
		// go out together (their latency still counts from when due).
		if wait := time.Until(at); wait > time.Millisecond {
			time.Sleep(wait)
		}
		select {
		case due <- at:
		default:
			unsent.Add(1)
		}
	}
	close(due)
	inner.Wait()
}

type phase struct {
	name        string
	offered     map[string]float64
	results     []result
	unsent      map[string]*atomic.Int64
	peakRSS     int64
	goroutines5 int
	dur         time.Duration
	// CPU used during the run, in cores: the generator's and the node's.
	genCores, nodeCores float64
}

func (l *loader) overload(c *child, name string, rates map[string]float64, d time.Duration) phase {
	out := make(chan result, 1<<16)
	var wg sync.WaitGroup
	p := phase{name: name, offered: rates, dur: d, unsent: map[string]*atomic.Int64{}}
	for kind := range rates {
		p.unsent[kind] = new(atomic.Int64)
	}
	stop := make(chan struct{})
	var rssWG sync.WaitGroup
	rssWG.Add(1)
	go func() {
		defer rssWG.Done()
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				p.peakRSS = max(p.peakRSS, c.rss())
			}
		}
	}()
	l.runs++
	stopPerf := l.perf(c.cmd.Process.Pid, fmt.Sprintf("run%d", l.runs))
	gen0, node0, t0 := cpuOf(0), cpuOf(c.cmd.Process.Pid), time.Now()
	for kind, rate := range rates {
		wg.Add(1)
		go l.open(kind, rate, d, workersFor(kind), out, p.unsent[kind], &wg)
	}
	done := make(chan struct{})
	go func() {
		for r := range out {
			p.results = append(p.results, r)
		}
		close(done)
	}()
	wg.Wait()
	wall := time.Since(t0).Seconds()
	p.genCores = (cpuOf(0) - gen0).Seconds() / wall
	p.nodeCores = (cpuOf(c.cmd.Process.Pid) - node0).Seconds() / wall
	stopPerf()
	close(out)
	<-done
	close(stop)
	rssWG.Wait()
	time.Sleep(5 * time.Second)
	p.goroutines5 = c.goroutines()
	return p
}

// perf starts perf record on the node, if asked for, and returns what
// stops it.
func (l *loader) perf(pid int, name string) func() {
	if l.perfDir == "" {
		return func() {}
	}
	out := filepath.Join(l.perfDir, name+".data")
	cmd := exec.Command("perf", "record", "-q", "-F", "997", "-g", "-p", strconv.Itoa(pid), "-o", out)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "bench-load: perf:", err)
		return func() {}
	}
	return func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		fmt.Fprintf(os.Stderr, "bench-load: perf profile of the node: %s\n", out)
	}
}

// workersFor is the client's connections per kind: together below the
// node's per-client connection limit (512 by default), enough to keep
// many requests in flight when the node's CPU is shared.
func workersFor(kind string) int {
	if kind == "ingest" {
		return 96
	}
	return 400
}

func pct(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	return ds[min(len(ds)-1, int(float64(len(ds))*p))]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

func cpuRange(a, b int) string {
	if a == b {
		return strconv.Itoa(a)
	}
	return fmt.Sprintf("%d-%d", a, b)
}

func countCPUs(list string) int {
	set, _ := cpuSet(list)
	n := 0
	for _, w := range set {
		for ; w != 0; w &= w - 1 {
			n++
		}
	}
	return max(n, 1)
}

func run(bin, dataset string, dur time.Duration, factor float64, memLimit string, timeout time.Duration, nodeCPUs, genCPUs, perfDir string) error {
	ds, err := evalset.Open(dataset)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "edgerag-load-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	data := filepath.Join(tmp, "data")
	c, err := start(bin, data, memLimit, nodeCPUs)
	if err != nil {
		return err
	}
	defer func() { _ = c.cmd.Process.Kill(); _ = c.cmd.Wait() }()
	cl := api.NewClient(c.url, nil)
	cl.Token = c.token
	ctx := context.Background()
	var batch []api.Document
	chunks := 0
	err = ds.Corpus(func(d evalset.Doc) error {
		batch = append(batch, api.Document{ID: d.ID, Title: d.Title, Body: d.Text})
		if len(batch) == 200 {
			_, err := cl.Ingest(ctx, batch)
			batch = batch[:0]
			return err
		}
		return nil
	})
	if err == nil && len(batch) > 0 {
		_, err = cl.Ingest(ctx, batch)
	}
	if err != nil {
		return fmt.Errorf("load corpus: %w", err)
	}
	if st, err := cl.Status(ctx); err == nil {
		chunks = st.Chunks
	}
	src := &source{token: c.token}
	for _, q := range ds.Queries {
		b, _ := json.Marshal(api.QueryRequest{Question: q.Text, K: 5})
		src.queries = append(src.queries, request("/v1/query", c.token, string(b)))
	}
	l := &loader{addr: strings.TrimPrefix(c.url, "http://"), src: src, timeout: timeout, perfDir: perfDir}
	placement := "not pinned: node and generator share every CPU"
	if nodeCPUs != "" || genCPUs != "" {
		placement = fmt.Sprintf("node pinned to CPU %s, generator to CPU %s", nodeCPUs, genCPUs)
	}
	fmt.Printf("# bench-load %s\n\nmachine: %d CPUs (%s/%s), load average at start %s; %s; node: %s, --memory-limit %s; %d chunks; client timeout %s\n\n",
		time.Now().UTC().Format(time.RFC3339), runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, loadavg(), placement, bin, memLimit, chunks, timeout)

	pid := c.cmd.Process.Pid
	n0, g0, t0 := cpuOf(pid), cpuOf(0), time.Now()
	qcap := l.closed("query", 8, 5*time.Second)
	wall := time.Since(t0).Seconds()
	qNode, qGen := (cpuOf(pid)-n0).Seconds()/wall, (cpuOf(0)-g0).Seconds()/wall
	icap := l.closed("ingest", 4, 5*time.Second)
	fmt.Printf("capacity (closed loop, 8 query / 4 ingest clients, 5 s): queries %.0f/s, ingest %.0f/s; while measuring query capacity the node used %.2f cores (%.0f queries per node CPU-second) and the generator %.2f\n\n",
		qcap, icap, qNode, qcap/max(qNode, 0.01), qGen)
	normal := l.overload(c, "normal (0.5× capacity, queries)", map[string]float64{"query": qcap / 2}, 10*time.Second)
	q10 := l.overload(c, fmt.Sprintf("%.0f× capacity, queries", factor), map[string]float64{"query": factor * qcap}, dur)
	mixed := l.overload(c, fmt.Sprintf("%.0f× capacity, queries + ingest", factor), map[string]float64{"query": factor * qcap, "ingest": factor * icap}, dur)
	normalP99 := report(normal, 0, qcap, icap)
	report(q10, normalP99, qcap, icap)
	report(mixed, normalP99, qcap, icap)

	// Every acknowledged ingest must be there after a kill -9 and restart.
	var acked []string
	for _, p := range []phase{normal, q10, mixed} {
		for _, r := range p.results {
			if r.kind == "ingest" && r.status == 200 {
				acked = append(acked, r.id)
			}
		}
	}
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	_ = c.cmd.Wait()
	c2, err := start(bin, data, memLimit, nodeCPUs)
	if err != nil {
		return err
	}
	defer func() { _ = c2.cmd.Process.Kill(); _ = c2.cmd.Wait() }()
	cl2 := api.NewClient(c2.url, nil)
	cl2.Token = c2.token
	lost := 0
	for _, id := range acked {
		r, err := cl2.Query(ctx, api.QueryRequest{Question: marker(id), K: 1, Shard: "load"})
		if err != nil || len(r.Citations) == 0 || r.Citations[0].DocumentID != id {
			lost++
		}
	}
	fmt.Printf("acknowledged ingests lost after kill -9 and restart: %d of %d\n", lost, len(acked))
	return nil
}

// report prints one phase and returns the p99 of its accepted queries.
func report(p phase, normalP99 time.Duration, qcap, icap float64) time.Duration {
	fmt.Printf("## %s, %s\n\n", p.name, p.dur)
	var p99 time.Duration
	for _, kind := range []string{"query", "ingest"} {
		rate, ok := p.offered[kind]
		if !ok {
			continue
		}
		var accepted, refusedLat []time.Duration
		status := map[string]int{}
		withRA, timeouts := 0, 0
		for _, r := range p.results {
			if r.kind != kind {
				continue
			}
			switch {
			case r.timeout:
				timeouts++
				status["timeout/error"]++
			case r.status == 200:
				accepted = append(accepted, r.sched)
				status["200"]++
			default:
				status[strconv.Itoa(r.status)]++
				if r.status == 429 || r.status == 503 {
					refusedLat = append(refusedLat, r.latency)
					if r.retryAfter {
						withRA++
					}
				}
			}
		}
		capacity := qcap
		if kind == "ingest" {
			capacity = icap
		}
		good := float64(len(accepted)) / p.dur.Seconds()
		p50, p99k := pct(accepted, 0.5), pct(accepted, 0.99)
		if kind == "query" {
			p99 = p99k
		}
		fmt.Printf("- %s: due %.0f/s, sent %.0f/s (the rest found all %d client connections busy); goodput %.0f/s = %.0f%% of capacity; accepted p50 %s p99 %s (from when due)", kind, rate, rate-float64(p.unsent[kind].Load())/p.dur.Seconds(), workersFor(kind), good, 100*good/capacity, ms(p50), ms(p99k))
		if normalP99 > 0 && kind == "query" {
			fmt.Printf(" (%.2f× the normal p99 %s)", float64(p99k)/float64(normalP99), ms(normalP99))
		}
		keys := make([]string, 0, len(status))
		for k := range status {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		fmt.Printf("\n  statuses:")
		for _, k := range keys {
			fmt.Printf(" %s=%d", k, status[k])
		}
		if n := len(refusedLat); n > 0 {
			within := 0
			for _, d := range refusedLat {
				if d <= 10*time.Millisecond {
					within++
				}
			}
			fmt.Printf("\n  refusals: %d, %.0f%% with Retry-After, %.0f%% answered within 10 ms of sending, p50 %s p99 %s", n, 100*float64(withRA)/float64(n), 100*float64(within)/float64(n), ms(pct(refusedLat, 0.5)), ms(pct(refusedLat, 0.99)))
		}
		fmt.Println()
	}
	fmt.Printf("- CPU during the run: node %.2f cores, generator %.2f cores; the node answered %.0f queries per CPU-second it got\n",
		p.nodeCores, p.genCores, float64(countOK(p, "query"))/p.dur.Seconds()/max(p.nodeCores, 0.01))
	fmt.Printf("- peak RSS %.0f MB; goroutines 5 s after the load stopped: %d\n\n", float64(p.peakRSS)/(1<<20), p.goroutines5)
	return p99
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Join(strings.Fields(string(b))[:3], " ")
}

func countOK(p phase, kind string) int {
	n := 0
	for _, r := range p.results {
		if r.kind == kind && r.status == 200 {
			n++
		}
	}
	return n
}
