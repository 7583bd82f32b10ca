package node

import (
	"context"
	"errors"
	"fmt"

	"github.com/edgerag/edgerag/models"
	"github.com/edgerag/edgerag/node/api"
)

// Embed implements api.EmbeddingService: it embeds texts with the model the
// node's searches use, so that clients of the Ollama and OpenAI embedding
// endpoints get vectors comparable with the node's own.
func (n *Node) Embed(ctx context.Context, texts []string) (string, [][]float32, error) {
	if n.dense == nil {
		return "", nil, api.ErrNoEmbedder()
	}
	emb := n.dense.Embedder()
	if emb == nil {
		return "", nil, api.ErrNoEmbedder()
	}
	vecs, err := emb.Embed(ctx, texts)
	if err != nil {
		if errors.Is(err, models.ErrUnavailable) {
			return "", nil, errorf(ErrModelUnavailable, "the embedding model %s is unavailable: %v", emb.Model(), err)
		}
		return "", nil, fmt.Errorf("embedding with %s: %w", emb.Model(), err)
	}
	return emb.Model(), vecs, nil
}
