package queryrpc_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/node/auth"
	"github.com/edgerag/edgerag/node/nodetest"
	"github.com/edgerag/edgerag/sync/pki"
	"github.com/edgerag/edgerag/sync/queryrpc"
	"github.com/edgerag/edgerag/sync/transport"
	"github.com/edgerag/edgerag/sync/wire"
)

// TestEscalationCarriesTheAskersGroups escalates from an empty edge over
// real QUIC to a central holding a restricted document: central answers
// each asker from what its groups may see, and refuses a request that
// names no asker.
func TestEscalationCarriesTheAskersGroups(t *testing.T) {
	docs := []api.Document{
		{ID: "open", Body: "The compressor K-2 runs at 8 bar."},
		{ID: "secret", Groups: []string{"hr"}, Body: "The compressor K-2 operator earns a night bonus of 700 euros per month."},
	}
	fleet := nodetest.StartFleet(t)
	central := fleet.StartCentral(t, docs, nil)
	edge := fleet.StartEdge(t, "edge-1", central.QUICAddr(), nil).Node()
	ask := func(groups ...string) api.QueryResponse {
		ctx := auth.WithPrincipal(context.Background(), auth.Principal{Name: "u", Role: auth.RoleQuery, Groups: groups})
		r, err := edge.Query(ctx, api.QueryRequest{Question: "compressor K-2 operator night bonus", K: 5})
		if err != nil {
			t.Fatal(err)
		}
		if r.Route != "central" {
			t.Fatalf("route %s: %+v", r.Route, r)
		}
		return r
	}
	cites := func(r api.QueryResponse) string {
		var ids []string
		for _, c := range r.Citations {
			ids = append(ids, c.DocumentID)
		}
		return strings.Join(ids, ",")
	}
	if r := ask(); strings.Contains(cites(r), "secret") || strings.Contains(r.Answer, "700") {
		t.Fatalf("no groups: %s %q", cites(r), r.Answer)
	}
	if r := ask("hr"); !strings.Contains(cites(r), "secret") {
		t.Fatalf("hr: %s", cites(r))
	}
	// A request without an asker, as a node before access control sends.
	b, _ := json.Marshal(map[string]any{"query": api.QueryRequest{Question: "compressor"}, "from": "old-edge"})
	tc := newTransportClient(t, fleet.NewIdentity(t, "edge-2", pki.RoleEdge))
	_, err := tc.Call(context.Background(), central.QUICAddr(), centralName, wire.TypeQuery, b)
	var te *transport.Error
	if !errors.As(err, &te) || te.Code != wire.CodeUnauthorized {
		t.Fatalf("request without asker: %v", err)
	}
}

// TestEdgeQuestionsSeeOnlyTheScope asks an edge that shares one of its two
// shards (--share manuals) from another edge: the question never cites the
// shard it keeps to itself, and naming that one is refused with
// CodeUnauthorized.
func TestEdgeQuestionsSeeOnlyTheScope(t *testing.T) {
	fleet := nodetest.StartFleet(t)
	cfg, err := fleet.Config("edge-a", pki.RoleEdge)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Auth.Share = []string{"manuals"}
	peer, err := fleet.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	docs := []api.Document{
		{ID: "pub", Shard: "manuals", Body: "The boiler B-4 is descaled every spring."},
		{ID: "draft", Shard: "drafts", Body: "The boiler B-4 will be replaced by a heat pump next spring, unannounced."},
	}
	if _, err := peer.Node().Ingest(context.Background(), docs); err != nil {
		t.Fatal(err)
	}
	client := queryrpc.NewClient(newTransportClient(t, fleet.NewIdentity(t, "edge-b", pki.RoleEdge)), "edge-b")
	target := queryrpc.Target{Name: "edge-a", Addr: peer.QUICAddr()}
	r, err := client.Ask(context.Background(), target, api.QueryRequest{Question: "boiler B-4 spring heat pump", K: 5})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range r.Citations {
		if c.Shard != "manuals" {
			t.Fatalf("an edge's question cites shard %q", c.Shard)
		}
	}
	_, err = client.Ask(context.Background(), target, api.QueryRequest{Question: "boiler", Shard: "drafts"})
	var te *transport.Error
	if !errors.As(err, &te) || te.Code != wire.CodeUnauthorized {
		t.Fatalf("naming an unpublished shard: %v", err)
	}
}

// TestPeerGroupsBoundedByCertificate: an edge whose certificate bounds the
// groups it may assert to "ops" cannot make central answer from "hr"
// documents by claiming its asker is in hr; an asker in ops still gets
// what ops may see.
func TestPeerGroupsBoundedByCertificate(t *testing.T) {
	docs := []api.Document{
		{ID: "hr-doc", Groups: []string{"hr"}, Body: "The compressor K-2 operator earns a night bonus of 700 euros per month."},
		{ID: "ops-doc", Groups: []string{"ops"}, Body: "The compressor K-2 night shift checks the oil level at midnight."},
	}
	fleet := nodetest.StartFleet(t)
	fleet.IssueBound(t, "edge-1", pki.RoleEdge, pki.Groups{Bounded: true, Names: []string{"ops"}})
	central := fleet.StartCentral(t, docs, nil)
	edge := fleet.StartEdge(t, "edge-1", central.QUICAddr(), nil).Node()
	cites := func(groups ...string) string {
		ctx := auth.WithPrincipal(context.Background(), auth.Principal{Name: "u", Role: auth.RoleQuery, Groups: groups})
		r, err := edge.Query(ctx, api.QueryRequest{Question: "compressor K-2 night bonus oil", K: 5})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, c := range r.Citations {
			ids = append(ids, c.DocumentID)
		}
		return strings.Join(ids, ",")
	}
	if got := cites("hr", "ops"); strings.Contains(got, "hr-doc") || !strings.Contains(got, "ops-doc") {
		t.Fatalf("asker in hr and ops through an edge bounded to ops: cites %q", got)
	}
	if got := cites("hr"); strings.Contains(got, "hr-doc") {
		t.Fatalf("asker in hr through an edge bounded to ops: cites %q", got)
	}
}
