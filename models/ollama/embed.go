package ollama

import (
	"context"
	"fmt"

	"github.com/ollama/ollama/api"

	"github.com/edgerag/edgerag/models"
)

// maxEmbedBatch bounds the texts sent in one request, so one request's
// memory and time stay small on a device and Timeout applies to a bounded
// amount of work.
const maxEmbedBatch = 64

// Embedder is the models.Embedder view of a Client.
type Embedder struct{ c *Client }

var _ models.Embedder = (*Embedder)(nil)

// Embedder returns the client's models.Embedder.
func (c *Client) Embedder() *Embedder { return &Embedder{c: c} }

// Model names the embedding model with its digest once Check has run, for
// example "ollama/nomic-embed-text:latest@0a109f422b47"; call Check before
// storing vectors under this name.
func (e *Embedder) Model() string { return e.c.modelID(e.c.cfg.EmbedModel) }

// Embed returns one vector per text, in order, sending them in batches.
func (e *Embedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	return e.c.Embed(ctx, texts)
}

// Embed returns one vector per text, in order, sending them in batches.
func (c *Client) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	if c.cfg.EmbedModel == "" {
		return nil, fmt.Errorf("%w: ollama embed: no embedding model configured; set Config.EmbedModel", models.ErrUnavailable)
	}
	out := make([][]float32, 0, len(texts))
	for start := 0; start < len(texts); start += maxEmbedBatch {
		batch := texts[start:min(start+maxEmbedBatch, len(texts))]
		vecs, err := c.embedBatch(ctx, batch)
		if err != nil {
			return nil, err
		}
		if len(out) > 0 && len(vecs[0]) != len(out[0]) {
			return nil, fmt.Errorf("%w: ollama embed %s: vectors changed length from %d to %d mid-call; was the model replaced on the server?",
				models.ErrUnavailable, c.cfg.EmbedModel, len(out[0]), len(vecs[0]))
		}
		out = append(out, vecs...)
	}
	return out, nil
}

// embedWindow returns the embedding model's own context window: learnt by
// Check, or asked of the server (Show) the first time an embedding is made
// without it; 0 while the server cannot say.
func (c *Client) embedWindow(ctx context.Context) int {
	c.mu.Lock()
	window := c.embedCtx
	c.mu.Unlock()
	if window > 0 {
		return window
	}
	callCtx, cancel := c.withTimeout(ctx)
	defer cancel()
	show, err := c.api.Show(callCtx, &api.ShowRequest{Model: c.cfg.EmbedModel})
	if err != nil {
		return 0 // the embed call that follows reports the server's state
	}
	window = contextLength(show.ModelInfo)
	c.mu.Lock()
	c.embedCtx = window
	c.mu.Unlock()
	return window
}

// embedOptions caps num_ctx at the embedding model's own window. Ollama
// truncates over-long input to num_ctx, so the cap makes the model's window
// (512 tokens for many BERT embedders) the truncation point even when the
// node's --num-ctx, meant for the generation model, is larger. (Without it,
// the hybrid benchmark once stalled on "the input length exceeds the
// context length"; that could not be reproduced since, see
// TestIntegrationEmbedLongText.)
func (c *Client) embedOptions(window int) map[string]any {
	o := c.options(false)
	if n, _ := o["num_ctx"].(int); window > 0 && (n == 0 || n > window) {
		o["num_ctx"] = window
	}
	return o
}

func (c *Client) embedBatch(ctx context.Context, texts []string) ([][]float32, error) {
	callCtx, cancel := c.withTimeout(ctx)
	defer cancel()
	truncate := true // a chunk longer than the model's window still gets a vector
	resp, err := c.api.Embed(callCtx, &api.EmbedRequest{
		Model:     c.cfg.EmbedModel,
		Input:     texts,
		KeepAlive: c.keepAlive(),
		Truncate:  &truncate,
		Options:   c.embedOptions(c.embedWindow(ctx)),
	})
	if err != nil {
		return nil, c.fail(ctx, callCtx, "embed", c.cfg.EmbedModel, err)
	}
	if len(resp.Embeddings) != len(texts) {
		return nil, fmt.Errorf("%w: ollama embed %s: server returned %d vectors for %d texts; is %q an embedding model?",
			models.ErrUnavailable, c.cfg.EmbedModel, len(resp.Embeddings), len(texts), c.cfg.EmbedModel)
	}
	for i, v := range resp.Embeddings {
		if len(v) == 0 || len(v) != len(resp.Embeddings[0]) {
			return nil, fmt.Errorf("%w: ollama embed %s: vector %d has %d dimensions, vector 0 has %d",
				models.ErrUnavailable, c.cfg.EmbedModel, i, len(v), len(resp.Embeddings[0]))
		}
	}
	return resp.Embeddings, nil
}
