package queryrpc_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"testing"

	"github.com/edgerag/edgerag/node"
	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/node/evalset"
	"github.com/edgerag/edgerag/node/nodetest"
	"github.com/edgerag/edgerag/sync/pki"
	"github.com/edgerag/edgerag/sync/queryrpc"
	"github.com/edgerag/edgerag/sync/transport"
	"github.com/edgerag/edgerag/sync/wire"
)

// centralName is the name in central's certificate, as edges dial it.
const centralName = "central"

// corpus is what central holds in the tests: small enough to ingest in a
// blink under -race, varied enough that every question has one best
// document.
var corpus = evalset.Synthetic{Docs: 200, SectionsPerDoc: 2, WordsPerSection: 60, Vocabulary: 5000, Seed: 3}

// documents generates s as documents to ingest.
func documents(t testing.TB, s evalset.Synthetic) []api.Document {
	t.Helper()
	var docs []api.Document
	err := s.Generate(func(d evalset.Doc) error {
		docs = append(docs, api.Document{ID: d.ID, Title: d.Title, Format: "markdown", Body: d.Text})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return docs
}

// questions picks n questions from docs the way a user half remembering a
// passage would, reproducibly.
func questions(s evalset.Synthetic, docs []api.Document, n int, seed uint64) []string {
	rng := rand.New(rand.NewPCG(seed, seed))
	out := make([]string, n)
	for i := range out {
		out[i] = s.Query(rng, docs[rng.IntN(len(docs))].Body)
	}
	return out
}

// openCentral opens a central node holding docs.
func openCentral(t testing.TB, docs []api.Document) *node.Node {
	t.Helper()
	n := nodetest.OpenNode(t, node.Config{Name: centralName, Role: "central"})
	for i := 0; i < len(docs); i += 1000 {
		if _, err := n.Ingest(context.Background(), docs[i:min(i+1000, len(docs))]); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

// handler serves queries with answer and pings, as node/agent wires central.
func handler(answer queryrpc.Answerer) transport.Handler {
	return func(ctx context.Context, peer transport.Peer, req wire.Frame) ([]byte, error) {
		switch req.Type {
		case wire.TypeQuery:
			return queryrpc.Handle(ctx, peer, req, answer)
		case wire.TypePing:
			return []byte("{}"), nil
		}
		return nil, transport.Errorf(wire.CodeBadRequest, "central does not serve %s requests", req.Type)
	}
}

// serve runs central's QUIC endpoint on addr ("127.0.0.1:0" for any port);
// it is closed at cleanup, and closing it twice is harmless.
func serve(t testing.TB, addr string, id *pki.Identity, h transport.Handler) *transport.Server {
	t.Helper()
	s, err := transport.Listen(context.Background(), addr, transport.Config{Identity: id}, h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// newTransportClient returns a transport client closed at cleanup.
func newTransportClient(t testing.TB, cfg transport.Config) *transport.Client {
	t.Helper()
	c := transport.NewClient(cfg)
	t.Cleanup(func() { c.Close() })
	return c
}

// openEdge opens an edge node holding nothing, so that every question
// escalates, which asks central at addr through tc.
func openEdge(t testing.TB, name string, tc *transport.Client, addr string, cfg node.Config) *node.Node {
	t.Helper()
	cfg.Name = name
	cfg.Remote = queryrpc.NewClient(tc, name).Central(queryrpc.Target{Name: centralName, Addr: addr})
	return nodetest.OpenNode(t, cfg)
}

// countRoutes summarises answers for failure messages.
func countRoutes(rs []api.QueryResponse) string {
	m := map[string]int{}
	for _, r := range rs {
		key := r.Route
		if r.Degraded {
			key += "(degraded)"
		}
		m[key]++
	}
	return fmt.Sprint(m)
}

// udpAddr resolves a node's QUIC address, as a relay takes it.
func udpAddr(t testing.TB, addr string) *net.UDPAddr {
	t.Helper()
	a, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
