package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/edgerag/edgerag/models/openai"
	"github.com/edgerag/edgerag/node"
	"github.com/edgerag/edgerag/node/agent"
	"github.com/edgerag/edgerag/node/chunk"
	"github.com/edgerag/edgerag/node/cmdline"
	"github.com/edgerag/edgerag/node/lexical"
	"github.com/edgerag/edgerag/node/membership"
	"github.com/edgerag/edgerag/node/route"
	"github.com/edgerag/edgerag/node/testhooks"
	"github.com/edgerag/edgerag/sync/objstore"
)

// nodeOptions are the flags of 'edgerag serve' and 'edgerag central': most
// go straight into the agent's Config, the rest are the command's own.
type nodeOptions struct {
	cfg           agent.Config
	escalateBelow float64
	join          string // comma-separated
	publishModels string // comma-separated
	store         string // central's --sync-store URL
	share         string // comma-separated
	logLevel      string
	logFormat     string
	readyFile     string
	memoryLimit   string
	configFile    string // read by cmdline.ParseWithConfig through the flag set
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runNode(ctx, "edge", args, stdout, stderr)
}

// nodeFlagSet returns the flag set of serve (role "edge") or central, bound
// to the options it fills. 'edgerag config' reads the keys from it.
func nodeFlagSet(role string, stderr io.Writer) (*flag.FlagSet, *nodeOptions) {
	o := &nodeOptions{cfg: agent.Config{Role: role, Version: version}}
	c := &o.cfg
	fs := newFlags(cmdName(role), "--data DIR [--http ADDR]", stderr)
	registerFleetFlags(fs, o, role)
	registerSyncFlags(fs, o, role)
	registerGossipFlags(fs, o)
	registerAuthFlags(fs, o)
	fs.StringVar(&c.DataDir, "data", "", "data directory (one Badger database; created if missing)")
	fs.StringVar(&c.HTTPAddr, "http", "127.0.0.1:8080", "address of the local HTTP API (port 0 picks a free port)")
	fs.StringVar(&c.Name, "name", cmdline.DefaultName(role), "node name: in answers, and the name of its fleet certificate")
	checkedStringVar(fs, &o.logLevel, "log-level", "info", cmdline.CheckLogLevel, "log level: debug, info, warn or error")
	checkedStringVar(fs, &o.logFormat, "log-format", "text", cmdline.CheckLogFormat, "log format: text or json")
	fs.StringVar(&o.readyFile, "ready-file", "", "write the API's URL to this file once the node is ready (for scripts and tests)")
	fs.BoolVar(&c.NoSync, "no-sync", false, "do not fsync each write: faster, but acknowledged writes may be lost on power failure")
	fs.Float64Var(&c.BM25.K1, "bm25-k1", lexical.DefaultParams().K1, "BM25 k1 (term-frequency saturation)")
	fs.Float64Var(&c.BM25.B, "bm25-b", lexical.DefaultParams().B, "BM25 b (length normalisation)")
	unitFloatVar(fs, &c.MinConfidence, "min-confidence", node.DefaultMinConfidence, "abstain below this confidence (0..1)")
	unitFloatVar(fs, &o.escalateBelow, "escalate-below", route.DefaultThresholds().MinConfidence, "ask central when the local confidence is below this (0..1)")
	fs.DurationVar(&c.QueryTimeout, "query-timeout", 5*time.Second, "longest a query may take, escalation included; after it the local answer is returned")
	fs.DurationVar(&c.CentralCooldown, "central-cooldown", 30*time.Second, "after central fails 3 times in a row, answer locally for this long before probing it again")
	fs.IntVar(&c.Chunking.MaxTokens, "chunk-tokens", chunk.DefaultMaxTokens, "token budget of a chunk (words)")
	fs.IntVar(&c.Chunking.OverlapTokens, "chunk-overlap", chunk.DefaultOverlapTokens, "tokens a chunk repeats from the previous one when a section is split (-1: none)")
	m := &c.Model
	fs.StringVar(&m.Host, "ollama", "", "Ollama server (host:port or URL) to generate answers with; empty: extractive answers only")
	fs.StringVar(&m.GenModel, "gen-model", "", "generation model on the Ollama server, e.g. qwen2.5:0.5b")
	fs.StringVar(&m.EmbedModel, "embed-model", "", "embedding model on the Ollama server, e.g. all-minilm; enables hybrid retrieval")
	fs.IntVar(&m.NumCtx, "num-ctx", 0, "context window of the generation model in tokens (0: the server's default)")
	fs.Float64Var(&m.Temperature, "temperature", 0, "sampling temperature (0: greedy, repeatable)")
	fs.DurationVar(&m.KeepAlive, "keep-alive", 0, "how long Ollama keeps the model loaded after a call (0: pinned, never unloaded)")
	fs.IntVar(&m.NumThread, "num-thread", 1, "CPU threads per model (on 2-core devices 1 is fastest)")
	fs.BoolVar(&m.AllowPull, "allow-pull", false, "let the node pull a missing model (needs the internet)")
	fs.StringVar(&c.LLM.URL, "llm", "", "OpenAI-compatible server that writes the answers instead of --gen-model (vLLM, llama.cpp, TGI, Ollama's /v1, a hosted API): openai://host:port/v1, or openai+https://host/v1; the API key comes from $"+openai.KeyEnv)
	fs.StringVar(&c.LLM.Model, "llm-model", "", "model on the --llm server, as its /v1/models lists it")
	fs.StringVar(&o.memoryLimit, "memory-limit", "", "soft limit on the Go heap, e.g. 96MiB (default: $GOMEMLIMIT, else none); the GC works harder near it")
	fs.StringVar(&o.configFile, cmdline.ConfigFlag, "", "configuration file (TOML; see 'edgerag config default'); also $EDGERAG_CONFIG")
	if role == "central" {
		// Central accepts the edge's escalation flags, so that one
		// configuration file can serve both, but its help leaves them out.
		cmdline.HideFlags(fs, "--data DIR [--http ADDR] [--quic ADDR] [--tls-dir DIR]", "central", "central-name", "escalate-below", "central-cooldown")
	}
	return fs, o
}

// registerFleetFlags adds the flags a node needs to talk to other nodes
// over QUIC.
func registerFleetFlags(fs *flag.FlagSet, o *nodeOptions, role string) {
	f := &o.cfg.Fleet
	listenDefault := ""
	if role == "central" {
		listenDefault = "127.0.0.1:7443"
	}
	fs.StringVar(&f.TLSDir, "tls-dir", "", "directory with the fleet's ca.crt and this node's NAME.crt and NAME.key (edgerag cert issue)")
	fs.StringVar(&f.QUICAddr, "quic", listenDefault, "UDP address of this node's QUIC endpoint for other nodes (empty: none)")
	fs.StringVar(&f.Central, "central", "", "QUIC address of central to escalate to and sync from; several replicas as a,b or a DNS name with several records, failed over within one query deadline and one sync poll (empty: none)")
	fs.StringVar(&f.CentralName, "central-name", "central", "node name in the central node's certificate")
}

// registerSyncFlags adds the fleet-sync and model-shipping flags: central
// publishes, an edge follows.
func registerSyncFlags(fs *flag.FlagSet, o *nodeOptions, role string) {
	s, m := &o.cfg.Sync, &o.cfg.Models
	if role == "central" {
		fs.StringVar(&s.Key, "sync-key", "", "central's fleet-sync signing key (sync.key from 'edgerag sync keygen'); enables publishing")
		fs.StringVar(&o.store, "sync-store", "", "keep published versions in S3-compatible object storage shared by every central replica: s3://bucket/prefix, endpoint and credentials from $AWS_ENDPOINT_URL_S3, $AWS_ACCESS_KEY_ID, $AWS_SECRET_ACCESS_KEY (empty: in --data)")
		fs.StringVar(&s.Lease, "sync-lease", "", "etcd://host:port[,host:port]/prefix: central replicas sharing --sync-store take turns publishing, only the holder of this etcd lease at a time (empty: no lease)")
		fs.DurationVar(&s.LeaseTTL, "sync-lease-ttl", 10*time.Second, "how long the publisher lease outlives a replica that stopped renewing it (killed): the longest the fleet goes without a publisher")
		fs.Float64Var(&s.Canary, "sync-canary", 0, "roll each new shard version out to this share of the edges first (0..1; 0: to all at once); promoted when they report it healthy, halted when one fails")
		fs.StringVar(&o.publishModels, "publish-models", "", "comma-separated Ollama models to ship to edges over QUIC, e.g. all-minilm,qwen2.5:0.5b (needs --sync-key)")
		fs.StringVar(&m.OllamaDir, "ollama-models", "", "central's Ollama models directory to read them from (default: $OLLAMA_MODELS, else ~/.ollama/models)")
		return
	}
	fs.StringVar(&s.Pub, "sync-pub", "", "central's fleet-sync public key (sync.pub); with --central, enables fleet sync of published shards")
	fs.DurationVar(&s.Poll, "sync-poll", time.Minute, "how often to ask central for new shard versions")
	fs.Int64Var(&s.Batch, "sync-batch", 1<<20, "bytes of chunk records asked for in one request (smaller wastes less on flaky links)")
	fs.BoolVar(&m.Ensure, "sync-models", false, "fetch the models central publishes into the local Ollama, at start and whenever central publishes new ones, and switch to them (needs --central, --sync-pub, --ollama); no internet needed")
	fs.DurationVar(&m.Timeout, "sync-models-timeout", 30*time.Minute, "longest start waits for --sync-models; a transfer cut short resumes in the background")
}

// registerAuthFlags adds the flags of who may use the HTTP API and how it
// is served.
func registerAuthFlags(fs *flag.FlagSet, o *nodeOptions) {
	a := &o.cfg.Auth
	fs.StringVar(&a.Anonymous, "anonymous", "none", "role of requests without a token: none, or query (they see only documents without groups)")
	fs.StringVar(&a.TLSCert, "http-tls-cert", "", "serve the HTTP API over TLS with this certificate (PEM); with --http-tls-key")
	fs.StringVar(&a.TLSKey, "http-tls-key", "", "private key of --http-tls-cert (PEM)")
	fs.BoolVar(&a.TLSFleet, "http-tls-fleet", false, "serve the HTTP API over TLS with the node's fleet certificate (--tls-dir)")
	fs.BoolVar(&a.InsecureHTTP, "insecure-http", false, "allow plain HTTP on an address other than loopback (only behind a proxy that terminates TLS)")
	fs.StringVar(&o.share, "share", "", "comma-separated shards of this edge that other edges may query (all: every one); synced shards always may")
}

// registerGossipFlags adds the membership flags.
func registerGossipFlags(fs *flag.FlagSet, o *nodeOptions) {
	g := &o.cfg.Gossip
	fs.StringVar(&g.Addr, "gossip", "", "host:port for Serf membership with the other nodes of the site, UDP and TCP (empty: no membership)")
	fs.StringVar(&o.join, "join", "", "comma-separated gossip addresses of members to join at start (not needed after a restart: the snapshot remembers)")
	fs.StringVar(&g.Advertise, "advertise", "", "host:port peers must use to reach this node's gossip, when it differs from --gossip (NAT, 0.0.0.0)")
	checkedStringVar(fs, &g.Profile, "gossip-profile", membership.ProfileLAN, func(s string) error {
		_, err := membership.ProfileByName(s)
		return err
	}, "gossip timings: lan (one switched network) or edge (lossy or slow links)")
	fs.StringVar(&g.Label, "fleet-label", "edgerag", "label of this fleet's gossip; nodes with another label are kept out")
	fs.StringVar(&g.Keyring, "keyring", "", "gossip keyring file, mode 0600 (edgerag keys generate); required with --gossip unless --insecure-dev")
	fs.BoolVar(&g.InsecureDev, "insecure-dev", false, "allow gossip without encryption (development only: anyone on the network can join)")
}

func cmdName(role string) string {
	if role == "central" {
		return "central"
	}
	return "serve"
}

// nodeConfig parses the command line, the environment and the
// configuration file of serve or central into the agent's Config.
func nodeConfig(role string, args []string, stderr io.Writer) (*nodeOptions, error) {
	fs, o := nodeFlagSet(role, stderr)
	given, err := cmdline.ParseWithConfig(fs, args, configTables)
	if err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, usageError{fmt.Sprintf("serve takes no arguments, got %q", fs.Args())}
	}
	c := &o.cfg
	c.Sync.Pinned = given // a fleet config does not override these
	c.Routing = route.DefaultThresholds()
	c.Routing.MinConfidence = o.escalateBelow
	c.Gossip.Join = cmdline.SplitList(o.join)
	c.Models.Publish = cmdline.SplitList(o.publishModels)
	c.Auth.Share = cmdline.SplitList(o.share)
	c.LLM.Temperature = c.Model.Temperature
	c.LLM.APIKey = os.Getenv(openai.KeyEnv)
	if o.store != "" {
		c.Sync.Store = objstore.FromEnv(o.store, os.Getenv)
	}
	c.Sync.Hook, c.Sync.OnVerified = testhooks.Sync()
	if c.Logger, err = cmdline.NewLogger(stderr, o.logLevel, o.logFormat); err != nil {
		return nil, usageError{err.Error()}
	}
	return o, nil
}

// runNode runs serve or central: the agent until a signal, then a graceful
// shutdown that a second signal cuts short (cmdline.Serve).
func runNode(ctx context.Context, role string, args []string, stdout, stderr io.Writer) error {
	o, err := nodeConfig(role, args, stderr)
	if err != nil {
		return err
	}
	if err := cmdline.SetMemoryLimit(o.memoryLimit); err != nil {
		return usageError{err.Error()}
	}
	a, err := agent.New(o.cfg)
	if err != nil {
		return err
	}
	if err := a.Start(ctx); err != nil {
		return err
	}
	return cmdline.Serve(ctx, a, o.readyFile, o.cfg.Logger)
}
