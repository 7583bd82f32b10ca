package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/sync/fleet"
	"github.com/edgerag/edgerag/sync/lease/etcdtest"
	"github.com/edgerag/edgerag/sync/manifest"
	"github.com/edgerag/edgerag/sync/objstore/s3test"
)

// TestPublisherLeaseMovesOnKill runs two central replicas on one bucket
// (versitygw) with the publisher lease in a real etcd (Debian's
// etcd-server): only the holder publishes, the other refuses naming it;
// when the holder is killed with SIGKILL the other takes the lease within
// its TTL and publishes, and an edge that knows both syncs that version.
// Edge reports live in etcd: the one replica hears, the other shows.
// The holder is killed in the middle of a publish: the bucket keeps the old
// version whole, and collect removes what the killed publish left.
func TestPublisherLeaseMovesOnKill(t *testing.T) {
	s := s3test.Start(t, "fleet")
	etcd := etcdtest.Start(t)
	for _, kv := range s.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	ctx := context.Background()
	tls, keys := fleetDir(t, "central", "edge-1"), t.TempDir()
	if out, err := exec.Command(binary, "sync", "keygen", "--out", keys).CombinedOutput(); err != nil {
		t.Fatalf("sync keygen: %v\n%s", err, out)
	}
	const ttl = 3 * time.Second
	central := func() *proc {
		return startProc(t, []string{"central", "--data", t.TempDir(), "--http", "127.0.0.1:0", "--quic", "127.0.0.1:0",
			"--tls-dir", tls, "--name", "central", "--sync-key", filepath.Join(keys, "sync.key"), "--no-sync",
			"--sync-store", "s3://fleet/prod", "--sync-lease", etcd.URL("prod"), "--sync-lease-ttl", ttl.String()})
	}
	docs := func(word string, n int) []api.Document {
		var out []api.Document
		for i := range n {
			out = append(out, api.Document{ID: fmt.Sprintf("doc-%03d", i), Shard: "manuals", Title: fmt.Sprintf("Machine %d", i),
				Body: fmt.Sprintf("To reset unit%d press the %s button.", i, word)})
		}
		return out
	}
	publish := func(p *proc) (string, error) {
		out, err := exec.Command(binary, "publish", "--shard", "manuals", "--node", p.url, "--token", tokenOf(p.url)).CombinedOutput()
		return string(out), err
	}
	waitPublish := func(p *proc, within time.Duration) time.Duration {
		t.Helper()
		start := time.Now()
		for {
			out, err := publish(p)
			if err == nil && strings.Contains(out, "published shard manuals") {
				return time.Since(start)
			}
			if time.Since(start) > within {
				t.Fatalf("no publish within %v: %v\n%s", within, err, out)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	a := central()
	if _, err := testClient(a.url).Ingest(ctx, docs("blue", 20)); err != nil {
		t.Fatal(err)
	}
	waitPublish(a, 2*ttl)
	b := central()
	if _, err := testClient(b.url).Ingest(ctx, docs("orange", 20)); err != nil {
		t.Fatal(err)
	}
	out, err := publish(b)
	if err == nil || !strings.Contains(out, "holds it") || !strings.Contains(out, a.quic) {
		t.Fatalf("publish on the replica without the lease: %v\n%s; want a refusal naming the holder (%s)", err, out, a.quic)
	}

	edge := startProc(t, []string{"serve", "--data", t.TempDir(), "--http", "127.0.0.1:0", "--tls-dir", tls, "--name", "edge-1",
		"--central", a.quic + "," + b.quic, "--sync-pub", filepath.Join(keys, "sync.pub"), "--sync-poll", "200ms", "--escalate-below", "0"})
	v1 := waitApplied(t, edge.url, 1).Applied
	// The edge reported to A (first in its list); B sees the report too:
	// reports live in etcd beside the lease.
	for deadline := time.Now().Add(10 * time.Second); !reported(t, b.url, "edge-1", v1); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("B does not show edge-1's report of version %d", v1)
		}
	}

	// A is killed in the middle of publishing a large version: the bucket
	// keeps naming v1, all of whose records are there; what A wrote of the
	// new one is only unreferenced records.
	if _, err := testClient(a.url).Ingest(ctx, docs("green", 1000)); err != nil {
		t.Fatal(err)
	}
	half := exec.Command(binary, "publish", "--shard", "manuals", "--node", a.url, "--token", tokenOf(a.url))
	if err := half.Start(); err != nil {
		t.Fatal(err)
	}
	// versitygw keeps each object as a file: the kill comes once the new
	// version's records have started to land.
	recDir := filepath.Join(s.Dir, "fleet", "prod", "r")
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if ents, _ := os.ReadDir(recDir); len(ents) > 20+50 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the big publish wrote no records within 20 s")
		}
	}
	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	a.cmd.Wait()
	half.Wait()
	orphans := checkBucketWhole(t, s, "s3://fleet/prod", v1)
	if orphans == 0 {
		t.Error("the killed publish left no records: the kill came too late or too early to test a half publish")
	}
	took := waitPublish(b, 3*ttl)
	if took > ttl+2*time.Second {
		t.Errorf("B published %v after A's kill; want within the %v TTL and a renewal period", took, ttl)
	}
	waitApplied(t, edge.url, v1+1)
	if n := count(t, edge.url, "orange"); n != 20 {
		t.Errorf("the edge finds 'orange' in %d documents after B's version, want 20", n)
	}
	collected, err := exec.Command(binary, "publish", "--collect", "--node", b.url, "--token", tokenOf(b.url)).CombinedOutput()
	if err != nil {
		t.Fatalf("publish --collect: %v\n%s", err, collected)
	}
	t.Logf("publisher lease (TTL %v): B published %v after A was killed mid-publish (%d records of the unfinished version were in the bucket); %s",
		ttl, took, orphans, strings.TrimSpace(string(collected)))
}

// checkBucketWhole checks that the bucket's latest version of manuals is
// want and that every record it lists is there; it returns how many other
// records the bucket holds.
func checkBucketWhole(t *testing.T, s *s3test.Server, url string, want uint64) int {
	t.Helper()
	ctx := context.Background()
	b := s.Open(t, url)
	latest, err := b.Get(ctx, "l/manuals")
	if err != nil || string(latest) != strconv.FormatUint(want, 10) {
		t.Fatalf("after the kill the bucket names version %q (%v), want %d", latest, err, want)
	}
	env, err := b.Get(ctx, fmt.Sprintf("m/manuals/%020d", want))
	if err != nil {
		t.Fatal(err)
	}
	r, err := manifest.ReadRoot(env)
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	// The version's manifest pages live beside its records.
	m, err := r.Assemble(func(p manifest.PageRef) ([]byte, error) {
		listed["r/"+p.Hash.String()] = true
		return b.Get(ctx, "r/"+p.Hash.String())
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range m.Chunks {
		listed["r/"+c.Hash.String()] = true
	}
	held, other := 0, 0
	err = b.List(ctx, "r/", func(k string) error {
		if listed[k] {
			held++
		} else {
			other++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if held != len(listed) {
		t.Fatalf("version %d lists %d records; the bucket holds %d of them", want, len(listed), held)
	}
	return other
}

// reported tells whether central at url shows node's report of version v.
func reported(t *testing.T, url, node string, v uint64) bool {
	t.Helper()
	for _, a := range centralStatus(t, url).Edges {
		if a.Node == node && a.Version == v && a.Healthy {
			return true
		}
	}
	return false
}

// TestStagedRolloutAcrossReplicas starts a staged rollout on the replica
// holding the lease while the edges talk only to the other one: the
// canary's report to B promotes the rollout A started, because reports,
// rollout stages and the edges seen live in etcd.
func TestStagedRolloutAcrossReplicas(t *testing.T) {
	f := startRolloutFleet(t, "3s")
	central, ingest, publish := f.central, f.ingest, f.publish
	a := central()
	ingest(a, "blue")
	publish(a)
	b := central()
	var edges []*proc
	for _, name := range []string{"edge-1", "edge-2"} {
		edges = append(edges, f.edge(name, b))
	}
	var v1 uint64
	for _, e := range edges {
		v1 = waitApplied(t, e.url, 1).Applied
	}
	ingest(a, "orange")
	publish(a)
	for _, e := range edges {
		waitApplied(t, e.url, v1+1)
	}
	resp, err := testGet(a.url + "/v1/sync")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st fleet.CentralStatus
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	if len(st.Rollouts) != 1 || st.Rollouts[0].Stage != "promoted" || len(st.Rollouts[0].Canaries) != 1 || len(st.Edges) != 2 {
		t.Fatalf("A's view after the edges (which talk to B) took version %d: rollouts %+v, edges %+v; want one canary, promoted, and both edges' reports", v1+1, st.Rollouts, st.Edges)
	}
}
