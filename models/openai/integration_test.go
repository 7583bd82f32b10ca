package openai_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ollama/ollama/api"

	"github.com/edgerag/edgerag/models"
	"github.com/edgerag/edgerag/models/ollama"
	"github.com/edgerag/edgerag/models/ollama/ollamatest"
	"github.com/edgerag/edgerag/models/openai"
	"github.com/edgerag/edgerag/node"
	nodeapi "github.com/edgerag/edgerag/node/api"
)

// These tests run against a real OpenAI-compatible endpoint: the /v1 of the
// real Ollama server package ollamatest starts with the tiny models. They
// skip, saying how to get one, when there is no server binary.

// oneThreadModel makes a copy of the tiny generation model that runs on one
// thread. The OpenAI API has no thread option, and on a 2-core machine two
// threads are ten times slower, so the two routes are compared on equal
// terms only when the model itself says one.
func oneThreadModel(t *testing.T, s *ollamatest.Server) string {
	t.Helper()
	name := s.GenModel + "-1t"
	stream := false
	err := s.Client.Create(context.Background(), &api.CreateRequest{
		Model: name, From: s.GenModel, Stream: &stream,
		Parameters: map[string]any{"num_thread": 1},
	}, func(api.ProgressResponse) error { return nil })
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	return name
}

func newClient(t *testing.T, s *ollamatest.Server, model string) *openai.Client {
	t.Helper()
	c, err := openai.New(openai.Config{
		URL:       strings.Replace(s.Host, "http://", "openai://", 1) + "/v1",
		Model:     model,
		MaxTokens: 64,
		Timeout:   30 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var passages = []models.Passage{
	{N: 1, Title: "Pump manual", Source: "file:///docs/pump.md", Text: "The pump moves 5 litres per minute."},
	{N: 2, Title: "Battery", Text: "The battery lasts 8 hours."},
}

func TestIntegrationGenerateStreamsWithLogprobs(t *testing.T) {
	s := ollamatest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	model := oneThreadModel(t, s)
	c := newClient(t, s, model)
	if err := c.Check(ctx); err != nil {
		t.Fatalf("Check: %v", err)
	}
	if err := c.Warm(ctx); err != nil {
		t.Fatalf("Warm: %v", err)
	}

	var streamed []models.Token
	ans, toks, err := c.Generate(ctx, models.GenerateRequest{Question: "How fast is the pump?", Passages: passages}, func(tk models.Token) error {
		streamed = append(streamed, tk)
		return nil
	})
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	if ans.Mode != models.ModeGenerative || ans.Text == "" {
		t.Fatalf("answer %+v", ans)
	}
	if len(streamed) < 2 || len(streamed) != len(toks) {
		t.Errorf("%d tokens streamed, %d returned: want them one by one", len(streamed), len(toks))
	}
	for i, tk := range toks {
		if !tk.HasLogprob || tk.Logprob > 0 {
			t.Fatalf("token %d %+v: Ollama's /v1 reports log probabilities; want one per token", i, tk)
		}
	}
	for _, sig := range []string{ollama.SignalTokenProbMean, ollama.SignalTokenProbP10, ollama.SignalTopMargin, ollama.SignalCitationsValid} {
		if _, ok := ans.Signals[sig]; !ok {
			t.Errorf("signal %s missing: %v", sig, ans.Signals)
		}
	}
	if c.Model() != "openai/"+model {
		t.Errorf("Model() = %q", c.Model())
	}
}

// TestIntegrationSameAnswerAsOllamaRoute asks the same model the same
// question through both routes: the prompt and answer handling are shared,
// so with greedy sampling the answers and their signals agree. It logs the
// latency of each route (median of 7, model loaded) for BENCHMARKS.md.
func TestIntegrationSameAnswerAsOllamaRoute(t *testing.T) {
	s := ollamatest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	model := oneThreadModel(t, s)
	oc := newClient(t, s, model)
	native, err := ollama.New(ollama.Config{Host: s.Host, GenModel: model, NumPredict: 64, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := native.Check(ctx, nil); err != nil {
		t.Fatal(err)
	}
	req := models.GenerateRequest{Question: "How fast is the pump?", Passages: passages}
	routes := []struct {
		name string
		gen  models.Generator
	}{{"ollama /api/generate", native.Generator()}, {"openai /v1/chat/completions", oc}}
	answers := make([]models.Answer, len(routes))
	for i, r := range routes {
		if _, _, err := r.gen.Generate(ctx, req, nil); err != nil { // loads the model: not measured
			t.Fatalf("%s: %v", r.name, err)
		}
		var lat []time.Duration
		for range 7 {
			start := time.Now()
			ans, _, err := r.gen.Generate(ctx, req, nil)
			if err != nil {
				t.Fatalf("%s: %v", r.name, err)
			}
			lat = append(lat, time.Since(start))
			answers[i] = ans
		}
		slices.Sort(lat)
		t.Logf("%s: median %s over 7 (min %s, max %s), answer %q", r.name, lat[3], lat[0], lat[6], answers[i].Text)
	}
	if answers[0].Text != answers[1].Text {
		t.Errorf("the routes answer differently:\n ollama: %q\n openai: %q", answers[0].Text, answers[1].Text)
	}
	if a, b := answers[0].Signals[ollama.SignalTokenProbMean], answers[1].Signals[ollama.SignalTokenProbMean]; diff(a, b) > 0.02 {
		t.Errorf("token_prob_mean %v through Ollama's API, %v through /v1", a, b)
	}
}

func diff(a, b float64) float64 {
	if a > b {
		return a - b
	}
	return b - a
}

// TestIntegrationNodeFallsBackWhenServerDies runs a node on the OpenAI route:
// it answers generatively, answers extractively (with the reason) while the
// server is down, and generates again once it is back.
func TestIntegrationNodeFallsBackWhenServerDies(t *testing.T) {
	s := ollamatest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := newClient(t, s, oneThreadModel(t, s))
	n, err := node.New(node.Config{Name: "edge", DataDir: t.TempDir(), NoSync: true, Generator: c, ModelCooldown: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if _, err := n.Ingest(ctx, []nodeapi.Document{{ID: "pump", Title: "Pump P-100", Body: "To reset the P-100 pump after a fault, turn the selector to OFF, wait ten seconds and press the blue RESET button."}}); err != nil {
		t.Fatal(err)
	}
	ask := func() nodeapi.QueryResponse {
		t.Helper()
		r, err := n.Query(ctx, nodeapi.QueryRequest{Question: "How do I reset the pump after a fault?"})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := ask(); r.Mode != models.ModeGenerative || r.Model != c.Model() || !slices.Contains(signalNames(r), "tok_p10") {
		t.Fatalf("with the server up: mode %q model %q signals %v reasons %v", r.Mode, r.Model, r.Signals, r.Reasons)
	}

	s.Stop()
	r := ask()
	if r.Mode != models.ModeExtractive || !slices.Contains(r.Reasons, "model_unavailable") || r.Answer == "" {
		t.Fatalf("with the server down: mode %q reasons %v answer %q; want the extractive fallback saying why", r.Mode, r.Reasons, r.Answer)
	}

	s.Restart()
	deadline := time.Now().Add(30 * time.Second)
	for {
		time.Sleep(250 * time.Millisecond) // past the breaker's cooldown
		if r := ask(); r.Mode == models.ModeGenerative {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the node did not return to generating within 30 s of the server's restart")
		}
	}
}

func signalNames(r nodeapi.QueryResponse) []string {
	var names []string
	for k := range r.Signals {
		names = append(names, k)
	}
	return names
}

func TestIntegrationCheckNamesMissingModel(t *testing.T) {
	s := ollamatest.Start(t)
	c := newClient(t, s, "no-such-model")
	err := c.Check(context.Background())
	if !errors.Is(err, models.ErrUnavailable) || !strings.Contains(err.Error(), s.GenModel) {
		t.Errorf("Check: %v; want ErrUnavailable listing the models the server has", err)
	}
}
