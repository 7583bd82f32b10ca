package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/sync/fleet"
)

// TestRolloutGatedOnProbesProcesses runs central and two edges as
// processes, with staged rollouts (one canary of two) and a probe set an
// operator adds with 'edgerag probes add': a version that answers the
// probes as well as the one before is promoted and reaches both edges; a
// version whose documents were replaced by unrelated text is halted by
// its canary's figures, which 'edgerag sync status' and GET /v1/sync show,
// and the other edge keeps the version before.
func TestRolloutGatedOnProbesProcesses(t *testing.T) {
	tls, keys := fleetDir(t, "central", "edge-1", "edge-2"), t.TempDir()
	mustCLI(t, "sync", "keygen", "--out", keys)
	c := startProc(t, []string{"central", "--data", t.TempDir(), "--http", "127.0.0.1:0", "--quic", "127.0.0.1:0",
		"--tls-dir", tls, "--name", "central", "--sync-key", filepath.Join(keys, "sync.key"), "--no-sync", "--sync-canary", "0.5"})
	ingest := func(body func(i int) string) {
		t.Helper()
		var docs []api.Document
		for i := range 10 {
			docs = append(docs, api.Document{ID: fmt.Sprintf("doc-%03d", i), Shard: "manuals", Title: fmt.Sprintf("Machine %d", i), Body: body(i)})
		}
		if _, err := testClient(c.url).Ingest(context.Background(), docs); err != nil {
			t.Fatal(err)
		}
	}
	manual := func(word string) func(int) string {
		return func(i int) string {
			return fmt.Sprintf("To reset unit%d press the %s button. The %s lamp of unit%d blinks twice.", i, word, word, i)
		}
	}
	publish := func() {
		t.Helper()
		mustCLI(t, "publish", "--shard", "manuals", "--node", c.url, "--token", tokenOf(c.url))
	}
	ingest(manual("blue"))
	publish()
	edges := map[string]*proc{}
	for _, name := range []string{"edge-1", "edge-2"} {
		edges[name] = startProc(t, []string{"serve", "--data", t.TempDir(), "--http", "127.0.0.1:0", "--tls-dir", tls, "--name", name,
			"--central", c.quic, "--sync-pub", filepath.Join(keys, "sync.pub"), "--sync-poll", "200ms", "--escalate-below", "0"})
	}
	var v1 uint64
	for _, e := range edges {
		v1 = waitApplied(t, e.url, 1).Applied
	}
	for i := range 6 {
		out := mustCLI(t, "probes", "add", "--shard", "manuals", "--node", c.url, "--token", tokenOf(c.url), fmt.Sprintf("How do I reset unit%d?", i))
		if !strings.Contains(out, fmt.Sprintf("doc-%03d", i)) {
			t.Fatalf("probes add: central's answer to unit%d does not cite doc-%03d:\n%s", i, i, out)
		}
	}
	if out := mustCLI(t, "probes", "list", "--shard", "manuals", "--node", c.url, "--token", tokenOf(c.url)); !strings.Contains(out, "shard manuals: 6 probes") {
		t.Fatalf("probes list:\n%s", out)
	}
	rolloutOf := func(v uint64) (fleet.CentralStatus, string) {
		st := centralStatus(t, c.url)
		for _, r := range st.Rollouts {
			if r.To == v {
				return st, r.Stage
			}
		}
		return st, ""
	}
	waitStage := func(v uint64, stage string) fleet.CentralStatus {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			st, got := rolloutOf(v)
			if got == stage {
				return st
			}
			if time.Now().After(deadline) {
				t.Fatalf("the rollout of version %d is %q, not %s: %+v", v, got, stage, st.Rollouts)
			}
		}
	}

	// A good version: one document reworded.
	var docs []api.Document
	docs = append(docs, api.Document{ID: "doc-001", Shard: "manuals", Title: "Machine 1", Body: manual("orange")(1)})
	if _, err := testClient(c.url).Ingest(context.Background(), docs); err != nil {
		t.Fatal(err)
	}
	publish()
	v2 := centralStatus(t, c.url).Published[0].Version
	st := waitStage(v2, "promoted")
	for _, e := range edges {
		waitApplied(t, e.url, v2)
	}
	// Promotion goes on health (the quality gate is not required here), so
	// the canary's probe figures may reach central just after it: wait for
	// them.
	var canary string
	for deadline := time.Now().Add(30 * time.Second); canary == ""; time.Sleep(100 * time.Millisecond) {
		for _, a := range st.Edges {
			if a.Quality != nil && a.Quality.Next.Version == v2 {
				canary = a.Node
				if a.Quality.Previous.Version != v1 || a.Quality.Next.Probes != 6 || a.Quality.Next.Agreed < 5 {
					t.Fatalf("%s's figures on the good version: %+v", a.Node, *a.Quality)
				}
			}
		}
		if canary == "" && time.Now().After(deadline) {
			t.Fatalf("no canary reported probe figures for version %d: %+v", v2, st.Edges)
		}
		st = centralStatus(t, c.url)
	}

	// A bad version: every document replaced by unrelated text.
	ingest(func(int) string { return "The cafeteria serves soup on Fridays. Parking is free after six." })
	publish()
	v3 := centralStatus(t, c.url).Published[0].Version
	start := time.Now()
	st = waitStage(v3, "halted")
	t.Logf("halted %v after the publish", time.Since(start).Round(time.Millisecond))
	out := mustCLI(t, "sync", "status", "--node", c.url, "--token", tokenOf(c.url))
	for _, want := range []string{"halted", "answers the probe set worse", "agreement 1.00 → 0.00", fmt.Sprintf("versions %d → %d", v2, v3), "probe set:"} {
		if !strings.Contains(out, want) {
			t.Errorf("sync status lacks %q:\n%s", want, out)
		}
	}
	raw := mustCLI(t, "sync", "status", "--node", c.url, "--token", tokenOf(c.url), "--json")
	var js fleet.CentralStatus
	if err := json.Unmarshal([]byte(raw), &js); err != nil {
		t.Fatal(err)
	}
	var figures bool
	for _, a := range js.Edges {
		if q := a.Quality; q != nil && q.Next.Version == v3 && q.Next.Agreed == 0 && q.Previous.Agreed >= 5 {
			figures = true
		}
	}
	if !figures {
		t.Errorf("GET /v1/sync does not carry the canary's figures for version %d: %+v", v3, js.Edges)
	}
	// The other edge stays on the good version.
	var other *proc
	var otherName string
	for name, e := range edges {
		if !slices.Contains(rolloutCanaries(st, v3), name) {
			other, otherName = e, name
		}
	}
	if other == nil {
		t.Fatalf("no edge outside the canaries of version %d", v3)
	}
	time.Sleep(time.Second) // five of its polls
	if got := waitApplied(t, other.url, v2).Applied; got != v2 {
		t.Errorf("%s, no canary, applied version %d of a halted rollout", otherName, got)
	}
	t.Logf("sync status:\n%s", out)
}

func rolloutCanaries(st fleet.CentralStatus, v uint64) []string {
	for _, r := range st.Rollouts {
		if r.To == v {
			return r.Canaries
		}
	}
	return nil
}
