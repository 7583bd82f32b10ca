package fleet_test

import (
	"context"
	"crypto/ed25519"
	"maps"
	"testing"

	"github.com/edgerag/edgerag/node"
	"github.com/edgerag/edgerag/node/nodetest"
	"github.com/edgerag/edgerag/sync/fleet"
	"github.com/edgerag/edgerag/sync/manifest"
)

// BenchmarkApplyDelta: what an edge allocates applying a 1% change (every
// 100th document) of a 50k-chunk shard it holds, over real QUIC: the
// bytes a simulated fleet of a thousand such edges multiplies, and a
// small edge with a big shard must hold at once.
func BenchmarkApplyDelta(b *testing.B) {
	ctx := context.Background()
	p := nodetest.StartFleet(b)
	c := startCentral(b, p)
	const docs = 12_500
	publish := func(rev int, changed func(int) bool) uint64 {
		pub, err := fleet.NewPublisher(fleet.PublisherConfig{KV: c.n.SyncKV(), Source: synthSource{docs: docs, rev: rev, changed: changed}, Key: c.key,
			Index: manifest.IndexParams{K1: 1.2, B: 0.75, Analyzer: node.AnalyzerName}})
		if err != nil {
			b.Fatal(err)
		}
		v, err := pub.Publish(ctx, shardName, 0)
		if err != nil {
			b.Fatal(err)
		}
		return v.Version
	}
	v1 := publish(0, nil)
	e := startEdge(b, p, c, "edge-apply")
	base := &mapTarget{kv: &mapKV{m: map[string][]byte{}}}
	syncer := func(t *mapTarget) *fleet.Syncer {
		s, err := fleet.NewSyncer(fleet.SyncerConfig{Client: e.client, Central: c.addr, Trusted: []ed25519.PublicKey{c.pubKey}, Target: t, StageDir: e.stageDir})
		if err != nil {
			b.Fatal(err)
		}
		return s
	}
	if err := syncer(base).SyncShard(ctx, shardName, v1); err != nil {
		b.Fatal(err)
	}
	v2 := publish(1, func(i int) bool { return i%100 == 0 })
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		t := &mapTarget{kv: &mapKV{m: maps.Clone(base.kv.m)}, ptr: base.ptr}
		s := syncer(t)
		b.StartTimer()
		if err := s.SyncShard(ctx, shardName, v2); err != nil {
			b.Fatal(err)
		}
		if t.ptr.Current != v2 {
			b.Fatalf("applied %d, want %d", t.ptr.Current, v2)
		}
	}
}
