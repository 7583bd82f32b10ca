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
	"github.com/edgerag/edgerag/sync/lease/etcdtest"
	"github.com/edgerag/edgerag/sync/objstore/s3test"
)

// TestPublisherLeaseMovesOnKill runs two central replicas on one bucket
// (versitygw) with the publisher lease in a real etcd (Debian's
// etcd-server): only the holder publishes, the other refuses naming it;
// when the holder is killed with SIGKILL the other takes the lease within
// its TTL and publishes, and an edge that knows both syncs that version.
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

	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	a.cmd.Wait()
	took := waitPublish(b, 3*ttl)
	if took > ttl+2*time.Second {
		t.Errorf("B published %v after A's kill; want within the %v TTL and a renewal period", took, ttl)
	}
	waitApplied(t, edge.url, v1+1)
	if n := count(t, edge.url, "orange"); n != 20 {
		t.Errorf("the edge finds 'orange' in %d documents after B's version, want 20", n)
	}
	t.Logf("publisher lease (TTL %v): B published %v after A was killed", ttl, took)
}
