package evalrun_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/edgerag/edgerag/models/ollama"
	"github.com/edgerag/edgerag/models/ollama/ollamatest"
	"github.com/edgerag/edgerag/node/evalrun"
	"github.com/edgerag/edgerag/node/lexical"
)

// TestEvalHybrid evaluates a small dataset with the tiny embedder of a real
// Ollama server: eval waits for every chunk's vector and reports hybrid
// retrieval and the model. (Random weights: the figures say nothing of
// quality, only that the dense path took part.)
//
// It is the package's one parallel test so that it runs after the others:
// on a fresh machine make test builds the Ollama server beside the tests,
// and ollamatest.Start waits for that build — the quality bars need no
// server and should not wait with it.
func TestEvalHybrid(t *testing.T) {
	t.Parallel()
	srv := ollamatest.Start(t)
	dir := t.TempDir()
	files := map[string]string{
		"corpus.jsonl": `{"id":"pump","title":"Pump","text":"To reset the pump after a fault, hold the red button for five seconds."}
{"id":"valve","title":"Valve","text":"The valve is greased every month with lithium grease."}
{"id":"fan","title":"Fan","text":"Clean the fan filter when the airflow warning shows."}
`,
		"queries.jsonl": `{"id":"q1","text":"how do I reset the pump"}
{"id":"q2","text":"which grease for the valve"}
`,
		"qrels.tsv": "q1\tpump\t1\nq2\tvalve\t1\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c, err := ollama.New(ollama.Config{Host: srv.Host, EmbedModel: srv.EmbedModel, NumThread: 1, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := c.Check(ctx, nil); err != nil {
		t.Fatal(err)
	}
	rep, _, err := evalrun.Retrieval(ctx, dir, evalrun.Options{BM25: lexical.DefaultParams(), Embedder: c.Embedder()})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Retrieval != "hybrid" || rep.EmbedModel != c.Embedder().Model() || rep.Queries != 2 {
		t.Fatalf("report %+v: want hybrid retrieval with %s over 2 queries", rep, c.Embedder().Model())
	}
	if rep.Recall10 != 1 {
		t.Errorf("recall@10 = %v over three documents, want 1", rep.Recall10)
	}
}
