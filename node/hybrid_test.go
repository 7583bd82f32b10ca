package node_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/edgerag/edgerag/models"
	"github.com/edgerag/edgerag/models/ollama"
	"github.com/edgerag/edgerag/models/ollama/ollamatest"
	"github.com/edgerag/edgerag/models/ollama/tinymodel"
	"github.com/edgerag/edgerag/node"
	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/node/evalset"
)

// TestHybridRetrievalWithRealEmbedder embeds the chunks in the background
// with the tiny embedding model of a real Ollama server, then answers with
// BM25 and dense hits fused, and says so; with the server gone it keeps
// answering with BM25 alone.
func TestHybridRetrievalWithRealEmbedder(t *testing.T) {
	srv := ollamatest.Start(t)
	c, err := ollama.New(ollama.Config{Host: srv.Host, EmbedModel: srv.EmbedModel, NumThread: 1, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := c.Check(ctx, nil); err != nil {
		t.Fatal(err)
	}
	n, err := node.New(node.Config{Name: "hybrid", DataDir: t.TempDir(), NoSync: true, Embedder: c.Embedder()})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if _, err := n.Ingest(ctx, manuals); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, _ := n.Status(ctx)
		if st.Retrieval == "hybrid" && st.Embedding != nil && st.Embedding.Pending == 0 {
			if st.Embedding.Dims != 64 || st.Embedding.Embedded == 0 {
				t.Fatalf("embedding status %+v", st.Embedding)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("chunks not embedded in time: %+v", st.Embedding)
		}
		time.Sleep(50 * time.Millisecond)
	}
	r, err := n.Query(ctx, api.QueryRequest{Question: "How do I reset the pump after a fault?"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Retrieval != "hybrid" || r.Citations[0].DocumentID != "pump" {
		t.Fatalf("retrieval %q, top citation %+v", r.Retrieval, r.Citations[0])
	}
	if _, ok := r.Signals["dense_top"]; !ok {
		t.Errorf("no dense_top signal in %v", r.Signals)
	}

	srv.Stop()
	r, err = n.Query(ctx, api.QueryRequest{Question: "How do I reset the pump after a fault?"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Citations[0].DocumentID != "pump" || r.Abstained {
		t.Fatalf("with the embedder down the node must still answer from BM25: %+v", r)
	}
}

// BenchmarkHybridQueryHTTP times hybrid queries over HTTP on loopback with
// the tiny embedder of a real Ollama server, at 10k chunks, and how much of
// each query is the embedding call.
func BenchmarkHybridQueryHTTP(b *testing.B) {
	srv := ollamatest.Start(b)
	c, err := ollama.New(ollama.Config{Host: srv.Host, EmbedModel: srv.EmbedModel, NumThread: 1, Timeout: 10 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if err := c.Check(ctx, nil); err != nil {
		b.Fatal(err)
	}
	n, err := node.New(node.Config{DataDir: b.TempDir(), NoSync: true, Embedder: c.Embedder()})
	if err != nil {
		b.Fatal(err)
	}
	if err := n.Open(ctx); err != nil {
		b.Fatal(err)
	}
	defer n.Close()
	corpus := evalset.Synthetic{Docs: 300, SectionsPerDoc: 4, WordsPerSection: 90, Vocabulary: 20000, Seed: 5}
	docs := generate(b, corpus)
	ingestAll(b, n, docs)
	start := time.Now()
	for {
		st, _ := n.Status(ctx)
		if st.Retrieval == "hybrid" {
			b.Logf("embedded %d chunks in %v", st.Embedding.Embedded, time.Since(start).Round(time.Millisecond))
			break
		}
		if time.Since(start) > 3*time.Minute {
			b.Fatalf("embedding did not finish: %+v", st.Embedding)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The baseline, measured in the same run: a node holding the same
	// chunks with no embedder, answering by BM25 alone.
	lex, err := node.New(node.Config{DataDir: b.TempDir(), NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	if err := lex.Open(ctx); err != nil {
		b.Fatal(err)
	}
	defer lex.Close()
	ingestAll(b, lex, docs)

	hybrid := httptest.NewServer(api.NewHandler(n, nil))
	defer hybrid.Close()
	lexical := httptest.NewServer(api.NewHandler(lex, nil))
	defer lexical.Close()
	hc := api.NewClient(hybrid.URL, hybrid.Client())
	lc := api.NewClient(lexical.URL, lexical.Client())
	rng := rand.New(rand.NewPCG(9, 9))
	questions := make([]string, 500)
	for i := range questions {
		questions[i] = corpus.Query(rng, docs[rng.IntN(len(docs))].Body)
	}
	emb := c.Embedder()
	timed := func(f func() error) time.Duration {
		t0 := time.Now()
		if err := f(); err != nil {
			b.Fatal(err)
		}
		return time.Since(t0)
	}
	var total, bm25, embed []time.Duration
	i := 0
	for b.Loop() {
		q := questions[i%len(questions)]
		i++
		total = append(total, timed(func() error {
			r, err := hc.Query(ctx, api.QueryRequest{Question: q})
			if err == nil && r.Retrieval != "hybrid" {
				err = fmt.Errorf("retrieval %q, want hybrid", r.Retrieval)
			}
			return err
		}))
		bm25 = append(bm25, timed(func() error {
			_, err := lc.Query(ctx, api.QueryRequest{Question: q})
			return err
		}))
		embed = append(embed, timed(func() error {
			_, err := emb.Embed(ctx, []string{q})
			return err
		}))
	}
	for _, d := range [][]time.Duration{total, bm25, embed} {
		slices.Sort(d)
	}
	ms := func(d []time.Duration, p float64) float64 {
		return float64(evalset.Percentile(d, p).Microseconds()) / 1000
	}
	b.ReportMetric(ms(total, 50), "p50-ms")
	b.ReportMetric(ms(total, 99), "p99-ms")
	b.ReportMetric(ms(bm25, 50), "bm25-p50-ms")
	b.ReportMetric(ms(total, 50)/ms(bm25, 50), "x-bm25")
	b.ReportMetric(float64(evalset.Percentile(embed, 50).Microseconds())/1000, "embed-p50-ms")
}

// TestEmbeddingModelChange restarts a node with another embedding model:
// it keeps answering with the old model's vectors while it embeds every
// chunk with the new one (here, until the new model appears on the server),
// then moves to the new model by itself.
func TestEmbeddingModelChange(t *testing.T) {
	srv := ollamatest.Start(t)
	ctx := context.Background()
	dir := t.TempDir()
	client := func(model string) *ollama.Client {
		c, err := ollama.New(ollama.Config{Host: srv.Host, EmbedModel: model, NumThread: 1, Timeout: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	open := func(cfg node.Config) *node.Node {
		cfg.DataDir, cfg.NoSync = dir, true
		n, err := node.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := n.Open(ctx); err != nil {
			t.Fatal(err)
		}
		return n
	}
	waitStatus := func(n *node.Node, what string, ok func(api.Status) bool) api.Status {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			st, err := n.Status(ctx)
			if err == nil && ok(st) {
				return st
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: status %+v, embedding %+v", what, st, st.Embedding)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	const question = "How do I reset the pump after a fault?"

	a := client(srv.EmbedModel)
	if err := a.Check(ctx, nil); err != nil {
		t.Fatal(err)
	}
	oldModel := a.Embedder().Model()
	n := open(node.Config{Embedder: a.Embedder()})
	if _, err := n.Ingest(ctx, manuals); err != nil {
		t.Fatal(err)
	}
	waitStatus(n, "model A complete", func(st api.Status) bool {
		return st.Retrieval == "hybrid" && st.Embedding.Pending == 0
	})
	n.Close()

	// Model B is configured but not yet on the server.
	const modelB = "tiny-embed-b"
	b := client(modelB)
	previous := func(ctx context.Context, model string) (models.Embedder, error) {
		name, _, _ := ollama.ParseModelID(model)
		c := client(name)
		return c.Embedder(), c.Check(ctx, nil)
	}
	n = open(node.Config{Embedder: b.Embedder(), PreviousEmbedder: previous})
	defer n.Close()
	st := waitStatus(n, "B queued behind A", func(st api.Status) bool { return st.Embedding.Next != "" })
	if st.Embedding.Model != oldModel || st.Retrieval != "hybrid" {
		t.Fatalf("during the switch the node must serve with %s: retrieval %q, embedding %+v", oldModel, st.Retrieval, st.Embedding)
	}
	r, err := n.Query(ctx, api.QueryRequest{Question: question})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := r.Signals["dense_top"]; !ok || r.Retrieval != "hybrid" || r.Citations[0].DocumentID != "pump" {
		t.Fatalf("during the switch: retrieval %q, signals %v, top %+v", r.Retrieval, r.Signals, r.Citations[0])
	}

	if err := tinymodel.Install(ctx, srv.Client, modelB, tinymodel.Embedding); err != nil {
		t.Fatal(err)
	}
	st = waitStatus(n, "the switch to B", func(st api.Status) bool {
		return st.Embedding.Model == b.Embedder().Model() && st.Embedding.Next == "" && st.Embedding.Pending == 0
	})
	if r, err = n.Query(ctx, api.QueryRequest{Question: question}); err != nil || r.Retrieval != "hybrid" {
		t.Fatalf("after the switch: %v, retrieval %q", err, r.Retrieval)
	}
}
