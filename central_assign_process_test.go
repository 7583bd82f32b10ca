package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/sync/assign"
	"github.com/edgerag/edgerag/sync/lease"
	"github.com/edgerag/edgerag/sync/lease/etcdtest"
	"github.com/edgerag/edgerag/sync/objstore/s3test"
)

// advert is a replica's membership value as the test reads it from etcd.
type advert struct {
	Addr     string   `json:"addr"`
	Shards   []string `json:"shards"`
	Assigned []string `json:"assigned"`
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

// replicaFleet is central replicas that split the index: etcd and
// versitygw started by the test, a central A that ingests and publishes
// the shards (not one of the replicas that split them: it holds every
// shard, the single central of the comparisons), and replicas started
// with --shard-replicas.
type replicaFleet struct {
	t        *testing.T
	tls      string
	keys     string
	etcd     *etcdtest.Server
	watch    *lease.Lease
	a        *proc
	shards   []string
	replicas map[string]*proc // by QUIC address
}

const replicaTTL = 3 * time.Second

// newReplicaFleet starts the servers and A, and publishes n shards of 10
// documents each.
func newReplicaFleet(t *testing.T, n int) *replicaFleet {
	s := s3test.Start(t, "fleet")
	f := &replicaFleet{t: t, etcd: etcdtest.Start(t), replicas: map[string]*proc{}}
	for _, kv := range s.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	f.tls, f.keys = fleetDir(t, "central", "edge-1", "edge-2"), t.TempDir()
	mustCLI(t, "sync", "keygen", "--out", f.keys)
	var err error
	if f.watch, err = lease.New(lease.Config{URL: f.etcd.URL("prod"), Name: "test-watcher", TTL: replicaTTL}); err != nil {
		t.Fatal(err)
	}
	f.a = f.central()
	for i := range n {
		name := fmt.Sprintf("plant-%02d", i)
		f.shards = append(f.shards, name)
		var docs []api.Document
		for j := range 10 {
			docs = append(docs, api.Document{ID: fmt.Sprintf("doc-%d-%02d", i, j), Shard: name, Title: fmt.Sprintf("Line %d machine %d", i, j),
				Body: fmt.Sprintf("Machine %d of line %d is reset with code zq%dx%d; its lamp blinks %d times.", j, i, i, j, j%5+1)})
		}
		if _, err := testClient(f.a.url).Ingest(context.Background(), docs); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(3 * replicaTTL); ; time.Sleep(100 * time.Millisecond) {
			out, err := exec.Command(binary, "publish", "--shard", name, "--node", f.a.url, "--token", tokenOf(f.a.url)).CombinedOutput()
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("publish %s: %v\n%s", name, err, out)
			}
		}
	}
	return f
}

func (f *replicaFleet) central(extra ...string) *proc {
	return startProc(f.t, append([]string{"central", "--data", f.t.TempDir(), "--http", "127.0.0.1:0", "--quic", "127.0.0.1:0",
		"--tls-dir", f.tls, "--name", "central", "--sync-key", filepath.Join(f.keys, "sync.key"), "--no-sync",
		"--sync-store", "s3://fleet/prod", "--sync-lease", f.etcd.URL("prod"), "--sync-lease-ttl", replicaTTL.String()}, extra...))
}

// replica starts a replica holding its share, each shard on factor.
func (f *replicaFleet) replica(factor int) *proc {
	p := f.central("--shard-replicas", strconv.Itoa(factor))
	f.replicas[p.quic] = p
	return p
}

// view reads the live replicas from etcd and what each serves.
func (f *replicaFleet) view() map[string]advert {
	f.t.Helper()
	ms, _, err := f.watch.Members(context.Background())
	if err != nil {
		f.t.Fatal(err)
	}
	out := map[string]advert{}
	for _, m := range ms {
		var a advert
		if json.Unmarshal(m.Value, &a) == nil && a.Addr != "" {
			out[m.Name] = a
		}
	}
	return out
}

// waitSettled waits until the live replicas are exactly want (QUIC
// addresses) and each serves what assign gives it.
func (f *replicaFleet) waitSettled(want []string, factor int, within time.Duration) (time.Duration, map[string]advert) {
	f.t.Helper()
	start := time.Now()
	for {
		v := f.view()
		var names, addrs []string
		for name, a := range v {
			names, addrs = append(names, name), append(addrs, a.Addr)
		}
		slices.Sort(addrs)
		ok := slices.Equal(addrs, slices.Sorted(slices.Values(want)))
		as := assign.Assign(names, f.shards, assign.Config{Replicas: factor})
		for name, a := range v {
			ok = ok && slices.Equal(a.Shards, as.Held(name))
		}
		if ok {
			return time.Since(start), v
		}
		if time.Since(start) > within {
			f.t.Fatalf("replicas did not settle on %v within %v: %+v", want, within, v)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// holdsOnlyShare checks that each replica's store holds only what it
// serves: what it filled before the others joined is dropped once they
// serve it.
func (f *replicaFleet) holdsOnlyShare(view map[string]advert) {
	f.t.Helper()
	for name, adv := range view {
		var held []string
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			st, err := testClient(f.replicas[adv.Addr].url).Status(context.Background())
			if err != nil {
				f.t.Fatal(err)
			}
			held = held[:0]
			for _, sh := range st.Shards {
				held = append(held, sh.Name)
			}
			slices.Sort(held)
			if slices.Equal(held, adv.Shards) {
				break
			}
			if time.Now().After(deadline) {
				f.t.Fatalf("replica %s holds %v, serves %v: it should hold only its share", name, held, adv.Shards)
			}
		}
	}
}

// edge starts an edge holding nothing, escalating to centrals.
func (f *replicaFleet) edge(name, centrals string) *proc {
	return startProc(f.t, []string{"serve", "--data", f.t.TempDir(), "--http", "127.0.0.1:0", "--tls-dir", f.tls, "--name", name,
		"--central", centrals, "--query-timeout", "4s", "--central-cooldown", "300ms"})
}

// ask sends a question of shard i through e and checks the answer: from
// central, citing only that shard; it returns who answered.
func (f *replicaFleet) ask(e *proc, i int) (string, time.Duration, error) {
	q := api.QueryRequest{Question: fmt.Sprintf("What code resets machine 3 of line %d?", i), Shard: f.shards[i], K: 3}
	start := time.Now()
	r, err := testClient(e.url).Query(context.Background(), q)
	took := time.Since(start)
	if err != nil {
		return "", took, err
	}
	if r.Route != "central" || r.Degraded || len(r.Citations) == 0 {
		return "", took, fmt.Errorf("shard %s: route %q degraded %v reasons %v citations %d", f.shards[i], r.Route, r.Degraded, r.Reasons, len(r.Citations))
	}
	for _, c := range r.Citations {
		if c.Shard != f.shards[i] {
			return "", took, fmt.Errorf("the answer to a question of %s cites %s (%s)", f.shards[i], c.Shard, c.ChunkID)
		}
	}
	if !strings.Contains(r.Citations[0].Snippet, fmt.Sprintf("zq%dx", i)) {
		return "", took, fmt.Errorf("shard %s: the first passage is not of that line: %q", f.shards[i], r.Citations[0].Snippet)
	}
	return r.Node, took, nil
}

// holders lists the replicas view says serve shard.
func holders(view map[string]advert, shard string) []string {
	var out []string
	for name, adv := range view {
		if slices.Contains(adv.Shards, shard) {
			out = append(out, name)
		}
	}
	return out
}

// kill kills with SIGKILL the replica of view serving the most shards and
// returns its name and the live replicas' addresses.
func (f *replicaFleet) kill(view map[string]advert) (string, []string) {
	f.t.Helper()
	var victim string
	for name, adv := range view {
		if victim == "" || len(adv.Shards) > len(view[victim].Shards) {
			victim = name
		}
	}
	p := f.replicas[view[victim].Addr]
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		f.t.Fatal(err)
	}
	p.cmd.Wait()
	delete(f.replicas, view[victim].Addr)
	var live []string
	for addr := range f.replicas {
		live = append(live, addr)
	}
	return victim, live
}

// TestReplicasHoldAssignedShards runs central replicas that each hold only
// the shards assigned to them (--shard-replicas 1), with membership and the
// publisher lease in a real etcd and the published versions in a real
// S3-compatible server (versitygw). A publishes sixteen shards; three
// replicas B, C, D fill their shares from the bucket and advertise them;
// an edge that knows B, C and D asks a question of every shard, and every
// answer comes from the replica holding it and cites only that shard. One
// replica killed with SIGKILL: its shards are reassigned to the others,
// filled and answered again within a bound the test measures. A new
// replica joins, takes a share and answers for it, reached through the
// others. Escalation latency to the replicas is logged beside that to a
// single central holding every shard (A), in the same run.
func TestReplicasHoldAssignedShards(t *testing.T) {
	// Sixteen shards: when a replica joins the two left after the kill,
	// the load bound (1.25 × the even share of three, 7) leaves those two
	// room for 14, so the one that joins takes a share whatever the hashes.
	f := newReplicaFleet(t, 16)
	var addrs []string
	for range 3 {
		addrs = append(addrs, f.replica(1).quic)
	}
	took, view := f.waitSettled(addrs, 1, 30*time.Second)
	t.Logf("three replicas filled their shares from the bucket and advertised them in %v: %+v", took, view)
	f.holdsOnlyShare(view)
	toReplicas := f.edge("edge-1", strings.Join(addrs, ","))
	toSingle := f.edge("edge-2", f.a.quic)
	var viaReplicas, viaSingle []time.Duration
	for round := range 3 {
		for i := range f.shards {
			by, took, err := f.ask(toReplicas, i)
			if err != nil {
				t.Fatal(err)
			}
			if want := holders(view, f.shards[i]); !slices.Equal([]string{by}, want) {
				t.Fatalf("the question of %s was answered by %q; %v holds it", f.shards[i], by, want)
			}
			_, took1, err := f.ask(toSingle, i)
			if err != nil {
				t.Fatal(err)
			}
			if round > 0 { // the first round opens connections
				viaReplicas, viaSingle = append(viaReplicas, took), append(viaSingle, took1)
			}
		}
	}
	t.Logf("escalation latency, median of %d: to the replicas (forwarded to the holder when the edge's first replica lacks the shard) %v; to a single central holding every shard %v",
		len(viaReplicas), median(viaReplicas), median(viaSingle))

	lost := view
	victim, live := f.kill(view)
	killedAt := time.Now()
	_, view = f.waitSettled(live, 1, 30*time.Second)
	reassigned := time.Since(killedAt)
	// Every shard answered again, by its new holder.
	for i := range f.shards {
		for {
			by, _, err := f.ask(toReplicas, i)
			if err == nil && slices.Equal([]string{by}, holders(view, f.shards[i])) {
				break
			}
			if time.Since(killedAt) > 30*time.Second {
				t.Fatalf("after the kill, %s is not answered by its holder %v: by %q, %v", f.shards[i], holders(view, f.shards[i]), by, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	served := time.Since(killedAt)
	t.Logf("kill -9 of %s (serving %v): shards reassigned and advertised after %v, every shard answered by its holder after %v (membership TTL %v)",
		victim, lost[victim].Shards, reassigned, served, replicaTTL)
	if served > 4*replicaTTL {
		t.Errorf("serving every shard again took %v after the kill; want within 4×TTL (%v)", served, 4*replicaTTL)
	}

	// A new replica joins: it takes a share, and the edge, which does not
	// know its address, is answered by it through the others.
	joined := f.replica(1)
	took, view = f.waitSettled(append(live, joined.quic), 1, 30*time.Second)
	mine := view[holdersOf(view, joined.quic)].Shards
	if len(mine) == 0 {
		t.Fatalf("the new replica took no shard: %+v", view)
	}
	f.holdsOnlyShare(view)
	for i := range f.shards {
		if by, _, err := f.ask(toReplicas, i); err != nil || !slices.Equal([]string{by}, holders(view, f.shards[i])) {
			t.Fatalf("after the join, %s answered by %q (%v); %v holds it", f.shards[i], by, err, holders(view, f.shards[i]))
		}
	}
	t.Logf("a new replica joined and served %v after %v", mine, took)
}

// holdersOf returns the name of the replica at addr in view.
func holdersOf(view map[string]advert, addr string) string {
	for name, a := range view {
		if a.Addr == addr {
			return name
		}
	}
	return ""
}

// TestReplicatedShardsSurviveKill: with every shard on two of three
// replicas (--shard-replicas 2), a replica killed with SIGKILL costs no
// answer: every question asked right after the kill is answered, citing
// its shard, by a replica that holds it (the other holder, or the one the
// shard goes to once the dead key expired). The slowest answer is logged.
func TestReplicatedShardsSurviveKill(t *testing.T) {
	f := newReplicaFleet(t, 6)
	var addrs []string
	for range 3 {
		addrs = append(addrs, f.replica(2).quic)
	}
	_, view := f.waitSettled(addrs, 2, 30*time.Second)
	f.holdsOnlyShare(view)
	e := f.edge("edge-1", strings.Join(addrs, ","))
	for i := range f.shards {
		if _, _, err := f.ask(e, i); err != nil {
			t.Fatal(err)
		}
	}
	victim, _ := f.kill(view)
	killedAt := time.Now()
	var slowest time.Duration
	for round := range 2 {
		for i := range f.shards {
			by, took, err := f.ask(e, i)
			if err != nil {
				t.Fatalf("round %d after the kill of %s: %v", round, victim, err)
			}
			// A holder from before the kill, or, once the dead key expired,
			// one the shard was reassigned to.
			if by == victim || !slices.Contains(append(holders(view, f.shards[i]), holders(f.view(), f.shards[i])...), by) {
				t.Fatalf("%s answered by %q; its holders are %v (%s was killed)", f.shards[i], by, holders(view, f.shards[i]), victim)
			}
			slowest = max(slowest, took)
		}
	}
	t.Logf("kill -9 of %s: %d questions answered by a live holder in the %v after it, the slowest in %v (query deadline 4 s, membership TTL %v)",
		victim, 2*len(f.shards), time.Since(killedAt), slowest, replicaTTL)
}
