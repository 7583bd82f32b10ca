package node_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/edgerag/edgerag/node"
	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/node/route"
)

// TestQueryReplicas: a central replica serving only "valves" answers a
// question of its own shard itself, sends one of another shard to the
// replicas holding it (least loaded first, the next when one fails), fans
// a question naming no shard out to replicas covering the other shards and
// keeps the surest answer, and reports ErrNotReady when no holder of a
// published shard answers.
func TestQueryReplicas(t *testing.T) {
	others := []route.PeerInfo{
		{Name: "r-busy", Alive: true, Load: 0.5, Shards: []string{"pumps"}},
		{Name: "r-idle", Alive: true, Load: 0.1, Shards: []string{"pumps"}},
		{Name: "r-mixers", Alive: true, Shards: []string{"mixers"}},
	}
	scope := node.ReplicaScope{Served: []string{"valves"}, Published: []string{"valves", "pumps", "mixers"}}
	for _, tc := range []struct {
		name      string
		shard     string
		behavior  map[string]string
		wantNode  string
		wantAsked []string
		wantErr   error
	}{
		{"own shard", "valves", nil, "self", nil, nil},
		{"holder least loaded first", "pumps", nil, "r-idle", []string{"r-idle"}, nil},
		{"next holder when one fails", "pumps", map[string]string{"r-idle": "fail"}, "r-busy", []string{"r-idle", "r-busy"}, nil},
		{"no holder answers", "pumps", map[string]string{"r-idle": "fail", "r-busy": "hang"}, "", []string{"r-idle", "r-busy"}, node.ErrNotReady},
		{"no shard: the surest of a cover", "", map[string]string{"r-mixers": "weak"}, "r-idle", []string{"r-idle", "r-mixers"}, nil},
		{"no shard: own answer when the cover abstains", "", map[string]string{"r-idle": "abstain", "r-mixers": "fail"}, "self", []string{"r-idle", "r-mixers"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			n, err := node.New(node.Config{Name: "self", DataDir: t.TempDir(), NoSync: true, QueryTimeout: 600 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			if err := n.Open(ctx); err != nil {
				t.Fatal(err)
			}
			defer n.Close()
			docs := []api.Document{
				{ID: "v", Shard: "valves", Body: "Close valve V-7 with the red handwheel."},
				// Held, not served: a replica never answers from it.
				{ID: "p", Shard: "pumps", Body: "To reset the pump press the blue RESET button."},
			}
			if _, err := n.Ingest(ctx, docs); err != nil {
				t.Fatal(err)
			}
			peers := &fakePeers{peers: others, behavior: tc.behavior}
			r, err := n.QueryReplicas(ctx, peers, scope, api.QueryRequest{Question: "how do I reset the pump?", Shard: tc.shard, K: 3})
			slices.Sort(peers.asked)
			if want := slices.Sorted(slices.Values(tc.wantAsked)); !slices.Equal(peers.asked, want) {
				t.Errorf("asked %v, want %v", peers.asked, want)
			}
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Node != tc.wantNode {
				t.Errorf("answered by %q, want %q", r.Node, tc.wantNode)
			}
			for _, c := range r.Citations {
				if r.Node == "self" && c.Shard != "valves" {
					t.Errorf("the replica's own answer cites %s, a shard it holds but does not serve", c.Shard)
				}
			}
		})
	}
}
