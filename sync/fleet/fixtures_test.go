package fleet_test

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/edgerag/edgerag/node"
	"github.com/edgerag/edgerag/node/agent"
	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/node/nodetest"
	"github.com/edgerag/edgerag/sync/fleet"
	"github.com/edgerag/edgerag/sync/fleet/fleetnode"
	"github.com/edgerag/edgerag/sync/manifest"
	"github.com/edgerag/edgerag/sync/pki"
	"github.com/edgerag/edgerag/sync/transport"
	"github.com/edgerag/edgerag/sync/wire"
)

const shardName = "manuals"

// central is the fleet's central, an agent (node/agent) assembled by the
// fleet harness: its node, its publisher signing with the fleet's sync
// key, served on real QUIC. Its dispatcher is wrapped to count the chunk
// records it serves and to let a test rewrite a response.
type central struct {
	a      *agent.Agent
	n      *node.Node
	pub    *fleet.Publisher
	addr   string // its QUIC endpoint
	key    ed25519.PrivateKey
	pubKey ed25519.PublicKey
	// tamper, when set, may rewrite a response before it is sent.
	mu     sync.Mutex
	tamper func(req wire.Frame, resp []byte) []byte
	served map[manifest.Hash]int  // chunk records served, by hash
	pages  map[manifest.Hash]bool // manifest pages of the roots served
}

func startCentral(t testing.TB, p *nodetest.Fleet) *central { return startCentralWith(t, p, nil) }

// startCentralWith starts central; adjust, when not nil, changes its
// config first (a canary share, a socket, another dispatcher hook around
// the counting one).
func startCentralWith(t testing.TB, p *nodetest.Fleet, adjust func(*agent.Config)) *central {
	t.Helper()
	c := &central{served: make(map[manifest.Hash]int), pages: make(map[manifest.Hash]bool)}
	keyFile, pubFile := p.SyncKey(t)
	c.key, c.pubKey = readKeys(t, keyFile, pubFile)
	c.a = p.StartCentral(t, nil, func(cfg *agent.Config) {
		cfg.Sync.Key = keyFile
		cfg.Hooks.WrapDispatch = c.count
		if adjust != nil {
			adjust(cfg)
		}
	})
	c.n, c.pub, c.addr = c.a.Node(), c.a.Publisher(), c.a.QUICAddr()
	return c
}

// count wraps central's dispatcher: it counts the chunk records served and
// applies c.tamper.
func (c *central) count(next transport.Handler) transport.Handler {
	return func(ctx context.Context, peer transport.Peer, req wire.Frame) ([]byte, error) {
		resp, err := next(ctx, peer, req)
		c.mu.Lock()
		defer c.mu.Unlock()
		if err == nil && req.Type == wire.TypeManifest {
			// Manifest pages travel as chunks do; count records only.
			if r, err := manifest.ReadRoot(resp); err == nil {
				for _, p := range r.Pages {
					c.pages[p.Hash] = true
				}
			}
		}
		if err == nil && req.Type == wire.TypeChunks {
			for b := req.Payload; len(b) >= 16; b = b[16:] {
				if c.pages[manifest.Hash(b[:16])] {
					continue
				}
				c.served[manifest.Hash(b[:16])]++
			}
		}
		if err == nil && c.tamper != nil {
			resp = c.tamper(req, resp)
		}
		return resp, err
	}
}

// readKeys reads the sync key pair 'edgerag sync keygen' wrote.
func readKeys(t testing.TB, keyFile, pubFile string) (ed25519.PrivateKey, ed25519.PublicKey) {
	t.Helper()
	kb, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	pb, err := os.ReadFile(pubFile)
	if err != nil {
		t.Fatal(err)
	}
	key, err := manifest.ParsePrivateKey(kb)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := manifest.ParsePublicKey(pb)
	if err != nil {
		t.Fatal(err)
	}
	return key, pub
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

// edge is an edge node with a syncer; restart reopens both from disk. It
// stays wired by hand, not an agent of the fleet harness: these tests step
// the syncer (SyncOnce) and stop it at its hook points, while an agent's
// edge runs the syncer's own poll loop in the background, which would race
// with the steps and the counts they assert.
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
	noProbes bool // answers no probe set, as an edge before the probe gate
}

func startEdge(t testing.TB, p *nodetest.Fleet, c *central, name string) *edge {
	t.Helper()
	e := &edge{t: t, dir: t.TempDir(), stageDir: t.TempDir(), c: c, trusted: c.pubKey, verified: make(map[manifest.Hash]int), batch: 4 << 10}
	e.client = transport.NewClient(transport.Config{Identity: p.NewIdentity(t, name, pki.RoleEdge)})
	t.Cleanup(func() { e.client.Close() })
	e.n = nodetest.OpenNode(t, node.Config{Name: name, DataDir: e.dir})
	e.newSyncer()
	return e
}

func (e *edge) newSyncer() {
	var err error
	answer := func(ctx context.Context, shard, question string) ([]string, bool, error) {
		return e.n.AnswerProbe(ctx, shard, question)
	}
	if e.noProbes {
		answer = nil
	}
	e.s, err = fleet.NewSyncer(fleet.SyncerConfig{
		Client: e.client, Central: e.c.addr, CentralName: "central", Trusted: []ed25519.PublicKey{e.trusted},
		Target: fleetnode.Target(e.n), StageDir: e.stageDir, BatchBytes: e.batch,
		Hook:        func(p string) error { return e.callHook(p) },
		OnVerified:  func(h manifest.Hash) { e.verified[h]++ },
		AnswerProbe: answer,
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
