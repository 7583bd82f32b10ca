package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/edgerag/edgerag/models"
	"github.com/edgerag/edgerag/models/ollama"
	"github.com/edgerag/edgerag/node"
	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/node/chunk"
	"github.com/edgerag/edgerag/node/lexical"
	"github.com/edgerag/edgerag/node/route"
	"github.com/edgerag/edgerag/node/statuspage"
	"github.com/edgerag/edgerag/sync/pki"
)

// serveOptions are the flags of 'edgerag serve'.
type serveOptions struct {
	data          string
	httpAddr      string
	name          string
	logLevel      string
	logFormat     string
	readyFile     string
	noSync        bool
	bm25          lexical.Params
	minConfidence float64
	escalateBelow float64
	queryTimeout  time.Duration
	cooldown      time.Duration
	memoryLimit   string
	chunking      chunk.Options
	model         ollama.Config
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runNode(ctx, "edge", args, stdout, stderr)
}

// runCentral runs the central node: the same daemon holding the full index,
// listening for escalations on QUIC.
func runCentral(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runNode(ctx, "central", args, stdout, stderr)
}

func runNode(ctx context.Context, role string, args []string, stdout, stderr io.Writer) error {
	var o serveOptions
	var fo fleetOptions
	cmd := "serve"
	quicDefault := ""
	if role == "central" {
		cmd, quicDefault = "central", "127.0.0.1:7443"
	}
	fs := newFlags(cmd, "--data DIR [--http ADDR]", stderr)
	fo.register(fs, quicDefault)
	var syncOpt syncOptions
	syncOpt.register(fs, role)
	var modelOpt modelOptions
	modelOpt.register(fs, role)
	var gopt gossipOptions
	gopt.register(fs)
	fs.StringVar(&o.data, "data", "", "data directory (one Badger database; created if missing)")
	fs.StringVar(&o.httpAddr, "http", "127.0.0.1:8080", "address of the local HTTP API (port 0 picks a free port)")
	fs.StringVar(&o.name, "name", defaultName(role), "node name: in answers, and the name of its fleet certificate")
	checkedStringVar(fs, &o.logLevel, "log-level", "info", checkLogLevel, "log level: debug, info, warn or error")
	checkedStringVar(fs, &o.logFormat, "log-format", "text", checkLogFormat, "log format: text or json")
	fs.StringVar(&o.readyFile, "ready-file", "", "write the API's URL to this file once the node is ready (for scripts and tests)")
	fs.BoolVar(&o.noSync, "no-sync", false, "do not fsync each write: faster, but acknowledged writes may be lost on power failure")
	fs.Float64Var(&o.bm25.K1, "bm25-k1", lexical.DefaultParams().K1, "BM25 k1 (term-frequency saturation)")
	fs.Float64Var(&o.bm25.B, "bm25-b", lexical.DefaultParams().B, "BM25 b (length normalisation)")
	unitFloatVar(fs, &o.minConfidence, "min-confidence", node.DefaultMinConfidence, "abstain below this confidence (0..1)")
	unitFloatVar(fs, &o.escalateBelow, "escalate-below", route.DefaultThresholds().MinConfidence, "ask central when the local confidence is below this (0..1)")
	fs.DurationVar(&o.queryTimeout, "query-timeout", 5*time.Second, "longest a query may take, escalation included; after it the local answer is returned")
	fs.DurationVar(&o.cooldown, "central-cooldown", 30*time.Second, "after central fails 3 times in a row, answer locally for this long before probing it again")
	fs.IntVar(&o.chunking.MaxTokens, "chunk-tokens", chunk.DefaultMaxTokens, "token budget of a chunk (words)")
	fs.IntVar(&o.chunking.OverlapTokens, "chunk-overlap", chunk.DefaultOverlapTokens, "tokens a chunk repeats from the previous one when a section is split (-1: none)")
	fs.StringVar(&o.model.Host, "ollama", "", "Ollama server (host:port or URL) to generate answers with; empty: extractive answers only")
	fs.StringVar(&o.model.GenModel, "gen-model", "", "generation model on the Ollama server, e.g. qwen2.5:0.5b")
	fs.StringVar(&o.model.EmbedModel, "embed-model", "", "embedding model on the Ollama server, e.g. all-minilm; enables hybrid retrieval")
	fs.IntVar(&o.model.NumCtx, "num-ctx", 0, "context window of the generation model in tokens (0: the server's default)")
	fs.Float64Var(&o.model.Temperature, "temperature", 0, "sampling temperature (0: greedy, repeatable)")
	fs.DurationVar(&o.model.KeepAlive, "keep-alive", 0, "how long Ollama keeps the model loaded after a call (0: pinned, never unloaded)")
	fs.IntVar(&o.model.NumThread, "num-thread", 1, "CPU threads per model (on 2-core devices 1 is fastest)")
	fs.BoolVar(&o.model.AllowPull, "allow-pull", false, "let the node pull a missing model (needs the internet)")
	fs.StringVar(&o.memoryLimit, "memory-limit", "", "soft limit on the Go heap, e.g. 96MiB (default: $GOMEMLIMIT, else none); the GC works harder near it")
	given, err := parseNodeFlags(ctx, fs, args)
	if err != nil {
		return err
	}
	syncOpt.given = given // a fleet config does not override these
	if o.memoryLimit != "" {
		limit, err := parseBytes(o.memoryLimit)
		if err != nil {
			return usageError{fmt.Sprintf("--memory-limit %q: %v", o.memoryLimit, err)}
		}
		debug.SetMemoryLimit(limit)
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("serve takes no arguments, got %q", fs.Args())}
	}
	if o.data == "" {
		return usageError{cmd + " needs --data DIR: where the node keeps its shards"}
	}
	if role == "central" && fo.central != "" {
		return usageError{"central does not escalate: drop --central"}
	}
	log, err := newLogger(stderr, o.logLevel, o.logFormat)
	if err != nil {
		return err
	}
	routing := route.DefaultThresholds()
	routing.MinConfidence = o.escalateBelow
	var n *node.Node
	link, err := openFleet(ctx, fo, o.name, func() *node.Node { return n }, log)
	if err != nil {
		return err
	}
	defer link.Close()
	gossip, err := newGossip(gopt, fo, o.name, link, log)
	if err != nil {
		return err
	}
	if syncOpt.ship, err = publishModels(ctx, modelOpt, syncOpt.key, link, log); err != nil {
		return err
	}
	shipEdge, err := ensureModels(ctx, modelOpt, syncOpt.pub, o, fo, link, log)
	if err != nil {
		return err
	}
	gen, emb, err := openModels(ctx, o.model, log)
	if err != nil {
		return err
	}
	n, err = node.New(node.Config{
		Generator: gen, Embedder: emb, PreviousEmbedder: previousEmbedder(o.model),
		Name: o.name, Role: role, Version: version, DataDir: o.data, NoSync: o.noSync,
		BM25: o.bm25, MinConfidence: o.minConfidence, Logger: log, Remote: link.remote, Peers: gossip.peers(),
		Routing: routing, QueryTimeout: o.queryTimeout, CentralCooldown: o.cooldown, Chunking: o.chunking,
	})
	if err != nil {
		return err
	}
	if err := n.Open(ctx); err != nil {
		return err
	}
	defer n.Close()
	syncOpt.applyModels = modelApplier(shipEdge, n, o.model, log)
	syncCtx, stopSync := context.WithCancel(ctx)
	fsync, syncDone, err := startSync(syncCtx, role, syncOpt, o, fo, link, n, log)
	if err != nil {
		stopSync()
		return err
	}
	defer func() { stopSync(); <-syncDone }() // before the store closes
	// Fleet sync's hints and health go through gossip.
	gossip.follow(fsync)
	if err := gossip.start(ctx, n, role, o.data); err != nil {
		return err
	}
	defer gossip.Close() // runs first: peers see a graceful leave, not a failure

	ln, err := net.Listen("tcp", o.httpAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (is another node running? pick another --http port)", o.httpAddr, err)
	}
	url := "http://" + ln.Addr().String()
	handler := api.NewHandler(n, log)
	handler.Handle("GET /metrics", n.Metrics().Handler())
	handler.Handle("GET /{$}", statuspage.Handler(fsync.withSync(gossip.withFleet(n.Status))))
	fsync.register(handler, n)
	fsync.observe(n.Metrics())
	gossip.routes(handler, n.Metrics())
	srv := &http.Server{
		Handler:           link.load.count(handler),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("serving", "url", url, "data", o.data)
	if o.readyFile != "" {
		ready := url + "\n"
		if link.server != nil {
			ready += "quic://" + link.server.Addr().String() + "\n"
		}
		if err := os.WriteFile(o.readyFile, []byte(ready), 0o644); err != nil {
			return fmt.Errorf("write ready file: %w", err)
		}
	}

	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down; a second signal forces exit")
	force := make(chan os.Signal, 1)
	signal.Notify(force, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(force)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() {
		select {
		case <-force:
			cancel()
		case <-shutdownCtx.Done():
		}
	}()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, context.Canceled) {
		log.Warn("http shutdown", "err", err)
	}
	return nil
}

// checkLogLevel accepts what slog parses: debug, info, warn, error, in any
// case, with an optional offset such as info+2.
func checkLogLevel(s string) error {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(s)); err != nil {
		return fmt.Errorf("%q: use debug, info, warn or error", s)
	}
	return nil
}

// checkLogFormat accepts text or json, in any case.
func checkLogFormat(s string) error {
	switch strings.ToLower(s) {
	case "text", "json":
		return nil
	}
	return fmt.Errorf("%q is not one of text, json", s)
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, usageError{fmt.Sprintf("--log-level %q: use debug, info, warn or error", level)}
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(api.NewLogHandler(slog.NewTextHandler(w, opts))), nil
	case "json":
		return slog.New(api.NewLogHandler(slog.NewJSONHandler(w, opts))), nil
	}
	return nil, usageError{fmt.Sprintf("--log-format %q: use text or json", format)}
}

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
		return nil, nil, usageError{"--ollama needs --gen-model and/or --embed-model"}
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

// parseBytes reads sizes like 512MiB, 96MB, 1GiB or a plain byte count.
func parseBytes(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if rest, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = rest, u.mult
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n <= 0 {
		return 0, errors.New("want a positive size such as 96MiB or 1GiB")
	}
	return n * mult, nil
}

// defaultName is the host name when it is a valid node name, else the role.
func defaultName(role string) string {
	h, err := os.Hostname()
	if err != nil || pki.ValidName(h) != nil {
		return role
	}
	return h
}
