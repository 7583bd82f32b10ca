package queryrpc_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/edgerag/edgerag/node"
	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/node/auth"
	"github.com/edgerag/edgerag/sync/pki"
	"github.com/edgerag/edgerag/sync/pki/pkitest"
	"github.com/edgerag/edgerag/sync/queryrpc"
	"github.com/edgerag/edgerag/sync/transport"
	"github.com/edgerag/edgerag/sync/wire"
)

// TestEscalationCarriesTheAskersGroups escalates from an empty edge over
// real QUIC to a central holding a restricted document: central answers
// each asker from what its groups may see, and refuses a request that
// names no asker.
func TestEscalationCarriesTheAskersGroups(t *testing.T) {
	central := openCentral(t, nil)
	docs := []api.Document{
		{ID: "open", Body: "The compressor K-2 runs at 8 bar."},
		{ID: "secret", Groups: []string{"hr"}, Body: "The compressor K-2 operator earns a night bonus of 700 euros per month."},
	}
	if _, err := central.Ingest(context.Background(), docs); err != nil {
		t.Fatal(err)
	}
	fleet := pkitest.NewFleet(t)
	srv := serve(t, "127.0.0.1:0", fleet.Identity(centralName, pki.RoleCentral), handler(central.QueryLocal))
	tc := newTransportClient(t, transport.Config{Identity: fleet.Identity("edge-1", pki.RoleEdge)})
	edge := openEdge(t, "edge-1", tc, srv.Addr().String(), node.Config{})
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
	_, err := tc.Call(context.Background(), srv.Addr().String(), centralName, wire.TypeQuery, b)
	var te *transport.Error
	if !errors.As(err, &te) || te.Code != wire.CodeUnauthorized {
		t.Fatalf("request without asker: %v", err)
	}
}

// TestEdgeQuestionsSeeOnlyTheScope serves central's questions with a scope
// of one published shard: an edge's question never cites the unpublished
// one, and naming it is refused with CodeUnauthorized.
func TestEdgeQuestionsSeeOnlyTheScope(t *testing.T) {
	central := openCentral(t, nil)
	docs := []api.Document{
		{ID: "pub", Shard: "manuals", Body: "The boiler B-4 is descaled every spring."},
		{ID: "draft", Shard: "drafts", Body: "The boiler B-4 will be replaced by a heat pump next spring, unannounced."},
	}
	if _, err := central.Ingest(context.Background(), docs); err != nil {
		t.Fatal(err)
	}
	fleet := pkitest.NewFleet(t)
	scope := func(peer transport.Peer) ([]string, bool) {
		if peer.Role == pki.RoleCentral {
			return nil, false
		}
		return []string{"manuals"}, true
	}
	h := func(ctx context.Context, peer transport.Peer, req wire.Frame) ([]byte, error) {
		return queryrpc.HandleScoped(ctx, peer, req, central.QueryLocal, scope)
	}
	srv := serve(t, "127.0.0.1:0", fleet.Identity(centralName, pki.RoleCentral), h)
	tc := newTransportClient(t, transport.Config{Identity: fleet.Identity("edge-1", pki.RoleEdge)})
	client := queryrpc.NewClient(tc, "edge-1")
	target := queryrpc.Target{Name: centralName, Addr: srv.Addr().String()}
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
	central := openCentral(t, nil)
	docs := []api.Document{
		{ID: "hr-doc", Groups: []string{"hr"}, Body: "The compressor K-2 operator earns a night bonus of 700 euros per month."},
		{ID: "ops-doc", Groups: []string{"ops"}, Body: "The compressor K-2 night shift checks the oil level at midnight."},
	}
	if _, err := central.Ingest(context.Background(), docs); err != nil {
		t.Fatal(err)
	}
	fleet := pkitest.NewFleet(t)
	srv := serve(t, "127.0.0.1:0", fleet.Identity(centralName, pki.RoleCentral), handler(central.QueryLocal))
	tc := newTransportClient(t, transport.Config{Identity: fleet.BoundIdentity("edge-1", pki.RoleEdge, pki.Groups{Bounded: true, Names: []string{"ops"}})})
	edge := openEdge(t, "edge-1", tc, srv.Addr().String(), node.Config{})
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
