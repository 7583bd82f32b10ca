package main

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/node/nodetest"
	"github.com/edgerag/edgerag/sync/fleet"
)

// TestFleetSyncOverGossip runs central and three edges of one site as
// processes, the edges gossiping (Serf, encrypted) and polling central only
// every hour. A new version reaches all three within seconds of one edge
// being asked to sync (POST /v1/sync): that edge hints the site with a Serf
// user event and the others poll at once. Their health shows in every
// member's view of the fleet. A fleet config published on central changes
// the escalation threshold of the edges at run time, except where a
// command-line flag set it; central's sync status shows every edge.
func TestFleetSyncOverGossip(t *testing.T) {
	ctx := context.Background()
	edges := []string{"e1", "e2", "e3"}
	f := &syncFleet{tls: fleetDir(t, "central", edges...), keys: t.TempDir()}
	if out, err := exec.Command(binary, "sync", "keygen", "--out", f.keys).CombinedOutput(); err != nil {
		t.Fatalf("sync keygen: %v\n%s", err, out)
	}
	f.central = startProc(t, []string{"central", "--data", t.TempDir(), "--http", "127.0.0.1:0", "--quic", "127.0.0.1:0",
		"--tls-dir", f.tls, "--name", "central", "--sync-key", filepath.Join(f.keys, "sync.key"), "--no-sync"})
	keyring := filepath.Join(t.TempDir(), "keyring")
	if out, err := exec.Command(binary, "keys", "generate", "--out", keyring).CombinedOutput(); err != nil {
		t.Fatalf("keys generate: %v\n%s", err, out)
	}
	f.ingest(t, rangeN(10), "blue")
	f.publish(t)

	// e1 and e2 take escalate-below from a file, e3 from its command line.
	file := filepath.Join(t.TempDir(), "edge.toml")
	if err := os.WriteFile(file, []byte("[fleet]\nescalate-below = 0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	procs := map[string]*proc{}
	var first string
	for _, name := range edges {
		args := []string{"serve", "--data", t.TempDir(), "--http", "127.0.0.1:0", "--quic", "127.0.0.1:0", "--tls-dir", f.tls,
			"--name", name, "--central", f.central.quic, "--sync-pub", filepath.Join(f.keys, "sync.pub"), "--sync-poll", "1h",
			"--gossip", gossipAddr(t, "127.0.0.1"), "--keyring", keyring, "--fleet-label", "sync-site", "--no-sync"}
		if first != "" {
			args = append(args, "--join", first)
		} else {
			first = args[slices.Index(args, "--gossip")+1]
		}
		if name == "e3" {
			args = append(args, "--escalate-below", "0")
		} else {
			args = append(args, "--config", file)
		}
		procs[name] = startProc(t, args)
	}
	v1 := uint64(0)
	for _, name := range edges {
		v1 = waitApplied(t, procs[name].url, 1).Applied // the first poll, at start
	}
	nodetest.WaitFor(t, 15*time.Second, "every edge sees the others alive and healthy", func() bool {
		for _, name := range edges {
			alive := 0
			for _, m := range fleetOf(t, procs[name].url).Members {
				if m.Status == "alive" && m.SyncHealth == "healthy" {
					alive++
				}
			}
			if alive != len(edges) {
				return false
			}
		}
		return true
	})

	// A new version; only e1 is asked to sync.
	f.ingest(t, rangeN(4), "orange")
	f.publish(t)
	began := time.Now()
	var ack map[string]string
	if err := testClient(procs["e1"].url).Call(ctx, http.MethodPost, "/v1/sync", nil, &ack); err != nil {
		t.Fatal(err)
	}
	for _, name := range edges {
		nodetest.WaitFor(t, 5*time.Second, name+" applies the new version", func() bool {
			for _, s := range syncStatus(t, procs[name].url).Shards {
				if s.Shard == "manuals" && s.Applied > v1 {
					return true
				}
			}
			return false
		})
	}
	took := time.Since(began)
	t.Logf("all three edges applied version > %d %v after one was nudged (poll interval 1h)", v1, took.Round(time.Millisecond))
	if took > 4*time.Second {
		t.Errorf("the site took %v to apply a version after one edge was nudged; the hint should take about a second", took)
	}
	for _, name := range edges {
		if n := count(t, procs[name].url, "orange"); n != 4 {
			t.Errorf("%s finds 'orange' in %d documents after the sync, want 4", name, n)
		}
	}
	// Another member's view: e1's applied version and health, in the
	// fleet list and in 'edgerag fleet'.
	nodetest.WaitFor(t, 10*time.Second, "e3 sees e1's applied version and health", func() bool {
		m, ok := memberOf(fleetOf(t, procs["e3"].url), "e1")
		return ok && m.SyncHealth == "healthy" && m.Sync != nil && len(m.Sync.Shards) == 1 && m.Sync.Shards[0].Applied > v1
	})
	out, err := exec.Command(binary, "fleet", "--node", procs["e3"].url, "--token", tokenOf(procs["e3"].url)).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "SYNC") || strings.Count(string(out), "healthy") != 3 {
		t.Errorf("edgerag fleet should show three healthy members: %v\n%s", err, out)
	}

	// A fleet config: every question leaves the edges that take it.
	q := api.QueryRequest{Question: "reset unit3 orange button", Shard: "manuals"}
	routeOf := func(name string) string {
		r, err := testClient(procs[name].url).Query(ctx, q)
		if err != nil {
			t.Fatalf("query %s: %v", name, err)
		}
		return r.Route
	}
	for _, name := range edges {
		if r := routeOf(name); r != "local" {
			t.Fatalf("%s answered from %q before the fleet config, want local", name, r)
		}
	}
	cfgFile := filepath.Join(t.TempDir(), "fleet.toml")
	if err := os.WriteFile(cfgFile, []byte("[fleet]\nescalate-below = 1\nquery-timeout = \"4s\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = exec.Command(binary, "publish", "--config", cfgFile, "--node", f.central.url, "--token", tokenOf(f.central.url)).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "published fleet config version 1") {
		t.Fatalf("publish --config: %v\n%s", err, out)
	}
	if err := testClient(procs["e2"].url).Call(ctx, http.MethodPost, "/v1/sync", nil, &ack); err != nil {
		t.Fatal(err)
	}
	setting := func(name, key string) fleet.SettingStatus {
		st := syncStatus(t, procs[name].url)
		if st.Config != nil {
			for _, s := range st.Config.Settings {
				if s.Name == key {
					return s
				}
			}
		}
		return fleet.SettingStatus{}
	}
	for _, name := range edges {
		nodetest.WaitFor(t, 5*time.Second, name+" applies fleet config version 1", func() bool {
			st := syncStatus(t, procs[name].url)
			return st.Config != nil && st.Config.Applied == 1
		})
	}
	for _, name := range []string{"e1", "e2"} {
		if s := setting(name, "escalate-below"); s.Value != "1" || s.Source != "fleet config v1" {
			t.Errorf("%s: escalate-below %+v, want 1 from fleet config v1", name, s)
		}
		if r := routeOf(name); r == "local" {
			t.Errorf("%s answered locally under escalate-below = 1; want a peer or central", name)
		}
	}
	if s := setting("e3", "escalate-below"); s.Value != "0" || !strings.HasPrefix(s.Source, "flag") {
		t.Errorf("e3: escalate-below %+v, want 0 from its command-line flag", s)
	}
	if s := setting("e3", "query-timeout"); s.Value != "4s" || s.Source != "fleet config v1" {
		t.Errorf("e3: query-timeout %+v, want 4s from fleet config v1", s)
	}
	if r := routeOf("e3"); r != "local" {
		t.Errorf("e3 answered from %q: its --escalate-below 0 must win over the fleet config", r)
	}
	out, err = exec.Command(binary, "sync", "status", "--node", procs["e1"].url, "--token", tokenOf(procs["e1"].url)).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "fleet config: version 1") || !strings.Contains(string(out), "escalate-below") {
		t.Errorf("sync status on an edge should show the fleet config: %v\n%s", err, out)
	}

	// Central's view: every edge's last report, the config version.
	var cs fleet.CentralStatus
	if err := testClient(f.central.url).Call(ctx, http.MethodGet, "/v1/sync", nil, &cs); err != nil {
		t.Fatal(err)
	}
	if len(cs.Edges) != 3 || cs.Config != 1 {
		t.Errorf("central's status: %d edge reports (want 3), config %d (want 1): %+v", len(cs.Edges), cs.Config, cs)
	}
	out, err = exec.Command(binary, "sync", "status", "--node", f.central.url, "--token", tokenOf(f.central.url)).CombinedOutput()
	if err != nil || strings.Count(string(out), "healthy") != 3 || !strings.Contains(string(out), "(fleet config)") {
		t.Errorf("sync status on central should list three healthy edges and the config: %v\n%s", err, out)
	}
}
