package tinymodel_test

import (
	"context"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ollama/ollama/api"
	"github.com/ollama/ollama/types/model"

	"github.com/edgerag/edgerag/models/ollama/ollamatest"
	"github.com/edgerag/edgerag/models/ollama/tinymodel"
)

// TestInstalledModelsRunOnTheServer checks the models on the real server:
// Show reports their capabilities, the generation model writes GenAnswer,
// and the embedding model returns 64-d unit vectors.
func TestInstalledModelsRunOnTheServer(t *testing.T) {
	s := ollamatest.Start(t) // installs both models through Install
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	for name, want := range map[string]model.Capability{
		s.GenModel:   model.CapabilityCompletion,
		s.EmbedModel: model.CapabilityEmbedding,
	} {
		show, err := s.Client.Show(ctx, &api.ShowRequest{Model: name})
		if err != nil {
			t.Fatalf("Show %s: %v", name, err)
		}
		if !slices.Contains(show.Capabilities, want) {
			t.Errorf("%s capabilities = %v, want %s", name, show.Capabilities, want)
		}
	}

	stream := false
	var resp api.GenerateResponse
	err := s.Client.Generate(ctx, &api.GenerateRequest{
		Model:   s.GenModel,
		Prompt:  "What does the edge device answer?",
		Stream:  &stream,
		Options: map[string]any{"temperature": 0, "num_thread": 1, "num_predict": 32},
	}, func(r api.GenerateResponse) error { resp = r; return nil })
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	if resp.Response != tinymodel.GenAnswer || resp.DoneReason != "stop" {
		t.Errorf("Generate = %q (done reason %q), want %q (stop)", resp.Response, resp.DoneReason, tinymodel.GenAnswer)
	}

	emb, err := s.Client.Embed(ctx, &api.EmbedRequest{
		Model:   s.EmbedModel,
		Input:   []string{"edge device memory", "Edge device battery", "the river and the mountain"},
		Options: map[string]any{"num_thread": 1},
	})
	if err != nil {
		t.Fatalf("Embed: %v", err)
	}
	if len(emb.Embeddings) != 3 {
		t.Fatalf("Embed returned %d vectors, want 3", len(emb.Embeddings))
	}
	for i, v := range emb.Embeddings {
		if len(v) != tinymodel.HiddenSize {
			t.Fatalf("vector %d has %d dimensions, want %d", i, len(v), tinymodel.HiddenSize)
		}
		if n := norm(v); math.Abs(n-1) > 1e-3 {
			t.Errorf("vector %d has norm %.4f, want 1", i, n)
		}
	}
	near, far := dot(emb.Embeddings[0], emb.Embeddings[1]), dot(emb.Embeddings[0], emb.Embeddings[2])
	t.Logf("cosine: shared words %.3f, no shared words %.3f", near, far)
	if near <= far {
		t.Errorf("texts sharing words are no nearer (%.3f) than texts sharing none (%.3f)", near, far)
	}
	if strings.TrimSpace(resp.Response) == "" {
		t.Error("empty generation")
	}
}

func dot(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}

func norm(v []float32) float64 { return math.Sqrt(dot(v, v)) }
