package main

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/sync/objstore/s3test"
)

// TestCentralReplicasShareObjectStore runs two central processes on one
// bucket of a real S3-compatible server (versitygw on loopback): a version
// published on A is served by B, which never held the shard, and an edge
// that knows only B syncs it. A version published on B after A is killed
// reaches an edge that knows both. It logs publish and sync times against
// the bucket and against a central keeping its versions in its own store.
func TestCentralReplicasShareObjectStore(t *testing.T) {
	s := s3test.Start(t, "fleet")
	for _, kv := range s.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	ctx := context.Background()
	f := newSyncFleet(t) // a central on its own store, for the comparison
	tls, keys := f.tls, f.keys
	central := func(data string, extra ...string) *proc {
		return startProc(t, append([]string{"central", "--data", data, "--http", "127.0.0.1:0", "--quic", "127.0.0.1:0",
			"--tls-dir", tls, "--name", "central", "--sync-key", filepath.Join(keys, "sync.key"), "--no-sync"}, extra...))
	}
	a := central(t.TempDir(), "--sync-store", "s3://fleet/prod")
	b := central(t.TempDir(), "--sync-store", "s3://fleet/prod")

	const docs = 1000
	var batch []api.Document
	for i := range docs {
		batch = append(batch, api.Document{ID: fmt.Sprintf("doc-%04d", i), Shard: "manuals", Title: fmt.Sprintf("Machine %d", i),
			Body: fmt.Sprintf("To reset unit%d press the blue button. The blue lamp of unit%d blinks twice after a fault.", i, i)})
	}
	for _, c := range []*proc{a, f.central} {
		if _, err := testClient(c.url).Ingest(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	publish := func(p *proc) time.Duration {
		t.Helper()
		start := time.Now()
		out, err := exec.Command(binary, "publish", "--shard", "manuals", "--node", p.url, "--token", tokenOf(p.url)).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "published shard manuals") {
			t.Fatalf("publish: %v\n%s", err, out)
		}
		return time.Since(start)
	}
	pubS3, pubLocal := publish(a), publish(f.central)

	edgeArgs := func(centrals string) []string {
		return []string{"serve", "--data", t.TempDir(), "--http", "127.0.0.1:0", "--tls-dir", tls, "--name", "edge-1",
			"--central", centrals, "--sync-pub", filepath.Join(keys, "sync.pub"), "--sync-poll", "200ms", "--escalate-below", "0"}
	}
	start := time.Now()
	fromB := startProc(t, edgeArgs(b.quic))
	v := waitApplied(t, fromB.url, 1)
	syncS3 := time.Since(start)
	if n := count(t, fromB.url, "blue"); n != 50 {
		t.Fatalf("the edge synced from B finds 'blue' in %d documents, want 50", n)
	}
	start = time.Now()
	fromLocal := startProc(t, edgeArgs(f.central.quic))
	waitApplied(t, fromLocal.url, 1)
	syncLocal := time.Since(start)
	for _, e := range []*proc{fromB, fromLocal} {
		e.cmd.Process.Kill()
		e.cmd.Wait()
	}

	// A dies; B publishes the next version (from data of its own) and an
	// edge that knows both gets it.
	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	a.cmd.Wait()
	edge := startProc(t, edgeArgs(a.quic+","+b.quic))
	waitApplied(t, edge.url, v.Applied)
	var orange []api.Document
	for i := range 30 {
		orange = append(orange, api.Document{ID: fmt.Sprintf("doc-%04d", i), Shard: "manuals", Title: fmt.Sprintf("Machine %d", i),
			Body: fmt.Sprintf("To reset unit%d press the orange button.", i)})
	}
	if _, err := testClient(b.url).Ingest(ctx, orange); err != nil {
		t.Fatal(err)
	}
	publish(b)
	st := waitApplied(t, edge.url, v.Applied+1)
	if n := count(t, edge.url, "orange"); n != 30 {
		t.Errorf("after B's publish the edge finds 'orange' in %d documents, want 30", n)
	}

	// Collect on B: A's version goes from the bucket (no edge runs it any
	// more), and a new edge still syncs B's from what is left.
	out, err := exec.Command(binary, "publish", "--collect", "--keep", "1", "--node", b.url, "--token", tokenOf(b.url)).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "collected 1 old shard versions") {
		t.Fatalf("publish --collect: %v\n%s", err, out)
	}
	var manifests []string
	if err := s.Open(t, "s3://fleet/prod").List(ctx, "m/", func(k string) error { manifests = append(manifests, k); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(manifests) != 1 {
		t.Errorf("manifests left in the bucket: %v; want B's alone", manifests)
	}
	late := startProc(t, edgeArgs(b.quic))
	waitApplied(t, late.url, st.Applied)
	if n := count(t, late.url, "orange"); n != 30 {
		t.Errorf("an edge syncing after the collect finds 'orange' in %d documents, want 30", n)
	}
	t.Logf("collect: %s", strings.TrimSpace(string(out)))
	t.Logf("%d documents: publish %v to the bucket, %v to central's own store; edge's first sync %v from the bucket through another replica, %v from a central's own store; B's version %d reached an edge that knows A (dead) and B",
		docs, pubS3, pubLocal, syncS3, syncLocal, st.Applied)
}
