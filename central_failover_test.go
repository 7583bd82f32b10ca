package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/node/auth"
)

// TestEdgeFailsOverBetweenCentrals runs two central replicas and an edge
// that knows both (--central A,B) as processes over real QUIC. B holds the
// same signed versions as A (a copy of A's store). When A is killed with
// SIGKILL, the edge keeps escalating (at most one query waits, within its
// deadline) and keeps syncing (at most one poll fails).
func TestEdgeFailsOverBetweenCentrals(t *testing.T) {
	ctx := context.Background()
	// The press manual is a shard the centrals keep unpublished but share
	// with edges' questions (--share), so only escalation can answer it.
	f := newSyncFleet(t, "--share", "plant")
	a := f.central
	f.ingest(t, rangeN(20), "blue")
	f.publish(t)
	press := api.Document{ID: "press", Shard: "plant", Title: "Hydraulic press H-3", Body: "The hydraulic press uses ISO VG 46 oil, changed every 2,000 operating hours."}
	if _, err := testClient(a.url).Ingest(ctx, []api.Document{press}); err != nil {
		t.Fatal(err)
	}

	backup := filepath.Join(t.TempDir(), "central.backup")
	if out, err := exec.Command(binary, "backup", "--node", a.url, "--token", tokenOf(a.url), backup).CombinedOutput(); err != nil {
		t.Fatalf("backup: %v\n%s", err, out)
	}
	dataB := t.TempDir()
	if out, err := exec.Command(binary, "restore", "--data", dataB, backup).CombinedOutput(); err != nil {
		t.Fatalf("restore: %v\n%s", err, out)
	}
	// The copy holds A's credentials: its operator token is A's.
	if err := os.WriteFile(filepath.Join(dataB, auth.TokenFile), []byte(tokenOf(a.url)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b := startProc(t, []string{"central", "--data", dataB, "--http", "127.0.0.1:0", "--quic", "127.0.0.1:0",
		"--tls-dir", f.tls, "--name", "central", "--sync-key", filepath.Join(f.keys, "sync.key"), "--no-sync", "--share", "plant"})

	edge := startProc(t, []string{"serve", "--data", t.TempDir(), "--http", "127.0.0.1:0", "--tls-dir", f.tls, "--name", "edge-1",
		"--central", a.quic + "," + b.quic, "--sync-pub", filepath.Join(f.keys, "sync.pub"), "--sync-poll", "200ms",
		"--query-timeout", "2s", "--central-cooldown", "500ms"})
	applied := waitApplied(t, edge.url, 1).Applied
	ec := testClient(edge.url)
	ask := func() (api.QueryResponse, time.Duration) {
		t.Helper()
		start := time.Now()
		r, err := ec.Query(ctx, api.QueryRequest{Question: "Which oil does the hydraulic press use?"})
		if err != nil {
			t.Fatal(err)
		}
		return r, time.Since(start)
	}
	citesPress := func(r api.QueryResponse) bool {
		for _, c := range r.Citations {
			if c.DocumentID == press.ID {
				return true
			}
		}
		return false
	}
	if r, _ := ask(); r.Route != "central" || !citesPress(r) {
		t.Fatalf("before the kill: route %q reasons %v citations %+v; want central's answer from the press manual", r.Route, r.Reasons, r.Citations)
	}

	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = a.cmd.Wait()
	killed := time.Now()

	// Escalation: every answer still comes from central (B), each within
	// the deadline, and at most one waits for the dead replica.
	slow := 0
	var first time.Duration
	for i := range 6 {
		r, took := ask()
		if i == 0 {
			first = took
		}
		if r.Route != "central" || !citesPress(r) || took > 2500*time.Millisecond {
			t.Fatalf("query %d after the kill: route %q reasons %v after %v; want B's answer from the press manual within the 2 s deadline", i, r.Route, r.Reasons, took)
		}
		if took > 300*time.Millisecond {
			slow++
		}
	}
	if slow > 1 {
		t.Errorf("%d of 6 escalations waited for the dead replica; want at most 1", slow)
	}

	// Sync: polls go on against B; at most one fails on the way.
	failed := map[time.Time]bool{}
	var polled time.Duration
	deadline := time.Now().Add(15 * time.Second)
	for polled == 0 {
		st := syncStatus(t, edge.url)
		if st.LastPoll.After(killed) {
			if st.PollError != "" {
				failed[st.LastPoll] = true
			} else {
				polled = st.LastPoll.Sub(killed)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no successful poll within 15 s of the kill: %+v", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(failed) > 1 {
		t.Errorf("%d polls failed after the kill; want at most one", len(failed))
	}
	for _, s := range syncStatus(t, edge.url).Shards {
		if s.Shard == "manuals" && (s.Applied != applied || s.State == "failed") {
			t.Errorf("after failover the shard is %+v; want version %d kept", s, applied)
		}
	}
	// The breaker is per address: the edge's sync status shows B first
	// and closed, then A with its failures (its breaker may have closed
	// again after --central-cooldown; B, answering, stays first).
	cs := syncStatus(t, edge.url).Centrals
	if len(cs) != 2 || cs[0].Addr != b.quic || cs[0].Open || cs[1].Addr != a.quic || cs[1].Failures == 0 || cs[1].LastError == "" {
		t.Errorf("central replicas in the edge's sync status: %+v; want %s closed first, then %s with its failures", cs, b.quic, a.quic)
	}
	t.Logf("after kill -9 of the first central: first escalation answered by the second in %v; first successful poll %v after the kill; %d failed polls",
		first, polled, len(failed))
}
