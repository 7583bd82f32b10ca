package agent

import (
	"flag"
	"fmt"
	"strconv"
	"time"

	"github.com/edgerag/edgerag/models/openai"
	"github.com/edgerag/edgerag/node"
	"github.com/edgerag/edgerag/node/chunk"
	"github.com/edgerag/edgerag/node/cmdline"
	"github.com/edgerag/edgerag/node/config"
	"github.com/edgerag/edgerag/node/lexical"
	"github.com/edgerag/edgerag/node/membership"
	"github.com/edgerag/edgerag/node/route"
	"github.com/edgerag/edgerag/sync/enroll"
)

// The daemon's flags live beside the Config they fill (the shape of
// Consul's agent/config): a new setting is a field in config.go and one
// line here, and 'edgerag config' documents it from the same flag set.
// What concerns the process rather than the node — logging, the ready
// file, the heap limit, the configuration file — stays with the command.

// ConfigTables groups the daemon's flags into the tables of the
// configuration file. A flag not listed here is a top-level key, so a new
// flag can be set from the file at once; list it here to give it a table.
func ConfigTables() []config.Table {
	return []config.Table{
		{Name: "log", Doc: "What the node logs and how.", Flags: []string{"log-level", "log-format"}},
		{Name: "store", Doc: "The shard store.", Flags: []string{"no-sync"}},
		{Name: "retrieval", Doc: "Retrieval, chunking and when to abstain.",
			Flags: []string{"bm25-k1", "bm25-b", "min-confidence", "chunk-tokens", "chunk-overlap"}},
		{Name: "models", Doc: "The model manifest: the Ollama server, the generation and embedding\nmodels, and their options. With no models the node answers extractively.",
			Flags: []string{"ollama", "gen-model", "embed-model", "num-ctx", "temperature", "keep-alive", "num-thread", "allow-pull", "llm", "llm-model"}},
		{Name: "fleet", Doc: "Talking to the rest of the fleet over QUIC with mutual TLS, and escalation to central.",
			Flags: []string{"tls-dir", "quic", "central", "central-name", "escalate-below", "recalibrate", "query-timeout", "central-cooldown"}},
		{Name: "membership", Doc: "Serf membership with the other nodes of the site (gossip).",
			Flags: []string{"gossip", "advertise", "join", "keyring", "fleet-label", "gossip-profile", "insecure-dev"}},
	}
}

// flagLists holds the flags that are not one field of Config: lists, given
// comma-separated.
type flagLists struct{ join, publishModels, share string }

// AddFlags registers on fs the flags of the command that runs a node of
// c.Role — 'edgerag serve' for an edge, 'edgerag central' — each bound to
// its field of c with its default. Central accepts the edge's escalation
// flags, so that one configuration file can serve both, but its usage
// leaves them out.
//
// It returns the function to call once fs is parsed: it fills the fields
// no one flag is bound to, and pins the settings given on the command line
// (given, as cmdline.ParseWithConfig reports them) against fleet config.
func (c *Config) AddFlags(fs *flag.FlagSet) (parsed func(given map[string]bool)) {
	l := &flagLists{}
	c.Routing = route.DefaultThresholds()
	c.addNodeFlags(fs)
	c.addModelFlags(fs)
	c.addFleetFlags(fs)
	c.addSyncFlags(fs, l)
	c.addGossipFlags(fs, l)
	c.addAuthFlags(fs, l)
	if c.Role == "central" {
		c.addEnrollFlags(fs)
		cmdline.HideFlags(fs, "--data DIR [--http ADDR] [--quic ADDR] [--tls-dir DIR]", "central", "central-name", "escalate-below", "central-cooldown")
	}
	return func(given map[string]bool) {
		c.Sync.Pinned = given // a fleet config does not override these
		c.Gossip.Join = cmdline.SplitList(l.join)
		c.Models.Publish = cmdline.SplitList(l.publishModels)
		c.Auth.Share = cmdline.SplitList(l.share)
		c.LLM.Temperature = c.Model.Temperature
	}
}

// addNodeFlags adds the flags of the node itself: its store, retrieval,
// and when it abstains or escalates.
func (c *Config) addNodeFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.DataDir, "data", "", "data directory (one Badger database; created if missing)")
	fs.StringVar(&c.HTTPAddr, "http", "127.0.0.1:8080", "address of the local HTTP API (port 0 picks a free port)")
	fs.StringVar(&c.Name, "name", cmdline.DefaultName(c.Role), "node name: in answers, and the name of its fleet certificate")
	fs.BoolVar(&c.NoSync, "no-sync", false, "do not fsync each write: faster, but acknowledged writes may be lost on power failure")
	fs.Float64Var(&c.BM25.K1, "bm25-k1", lexical.DefaultParams().K1, "BM25 k1 (term-frequency saturation)")
	fs.Float64Var(&c.BM25.B, "bm25-b", lexical.DefaultParams().B, "BM25 b (length normalisation)")
	cmdline.UnitFloatVar(fs, &c.MinConfidence, "min-confidence", node.DefaultMinConfidence, "abstain below this confidence (0..1)")
	cmdline.UnitFloatVar(fs, &c.Routing.MinConfidence, "escalate-below", route.DefaultThresholds().MinConfidence, "ask central when the route confidence, the learned chance that central would not change the answer, is below this (0..1)")
	fs.Var((*negated)(&c.NoRecalibration), "recalibrate", "recalibrate the confidence from central's answers to this edge's escalations (on by default; kept in the store; see /metrics edgerag_recalibration_*)")
	fs.DurationVar(&c.QueryTimeout, "query-timeout", 5*time.Second, "longest a query may take, escalation included; after it the local answer is returned")
	fs.DurationVar(&c.CentralCooldown, "central-cooldown", 30*time.Second, "after an escalation to central fails, answer locally (labelled degraded) for this long, then probe central in the background and escalate again once it answers")
	fs.IntVar(&c.Chunking.MaxTokens, "chunk-tokens", chunk.DefaultMaxTokens, "token budget of a chunk (words)")
	fs.IntVar(&c.Chunking.OverlapTokens, "chunk-overlap", chunk.DefaultOverlapTokens, "tokens a chunk repeats from the previous one when a section is split (-1: none)")
}

// addModelFlags adds the Ollama server and the models the node answers
// and embeds with.
func (c *Config) addModelFlags(fs *flag.FlagSet) {
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
}

// addFleetFlags adds the flags a node needs to talk to other nodes over
// QUIC.
func (c *Config) addFleetFlags(fs *flag.FlagSet) {
	f := &c.Fleet
	listenDefault := ""
	if c.Role == "central" {
		listenDefault = "127.0.0.1:7443"
	}
	fs.StringVar(&f.TLSDir, "tls-dir", "", "directory with the fleet's ca.crt and this node's NAME.crt and NAME.key (default: DATA/tls after 'edgerag enroll --data DATA')")
	fs.StringVar(&f.QUICAddr, "quic", listenDefault, "UDP address of this node's QUIC endpoint for other nodes (empty: none)")
	fs.StringVar(&f.Central, "central", "", "QUIC address of central to escalate to and sync from; several replicas as a,b or a DNS name with several records, failed over within one query deadline and one sync poll (empty: none)")
	fs.StringVar(&f.CentralName, "central-name", "central", "node name in the central node's certificate")
}

// addSyncFlags adds the fleet-sync and model-shipping flags: central
// publishes, an edge follows.
func (c *Config) addSyncFlags(fs *flag.FlagSet, l *flagLists) {
	s, m := &c.Sync, &c.Models
	if c.Role == "central" {
		fs.StringVar(&s.Key, "sync-key", "", "central's fleet-sync signing key (sync.key from 'edgerag sync keygen'); enables publishing")
		fs.StringVar(&s.Store.URL, "sync-store", "", "keep published versions in S3-compatible object storage shared by every central replica: s3://bucket/prefix, endpoint and credentials from $AWS_ENDPOINT_URL_S3, $AWS_ACCESS_KEY_ID, $AWS_SECRET_ACCESS_KEY (empty: in --data)")
		fs.StringVar(&s.Lease, "sync-lease", "", "etcd://host:port[,host:port]/prefix: central replicas sharing --sync-store take turns publishing, only the holder of this etcd lease at a time (empty: no lease)")
		fs.DurationVar(&s.LeaseTTL, "sync-lease-ttl", 10*time.Second, "how long the publisher lease outlives a replica that stopped renewing it (killed): the longest the fleet goes without a publisher")
		fs.IntVar(&s.ShardReplicas, "shard-replicas", 0, "with --sync-lease: each replica holds only the shards assigned to it, each shard on this many replicas, filled from --sync-store and rebalanced as replicas join and leave; an escalated question goes to the replicas holding its shard (0: every replica serves every shard)")
		fs.StringVar(&s.ReplicaAddr, "replica-addr", "", "host:port the other central replicas and the lease name this one by, when --quic listens on 0.0.0.0 (e.g. $(POD_IP):7443; empty: the address --quic bound)")
		fs.Float64Var(&s.Canary, "sync-canary", 0, "roll each new shard version out to this share of the edges first (0..1; 0: to all at once); promoted when they report it healthy, halted when one fails")
		fs.Float64Var(&s.ProbeMargin, "sync-probe-margin", 0, "with --sync-canary: halt a rollout when a canary answers its shard's probe set with agreement down, or abstention up, by more than this share against the previous version (0: 0.05)")
		fs.StringVar(&l.publishModels, "publish-models", "", "comma-separated Ollama models to ship to edges over QUIC, e.g. all-minilm,qwen2.5:0.5b (needs --sync-key)")
		fs.StringVar(&m.OllamaDir, "ollama-models", "", "central's Ollama models directory to read them from (default: $OLLAMA_MODELS, else ~/.ollama/models)")
		return
	}
	fs.StringVar(&s.Pub, "sync-pub", "", "central's fleet-sync public key (sync.pub); with --central, enables fleet sync of published shards")
	fs.DurationVar(&s.Poll, "sync-poll", time.Minute, "how often to ask central for new shard versions")
	fs.Int64Var(&s.Batch, "sync-batch", 1<<20, "bytes of chunk records asked for in one request (smaller wastes less on flaky links)")
	fs.BoolVar(&m.Ensure, "sync-models", false, "fetch the models central publishes into the local Ollama, at start and whenever central publishes new ones, and switch to them (needs --central, --sync-pub, --ollama); no internet needed")
	fs.DurationVar(&m.Timeout, "sync-models-timeout", 30*time.Minute, "longest start waits for --sync-models; a transfer cut short resumes in the background")
}

// addAuthFlags adds the flags of who may use the HTTP API and how it is
// served.
func (c *Config) addAuthFlags(fs *flag.FlagSet, l *flagLists) {
	a := &c.Auth
	fs.StringVar(&a.Anonymous, "anonymous", "none", "role of requests without a token: none, or query (they see only documents without groups)")
	fs.StringVar(&a.TLSCert, "http-tls-cert", "", "serve the HTTP API over TLS with this certificate (PEM); with --http-tls-key")
	fs.StringVar(&a.TLSKey, "http-tls-key", "", "private key of --http-tls-cert (PEM)")
	fs.BoolVar(&a.TLSFleet, "http-tls-fleet", false, "serve the HTTP API over TLS with the node's fleet certificate (--tls-dir)")
	fs.BoolVar(&a.InsecureHTTP, "insecure-http", false, "allow plain HTTP on an address other than loopback (only behind a proxy that terminates TLS)")
	fs.StringVar(&l.share, "share", "", "comma-separated shards of this node that edges may query (all: every one); on an edge, synced shards always may; on a central with --sync-key, published shards always may and its drafts only when listed here")
}

// addGossipFlags adds the membership flags.
func (c *Config) addGossipFlags(fs *flag.FlagSet, l *flagLists) {
	g := &c.Gossip
	fs.StringVar(&g.Addr, "gossip", "", "host:port for Serf membership with the other nodes of the site, UDP and TCP (empty: no membership)")
	fs.StringVar(&l.join, "join", "", "comma-separated gossip addresses of members to join at start (not needed after a restart: the snapshot remembers)")
	fs.StringVar(&g.Advertise, "advertise", "", "host:port peers must use to reach this node's gossip, when it differs from --gossip (NAT, 0.0.0.0)")
	cmdline.CheckedStringVar(fs, &g.Profile, "gossip-profile", membership.ProfileLAN, func(s string) error {
		_, err := membership.ProfileByName(s)
		return err
	}, "gossip timings: lan (one switched network) or edge (lossy or slow links)")
	fs.StringVar(&g.Label, "fleet-label", "edgerag", "label of this fleet's gossip; nodes with another label are kept out")
	fs.StringVar(&g.Keyring, "keyring", "", "gossip keyring file, mode 0600 (edgerag keys generate); required with --gossip unless --insecure-dev")
	fs.BoolVar(&g.InsecureDev, "insecure-dev", false, "allow gossip without encryption (development only: anyone on the network can join)")
}

// addEnrollFlags adds central's enrollment flags.
func (c *Config) addEnrollFlags(fs *flag.FlagSet) {
	e := &c.Enroll
	fs.StringVar(&e.CADir, "ca", "", "directory of the fleet CA with its key, on this machine: enables 'edgerag enroll' of devices and 'cert revoke'")
	fs.StringVar(&e.Addr, "enroll", "", "HTTPS address devices enroll and renew on (default: TCP on the --quic host:port; an ephemeral port when --quic's is 0)")
	fs.DurationVar(&e.CertTTL, "cert-valid", enroll.DefaultCertTTL, "life of the certificates issued to enrolled devices; they renew at about two thirds of it")
}

// negated is a boolean flag stored inverted, so that a Config field can be
// false by default (NoRecalibration) while its flag reads as on by default
// (--recalibrate, --recalibrate=false).
type negated bool

func (b *negated) String() string {
	if b == nil || !*b {
		return "true"
	}
	return "false"
}

func (b *negated) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return fmt.Errorf("want true or false: %w", err)
	}
	*b = negated(!v)
	return nil
}

// IsBoolFlag lets the flag be given without a value.
func (b *negated) IsBoolFlag() bool { return true }
