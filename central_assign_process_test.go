package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
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

// replicaView reads the live replicas and what each serves.
func replicaView(t *testing.T, l *lease.Lease) map[string]advert {
	t.Helper()
	ms, _, err := l.Members(context.Background())
	if err != nil {
		t.Fatal(err)
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

// settled reports whether the live replicas are exactly want (QUIC
// addresses) and each serves exactly what assign gives it over shards.
func settled(view map[string]advert, want []string, shards []string) bool {
	var names, addrs []string
	for name, a := range view {
		names, addrs = append(names, name), append(addrs, a.Addr)
	}
	slices.Sort(addrs)
	if !slices.Equal(addrs, slices.Sorted(slices.Values(want))) {
		return false
	}
	as := assign.Assign(names, shards, assign.Config{Replicas: 1})
	for name, a := range view {
		if !slices.Equal(a.Shards, as.Held(name)) {
			return false
		}
	}
	return true
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

// TestReplicasHoldAssignedShards runs central replicas that each hold only
// the shards assigned to them (--shard-replicas 1), with membership and the
// publisher lease in a real etcd and the published versions in a real
// S3-compatible server (versitygw). A publishes six shards; three replicas
// B, C, D fill their shares from the bucket and advertise them; an edge
// that knows B, C and D asks a question of every shard, and every answer
// comes from the replica holding it and cites only that shard. One replica
// killed with SIGKILL: its shards are reassigned to the others, filled and
// answered again within a bound the test measures. A new replica joins,
// takes a share and answers for it, reached through the others. Escalation
// latency to the replicas is logged beside that to a single central
// holding every shard (A), in the same run.
func TestReplicasHoldAssignedShards(t *testing.T) {
	s := s3test.Start(t, "fleet")
	etcd := etcdtest.Start(t)
	for _, kv := range s.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	ctx := context.Background()
	tls, keys := fleetDir(t, "central", "edge-1", "edge-2"), t.TempDir()
	if out, err := exec.Command(binary, "sync", "keygen", "--out", keys).CombinedOutput(); err != nil {
		t.Fatalf("sync keygen: %v\n%s", err, out)
	}
	const ttl = 3 * time.Second
	central := func(extra ...string) *proc {
		return startProc(t, append([]string{"central", "--data", t.TempDir(), "--http", "127.0.0.1:0", "--quic", "127.0.0.1:0",
			"--tls-dir", tls, "--name", "central", "--sync-key", filepath.Join(keys, "sync.key"), "--no-sync",
			"--sync-store", "s3://fleet/prod", "--sync-lease", etcd.URL("prod"), "--sync-lease-ttl", ttl.String()}, extra...))
	}
	// A ingests and publishes; it is not one of the replicas that split the
	// shards, and serves as the single central of the comparison.
	a := central()
	var shards []string
	for i := range 6 {
		name := fmt.Sprintf("plant-%d", i)
		shards = append(shards, name)
		var docs []api.Document
		for j := range 20 {
			docs = append(docs, api.Document{ID: fmt.Sprintf("doc-%d-%02d", i, j), Shard: name, Title: fmt.Sprintf("Line %d machine %d", i, j),
				Body: fmt.Sprintf("Machine %d of line %d is reset with code zq%dx%d; its lamp blinks %d times.", j, i, i, j, j%5+1)})
		}
		if _, err := testClient(a.url).Ingest(ctx, docs); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(3 * ttl); ; time.Sleep(100 * time.Millisecond) {
			out, err := exec.Command(binary, "publish", "--shard", name, "--node", a.url, "--token", tokenOf(a.url)).CombinedOutput()
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("publish %s: %v\n%s", name, err, out)
			}
		}
	}
	replicas := map[string]*proc{}
	var addrs []string
	for range 3 {
		p := central("--shard-replicas", "1")
		replicas[p.quic] = p
		addrs = append(addrs, p.quic)
	}
	watch, err := lease.New(lease.Config{URL: etcd.URL("prod"), Name: "test-watcher", TTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	waitSettled := func(want []string, within time.Duration) (time.Duration, map[string]advert) {
		t.Helper()
		start := time.Now()
		for {
			v := replicaView(t, watch)
			if settled(v, want, shards) {
				return time.Since(start), v
			}
			if time.Since(start) > within {
				t.Fatalf("replicas did not settle on %v within %v: %+v", want, within, v)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	took, view := waitSettled(addrs, 30*time.Second)
	t.Logf("three replicas filled their shares from the bucket and advertised them in %v: %+v", took, view)
	// Each replica's store holds only its share: what a replica filled
	// before the others joined is dropped once they serve it.
	holdsOnlyShare := func(view map[string]advert) {
		t.Helper()
		for name, adv := range view {
			var held []string
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
				st, err := testClient(replicas[adv.Addr].url).Status(ctx)
				if err != nil {
					t.Fatal(err)
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
					t.Fatalf("replica %s holds %v, serves %v: it should hold only its share", name, held, adv.Shards)
				}
			}
		}
	}
	holdsOnlyShare(view)
	edge := func(name, centrals string) *proc {
		return startProc(t, []string{"serve", "--data", t.TempDir(), "--http", "127.0.0.1:0", "--tls-dir", tls, "--name", name,
			"--central", centrals, "--query-timeout", "4s", "--central-cooldown", "300ms"})
	}
	toReplicas := edge("edge-1", strings.Join(addrs, ","))
	toSingle := edge("edge-2", a.quic)
	// ask sends a question of shard i through e and checks the answer:
	// from central, citing only that shard; it returns who answered.
	ask := func(e *proc, i int) (string, time.Duration, error) {
		q := api.QueryRequest{Question: fmt.Sprintf("What code resets machine 3 of line %d?", i), Shard: shards[i], K: 3}
		start := time.Now()
		r, err := testClient(e.url).Query(ctx, q)
		took := time.Since(start)
		if err != nil {
			return "", took, err
		}
		if r.Route != "central" || r.Degraded || len(r.Citations) == 0 {
			return "", took, fmt.Errorf("shard %s: route %q degraded %v reasons %v citations %d", shards[i], r.Route, r.Degraded, r.Reasons, len(r.Citations))
		}
		for _, c := range r.Citations {
			if c.Shard != shards[i] {
				return "", took, fmt.Errorf("the answer to a question of %s cites %s (%s)", shards[i], c.Shard, c.ChunkID)
			}
		}
		if !strings.Contains(r.Citations[0].Snippet, fmt.Sprintf("zq%dx", i)) {
			return "", took, fmt.Errorf("shard %s: the first passage is not of that line: %q", shards[i], r.Citations[0].Snippet)
		}
		return r.Node, took, nil
	}
	holder := func(view map[string]advert, shard string) string {
		for name, adv := range view {
			if slices.Contains(adv.Shards, shard) {
				return name
			}
		}
		return ""
	}
	var viaReplicas, viaSingle []time.Duration
	for round := range 5 {
		for i := range shards {
			by, took, err := ask(toReplicas, i)
			if err != nil {
				t.Fatal(err)
			}
			if want := holder(view, shards[i]); by != want {
				t.Fatalf("the question of %s was answered by %q; %s holds it", shards[i], by, want)
			}
			_, took1, err := ask(toSingle, i)
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

	// Kill the replica serving the most shards.
	var victim string
	for name, adv := range view {
		if victim == "" || len(adv.Shards) > len(view[victim].Shards) {
			victim = name
		}
	}
	lost := view[victim].Shards
	killed := replicas[view[victim].Addr]
	if err := killed.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed.cmd.Wait()
	killedAt := time.Now()
	var live []string
	for _, ad := range addrs {
		if ad != view[victim].Addr {
			live = append(live, ad)
		}
	}
	_, view = waitSettled(live, 30*time.Second)
	reassigned := time.Since(killedAt)
	// Every shard answered again, by its new holder.
	for i := range shards {
		for {
			by, _, err := ask(toReplicas, i)
			if err == nil && by == holder(view, shards[i]) {
				break
			}
			if time.Since(killedAt) > 30*time.Second {
				t.Fatalf("after the kill, %s is not answered by its holder %s: by %q, %v", shards[i], holder(view, shards[i]), by, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	served := time.Since(killedAt)
	t.Logf("kill -9 of %s (serving %v): shards reassigned and advertised after %v, every shard answered by its holder after %v (membership TTL %v)",
		victim, lost, reassigned, served, ttl)
	if served > 4*ttl {
		t.Errorf("serving every shard again took %v after the kill; want within 4×TTL (%v)", served, 4*ttl)
	}

	// A new replica joins: it takes a share, and the edge, which does not
	// know its address, is answered by it through the others.
	joined := central("--shard-replicas", "1")
	live = append(live, joined.quic)
	took, view = waitSettled(live, 30*time.Second)
	var mine []string
	for _, adv := range view {
		if adv.Addr == joined.quic {
			mine = adv.Shards
		}
	}
	if len(mine) == 0 {
		t.Fatalf("the new replica took no shard: %+v", view)
	}
	replicas[joined.quic] = joined
	holdsOnlyShare(view)
	for i := range shards {
		if by, _, err := ask(toReplicas, i); err != nil || by != holder(view, shards[i]) {
			t.Fatalf("after the join, %s answered by %q (%v); %s holds it", shards[i], by, err, holder(view, shards[i]))
		}
	}
	t.Logf("a new replica joined and served %v after %v", mine, took)
}
