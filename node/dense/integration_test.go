package dense_test

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edgerag/edgerag/models/ollama"
	"github.com/edgerag/edgerag/models/ollama/ollamatest"
	"github.com/edgerag/edgerag/models/ollama/tinymodel"
	"github.com/edgerag/edgerag/node/dense"
	"github.com/edgerag/edgerag/node/shard"
	"github.com/edgerag/edgerag/node/shardstore"
)

// TestIntegrationOllama embeds with the tiny embedding model of a real
// Ollama server (skips when none can be had). The tiny model's vectors carry
// no meaning, so the test asks for a chunk by its own text, which any
// deterministic model puts nearest to itself.
func TestIntegrationOllama(t *testing.T) {
	srv := ollamatest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := ollama.New(ollama.Config{Host: srv.Host, EmbedModel: srv.EmbedModel, NumThread: 1, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Check(ctx, nil); err != nil {
		t.Fatal(err)
	}
	emb := c.Embedder()
	st, err := shardstore.Open(shardstore.Options{Dir: t.TempDir(), NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	texts := []string{
		"reset the pump by holding the red button for five seconds",
		"the battery lasts eight hours on a full charge",
		"replace the water filter every three months",
		"solar panels charge the battery during the day",
	}
	var cs []dense.Chunk
	for i, tx := range texts {
		cs = append(cs, dense.Chunk{Shard: "manuals", Slot: uint32(i), ID: shard.HashText(tx), Text: tx})
	}
	m := dense.New(st, emb, slog.New(slog.DiscardHandler))
	if err := m.Load(ctx, slices.Values(cs)); err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.Run(runCtx)
	}()
	defer func() {
		stop()
		<-done
	}()
	start := time.Now()
	for !m.Ready("manuals") {
		if ctx.Err() != nil {
			t.Fatalf("not embedded in time: %+v", m.Progress())
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("embedded %d chunks in %s", len(texts), time.Since(start))

	p := m.Progress()
	if p.Dims != tinymodel.HiddenSize || p.Embedded != len(texts) || !strings.HasPrefix(p.Model, "ollama/"+srv.EmbedModel) {
		t.Errorf("progress: %+v", p)
	}
	hits, err := m.Search(ctx, texts[2], "manuals", 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(hits) != 3 || hits[0].Slot != 2 || hits[0].Score < 0.99 {
		t.Errorf("searching a chunk's own text: %+v; want slot 2 first with similarity 1", hits)
	}

	meta, err := st.EmbeddingModel(ctx, emb.Model())
	if err != nil || meta.Dims != tinymodel.HiddenSize {
		t.Fatalf("stored record: %+v %v", meta, err)
	}
	n := 0
	err = st.Embeddings(ctx, emb.Model(), func(_ shard.ChunkID, v []float32) error {
		if len(v) != tinymodel.HiddenSize {
			t.Errorf("stored vector of %d dimensions", len(v))
		}
		n++
		return nil
	})
	if err != nil || n != len(texts) {
		t.Errorf("%d stored vectors, %v", n, err)
	}
}
