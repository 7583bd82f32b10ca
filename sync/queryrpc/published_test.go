package queryrpc_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/edgerag/edgerag/node/agent"
	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/node/auth"
	"github.com/edgerag/edgerag/node/nodetest"
	"github.com/edgerag/edgerag/sync/pki"
	"github.com/edgerag/edgerag/sync/queryrpc"
	"github.com/edgerag/edgerag/sync/transport"
	"github.com/edgerag/edgerag/sync/wire"
)

// TestCentralAnswersEdgesOnlyFromPublished runs a central that publishes
// (a sync key) holding a published shard, a draft it never published and
// a shard its operator shares (--share notes), and an empty edge over real
// QUIC: the edge's escalated question never cites the draft, naming the
// draft is refused with CodeUnauthorized while the shared shard answers,
// and once the draft is published it is answered. Central's own HTTP API
// still sees the draft.
func TestCentralAnswersEdgesOnlyFromPublished(t *testing.T) {
	docs := []api.Document{
		{ID: "pub", Shard: "manuals", Body: "The boiler B-4 is descaled every spring."},
		{ID: "draft", Shard: "drafts", Body: "The boiler B-4 will be replaced by a heat pump next spring, unannounced."},
		{ID: "note", Shard: "notes", Body: "The boiler B-4 room key hangs in the porter's lodge."},
	}
	fleet := nodetest.StartFleet(t)
	key, _ := fleet.SyncKey(t)
	central := fleet.StartCentral(t, docs, func(c *agent.Config) {
		c.Sync.Key = key
		c.Auth.Share = []string{"notes"}
	})
	ctx := context.Background()
	if _, err := central.Publisher().Publish(ctx, "manuals", 0); err != nil {
		t.Fatal(err)
	}
	edge := fleet.StartEdge(t, "edge-1", central.QUICAddr(), nil).Node()
	asker := auth.WithPrincipal(ctx, auth.Principal{Name: "u", Role: auth.RoleQuery})
	shards := func(r api.QueryResponse) map[string]bool {
		m := map[string]bool{}
		for _, c := range r.Citations {
			m[c.Shard] = true
		}
		return m
	}

	r, err := edge.Query(asker, api.QueryRequest{Question: "boiler B-4 heat pump replaced next spring", K: 5})
	if err != nil {
		t.Fatal(err)
	}
	if got := shards(r); r.Route != "central" || got["drafts"] || !got["manuals"] || strings.Contains(r.Answer, "heat pump") {
		t.Fatalf("escalated question: route %s, cited shards %v, answer %q; want central's answer from manuals (and notes), never drafts", r.Route, got, r.Answer)
	}

	client := queryrpc.NewClient(newTransportClient(t, fleet.NewIdentity(t, "edge-2", pki.RoleEdge)), "edge-2")
	target := queryrpc.Target{Name: centralName, Addr: central.QUICAddr()}
	_, err = client.Ask(ctx, target, api.QueryRequest{Question: "boiler heat pump", Shard: "drafts"})
	var te *transport.Error
	if !errors.As(err, &te) || te.Code != wire.CodeUnauthorized {
		t.Fatalf("naming the unpublished shard: %v; want CodeUnauthorized", err)
	}
	if r, err := client.Ask(ctx, target, api.QueryRequest{Question: "boiler key porter", Shard: "notes"}); err != nil || !shards(r)["notes"] {
		t.Fatalf("naming the shard shared with --share: %v %+v", err, r.Citations)
	}

	// Central's own admins still search the draft.
	own, err := central.Node().Query(auth.WithPrincipal(ctx, auth.Principal{Name: "admin", Role: auth.RoleAdmin}),
		api.QueryRequest{Question: "boiler heat pump", Shard: "drafts"})
	if err != nil || !shards(own)["drafts"] {
		t.Fatalf("central's own question on the draft: %v %+v", err, own.Citations)
	}

	if _, err := central.Publisher().Publish(ctx, "drafts", 0); err != nil {
		t.Fatal(err)
	}
	r, err = client.Ask(ctx, target, api.QueryRequest{Question: "boiler heat pump", Shard: "drafts"})
	if err != nil || !shards(r)["drafts"] {
		t.Fatalf("the draft once published: %v %+v", err, r.Citations)
	}
}
