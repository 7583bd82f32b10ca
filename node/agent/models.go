package agent

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/edgerag/edgerag/models"
	"github.com/edgerag/edgerag/models/ollama"
	"github.com/edgerag/edgerag/models/openai"
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

// openModels connects to the model servers when models are configured: it
// checks they are there (pulling them from Ollama when allowed), warms them
// so the first query does not pay the load, and returns the generator and
// embedder (nil for a role without a model). The generator is the
// OpenAI-compatible server's when llm names one, else Ollama's. A server
// that is down is not fatal: the node answers extractively with BM25 and
// tries again later.
func openModels(ctx context.Context, cfg ollama.Config, llm openai.Config, log *slog.Logger) (models.Generator, models.Embedder, error) {
	var gen models.Generator
	if llm.URL != "" {
		if cfg.GenModel != "" {
			return nil, nil, configErrorf("--llm and --gen-model both name the model that writes answers; keep one (--embed-model may stay)")
		}
		c, err := openai.New(llm)
		if err != nil {
			return nil, nil, ConfigError{err.Error()}
		}
		warmLLM(ctx, c, log)
		gen = c
	} else if llm.Model != "" {
		return nil, nil, configErrorf("--llm-model %s needs --llm: the OpenAI-compatible server it is on", llm.Model)
	}
	if cfg.Host == "" && cfg.GenModel == "" && cfg.EmbedModel == "" {
		return gen, nil, nil
	}
	if cfg.GenModel == "" && cfg.EmbedModel == "" {
		return nil, nil, configErrorf("--ollama needs --gen-model and/or --embed-model")
	}
	c, err := ollama.New(cfg)
	if err != nil {
		return nil, nil, err
	}
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

// warmLLM checks the OpenAI-compatible server has the model and loads it.
// Neither failure stops the start: the node answers extractively until the
// server serves.
func warmLLM(ctx context.Context, c *openai.Client, log *slog.Logger) {
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	start := time.Now()
	if err := c.Check(cctx); err != nil {
		log.Warn("the --llm server cannot answer yet; answering extractively until it does", "server", c.Base(), "err", err)
		return
	}
	if err := c.Warm(cctx); err != nil {
		log.Warn("warming the --llm model failed", "server", c.Base(), "err", err)
		return
	}
	log.Info("llm warm", "server", c.Base(), "model", c.Model(), "ms", time.Since(start).Milliseconds())
}
