package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgerag/edgerag/models/ollama/ollamatest"
	"github.com/edgerag/edgerag/node/api"
)

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
	tls := fleetDir(t, "central", "edge-1")
	keys := t.TempDir()
	if out, err := exec.Command(binary, "sync", "keygen", "--out", keys).CombinedOutput(); err != nil {
		t.Fatalf("sync keygen: %v\n%s", err, out)
	}
	models := centralOllama.GenModel + "," + centralOllama.EmbedModel
	central := startProc(t, []string{"central", "--data", t.TempDir(), "--http", "127.0.0.1:0", "--quic", "127.0.0.1:0", "--tls-dir", tls, "--name", "central",
		"--sync-key", filepath.Join(keys, "sync.key"), "--publish-models", models, "--ollama-models", centralOllama.ModelsDir})
	edge := startProc(t, []string{"serve", "--data", t.TempDir(), "--http", "127.0.0.1:0", "--tls-dir", tls, "--name", "edge-1",
		"--central", central.quic, "--sync-pub", filepath.Join(keys, "sync.pub"), "--sync-models",
		"--ollama", edgeOllama.Host, "--gen-model", centralOllama.GenModel, "--embed-model", centralOllama.EmbedModel})

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
	ec := api.NewClient(edge.url, nil)
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
