package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/node/evalset"
	"github.com/edgerag/edgerag/sync/fleet"
	"github.com/edgerag/edgerag/sync/manifest"
	"github.com/edgerag/edgerag/sync/objstore/s3test"
	"github.com/edgerag/edgerag/sync/pki"
	"github.com/edgerag/edgerag/sync/transport"
)

// BenchmarkFleetScale: two central replicas (child processes sharing their
// published versions in a real S3-compatible bucket, versitygw on loopback)
// and up to 1,000 simulated edges (fleetscale_edges_test.go: a real syncer
// and QUIC client each, in this process) that know both replicas
// (--central a,b; half list b first, as operators spread a fleet). Central
// holds a 100k-chunk shard every edge has applied; 1% of its documents
// change and central publishes; the benchmark reports central's CPU time
// (both processes, from /proc) per edge while the edges take the version,
// the bytes each edge's link carried against the bytes of the changed
// records, and the time until every edge applied it. Then the same with
// replica A killed (SIGKILL) once half the edges applied it.
//
// EDGERAG_FLEET_EDGES sets the fleet sizes, run in turn (default
// "10,100,1000"); EDGERAG_FLEET_POLL the edges' poll interval (default 2s);
// EDGERAG_FLEET_DOCS the documents of the shard (default 25,000: 100k
// chunks); EDGERAG_FLEET_APPLYING how many simulated edges may apply a
// version at once (default 32, see applySlots: a thousand edges applying
// at once do not fit one machine's memory, so at 1,000 edges the time
// until all applied includes the simulator's queueing, while central's
// CPU per edge does not depend on it).
// Run it with 'make bench-fleet' (which sets EDGERAG_BENCH_FLEET=1); it takes
// a few minutes.
func BenchmarkFleetScale(b *testing.B) {
	if os.Getenv("EDGERAG_BENCH_FLEET") == "" {
		b.Skip("minutes long: run it with 'make bench-fleet' (EDGERAG_BENCH_FLEET=1)")
	}
	sizes := []int{10, 100, 1000}
	if s := os.Getenv("EDGERAG_FLEET_EDGES"); s != "" {
		sizes = sizes[:0]
		for f := range strings.SplitSeq(s, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1 {
				b.Fatalf("EDGERAG_FLEET_EDGES=%q: want sizes like 10,100,1000", s)
			}
			sizes = append(sizes, n)
		}
	}
	poll := 2 * time.Second
	if s := os.Getenv("EDGERAG_FLEET_POLL"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			b.Fatal(err)
		}
		poll = d
	}
	docs := 25000
	if s := os.Getenv("EDGERAG_FLEET_DOCS"); s != "" {
		var err error
		if docs, err = strconv.Atoi(s); err != nil || docs < 100 {
			b.Fatalf("EDGERAG_FLEET_DOCS=%q: want a number of documents (4 chunks each), at least 100", s)
		}
	}
	applying := 32
	if s := os.Getenv("EDGERAG_FLEET_APPLYING"); s != "" {
		var err error
		if applying, err = strconv.Atoi(s); err != nil || applying < 1 {
			b.Fatalf("EDGERAG_FLEET_APPLYING=%q: want how many simulated edges may apply at once, at least 1", s)
		}
	}
	for range b.N {
		runFleetScale(b, sizes, poll, docs, make(applySlots, applying))
	}
}

// scaleFleet is the benchmark's world: the replicas, the keys, the seed
// edge whose store every new edge starts from.
type scaleFleet struct {
	b        *testing.B
	tls, ca  string
	pub      ed25519.PublicKey
	a, bb    *proc
	seed     *simEdge
	round    int
	changedB int64      // bytes of the records the last change made
	slots    applySlots // shared by every simulated edge but the seed
}

type simEdge struct {
	failed atomic.Int64 // sync passes that ended in an error
	name   string
	target *memTarget
	count  *byteCounter
	s      *fleet.Syncer
	close  func()
}

func runFleetScale(b *testing.B, sizes []int, poll time.Duration, docs int, slots applySlots) {
	ctx := context.Background()
	s3 := s3test.Start(b, "fleet")
	for _, kv := range s3.Env() {
		k, v, _ := strings.Cut(kv, "=")
		b.Setenv(k, v)
	}
	f := &scaleFleet{b: b, tls: b.TempDir(), ca: b.TempDir(), slots: slots}
	if err := pki.InitCA(f.ca, "scale", time.Now()); err != nil {
		b.Fatal(err)
	}
	if err := pki.IssueCert(f.ca, f.tls, "central", pki.RoleCentral, 24*time.Hour); err != nil {
		b.Fatal(err)
	}
	keys := b.TempDir()
	if out, err := exec.Command(binary, "sync", "keygen", "--out", keys).CombinedOutput(); err != nil {
		b.Fatalf("sync keygen: %v\n%s", err, out)
	}
	pubPEM, _ := os.ReadFile(filepath.Join(keys, "sync.pub"))
	var err error
	if f.pub, err = manifest.ParsePublicKey(pubPEM); err != nil {
		b.Fatal(err)
	}
	f.a = f.central(keys)
	f.bb = f.central(keys)

	start := time.Now()
	corpus := evalset.Synthetic{Docs: docs, SectionsPerDoc: 4, WordsPerSection: 90, Vocabulary: 20000, Seed: 2}
	f.ingest(ctx, corpus, nil)
	ingestTook := time.Since(start)
	start = time.Now()
	f.publish()
	b.Logf("central: %d documents (4 chunks each) ingested in %v, published to the bucket in %v", docs, ingestTook, time.Since(start))

	f.seed = f.newEdge(ctx, "seed", nil, poll)
	start = time.Now()
	if err := f.seed.s.SyncOnce(ctx); err != nil {
		b.Fatal(err)
	}
	st := f.seed.status()
	b.Logf("seed edge: version %d in %v: %d records (%d bytes), %d pages (%d bytes), link %d bytes in",
		st.Applied, time.Since(start), st.ChunksTotal, st.BytesTotal, st.PagesFetched, st.PageBytes, f.seed.count.recv.Load())

	for _, n := range sizes {
		f.roundOf(ctx, corpus, n, poll, false)
	}
	f.roundOf(ctx, corpus, sizes[len(sizes)-1], poll, true)
}

func (f *scaleFleet) central(keys string) *proc {
	b := f.b
	caCrt, _ := os.ReadFile(filepath.Join(f.ca, "ca.crt"))
	if err := os.WriteFile(filepath.Join(f.tls, "ca.crt"), caCrt, 0o644); err != nil {
		b.Fatal(err)
	}
	data := b.TempDir()
	ready := filepath.Join(b.TempDir(), "ready")
	p := &proc{logs: new(syncBuffer)}
	p.cmd = execCommand(binary, "central", "--data", data, "--http", "127.0.0.1:0", "--quic", "127.0.0.1:0", "--tls-dir", f.tls,
		"--name", "central", "--sync-key", filepath.Join(keys, "sync.key"), "--no-sync", "--sync-store", "s3://fleet/prod",
		"--log-level", "warn", "--ready-file", ready)
	// The log goes to a file that outlives the run: a replica that dies
	// in the middle must say why.
	logf, err := os.CreateTemp("", "fleetscale-central-*.log")
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("central log: %s", logf.Name())
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	if err := p.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			p.cmd.Wait()
		}
	})
	for deadline := time.Now().Add(60 * time.Second); ; {
		if readReady(ready, p) {
			registerToken(b, p.url, []string{"--data", data}, nil)
			return p
		}
		if time.Now().After(deadline) {
			b.Fatalf("central did not start:\n%s", p.logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ingest sends corpus documents to replica A: all of them, or those
// changed picks, with a new title and last sentence (so all their chunks
// change).
func (f *scaleFleet) ingest(ctx context.Context, corpus evalset.Synthetic, changed func(i int) bool) {
	suffix := ""
	if changed != nil {
		suffix = fmt.Sprintf(" Revised in round %d.", f.round)
	}
	cc := testClient(f.a.url)
	var batch []api.Document
	i := 0
	err := corpus.Generate(func(d evalset.Doc) error {
		defer func() { i++ }()
		if changed != nil && !changed(i) {
			return nil
		}
		batch = append(batch, api.Document{ID: d.ID, Shard: "manuals", Title: d.Title + suffix, Format: "markdown", Body: d.Text + suffix})
		if len(batch) == 500 {
			_, err := cc.Ingest(ctx, batch)
			batch = batch[:0]
			return err
		}
		return nil
	})
	if err == nil && len(batch) > 0 {
		_, err = cc.Ingest(ctx, batch)
	}
	if err != nil {
		f.b.Fatal(err)
	}
}

// publish cuts a new version on replica A. Publishing 100k records to the
// bucket can outlast the API's 2-minute write timeout (the CLI then sees
// EOF while the publish goes on), so a failed call waits for the version to
// appear instead.
func (f *scaleFleet) publish() {
	before := f.published()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, binary, "publish", "--shard", "manuals", "--node", f.a.url, "--token", tokenOf(f.a.url)).CombinedOutput()
	if err == nil && strings.Contains(string(out), "published shard manuals") {
		return
	}
	f.b.Logf("publish: %v (%s); waiting for the version to appear", err, strings.TrimSpace(string(out)))
	for f.published() <= before {
		if ctx.Err() != nil || f.a.cmd.ProcessState != nil {
			f.b.Fatalf("publish: %v (replica A exited: %v)\n%s", err, f.a.cmd.ProcessState, out)
		}
		time.Sleep(time.Second)
	}
}

// published returns the shard's latest version as replica A lists it.
func (f *scaleFleet) published() uint64 {
	raw, err := testClient(f.a.url).SyncStatus(context.Background())
	if err != nil {
		return 0
	}
	var st fleet.CentralStatus
	if err := json.Unmarshal(raw, &st); err != nil {
		f.b.Fatal(err)
	}
	for _, v := range st.Published {
		if v.Shard == "manuals" {
			return v.Version
		}
	}
	return 0
}

// newEdge makes a simulated edge on base (nil: empty) that knows both
// replicas, A first or B first.
func (f *scaleFleet) newEdge(ctx context.Context, name string, base *baseKV, poll time.Duration) *simEdge {
	b := f.b
	if base == nil {
		base = newBase(map[string][]byte{})
	}
	dir := filepath.Join(f.tls, "edges", name)
	if err := pki.IssueCert(f.ca, dir, name, pki.RoleEdge, 24*time.Hour); err != nil {
		b.Fatal(err)
	}
	id, err := pki.LoadIdentity(filepath.Join(f.tls, "ca.crt"), filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key"))
	if err != nil {
		b.Fatal(err)
	}
	cl := transport.NewClient(transport.Config{Identity: id})
	e := &simEdge{name: name, target: &memTarget{kv: newMemKV(base), ptrs: map[string]fleet.Pointer{}}, count: &byteCounter{Caller: cl}}
	spec := f.a.quic + "," + f.bb.quic
	if h := len(name); h > 0 && name[h-1]%2 == 1 {
		spec = f.bb.quic + "," + f.a.quic
	}
	g, err := transport.NewGroup(e.count, spec, transport.GroupConfig{})
	if err != nil {
		b.Fatal(err)
	}
	e.s, err = fleet.NewSyncer(fleet.SyncerConfig{Client: g, Central: g.Spec(), CentralName: "central",
		Trusted: []ed25519.PublicKey{f.pub}, Target: e.target, StageDir: filepath.Join(dir, "staging"), Poll: poll})
	if err != nil {
		b.Fatal(err)
	}
	e.close = func() { cl.Close(); os.RemoveAll(dir) }
	return e
}

func (e *simEdge) status() fleet.ShardStatus {
	for _, s := range e.s.Status().Shards {
		if s.Shard == "manuals" {
			return s
		}
	}
	return fleet.ShardStatus{}
}

// roundOf starts n edges holding the seed's version, changes 1% of the
// shard, publishes, and measures until all n applied it; kill: replica A
// is killed once half of them did.
func (f *scaleFleet) roundOf(ctx context.Context, corpus evalset.Synthetic, n int, poll time.Duration, kill bool) {
	b := f.b
	if kill && f.a.cmd.ProcessState != nil {
		return
	}
	base := newBase(f.seed.target.kv.snapshot())
	seedPtr, _ := f.seed.target.Pointer("manuals")
	edges := make([]*simEdge, n)
	for i := range edges {
		edges[i] = f.newEdge(ctx, fmt.Sprintf("edge-%d-%d", f.round, i), base, poll)
		edges[i].count.slots = f.slots
		edges[i].target.ptrs["manuals"] = seedPtr
		edges[i].target.applied.Store(seedPtr.Current)
	}
	// Central's CPU with no edge polling, over the window the idle polls
	// are measured in: what the replicas spend anyway (the pointer
	// listing of the bucket, Badger, the runtime).
	cpuA0, cpuB0 := procCPU(b, f.a.cmd.Process.Pid), procCPU(b, f.bb.cmd.Process.Pid)
	quietStart := time.Now()
	time.Sleep(2 * poll)
	quietCPU := procCPU(b, f.a.cmd.Process.Pid) + procCPU(b, f.bb.cmd.Process.Pid) - cpuA0 - cpuB0
	quietFor := time.Since(quietStart)
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	// Edges start spread over one poll interval, as a fleet's polls are.
	for i, e := range edges {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case <-time.After(time.Duration(i) * poll / time.Duration(n)):
			case <-runCtx.Done():
				return
			}
			runEdge(runCtx, e, poll)
		}()
	}
	// Idle polls first: what a fleet that has nothing to fetch costs.
	time.Sleep(poll + poll/2)
	cpuA0, cpuB0 = procCPU(b, f.a.cmd.Process.Pid), procCPU(b, f.bb.cmd.Process.Pid)
	polls0 := pollsOf(edges)
	idleStart := time.Now()
	time.Sleep(2 * poll)
	idleCPU := procCPU(b, f.a.cmd.Process.Pid) + procCPU(b, f.bb.cmd.Process.Pid) - cpuA0 - cpuB0
	idlePolls := pollsOf(edges) - polls0
	idleFor := time.Since(idleStart)

	f.round++
	round := f.round
	f.ingest(ctx, corpus, func(i int) bool { return i%100 == round%100 }) // 250 documents, 1,000 chunks
	f.publish()
	for _, e := range edges {
		e.count.sent.Store(0)
		e.count.recv.Store(0)
		e.count.fails.Store(0)
		e.failed.Store(0)
	}
	cpuA0, cpuB0 = procCPU(b, f.a.cmd.Process.Pid), procCPU(b, f.bb.cmd.Process.Pid)
	polls0 = pollsOf(edges)
	load0 := loadAvg()
	start := time.Now()
	// The seed takes the version too, to learn what changed.
	if err := f.seed.s.SyncOnce(ctx); err != nil {
		b.Fatal(err)
	}
	want := f.seed.target.applied.Load()
	seedSt := f.seed.status()
	killedAt := time.Duration(0)
	var cpuAtKill time.Duration
	for {
		done := 0
		for _, e := range edges {
			if e.target.applied.Load() >= want {
				done++
			}
		}
		if kill && killedAt == 0 && done >= n/2 {
			cpuAtKill = procCPU(b, f.a.cmd.Process.Pid)
			f.a.cmd.Process.Signal(syscall.SIGKILL)
			f.a.cmd.Wait()
			killedAt = time.Since(start)
		}
		if done == n {
			break
		}
		if time.Since(start) > 10*time.Minute {
			b.Fatalf("%d of %d edges applied version %d after 10 minutes", done, n, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
	took := time.Since(start)
	cpuA := cpuAtKill
	if !kill {
		cpuA = procCPU(b, f.a.cmd.Process.Pid)
	}
	cpu := cpuA - cpuA0 + procCPU(b, f.bb.cmd.Process.Pid) - cpuB0
	// Counted before the edges stop: stopping cancels calls in flight.
	polls := pollsOf(edges) - polls0
	var sent, recv, fails, passes int64
	pages, noticed, hit := 0, 0, 0
	var worst int64
	for _, e := range edges {
		sent += e.count.sent.Load()
		recv += e.count.recv.Load()
		f := e.count.fails.Load()
		fails += f
		if f > 0 {
			hit++
		}
		worst = max(worst, f)
		if n := e.failed.Load(); n > 0 {
			passes += n
			noticed++
		}
	}
	stop()
	wg.Wait()
	for _, e := range edges {
		pages += e.status().PagesFetched
		e.close()
	}
	idlePerPoll := (idleCPU.Seconds()/idleFor.Seconds() - quietCPU.Seconds()/quietFor.Seconds()) * poll.Seconds() * 1000 / float64(n)
	// The sync's own cost: central's CPU in the window less the replicas'
	// quiet work over the window and the cost of the polls made in it (at
	// the idle phase's CPU per poll). With the simulator's queueing at
	// 1,000 edges the window is longer than a real fleet's, and so is
	// that part of it.
	quietRate := quietCPU.Seconds() / quietFor.Seconds()
	perPoll := 0.0
	if idlePolls > 0 {
		perPoll = (idleCPU.Seconds() - quietRate*idleFor.Seconds()) / float64(idlePolls)
	}
	syncCPU := cpu.Seconds() - quietRate*took.Seconds() - perPoll*float64(polls)
	changed := seedSt.BytesTotal
	label := fmt.Sprintf("%d edges", n)
	if kill {
		label += fmt.Sprintf(", A killed at %.1f s", killedAt.Seconds())
	}
	b.Logf("%s: version %d (%d records, %d bytes changed; %d of %d pages): all applied in %.2f s; central CPU %.3f s = %.2f ms per edge, %.2f ms per edge net of polls (%d in the window) and quiet work; "+
		"per edge %d bytes in, %d out, in/changed %.3f, %.1f pages; calls failed or abandoned (each retried or hedged on the other replica) %d, on %d edges, at most %d on one; sync passes failed %d, on %d edges; "+
		"idle polls %.2f ms CPU per edge per poll interval (%.0f s), %.2f ms above central's CPU with no edge polling (%.0f ms/s); load %s; heap of this process %d MiB",
		label, want, seedSt.ChunksTotal, changed, seedSt.PagesFetched, seedSt.PagesTotal, took.Seconds(), cpu.Seconds(), cpu.Seconds()*1000/float64(n), syncCPU*1000/float64(n), polls,
		recv/int64(n), sent/int64(n), float64(recv)/float64(n)/float64(changed), float64(pages)/float64(n), fails, hit, worst, passes, noticed,
		idleCPU.Seconds()*1000/float64(n)/(idleFor.Seconds()/poll.Seconds()), poll.Seconds(), idlePerPoll, quietCPU.Seconds()*1000/quietFor.Seconds(), load0, heapMiB())
	suffix := strconv.Itoa(n)
	if kill {
		suffix += "_kill"
	}
	b.ReportMetric(took.Seconds(), "s_all_applied_"+suffix)
	b.ReportMetric(cpu.Seconds()*1000/float64(n), "central_cpu_ms_per_edge_"+suffix)
	b.ReportMetric(float64(recv)/float64(n)/float64(changed), "bytes_in_per_changed_"+suffix)
	b.ReportMetric(syncCPU*1000/float64(n), "central_sync_cpu_ms_per_edge_"+suffix)
	b.ReportMetric(idlePerPoll, "idle_poll_cpu_ms_above_quiet_"+suffix)
	b.ReportMetric(float64(noticed), "edges_pass_failed_"+suffix)
}

// pollsOf counts the polls the edges made so far.
func pollsOf(edges []*simEdge) int64 {
	var n int64
	for _, e := range edges {
		n += e.count.polls.Load()
	}
	return n
}

// runEdge is Syncer.Run for a simulated edge, which follows no config or
// models and gets no hints: a pass every poll interval; after each pass it
// gives back the apply slot the pass took (byteCounter), and counts the
// passes that failed, which are what an edge notices of a dead replica.
func runEdge(ctx context.Context, e *simEdge, poll time.Duration) {
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		if err := e.s.SyncOnce(ctx); err != nil && ctx.Err() == nil {
			e.failed.Add(1)
		}
		e.count.release()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func loadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func heapMiB() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse >> 20
}
