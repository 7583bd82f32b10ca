package fleet_test

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgerag/edgerag/node"
	"github.com/edgerag/edgerag/node/nodetest"
	"github.com/edgerag/edgerag/node/shard"
	"github.com/edgerag/edgerag/sync/fleet"
	"github.com/edgerag/edgerag/sync/manifest"
	"github.com/edgerag/edgerag/sync/wire"
)

// synthSource is a shard of docs documents of four short chunks each;
// documents whose number is in changed carry rev in their text.
type synthSource struct {
	docs    int
	rev     int
	changed func(i int) bool
}

func (s synthSource) Snapshot(ctx context.Context, _ string, fn func(fleet.Doc) error) (uint64, error) {
	for i := range s.docs {
		id := fmt.Sprintf("doc-%07d", i)
		d := fleet.Doc{ID: id, Title: "T" + id}
		rev := 0
		if s.changed != nil && s.changed(i) {
			rev = s.rev
		}
		for k := range 4 {
			d.Chunks = append(d.Chunks, manifest.Record{DocID: id, Position: k, Text: fmt.Sprintf("part %d of %s, revision %d", k, id, rev)})
		}
		if err := fn(d); err != nil {
			return 0, err
		}
		if i%10000 == 0 {
			if err := ctx.Err(); err != nil {
				return 0, err
			}
		}
	}
	return uint64(s.rev + 1), nil
}

// mapKV is an edge store in memory, for a shard no test node could index
// in reasonable time.
type mapKV struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (kv *mapKV) Get(key string) ([]byte, error) {
	kv.mu.Lock()
	defer kv.mu.Unlock()
	if v, ok := kv.m[key]; ok {
		return v, nil
	}
	return nil, shard.ErrNotFound
}

func (kv *mapKV) GetMany(keys []string) ([][]byte, error) {
	kv.mu.Lock()
	defer kv.mu.Unlock()
	out := make([][]byte, len(keys))
	for i, k := range keys {
		out[i] = kv.m[k]
	}
	return out, nil
}

func (kv *mapKV) Update(_ context.Context, sets []shard.KV, deletes []string) error {
	kv.mu.Lock()
	defer kv.mu.Unlock()
	for _, d := range deletes {
		delete(kv.m, d)
	}
	for _, s := range sets {
		kv.m[s.Key] = s.Value
	}
	return nil
}

func (kv *mapKV) Scan(_ context.Context, prefix string, _ bool, fn func(string, []byte) error) error {
	kv.mu.Lock()
	var keys []string
	for k := range kv.m {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	vals := make([][]byte, len(keys))
	for i, k := range keys {
		vals[i] = kv.m[k]
	}
	kv.mu.Unlock()
	for i, k := range keys {
		if err := fn(k, vals[i]); err != nil {
			return err
		}
	}
	return nil
}

// mapTarget applies versions to a mapKV; it does not index them.
type mapTarget struct {
	kv  *mapKV
	ptr fleet.Pointer
}

func (t *mapTarget) KV() fleet.KV                          { return t.kv }
func (t *mapTarget) Analyzer() string                      { return node.AnalyzerName }
func (t *mapTarget) Pointer(string) (fleet.Pointer, error) { return t.ptr, nil }
func (t *mapTarget) Stage(context.Context, string, uint64, func(func(fleet.Doc) error) error) error {
	return nil
}

func (t *mapTarget) Activate(ctx context.Context, _ string, v uint64, sets []shard.KV, deletes []string) error {
	t.ptr = fleet.Pointer{Current: v, Previous: t.ptr.Current, Highest: max(t.ptr.Highest, v)}
	return t.kv.Update(ctx, sets, deletes)
}

// TestMillionChunkShardPublishesAndSyncs: a shard of 1.05M chunks, over
// the single-body cap (1M chunks, 4 MiB), publishes as a paged manifest on
// central (its Badger store), reaches an edge over real QUIC, and a change
// of 1% of its documents (in 100 runs of 105 consecutive documents) sends
// the edge the changed records and a few pages, not the manifest again. It
// logs sizes and times; the edge's store is in memory (indexing a million
// chunks is the node's cost, measured elsewhere).
func TestMillionChunkShardPublishesAndSyncs(t *testing.T) {
	// Minutes of CPU, more under -race: make test would spend a third
	// of its budget here, so only make bench-fleet (or the variable) runs it.
	if testing.Short() || os.Getenv("EDGERAG_MILLION") == "" {
		t.Skip("publishes and syncs a 1.05M-chunk shard (minutes): set EDGERAG_MILLION=1 to run it (make bench-fleet does)")
	}
	ctx := context.Background()
	p := nodetest.StartFleet(t)
	c := startCentral(t, p)
	const docs = 262_500
	pub, err := fleet.NewPublisher(fleet.PublisherConfig{KV: c.n.SyncKV(), Source: synthSource{docs: docs}, Key: c.key,
		Index: manifest.IndexParams{K1: 1.2, B: 0.75, Analyzer: node.AnalyzerName}})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	v1, err := pub.Publish(ctx, shardName, 0)
	if err != nil {
		t.Fatal(err)
	}
	pubTook := time.Since(start)
	root, err := c.n.SyncKV().Get(manifestKeyForTest(v1.Version))
	if err != nil {
		t.Fatal(err)
	}
	r, err := manifest.ReadRoot(root)
	if err != nil || r.Inline || r.Chunks() != 4*docs {
		t.Fatalf("version 1: %d chunks, inline %v, %v", r.Chunks(), r.Inline, err)
	}
	t.Logf("published %d chunks (%d bytes of records) in %v: signed root %d bytes, %d pages of %d bytes (a single body would be ~%d bytes, over the %d a message carries)",
		v1.Chunks, v1.Bytes, pubTook, len(root), len(r.Pages), r.PageBytes(), 18*v1.Chunks, wire.MaxManifest)

	e := startEdge(t, p, c, "edge-million")
	link := &counting{Caller: e.client, bytes: make(map[wire.Type]int64)}
	tgt := &mapTarget{kv: &mapKV{m: map[string][]byte{}}}
	s, err := fleet.NewSyncer(fleet.SyncerConfig{Client: link, Central: c.addr, Trusted: []ed25519.PublicKey{c.pubKey},
		Target: tgt, StageDir: e.stageDir})
	if err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	if err := s.SyncShard(ctx, shardName, v1.Version); err != nil {
		t.Fatal(err)
	}
	st := s.Status().Shards[0]
	t.Logf("first sync in %v: %d records (%d bytes), %d pages (%d bytes); link %v", time.Since(start), st.ChunksTotal, st.BytesTotal, st.PagesFetched, st.PageBytes, link.take())
	if tgt.ptr.Current != v1.Version || st.PagesFetched != len(r.Pages) {
		t.Fatalf("first sync: %+v", st)
	}

	changed := func(i int) bool { return i%2500 < 25 } // 1%: 100 runs of 25 documents
	pub2, _ := fleet.NewPublisher(fleet.PublisherConfig{KV: c.n.SyncKV(), Source: synthSource{docs: docs, rev: 1, changed: changed}, Key: c.key,
		Index: manifest.IndexParams{K1: 1.2, B: 0.75, Analyzer: node.AnalyzerName}})
	start = time.Now()
	v2, err := pub2.Publish(ctx, shardName, 0)
	if err != nil {
		t.Fatal(err)
	}
	pubTook = time.Since(start)
	start = time.Now()
	if err := s.SyncShard(ctx, shardName, v2.Version); err != nil {
		t.Fatal(err)
	}
	st = s.Status().Shards[0]
	got := link.take()
	t.Logf("1%% change: published in %v (%d new records); synced in %v: %d records (%d bytes), %d of %d pages (%d bytes); link %v",
		pubTook, v2.NewChunks, time.Since(start), st.ChunksTotal, st.BytesTotal, st.PagesFetched, st.PagesTotal, st.PageBytes, got)
	if tgt.ptr.Current != v2.Version || st.ChunksTotal != 4*docs/100 {
		t.Fatalf("second sync: %+v", st)
	}
	// 100 runs each touch a page or two (and a neighbour when a boundary
	// chunk changed).
	if st.PagesFetched > 300 || st.PageBytes > int64(len(root))*20 {
		t.Fatalf("a 1%% change in 100 runs fetched %d of %d pages (%d bytes)", st.PagesFetched, st.PagesTotal, st.PageBytes)
	}
}
