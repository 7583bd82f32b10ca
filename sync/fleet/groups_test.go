package fleet_test

import (
	"context"
	"slices"
	"testing"

	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/node/auth"
	"github.com/edgerag/edgerag/node/nodetest"
)

// TestSyncedShardsKeepTheirGroups publishes a shard holding a document
// restricted to a group and syncs it to an edge over real QUIC: on the
// edge, as on central, only a principal of that group retrieves it, also
// after the edge restarts.
func TestSyncedShardsKeepTheirGroups(t *testing.T) {
	ctx := context.Background()
	p := nodetest.StartFleet(t)
	c := startCentral(t, p)
	docs := []api.Document{
		{ID: "open", Shard: shardName, Body: "The chiller C-9 runs from April to October."},
		{ID: "secret", Shard: shardName, Groups: []string{"hr"}, Body: "The chiller C-9 technician earns a summer bonus."},
	}
	if _, err := c.n.Ingest(ctx, docs); err != nil {
		t.Fatal(err)
	}
	c.publish(t)
	e := startEdge(t, p, c, "edge-1")
	if err := e.s.SyncOnce(ctx); err != nil {
		t.Fatal(err)
	}
	seen := func(groups ...string) []string {
		t.Helper()
		qctx := auth.WithPrincipal(ctx, auth.Principal{Name: "u", Role: auth.RoleQuery, Groups: groups})
		r, err := e.n.QueryLocal(qctx, api.QueryRequest{Question: "chiller C-9 technician summer bonus", K: 10, Shard: shardName})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, c := range r.Citations {
			ids = append(ids, c.DocumentID)
		}
		slices.Sort(ids)
		return ids
	}
	check := func(when string) {
		t.Helper()
		if got := seen(); !slices.Equal(got, []string{"open"}) {
			t.Errorf("%s, no groups: %v", when, got)
		}
		if got := seen("hr"); !slices.Equal(got, []string{"open", "secret"}) {
			t.Errorf("%s, hr: %v", when, got)
		}
	}
	check("after sync")
	e.restart()
	check("after a restart")
}
