package fleet_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"strconv"
	"sync"
	"testing"

	"github.com/edgerag/edgerag/node"
	"github.com/edgerag/edgerag/node/nodetest"
	"github.com/edgerag/edgerag/node/shard"
	"github.com/edgerag/edgerag/sync/fleet"
	"github.com/edgerag/edgerag/sync/fleet/fleetnode"
	"github.com/edgerag/edgerag/sync/manifest"
	"github.com/edgerag/edgerag/sync/wire"
)

// counting wraps an edge's transport client and counts the response bytes
// of each message type, what the edge's link carries.
type counting struct {
	fleet.Caller
	mu    sync.Mutex
	bytes map[wire.Type]int64
}

func (c *counting) Call(ctx context.Context, addr, name string, typ wire.Type, payload []byte) ([]byte, error) {
	b, err := c.Caller.Call(ctx, addr, name, typ, payload)
	c.mu.Lock()
	c.bytes[typ] += int64(len(b))
	c.mu.Unlock()
	return b, err
}

func (c *counting) take() map[wire.Type]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.bytes
	c.bytes = make(map[wire.Type]int64)
	return out
}

// smallPages publishes central's shard with pages of 2 to 16 chunks, so a
// few hundred chunks make dozens of pages, as a million make thousands.
func smallPages(t *testing.T, c *central) *fleet.Publisher {
	t.Helper()
	pub, err := fleet.NewPublisher(fleet.PublisherConfig{
		KV: c.n.SyncKV(), Source: fleetnode.Source(c.n), Key: c.key,
		Index:  manifest.IndexParams{K1: 1.2, B: 0.75, Analyzer: node.AnalyzerName},
		Paging: manifest.Paging{Min: 2, Target: 8, Max: 16},
	})
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

func pagedEdge(t *testing.T, p *nodetest.Fleet, c *central, name string) (*edge, *counting) {
	e := startEdge(t, p, c, name)
	cc := &counting{Caller: e.client, bytes: make(map[wire.Type]int64)}
	s, err := fleet.NewSyncer(fleet.SyncerConfig{
		Client: cc, Central: c.addr, Trusted: []ed25519.PublicKey{c.pubKey},
		Target: fleetnode.Target(e.n), StageDir: e.stageDir, BatchBytes: 1 << 10,
		Hook: func(p string) error { return e.callHook(p) },
	})
	if err != nil {
		t.Fatal(err)
	}
	e.s = s
	return e, cc
}

// TestPagedManifestSyncsChangedPages: a shard published as a paged
// manifest syncs over real QUIC; a change of 1% of its chunks (four
// consecutive documents) makes the edge fetch those four records and only
// the few pages around them, not the manifest again; a link cut in the
// middle of the pages resumes with the pages it lacks; rollback returns to
// the old version.
func TestPagedManifestSyncsChangedPages(t *testing.T) {
	ctx := context.Background()
	p := nodetest.StartFleet(t)
	c := startCentral(t, p)
	pub := smallPages(t, c)
	c.ingest(t, rangeInts(0, 400), "blue")
	v1, err := pub.Publish(ctx, shardName, 0)
	if err != nil {
		t.Fatal(err)
	}
	e, link := pagedEdge(t, p, c, "edge-paged")
	if err := e.s.SyncOnce(ctx); err != nil {
		t.Fatal(err)
	}
	st := e.status()
	if st.Applied != v1.Version || st.PagesTotal < 25 || st.PagesFetched != st.PagesTotal {
		t.Fatalf("first sync: %+v; want version %d whole, in 25 pages or more", st, v1.Version)
	}
	full := link.take()
	fullPages := st.PageBytes

	c.ingest(t, []int{200, 201, 202, 203}, "orange") // 1% of the chunks
	v2, err := pub.Publish(ctx, shardName, 0)
	if err != nil || v2.NewChunks != 4 {
		t.Fatalf("second publish: %+v %v", v2, err)
	}
	c.resetServed()
	if err := e.s.SyncOnce(ctx); err != nil {
		t.Fatal(err)
	}
	st = e.status()
	got := link.take()
	if total, _ := c.servedCount(); st.Applied != v2.Version || total != 4 {
		t.Fatalf("second sync: %+v, %d records served; want version %d and 4 records", st, total, v2.Version)
	}
	if st.PagesFetched > 3 || st.PageBytes*10 > fullPages {
		t.Fatalf("a 4-chunk change fetched %d of %d pages (%d of %d page bytes); want at most 3", st.PagesFetched, st.PagesTotal, st.PageBytes, fullPages)
	}
	t.Logf("v1: %d pages, %d page bytes, link %v; v2 (4 chunks changed): %d pages fetched, %d page bytes, link %v",
		st.PagesTotal, fullPages, full, st.PagesFetched, st.PageBytes, got)
	if docs := e.sees("orange"); len(docs) != 4 {
		t.Fatalf("after v2 'orange' finds %v", docs)
	}

	// A fresh edge's link is cut after its first batch of pages; the
	// next poll fetches only the pages it still lacks.
	f, _ := pagedEdge(t, p, c, "edge-cut")
	cut := 0
	f.hook = func(point string) error {
		if point == "page" {
			cut++
			return errors.New("link cut")
		}
		return nil
	}
	if err := f.s.SyncOnce(ctx); err == nil || cut != 1 {
		t.Fatalf("the cut sync ended with %v after %d page batches", err, cut)
	}
	first := f.status().PagesFetched
	f.hook = nil
	if err := f.s.SyncOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if st := f.status(); st.Applied != v2.Version || first == 0 || first+st.PagesFetched != st.PagesTotal {
		t.Fatalf("resumed sync: %+v after %d pages before the cut; want the %d pages fetched once", st, first, st.PagesTotal)
	}

	if from, to, err := e.n.RollbackShard(ctx, shardName, nil); err != nil || from != v2.Version || to != v1.Version {
		t.Fatalf("rollback: %d → %d, %v", from, to, err)
	}
	e.restart()
	if docs := e.sees("orange"); docs != nil {
		t.Fatalf("after rollback 'orange' finds %v", docs)
	}
	if docs := e.sees("blue"); len(docs) != 50 {
		t.Fatalf("after rollback 'blue' finds %d documents, want 50 (the most a query returns)", len(docs))
	}
}

// TestSingleBodyManifestStillApplies: a version central published before
// manifests paged (format 1, one body) still applies on an edge, and the
// next, paged, version follows it.
func TestSingleBodyManifestStillApplies(t *testing.T) {
	ctx := context.Background()
	p := nodetest.StartFleet(t)
	c := startCentral(t, p)
	c.ingest(t, rangeInts(0, 30), "blue")
	v1 := c.publish(t)
	// Rewrite version 1 as an old central stored it.
	kv := c.n.SyncKV()
	env, err := kv.Get(manifestKeyForTest(v1.Version))
	if err != nil {
		t.Fatal(err)
	}
	m, err := fleet.LoadShard(ctx, kv, env)
	if err != nil {
		t.Fatal(err)
	}
	old, err := manifest.SignShard(c.key, &m)
	if err != nil {
		t.Fatal(err)
	}
	if err := kv.Update(ctx, []shard.KV{{Key: manifestKeyForTest(v1.Version), Value: old}, {Key: "l/" + shardName, Value: []byte(strconv.FormatUint(v1.Version, 10))}}, nil); err != nil {
		t.Fatal(err)
	}
	e := startEdge(t, p, c, "edge-old")
	if err := e.s.SyncOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if st := e.status(); st.Applied != v1.Version || st.PagesTotal != 0 {
		t.Fatalf("single-body version: %+v", st)
	}
	c.ingest(t, []int{3}, "orange")
	v2 := c.publish(t)
	if err := e.s.SyncOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if st := e.status(); st.Applied != v2.Version || st.PagesTotal == 0 {
		t.Fatalf("paged version after a single-body one: %+v", st)
	}
	if docs := e.sees("orange"); len(docs) != 1 {
		t.Fatalf("'orange' finds %v", docs)
	}
}
