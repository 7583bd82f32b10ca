package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/edgerag/edgerag/sync/manifest"
	"github.com/edgerag/edgerag/sync/modelship"
)

// modelOptions are the model-shipping flags: central publishes models from
// its Ollama; an edge fetches them into its own Ollama at start.
type modelOptions struct {
	publish   string        // central: comma-separated model names
	modelsDir string        // central: its Ollama's models directory
	ensure    bool          // edge: fetch central's models at start
	timeout   time.Duration // edge: how long start may wait for them
}

func (o *modelOptions) register(fs interface {
	StringVar(*string, string, string, string)
	BoolVar(*bool, string, bool, string)
	DurationVar(*time.Duration, string, time.Duration, string)
}, role string) {
	if role == "central" {
		fs.StringVar(&o.publish, "publish-models", "", "comma-separated Ollama models to ship to edges over QUIC, e.g. all-minilm,qwen2.5:0.5b (needs --sync-key)")
		fs.StringVar(&o.modelsDir, "ollama-models", "", "central's Ollama models directory to read them from (default: $OLLAMA_MODELS, else ~/.ollama/models)")
		return
	}
	fs.BoolVar(&o.ensure, "sync-models", false, "at start, fetch the models central publishes into the local Ollama (needs --central, --sync-pub, --ollama); no internet needed")
	fs.DurationVar(&o.timeout, "sync-models-timeout", 30*time.Minute, "longest start waits for --sync-models; a transfer cut short resumes at the next start")
}

// publishModels makes central serve a signed manifest of the models named
// by --publish-models, and their blobs, on its QUIC transport.
func publishModels(ctx context.Context, o modelOptions, syncKey string, link *fleetLink, log *slog.Logger) error {
	if o.publish == "" {
		return nil
	}
	if syncKey == "" {
		return usageError{"--publish-models needs --sync-key: edges only take models central signed"}
	}
	if link.server == nil {
		return usageError{"--publish-models needs --quic: edges fetch the models over it"}
	}
	b, err := os.ReadFile(syncKey)
	if err != nil {
		return fmt.Errorf("--sync-key: %w", err)
	}
	key, err := manifest.ParsePrivateKey(b)
	if err != nil {
		return fmt.Errorf("--sync-key %s: %w", syncKey, err)
	}
	dir := o.modelsDir
	if dir == "" {
		if dir, err = modelship.DefaultModelsDir(); err != nil {
			return err
		}
	}
	var names []string
	for _, n := range strings.Split(o.publish, ",") {
		if n = strings.TrimSpace(n); n != "" {
			names = append(names, n)
		}
	}
	c := modelship.NewCentral(modelship.Source{Dir: dir}, log)
	// The version only has to grow from one start of central to the next.
	if _, err := c.Publish(ctx, key, uint64(time.Now().UnixMilli()), time.Now(), names...); err != nil {
		return fmt.Errorf("--publish-models: %w", err)
	}
	link.setModels(c.Handle)
	return nil
}

// ensureModels fetches central's published models into the local Ollama
// before the node opens them, so that the node checks and warms them as if
// they had always been there. A failure is logged, not fatal: the node
// answers without the missing models, and the next start resumes the
// transfer from what was staged.
func ensureModels(ctx context.Context, o modelOptions, syncPub string, so serveOptions, fo fleetOptions, link *fleetLink, log *slog.Logger) error {
	if !o.ensure {
		return nil
	}
	switch {
	case fo.central == "" || link.client == nil:
		return usageError{"--sync-models needs --central: the models come from central"}
	case syncPub == "":
		return usageError{"--sync-models needs --sync-pub: edges only take models central signed"}
	case so.model.Host == "":
		return usageError{"--sync-models needs --ollama: the local Ollama the models go to"}
	}
	b, err := os.ReadFile(syncPub)
	if err != nil {
		return fmt.Errorf("--sync-pub: %w", err)
	}
	pub, err := manifest.ParsePublicKey(b)
	if err != nil {
		return fmt.Errorf("--sync-pub %s: %w", syncPub, err)
	}
	host := so.model.Host
	if !strings.Contains(host, "://") {
		host = "http://" + host
	}
	e, err := modelship.NewEdge(modelship.EdgeConfig{
		Transport: link.client, Central: modelship.Target{Name: fo.centralName, Addr: fo.central},
		Trusted: []ed25519.PublicKey{pub}, OllamaHost: host,
		StageDir: filepath.Join(so.data, "models-staging"), Logger: log,
		Progress: progressLogger(log),
	})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	start := time.Now()
	ms, err := e.Manifest(ctx)
	if err == nil {
		err = e.EnsureAll(ctx, ms)
	}
	switch {
	case err == nil:
		log.Info("models synced from central", "models", len(ms.Models), "version", ms.Version, "ms", time.Since(start).Milliseconds())
	case errors.Is(err, context.Canceled) && ctx.Err() != nil:
		return ctx.Err()
	default:
		log.Warn("models not synced from central; starting without them, the next start resumes", "err", err)
	}
	return nil
}

// progressLogger logs a blob's progress about every tenth of it, not every
// range.
func progressLogger(log *slog.Logger) func(modelship.Progress) {
	var lastTenth int64 = -1
	return func(p modelship.Progress) {
		switch p.Phase {
		case "fetch":
			if p.Total == 0 {
				return
			}
			if tenth := 10 * p.Done / p.Total; tenth != lastTenth {
				lastTenth = tenth
				log.Info("model", "status", "fetching", "model", p.Model, "digest", p.Digest, "done", p.Done, "total", p.Total)
			}
		default:
			lastTenth = -1
			log.Info("model", "status", p.Phase, "model", p.Model)
		}
	}
}
