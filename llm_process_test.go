package main

import (
	"context"
	"strings"
	"testing"

	ollamaapi "github.com/ollama/ollama/api"

	"github.com/edgerag/edgerag/models/ollama/ollamatest"
	"github.com/edgerag/edgerag/models/openai"
	"github.com/edgerag/edgerag/node/api"
)

// TestCentralAnswersThroughOpenAICompatibleServer runs central as a process
// with its big model behind an OpenAI-compatible server (the /v1 of a real
// Ollama with the tiny model), the key in the environment: answers are
// generative and name the model, and the key shows nowhere in the log.
func TestCentralAnswersThroughOpenAICompatibleServer(t *testing.T) {
	s := ollamatest.Start(t)
	model := s.GenModel + "-1t"
	stream := false
	if err := s.Client.Create(context.Background(), &ollamaapi.CreateRequest{
		Model: model, From: s.GenModel, Stream: &stream, Parameters: map[string]any{"num_thread": 1},
	}, func(ollamaapi.ProgressResponse) error { return nil }); err != nil {
		t.Fatal(err)
	}
	const key = "sk-edgerag-test-not-a-secret"
	t.Setenv(openai.KeyEnv, key)
	llm := strings.Replace(s.Host, "http://", "openai://", 1) + "/v1"
	central := startProc(t, []string{"central", "--data", t.TempDir(), "--http", "127.0.0.1:0", "--quic", "", "--name", "central",
		"--llm", llm, "--llm-model", model})
	c := testClient(central.url)
	ctx := context.Background()
	if _, err := c.Ingest(ctx, []api.Document{{ID: "pump", Title: "Pump P-100", Body: "To reset the P-100 pump after a fault, turn the selector to OFF, wait ten seconds and press the blue RESET button."}}); err != nil {
		t.Fatal(err)
	}
	r, err := c.Query(ctx, api.QueryRequest{Question: "How do I reset the pump after a fault?"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Mode != "generative" || r.Model != "openai/"+model || r.Answer == "" {
		t.Fatalf("mode %q model %q answer %q reasons %v; want a generative answer from the --llm model", r.Mode, r.Model, r.Answer, r.Reasons)
	}
	if _, ok := r.Signals["tok_p10"]; !ok {
		t.Errorf("signals %v: want the token-probability signals from the server's logprobs", r.Signals)
	}
	if strings.Contains(central.logs.String(), key) {
		t.Error("the API key appears in central's log")
	}

	// --llm with --gen-model is refused before anything opens.
	out, err := execCommand(binary, "central", "--data", t.TempDir(), "--quic", "", "--llm", llm, "--llm-model", model, "--ollama", s.Host, "--gen-model", s.GenModel).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "keep one") {
		t.Errorf("--llm with --gen-model: %v\n%s", err, out)
	}
}
