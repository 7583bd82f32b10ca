package fleet_test

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/edgerag/edgerag/node"
	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/node/nodetest"
	"github.com/edgerag/edgerag/sync/fleet"
	"github.com/edgerag/edgerag/sync/fleet/fleetnode"
	"github.com/edgerag/edgerag/sync/manifest"
	"github.com/edgerag/edgerag/sync/pki"
	"github.com/edgerag/edgerag/sync/pki/pkitest"
	"github.com/edgerag/edgerag/sync/transport"
	"github.com/edgerag/edgerag/sync/wire"
)

const shardName = "manuals"

// central is a central node with a publisher on a real QUIC listener.
type central struct {
	n      *node.Node
	pub    *fleet.Publisher
	srv    *transport.Server
	key    ed25519.PrivateKey
	pubKey ed25519.PublicKey
	// tamper, when set, may rewrite a response before it is sent.
	mu     sync.Mutex
	tamper func(req wire.Frame, resp []byte) []byte
	served map[manifest.Hash]int // chunk records served, by hash
}

func startCentral(t testing.TB, p *pkitest.Fleet) *central { return startCentralShare(t, p, 0) }

// startCentralShare starts central with staged rollouts to a canary share.
func startCentralShare(t testing.TB, p *pkitest.Fleet, share float64) *central {
	t.Helper()
	c := &central{n: nodetest.OpenNode(t, node.Config{Name: "central"}), served: make(map[manifest.Hash]int)}
	pubKey, key, err := manifest.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	c.key, c.pubKey = key, pubKey
	c.pub, err = newPublisher(c.n, key, share)
	if err != nil {
		t.Fatal(err)
	}
	h := func(ctx context.Context, peer transport.Peer, req wire.Frame) ([]byte, error) {
		resp, err := c.pub.Handle(ctx, peer, req)
		c.mu.Lock()
		defer c.mu.Unlock()
		if err == nil && req.Type == wire.TypeChunks {
			for b := req.Payload; len(b) >= 16; b = b[16:] {
				c.served[manifest.Hash(b[:16])]++
			}
		}
		if err == nil && c.tamper != nil {
			resp = c.tamper(req, resp)
		}
		return resp, err
	}
	c.srv, err = transport.Listen(context.Background(), "127.0.0.1:0", transport.Config{Identity: p.Identity("central", pki.RoleCentral)}, h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.srv.Close() })
	return c
}

func (c *central) servedCount() (total, distinct int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range c.served {
		total += n
	}
	return total, len(c.served)
}

func (c *central) resetServed() {
	c.mu.Lock()
	clear(c.served)
	c.mu.Unlock()
}

// docs writes n documents to central's shard; version tags their text so a
// query can tell which version an edge serves.
func (c *central) ingest(t testing.TB, ids []int, tag string) {
	t.Helper()
	var docs []api.Document
	for _, i := range ids {
		docs = append(docs, api.Document{ID: fmt.Sprintf("doc-%04d", i), Shard: shardName, Title: fmt.Sprintf("Machine %d manual", i),
			Source: fmt.Sprintf("file:///m/%d.txt", i),
			Body:   fmt.Sprintf("Machine %d maintenance. To reset unit%d press the %s button and wait. The %s procedure for unit%d takes ten minutes.", i, i, tag, tag, i)})
	}
	if _, err := c.n.Ingest(context.Background(), docs); err != nil {
		t.Fatal(err)
	}
}

func (c *central) publish(t testing.TB) fleet.Published {
	t.Helper()
	res, err := c.pub.Publish(context.Background(), shardName, 0)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// edge is an edge node with a syncer; restart reopens both from disk.
type edge struct {
	t        testing.TB
	dir      string
	stageDir string
	n        *node.Node
	client   *transport.Client
	c        *central
	trusted  ed25519.PublicKey
	hook     func(string) error
	batch    int64 // bytes of records a request asks for
	verified map[manifest.Hash]int
	s        *fleet.Syncer
}

func startEdge(t testing.TB, p *pkitest.Fleet, c *central, name string) *edge {
	t.Helper()
	e := &edge{t: t, dir: t.TempDir(), stageDir: t.TempDir(), c: c, trusted: c.pubKey, verified: make(map[manifest.Hash]int), batch: 4 << 10}
	e.client = transport.NewClient(transport.Config{Identity: p.Identity(name, pki.RoleEdge)})
	t.Cleanup(func() { e.client.Close() })
	e.n = nodetest.OpenNode(t, node.Config{Name: name, DataDir: e.dir})
	e.newSyncer()
	return e
}

func (e *edge) newSyncer() {
	var err error
	e.s, err = fleet.NewSyncer(fleet.SyncerConfig{
		Client: e.client, Central: e.c.srv.Addr().String(), CentralName: "central", Trusted: []ed25519.PublicKey{e.trusted},
		Target: fleetnode.Target(e.n), StageDir: e.stageDir, BatchBytes: e.batch,
		Hook:       func(p string) error { return e.callHook(p) },
		OnVerified: func(h manifest.Hash) { e.verified[h]++ },
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

func (e *edge) callHook(p string) error {
	if e.hook == nil {
		return nil
	}
	return e.hook(p)
}

// restart closes the node as a crash would leave it (the syncer simply
// stops) and opens it again from disk.
func (e *edge) restart() {
	e.t.Helper()
	if err := e.n.Close(); err != nil {
		e.t.Fatal(err)
	}
	e.n = nodetest.OpenNode(e.t, node.Config{Name: "edge", DataDir: e.dir})
	e.newSyncer()
}

// sees reports which documents of the shard a query for word finds.
func (e *edge) sees(word string) []string {
	e.t.Helper()
	r, err := e.n.QueryLocal(context.Background(), api.QueryRequest{Question: word, K: 50, Shard: shardName})
	if err != nil {
		if strings.Contains(err.Error(), "not held") {
			return nil
		}
		e.t.Fatal(err)
	}
	var out []string
	for _, c := range r.Citations {
		if strings.Contains(strings.ToLower(c.Snippet), word) {
			out = append(out, c.DocumentID)
		}
	}
	return out
}

func (e *edge) status() fleet.ShardStatus {
	for _, s := range e.s.Status().Shards {
		if s.Shard == shardName {
			return s
		}
	}
	return fleet.ShardStatus{}
}

func rangeInts(from, to int) []int {
	var out []int
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

func (c *central) pubStatus(t testing.TB) fleet.CentralStatus {
	st, err := c.pub.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func newPublisher(n *node.Node, key ed25519.PrivateKey, share float64) (*fleet.Publisher, error) {
	return fleet.NewPublisher(fleet.PublisherConfig{KV: n.SyncKV(), Source: fleetnode.Source(n), Key: key, CanaryShare: share,
		Index: manifest.IndexParams{K1: 0.9, B: 0.4, Analyzer: node.AnalyzerName, ChunkTokens: 128, ChunkOverlap: 32}})
}
