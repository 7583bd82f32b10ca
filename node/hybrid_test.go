package node_test

import (
	"context"
	"testing"
	"time"

	"github.com/edgerag/edgerag/models/ollama"
	"github.com/edgerag/edgerag/models/ollama/ollamatest"
	"github.com/edgerag/edgerag/node"
	"github.com/edgerag/edgerag/node/api"
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
