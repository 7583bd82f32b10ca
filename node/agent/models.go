package agent

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/edgerag/edgerag/models"
	"github.com/edgerag/edgerag/models/ollama"
)

// previousEmbedder reaches an earlier embedding model on the same Ollama
// server, so that a node whose --embed-model changed keeps searching with
// the old vectors until the new model's are complete.
func previousEmbedder(cfg ollama.Config) func(ctx context.Context, model string) (models.Embedder, error) {
	return func(ctx context.Context, model string) (models.Embedder, error) {
		name, _, ok := ollama.ParseModelID(model)
		if !ok {
			return nil, fmt.Errorf("%q is not an Ollama model", model)
		}
		cfg.GenModel, cfg.EmbedModel, cfg.AllowPull = "", name, false
		c, err := ollama.New(cfg)
		if err != nil {
			return nil, err
		}
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := c.Check(cctx, nil); err != nil {
			return nil, err
		}
		return c.Embedder(), nil
	}
}

// openModels connects to Ollama when models are configured: it checks they
// are there (pulling them when allowed), warms them so the first query does
// not pay the load, and returns the generator and embedder (nil for a role
// without a model). A server that is down is not fatal: the node answers
// extractively with BM25 and tries again later.
func openModels(ctx context.Context, cfg ollama.Config, log *slog.Logger) (models.Generator, models.Embedder, error) {
	if cfg.Host == "" && cfg.GenModel == "" && cfg.EmbedModel == "" {
		return nil, nil, nil
	}
	if cfg.GenModel == "" && cfg.EmbedModel == "" {
		return nil, nil, configErrorf("--ollama needs --gen-model and/or --embed-model")
	}
	c, err := ollama.New(cfg)
	if err != nil {
		return nil, nil, err
	}
	var gen models.Generator
	var emb models.Embedder
	if cfg.GenModel != "" {
		gen = c.Generator()
	}
	if cfg.EmbedModel != "" {
		emb = c.Embedder()
	}
	progress := func(status string, done, total int64) {
		log.Info("model", "status", status, "done", done, "total", total)
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	if cfg.AllowPull {
		cancel()
		cctx, cancel = context.WithCancel(ctx) // a pull takes as long as it takes
	}
	defer cancel()
	if err := c.Check(cctx, progress); err != nil {
		log.Warn("models not available; answering extractively with BM25 until they are", "err", err)
		return gen, emb, nil
	}
	start := time.Now()
	if err := c.Warm(cctx); err != nil {
		log.Warn("warming the models failed", "err", err)
	} else {
		log.Info("models warm", "ms", time.Since(start).Milliseconds())
	}
	return gen, emb, nil
}
