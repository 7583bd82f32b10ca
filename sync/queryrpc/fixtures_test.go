package queryrpc_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"testing"

	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/node/evalset"
	"github.com/edgerag/edgerag/sync/pki"
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

// holding wraps central's dispatcher (agent.Hooks.WrapDispatch): the
// question q hangs, after a signal on started, until release is closed or
// the request's context ends — as a central node dying in the middle of a
// request would when release is nil. Every other request is central's.
func holding(q string, started chan<- struct{}, release <-chan struct{}) func(transport.Handler) transport.Handler {
	return func(next transport.Handler) transport.Handler {
		return func(ctx context.Context, peer transport.Peer, req wire.Frame) ([]byte, error) {
			var body struct {
				Query api.QueryRequest `json:"query"`
			}
			if req.Type == wire.TypeQuery && json.Unmarshal(req.Payload, &body) == nil && body.Query.Question == q {
				started <- struct{}{}
				select {
				case <-release:
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			}
			return next(ctx, peer, req)
		}
	}
}

// newTransportClient returns a transport client closed at cleanup: a
// client of queryrpc's own, beside the fleet's agents.
func newTransportClient(t testing.TB, id *pki.Identity) *transport.Client {
	t.Helper()
	c := transport.NewClient(transport.Config{Identity: id})
	t.Cleanup(func() { c.Close() })
	return c
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
