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

	central, edge := startModelShipping(t, centralOllama, edgeOllama, []string{"--no-sync"},
		[]string{"--sync-poll", "100ms", "--no-sync", "--escalate-below", "0"})

	c := testClient(edge.url)
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
		out, err := exec.Command(binary, "publish", "--models", gen2+","+emb2, "--node", central.url, "--token", tokenOf(central.url)).CombinedOutput()
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
	out, err := exec.Command(binary, "sync", "status", "--node", edge.url, "--token", tokenOf(edge.url)).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "models: version 2 (previous 1) applied") || !strings.Contains(string(out), gen2) {
		t.Fatalf("sync status: %v\n%s", err, out)
	}
	// Central keeps both versions; the edge rolls back to the first and
	// switches its models back, and its polls leave it there.
	out, err = exec.Command(binary, "models", "history", "--node", central.url, "--token", tokenOf(central.url)).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "version 2 (latest)") || !strings.Contains(string(out), "version 1 ") {
		t.Fatalf("models history: %v\n%s", err, out)
	}
	out, err = exec.Command(binary, "models", "rollback", "--node", edge.url, "--token", tokenOf(edge.url)).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "from manifest version 2 to 1") {
		t.Fatalf("models rollback: %v\n%s", err, out)
	}
	waitModels(1, ollamatest.GenModel, ollamatest.EmbedModel)
	time.Sleep(300 * time.Millisecond) // three polls
	waitModels(1, ollamatest.GenModel, ollamatest.EmbedModel)
	out, err = exec.Command(binary, "models", "rollback", "--node", edge.url, "--token", tokenOf(edge.url)).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "already rolled back") {
		t.Fatalf("a second models rollback: %v\n%s", err, out)
	}
}

// isModel reports whether a node's model id ("ollama/NAME:TAG@DIGEST")
// names the model name (tag latest).
func isModel(id, name string) bool { return strings.HasPrefix(id, "ollama/"+name+":latest@") }

// TestShipModelsViaCLI runs central with --publish-models over its real
// Ollama and an edge with --sync-models whose own Ollama starts empty: the
// edge fetches both tiny models over QUIC before it opens them, so it
// starts with them checked and warm, without any internet.
func TestShipModelsViaCLI(t *testing.T) {
	centralOllama := ollamatest.Start(t)
	if centralOllama.ModelsDir == "" {
		t.Skip("the Ollama at OLLAMA_HOST has no known models directory; unset OLLAMA_HOST to run this test")
	}
	edgeOllama := ollamatest.StartEmpty(t)
	_, edge := startModelShipping(t, centralOllama, edgeOllama, nil, nil)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	list, err := edgeOllama.Client.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range list.Models {
		names = append(names, m.Name)
	}
	for _, want := range []string{centralOllama.GenModel + ":latest", centralOllama.EmbedModel + ":latest"} {
		if !strings.Contains(strings.Join(names, " "), want) {
			t.Errorf("edge Ollama lists %v, want %s", names, want)
		}
	}
	if logs := edge.logs.String(); !strings.Contains(logs, "models synced from central") || !strings.Contains(logs, "models warm") {
		t.Errorf("edge did not sync and warm the models before serving:\n%s", logs)
	}
	ec := testClient(edge.url)
	if _, err := ec.Ingest(ctx, []api.Document{{ID: "pump", Title: "Pump P-100", Body: "To reset the pump press the blue RESET button on panel B."}}); err != nil {
		t.Fatal(err)
	}
	r, err := ec.Query(ctx, api.QueryRequest{Question: "How do I reset the pump?"})
	if err != nil {
		t.Fatal(err)
	}
	// The model id carries the digest the node's Check learnt at start.
	if r.Mode != "generative" || !strings.Contains(r.Model, centralOllama.GenModel+":latest@") {
		t.Errorf("edge answered in mode %q with model %q (reasons %v); want a generative answer by the shipped %s", r.Mode, r.Model, r.Reasons, centralOllama.GenModel)
	}
}

// startModelShipping runs central publishing the tiny models of
// centralOllama (--publish-models) and an edge whose own Ollama is
// edgeOllama fetching them (--sync-models), each with extra flags.
func startModelShipping(t *testing.T, centralOllama, edgeOllama *ollamatest.Server, centralArgs, edgeArgs []string) (central, edge *proc) {
	t.Helper()
	tls, keys := fleetDir(t, "central", "edge-1"), t.TempDir()
	if out, err := exec.Command(binary, "sync", "keygen", "--out", keys).CombinedOutput(); err != nil {
		t.Fatalf("sync keygen: %v\n%s", err, out)
	}
	central = startProc(t, append([]string{"central", "--data", t.TempDir(), "--http", "127.0.0.1:0", "--quic", "127.0.0.1:0",
		"--tls-dir", tls, "--name", "central", "--sync-key", filepath.Join(keys, "sync.key"),
		"--publish-models", centralOllama.GenModel + "," + centralOllama.EmbedModel, "--ollama-models", centralOllama.ModelsDir}, centralArgs...))
	edge = startProc(t, append([]string{"serve", "--data", t.TempDir(), "--http", "127.0.0.1:0", "--tls-dir", tls, "--name", "edge-1",
		"--central", central.quic, "--sync-pub", filepath.Join(keys, "sync.pub"), "--sync-models",
		"--ollama", edgeOllama.Host, "--gen-model", centralOllama.GenModel, "--embed-model", centralOllama.EmbedModel}, edgeArgs...))
	return central, edge
}
