package queryrpc_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgerag/edgerag/node"
	"github.com/edgerag/edgerag/node/agent"
	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/node/evalset"
	"github.com/edgerag/edgerag/node/nodetest"
	"github.com/edgerag/edgerag/sync/pki"
	"github.com/edgerag/edgerag/sync/queryrpc"
)

// benchCorpus is what central holds in the benchmarks: 20,000 chunks, so
// that central's own work is that of a real index rather than a toy one.
var benchCorpus = evalset.Synthetic{Docs: 5000, SectionsPerDoc: 4, WordsPerSection: 90, Vocabulary: 50000, Seed: 1}

var (
	benchOnce    sync.Once
	benchFleet   *nodetest.Fleet
	benchCentral *agent.Agent
	benchDocs    []api.Document
	benchDir     string
)

// TestMain removes the benchmarks' shared fleet, which outlives any one
// benchmark.
func TestMain(m *testing.M) {
	code := m.Run()
	if benchFleet != nil {
		benchFleet.Close()
		os.RemoveAll(benchDir)
	}
	os.Exit(code)
}

// sharedCentral is a fleet with a central holding benchCorpus, built once
// per test binary run (ingesting takes seconds) and shared by the
// benchmarks, which start their edges in it.
func sharedCentral(b *testing.B) (*nodetest.Fleet, *agent.Agent, []api.Document) {
	benchOnce.Do(func() {
		benchDocs = documents(b, benchCorpus)
		dir, err := os.MkdirTemp("", "queryrpc-bench-")
		if err != nil {
			b.Fatal(err)
		}
		benchDir = dir
		if benchFleet, err = nodetest.NewFleet(dir); err != nil {
			b.Fatal(err)
		}
		benchCentral = benchFleet.StartCentral(b, benchDocs, nil)
	})
	if benchCentral == nil || len(benchCentral.Node().Shards()) == 0 {
		b.Skip("the shared central node failed to build")
	}
	return benchFleet, benchCentral, benchDocs
}

// benchEdge starts an edge of the shared fleet asking central, closed when
// the benchmark ends (each run of a benchmark starts its own).
func benchEdge(b *testing.B, fleet *nodetest.Fleet, addr string) *node.Node {
	edge := fleet.StartEdge(b, "edge-1", addr, nil)
	b.Cleanup(func() { edge.Close() })
	return edge.Node()
}

func pctMS(sorted []time.Duration, pct float64) float64 {
	return float64(evalset.Percentile(sorted, pct).Nanoseconds()) / 1e6
}

// BenchmarkEscalationOverhead asks the same questions of central directly
// and through an edge that holds nothing, over a warm loopback connection,
// and reports what escalating adds to central's own processing time.
func BenchmarkEscalationOverhead(b *testing.B) {
	fleet, c, docs := sharedCentral(b)
	central := c.Node()
	edge := benchEdge(b, fleet, c.QUICAddr())
	qs := questions(benchCorpus, docs, 1000, 11)
	ctx := context.Background()
	if r, err := edge.Query(ctx, api.QueryRequest{Question: qs[0]}); err != nil || r.Route != "central" {
		b.Fatalf("warm-up: route %q, %v", r.Route, err)
	}

	var direct, escalated, overhead []time.Duration
	i := 0
	for b.Loop() {
		q := api.QueryRequest{Question: qs[i%len(qs)]}
		var d, e time.Duration
		// Alternate which goes first, so that neither always finds the
		// question's postings warm in the CPU caches.
		for k := range 2 {
			if (i+k)%2 == 0 {
				t0 := time.Now()
				if _, err := central.QueryLocal(ctx, q); err != nil {
					b.Fatal(err)
				}
				d = time.Since(t0)
			} else {
				t0 := time.Now()
				r, err := edge.Query(ctx, q)
				e = time.Since(t0)
				if err != nil || r.Route != "central" {
					b.Fatalf("escalation: route %q reasons %v, %v", r.Route, r.Reasons, err)
				}
			}
		}
		direct, escalated, overhead = append(direct, d), append(escalated, e), append(overhead, e-d)
		i++
	}
	slices.Sort(direct)
	slices.Sort(escalated)
	slices.Sort(overhead)
	b.ReportMetric(pctMS(direct, 50), "central-p50-ms")
	b.ReportMetric(pctMS(escalated, 50), "escalated-p50-ms")
	b.ReportMetric(pctMS(overhead, 50), "overhead-p50-ms")
	b.ReportMetric(pctMS(overhead, 99), "overhead-p99-ms")
}

// BenchmarkConcurrentEscalations has 50 askers escalate to one central at
// once and reports throughput and tail latency. "edges" gives each asker
// its own transport client, socket and connection, as 50 edge sites would
// (central sees the same traffic as from 50 edge nodes; opening 50 Badger
// stores in one process would measure memory, not the link). "one-edge"
// has 50 users of one edge node share its single connection.
func BenchmarkConcurrentEscalations(b *testing.B) {
	const askers = 50
	fleet, central, docs := sharedCentral(b)
	addr := central.QUICAddr()
	target := queryrpc.Target{Name: centralName, Addr: addr}
	qs := questions(benchCorpus, docs, 1000, 13)
	id := fleet.NewIdentity(b, "edge-asker", pki.RoleEdge)

	run := func(b *testing.B, ask []func(context.Context, api.QueryRequest) (api.QueryResponse, error)) {
		var next atomic.Int64
		var failed atomic.Pointer[error]
		lats := make([][]time.Duration, len(ask))
		b.ResetTimer()
		var wg sync.WaitGroup
		for g, ask := range ask {
			wg.Go(func() {
				for {
					i := next.Add(1)
					if i > int64(b.N) {
						return
					}
					t0 := time.Now()
					r, err := ask(context.Background(), api.QueryRequest{Question: qs[int(i)%len(qs)]})
					lats[g] = append(lats[g], time.Since(t0))
					if err == nil && r.Node != centralName {
						err = errEscalation(r)
					}
					if err != nil {
						failed.Store(&err)
						return
					}
				}
			})
		}
		wg.Wait()
		b.StopTimer()
		if err := failed.Load(); err != nil {
			b.Fatal(*err)
		}
		all := slices.Concat(lats...)
		slices.Sort(all)
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "queries/s")
		b.ReportMetric(pctMS(all, 50), "p50-ms")
		b.ReportMetric(pctMS(all, 99), "p99-ms")
	}

	b.Run("edges=50", func(b *testing.B) {
		ask := make([]func(context.Context, api.QueryRequest) (api.QueryResponse, error), askers)
		for g := range ask {
			c := queryrpc.NewClient(newTransportClient(b, id), "edge-asker")
			if _, err := c.Ask(context.Background(), target, api.QueryRequest{Question: qs[0]}); err != nil {
				b.Fatal(err)
			}
			ask[g] = func(ctx context.Context, q api.QueryRequest) (api.QueryResponse, error) { return c.Ask(ctx, target, q) }
		}
		run(b, ask)
	})
	b.Run("one-edge", func(b *testing.B) {
		edge := benchEdge(b, fleet, addr)
		if r, err := edge.Query(context.Background(), api.QueryRequest{Question: qs[0]}); err != nil || r.Route != "central" {
			b.Fatalf("warm-up: route %q, %v", r.Route, err)
		}
		ask := make([]func(context.Context, api.QueryRequest) (api.QueryResponse, error), askers)
		for g := range ask {
			ask[g] = edge.Query
		}
		run(b, ask)
	})
}

func errEscalation(r api.QueryResponse) error {
	return fmt.Errorf("the answer did not come from central: route %q node %q reasons %v", r.Route, r.Node, r.Reasons)
}
