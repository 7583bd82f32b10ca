package agent_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgerag/edgerag/node/agent"
	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/node/nodetest"
	"github.com/edgerag/edgerag/sync/pki"
)

// TestFleetEscalatesThroughAgents assembles central and an edge from their
// configs alone, as the edgerag command does, and asks the edge's HTTP API
// a question only central can answer: it comes back from central over QUIC,
// and the fleet routes answer on both.
func TestFleetEscalatesThroughAgents(t *testing.T) {
	ctx := context.Background()
	f := nodetest.StartFleet(t)
	ccfg, err := f.Config("central", pki.RoleCentral)
	if err != nil {
		t.Fatal(err)
	}
	ccfg.HTTPAddr = "127.0.0.1:0"
	central, err := f.Start(ctx, ccfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := central.Node().Ingest(ctx, []api.Document{{ID: "pump", Title: "Pump P-7 manual",
		Body: "To prime pump P-7 open the bleed valve and run the pump for ten seconds until water flows."}}); err != nil {
		t.Fatal(err)
	}
	ecfg, err := f.Edge("edge-1", central)
	if err != nil {
		t.Fatal(err)
	}
	ecfg.HTTPAddr = "127.0.0.1:0"
	edge, err := f.Start(ctx, ecfg)
	if err != nil {
		t.Fatal(err)
	}
	c := adminClient(t, edge.URL(), ecfg.DataDir)
	resp, err := c.Query(ctx, api.QueryRequest{Question: "how do I prime pump P-7?"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Route != "central" || resp.Node != "central" || len(resp.Citations) == 0 || resp.Citations[0].DocumentID != "pump" {
		t.Fatalf("edge answered route %q from %q citing %v; want central's answer citing pump", resp.Route, resp.Node, resp.Citations)
	}
	var sync map[string]any
	if err := adminClient(t, central.URL(), ccfg.DataDir).Call(ctx, http.MethodGet, "/v1/sync", nil, &sync); err != nil || sync["role"] != "central" {
		t.Fatalf("central's /v1/sync: %v %v", sync, err)
	}
	var ae *api.Error
	if err := c.Call(ctx, http.MethodPost, "/v1/publish", map[string]string{"shard": "default"}, nil); !errors.As(err, &ae) || ae.Status != http.StatusNotFound {
		t.Fatalf("publishing on an edge: %v, want a 404 saying only central publishes", err)
	}
}

// adminClient reaches a node with the admin token it wrote on first start,
// sent once through the client's Token.
func adminClient(t *testing.T, url, dataDir string) *api.Client {
	t.Helper()
	tok, err := os.ReadFile(filepath.Join(dataDir, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	c := api.NewClient(url, nil)
	c.Token = strings.TrimSpace(string(tok))
	return c
}

// TestConfigRefused: settings that cannot work are refused before anything
// opens, with a ConfigError naming the setting.
func TestConfigRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  agent.Config
	}{
		{"no data", agent.Config{}},
		{"central escalating", agent.Config{Role: "central", DataDir: t.TempDir(), Fleet: agent.FleetConfig{Central: "127.0.0.1:1"}}},
		{"bad role", agent.Config{Role: "hub", DataDir: t.TempDir()}},
	} {
		_, err := agent.New(tc.cfg)
		var ce agent.ConfigError
		if !errors.As(err, &ce) {
			t.Errorf("%s: %v, want a ConfigError", tc.name, err)
		}
	}
	a, err := agent.New(agent.Config{DataDir: t.TempDir(), Gossip: agent.GossipConfig{Join: []string{"127.0.0.1:1"}}})
	if err != nil {
		t.Fatal(err)
	}
	var ce agent.ConfigError
	if err := a.Start(context.Background()); !errors.As(err, &ce) {
		t.Errorf("join without gossip: %v, want a ConfigError", err)
	}
	for _, tc := range []struct {
		name string
		sync agent.SyncConfig
	}{
		{"shard replicas without a lease", agent.SyncConfig{ShardReplicas: 2}},
		{"negative shard replicas", agent.SyncConfig{ShardReplicas: -1}},
		{"bad replica address", agent.SyncConfig{ReplicaAddr: "10.0.0.1"}},
	} {
		a, err := agent.New(agent.Config{Role: "central", DataDir: t.TempDir(), Sync: tc.sync})
		if err != nil {
			t.Fatal(err)
		}
		err = a.Start(context.Background())
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), "replica") {
			t.Errorf("%s: %v, want a ConfigError about the replicas", tc.name, err)
		}
		a.Close()
	}
}
