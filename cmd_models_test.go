package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgerag/edgerag/models/ollama/ollamatest"
	"github.com/edgerag/edgerag/models/ollama/tinymodel"
	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/sync/fleet"
)

// TestModelSyncAtRunTime runs central and an edge as processes, each with
// its own real Ollama server, over real QUIC: the edge (--sync-models)
// fetches the models central publishes into its empty Ollama and answers
// with them; when central publishes another set while the edge runs, the
// edge fetches it and switches its generation and embedding models without
// a restart, and sync status shows the models in use.
func TestModelSyncAtRunTime(t *testing.T) {
	centralOllama := ollamatest.Start(t)
	if centralOllama.ModelsDir == "" {
		t.Skip("central's Ollama is the one at OLLAMA_HOST, whose models directory is unknown; unset OLLAMA_HOST to run this test with servers of its own")
	}
	edgeOllama := ollamatest.StartEmpty(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	tls, keys := fleetDir(t, "central", "edge-1"), t.TempDir()
	if out, err := exec.Command(binary, "sync", "keygen", "--out", keys).CombinedOutput(); err != nil {
		t.Fatalf("sync keygen: %v\n%s", err, out)
	}
	central := startProc(t, []string{"central", "--data", t.TempDir(), "--http", "127.0.0.1:0", "--quic", "127.0.0.1:0",
		"--tls-dir", tls, "--name", "central", "--sync-key", filepath.Join(keys, "sync.key"), "--no-sync",
		"--publish-models", ollamatest.GenModel + "," + ollamatest.EmbedModel, "--ollama-models", centralOllama.ModelsDir})
	edge := startProc(t, []string{"serve", "--data", t.TempDir(), "--http", "127.0.0.1:0", "--tls-dir", tls, "--name", "edge-1",
		"--central", central.quic, "--sync-pub", filepath.Join(keys, "sync.pub"), "--sync-poll", "100ms", "--no-sync",
		"--escalate-below", "0", "--ollama", edgeOllama.Host, "--sync-models",
		"--gen-model", ollamatest.GenModel, "--embed-model", ollamatest.EmbedModel})

	c := api.NewClient(edge.url, nil)
	if _, err := c.Ingest(ctx, []api.Document{{ID: "pump", Shard: "local", Title: "Pump",
		Body: "To reset the water pump press the red button. The pump lamp blinks twice."}}); err != nil {
		t.Fatal(err)
	}
	waitModels := func(version uint64, gen, emb string) {
		t.Helper()
		var st api.Status
		var ms *fleet.ModelsStatus
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			var err error
			if st, err = c.Status(ctx); err != nil {
				t.Fatal(err)
			}
			ms = syncStatus(t, edge.url).Models
			if ms != nil && ms.Applied == version && isModel(st.Answerer, gen) &&
				st.Embedding != nil && isModel(st.Embedding.Model, emb) && st.Embedding.Pending == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the edge did not switch to %s and %s (model manifest v%d): models %+v, answerer %q, embedding %+v", gen, emb, version, ms, st.Answerer, st.Embedding)
			}
		}
		roles := map[string]string{}
		for _, m := range ms.Models {
			roles[strings.TrimSuffix(m.Name, ":latest")] = m.Role
		}
		if roles[gen] != fleet.RoleGeneration || roles[emb] != fleet.RoleEmbedding {
			t.Fatalf("model roles %v: want %s for generation and %s for embedding", roles, gen, emb)
		}
		r, err := c.Query(ctx, api.QueryRequest{Question: "how do I reset the water pump?"})
		if err != nil {
			t.Fatal(err)
		}
		if !isModel(r.Model, gen) || r.Answer != tinymodel.GenAnswer {
			t.Fatalf("answer by %q: %q; want %s's %q", r.Model, r.Answer, gen, tinymodel.GenAnswer)
		}
	}
	waitModels(1, ollamatest.GenModel, ollamatest.EmbedModel)

	// Central gets two more models (same weights, other names) and
	// publishes them as the fleet's set while the edge runs.
	gen2, emb2 := ollamatest.GenModel+"-v2", ollamatest.EmbedModel+"-v2"
	if err := tinymodel.Install(ctx, centralOllama.Client, gen2, tinymodel.Generation); err != nil {
		t.Fatal(err)
	}
	if err := tinymodel.Install(ctx, centralOllama.Client, emb2, tinymodel.Embedding); err != nil {
		t.Fatal(err)
	}
	publish := func() string {
		out, err := exec.Command(binary, "publish", "--models", gen2+","+emb2, "--node", central.url).CombinedOutput()
		if err != nil {
			t.Fatalf("publish --models: %v\n%s", err, out)
		}
		return string(out)
	}
	if out := publish(); !strings.Contains(out, "published model manifest version 2") {
		t.Fatalf("publish --models: %s", out)
	}
	waitModels(2, gen2, emb2)
	if out := publish(); !strings.Contains(out, "unchanged since version 2") {
		t.Fatalf("publishing the same models again: %s", out)
	}
	out, err := exec.Command(binary, "sync", "status", "--node", edge.url).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "models: version 2 applied") || !strings.Contains(string(out), gen2) {
		t.Fatalf("sync status: %v\n%s", err, out)
	}
}

// isModel reports whether a node's model id ("ollama/NAME:TAG@DIGEST")
// names the model name (tag latest).
func isModel(id, name string) bool { return strings.HasPrefix(id, "ollama/"+name+":latest@") }
