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

func (c *Client) embedBatch(ctx context.Context, texts []string) ([][]float32, error) {
	callCtx, cancel := c.withTimeout(ctx)
	defer cancel()
	truncate := true // a chunk longer than the model's window still gets a vector
	resp, err := c.api.Embed(callCtx, &api.EmbedRequest{
		Model:     c.cfg.EmbedModel,
		Input:     texts,
		KeepAlive: c.keepAlive(),
		Truncate:  &truncate,
		Options:   c.options(false),
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
