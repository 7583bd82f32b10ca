package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/edgerag/edgerag/node/api"
)

// TestProbeGateAcrossReplicas: with two central replicas under a publisher
// lease, probes added on the holder (A) are in etcd, so the canary, which
// syncs from B, fetches them from B; its reports reach B, and the holder
// promotes a sound version on its figures and halts a bad one, which B's
// 'sync status' shows with the figures.
func TestProbeGateAcrossReplicas(t *testing.T) {
	f := startRolloutFleet(t, "60s")
	a := f.central()
	f.ingest(a, "blue")
	f.publish(a)
	b := f.central()
	edges := map[string]*proc{}
	for _, name := range []string{"edge-1", "edge-2"} {
		edges[name] = f.edge(name, b)
	}
	for _, e := range edges {
		waitApplied(t, e.url, 1)
	}
	for i := range 5 {
		mustCLI(t, "probes", "add", "--shard", "manuals", "--node", a.url, "--token", tokenOf(a.url), fmt.Sprintf("How do I reset unit%d?", i))
	}
	if out := mustCLI(t, "probes", "list", "--node", b.url, "--token", tokenOf(b.url)); !strings.Contains(out, "shard manuals: 5 probes") {
		t.Fatalf("B does not see the probes added on A:\n%s", out)
	}
	waitRollout := func(stage string) string {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			st := centralStatus(t, b.url)
			if len(st.Rollouts) == 1 && st.Rollouts[0].Stage == stage {
				return st.Rollouts[0].Reason
			}
			if time.Now().After(deadline) {
				t.Fatalf("the rollout did not reach %s: %+v", stage, st.Rollouts)
			}
		}
	}
	f.ingest(a, "orange")
	f.publish(a)
	if why := waitRollout("promoted"); !strings.Contains(why, "probe set within the margins") {
		t.Errorf("promoted without the probe figures: %q", why)
	}
	var docs []api.Document
	for i := range 10 {
		docs = append(docs, api.Document{ID: fmt.Sprintf("doc-%03d", i), Shard: "manuals", Title: "Cafeteria",
			Body: "The cafeteria serves soup on Fridays. Parking is free after six."})
	}
	if _, err := testClient(a.url).Ingest(context.Background(), docs); err != nil {
		t.Fatal(err)
	}
	f.publish(a)
	why := waitRollout("halted")
	if !strings.Contains(why, "answers the probe set worse") || !strings.Contains(why, "agreement 1.00 → 0.00") {
		t.Errorf("halted without the figures: %q", why)
	}
	out := mustCLI(t, "sync", "status", "--node", b.url, "--token", tokenOf(b.url))
	if !strings.Contains(out, "probe set: agreement 1.00 → 0.00") {
		t.Errorf("B's sync status lacks the canary's figures:\n%s", out)
	}
}
