package dense

import (
	"context"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/edgerag/edgerag/node/nodetest/waitfor"
	"github.com/edgerag/edgerag/node/shardstore"
	"github.com/edgerag/edgerag/node/vector"
)

// BenchmarkRestart measures Load, the manager's part of a node's start, for
// one shard of EDGERAG_RESTART_N chunks (default 20000) with 384-d vectors
// of the fake embedder, as Choose sizes it: with the shard's compact graph
// saved in the vector directory ("saved"), and without a directory, when
// Load reads every vector from Badger into an int8 index and Run rebuilds
// the graph afterwards ("stream"). The first embeds and builds once.
//
//	EDGERAG_RESTART_N=20000 go test -run XXX -bench Restart -benchtime 3x -timeout 30m ./node/dense/
func BenchmarkRestart(b *testing.B) {
	n := 20_000
	if s := os.Getenv("EDGERAG_RESTART_N"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 1 {
			b.Fatalf("EDGERAG_RESTART_N=%q: give a chunk count", s)
		}
	}
	st, err := shardstore.Open(shardstore.Options{Dir: b.TempDir(), NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	vdir := b.TempDir()
	cs := wordy("big", n, 5)
	emb := newFake("fake-384", "x")
	emb.dims = 384
	m := New(st, emb, nil)
	m.SetDir(vdir)
	m.batch = 500
	m.textBudget = 1 << 30 // the texts are not in the store: keep them queued
	if err := m.Load(context.Background(), slices.Values(cs)); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); m.Run(ctx) }()
	start := time.Now()
	waitfor.Until(b, 30*time.Minute, "embedded and built", func() bool {
		p := m.Progress()
		return p.Pending == 0 && p.Kind["big"] == vector.KindHNSWInt8
	})
	cancel()
	<-done // saves the graph
	b.Logf("%d chunks embedded, built and saved in %v", n, time.Since(start).Round(time.Second))
	for _, mode := range []string{"saved", "stream"} {
		b.Run(mode, func(b *testing.B) {
			var last time.Duration
			for b.Loop() {
				m := New(st, newFake("fake-384", "x"), nil)
				if mode == "saved" {
					m.SetDir(vdir)
				}
				t0 := time.Now()
				if err := m.Load(context.Background(), slices.Values(cs)); err != nil {
					b.Fatal(err)
				}
				last = time.Since(t0)
				if k := m.Progress().Kind["big"]; (mode == "saved") != (k == vector.KindHNSWInt8) {
					b.Fatalf("%s: loaded as %s", mode, k)
				}
			}
			b.ReportMetric(last.Seconds()*1e3, "last-load-ms")
		})
	}
}
