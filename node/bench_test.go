package node_test

import (
	"context"
	"math/rand/v2"
	"net/http/httptest"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/edgerag/edgerag/node"
	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/node/evalset"
)

// corpus100k is the generated benchmark corpus: 25,000 documents of four
// ~90-word sections, one chunk each at the default budget: 100,000 chunks.
var corpus100k = evalset.Synthetic{Docs: 25000, SectionsPerDoc: 4, WordsPerSection: 90, Vocabulary: 50000, Seed: 1}

func generate(b *testing.B, s evalset.Synthetic) []api.Document {
	b.Helper()
	var docs []api.Document
	err := s.Generate(func(d evalset.Doc) error {
		docs = append(docs, api.Document{ID: d.ID, Title: d.Title, Format: "markdown", Body: d.Text})
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return docs
}

// ingestAll ingests docs in batches of 1,000 with two batches in flight, as
// 'edgerag ingest' does: one batch is analysed while the other is written.
func ingestAll(b *testing.B, n *node.Node, docs []api.Document) int {
	b.Helper()
	var mu sync.Mutex
	chunks := 0
	next := make(chan []api.Document)
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for batch := range next {
				resp, err := n.Ingest(context.Background(), batch)
				if err != nil {
					b.Error(err)
					continue
				}
				mu.Lock()
				for _, d := range resp.Documents {
					chunks += d.Chunks
				}
				mu.Unlock()
			}
		}()
	}
	for i := 0; i < len(docs); i += 1000 {
		next <- docs[i:min(i+1000, len(docs))]
	}
	close(next)
	wg.Wait()
	return chunks
}

// BenchmarkIngest100k ingests the 100k-chunk corpus into a fresh node with
// fsync on, in batches of 1,000 documents, and reports chunks per second.
func BenchmarkIngest100k(b *testing.B) {
	docs := generate(b, corpus100k)
	b.ResetTimer()
	var chunks int
	var elapsed, cpu time.Duration
	for range b.N {
		b.StopTimer()
		n, err := node.New(node.Config{DataDir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		if err := n.Open(context.Background()); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start, cpu0 := time.Now(), processCPU()
		chunks = ingestAll(b, n, docs)
		elapsed += time.Since(start)
		cpu += processCPU() - cpu0
		b.StopTimer()
		n.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(chunks*b.N)/elapsed.Seconds(), "chunks/s")
	b.ReportMetric(float64(chunks*b.N)/cpu.Seconds(), "chunks/cpu-s")
	b.ReportMetric(float64(chunks), "chunks")
}

// processCPU is the CPU time the process has used, user and system: on a
// shared machine wall time measures the neighbours as much as the code.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

var (
	fixtureOnce sync.Once
	fixtureNode *node.Node
	fixtureDocs []api.Document
)

// fixture100k is a node holding the 100k-chunk corpus, built once per test
// binary run (it takes seconds) and shared by the query benchmarks.
func fixture100k(b *testing.B) (*node.Node, []api.Document) {
	fixtureOnce.Do(func() {
		fixtureDocs = generate(b, corpus100k)
		n, err := node.New(node.Config{DataDir: b.TempDir(), NoSync: true})
		if err != nil {
			b.Fatal(err)
		}
		if err := n.Open(context.Background()); err != nil {
			b.Fatal(err)
		}
		ingestAll(b, n, fixtureDocs)
		fixtureNode = n
	})
	if fixtureNode == nil {
		b.Skip("fixture failed to build")
	}
	return fixtureNode, fixtureDocs
}

// BenchmarkQueryHTTP100k asks questions over HTTP on loopback, one client,
// at 100k chunks, and reports the latency percentiles a user sees.
func BenchmarkQueryHTTP100k(b *testing.B) {
	n, docs := fixture100k(b)
	srv := httptest.NewServer(api.NewHandler(n, nil))
	defer srv.Close()
	c := api.NewClient(srv.URL, srv.Client())
	rng := rand.New(rand.NewPCG(7, 7))
	questions := make([]string, 1000)
	for i := range questions {
		questions[i] = corpus100k.Query(rng, docs[rng.IntN(len(docs))].Body)
	}
	ctx := context.Background()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	cpu0 := processCPU()
	for i := range b.N {
		t0 := time.Now()
		if _, err := c.Query(ctx, api.QueryRequest{Question: questions[i%len(questions)]}); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/float64(b.N)/1000, "cpu-ms/op")
	slices.Sort(lat)
	b.ReportMetric(float64(evalset.Percentile(lat, 50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(evalset.Percentile(lat, 99).Microseconds())/1000, "p99-ms")
}

// BenchmarkSearch100k is the retrieval step alone, in process.
func BenchmarkSearch100k(b *testing.B) {
	n, docs := fixture100k(b)
	rng := rand.New(rand.NewPCG(7, 7))
	questions := make([]string, 1000)
	for i := range questions {
		questions[i] = corpus100k.Query(rng, docs[rng.IntN(len(docs))].Body)
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU()
	for i := range b.N {
		if _, err := n.Search(context.Background(), questions[i%len(questions)], "", 5); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/float64(b.N), "cpu-us/op")
}
