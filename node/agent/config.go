package agent

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/edgerag/edgerag/models/confidence"
	"github.com/edgerag/edgerag/models/ollama"
	"github.com/edgerag/edgerag/models/openai"
	"github.com/edgerag/edgerag/node/chunk"
	"github.com/edgerag/edgerag/node/lexical"
	"github.com/edgerag/edgerag/node/route"
	"github.com/edgerag/edgerag/sync/manifest"
	"github.com/edgerag/edgerag/sync/objstore"
	"github.com/edgerag/edgerag/sync/pki"
)

// Config is everything an Agent is assembled from. main fills it from flags,
// the environment and the configuration file; tests fill it by hand. Zero
// values are documented per field.
type Config struct {
	Role    string // "edge" (default) or "central"
	Name    string // node name: in answers, and the name of its fleet certificate
	Version string // build version, announced in status and gossip
	DataDir string // the node's Badger database; required
	// HTTPAddr is the HTTP API's listen address; "" serves no HTTP (tests
	// that drive the node directly), port 0 picks a free port.
	HTTPAddr string
	NoSync   bool // skip fsync per write (see node.Config.NoSync)

	BM25          lexical.Params // zero: lexical.DefaultParams()
	MinConfidence float64        // abstain below it; zero: the node's default
	// Routing tunes when a query leaves the node (MinConfidence is
	// --escalate-below); zero: route.DefaultThresholds().
	Routing         route.Thresholds
	QueryTimeout    time.Duration // zero: the node's default (5 s)
	CentralCooldown time.Duration // zero: the node's default (30 s)
	// CentralFailures failed escalations in a row open the circuit to
	// central for CentralCooldown; zero: the node's default (1).
	CentralFailures int
	// NoRecalibration keeps an edge's confidence as the model was fitted
	// instead of recalibrating it from central's answers (--recalibrate
	// false); Recalibration bounds the recalibration (zero: the default).
	NoRecalibration bool
	Recalibration   confidence.OnlineOptions
	Chunking        chunk.Options // zero: the node's default
	// Model is the Ollama server and models; zero: extractive answers only.
	Model ollama.Config
	// LLM is an OpenAI-compatible server that writes the answers instead
	// of Model's generation model (Model may still embed); zero URL: none.
	LLM openai.Config

	Fleet  FleetConfig
	Auth   AuthConfig
	Gossip GossipConfig
	Sync   SyncConfig
	Models ModelsConfig
	Enroll EnrollConfig

	Hooks Hooks // for embedders and tests (hooks.go); zero in the binary

	Logger *slog.Logger     // nil: discard
	Now    func() time.Time // nil: time.Now; the one clock of the node
}

// FleetConfig is how a node reaches other nodes over QUIC.
type FleetConfig struct {
	TLSDir      string // holds ca.crt, NAME.crt, NAME.key; "": DataDir/tls when enrolled there
	QUICAddr    string // this node's QUIC listen address; "": none
	Central     string // central's QUIC address; "": no escalation, no sync
	CentralName string // name in central's certificate; "": "central"
	// OnRenew, when set, is called after the node renewed its enrolled
	// certificate (tests).
	OnRenew func(notAfter time.Time)
}

// GossipConfig is the node's Serf membership; Addr "" turns it off.
type GossipConfig struct {
	Addr        string
	Join        []string
	Advertise   string
	Profile     string // membership profile name; "": lan
	Label       string // fleet label; "": edgerag
	Keyring     string // keyring file; required unless InsecureDev
	InsecureDev bool
}

// SyncConfig is fleet sync: a publisher on central, a syncer on an edge.
type SyncConfig struct {
	Key string // central: the signing key file; "": no publishing
	// Store keeps central's published versions in S3-compatible object
	// storage, shared by every central replica; zero URL: the node's own
	// store.
	Store objstore.Config
	// Lease is etcd://host:port/prefix: only the replica holding the
	// publisher lease there publishes; "": every replica may.
	Lease    string
	LeaseTTL time.Duration // zero: lease.DefaultTTL
	Canary   float64       // central: canary share of staged rollouts
	// ProbeMargin is central's margin of the probe gate of staged
	// rollouts (rollout.Margins; 0: its default).
	ProbeMargin float64
	Pub         string        // edge: central's public key file; "": no sync
	Poll        time.Duration // edge: poll interval; zero: one minute
	Batch       int64         // edge: bytes of records per request; zero: 1 MiB
	// ShardReplicas, above 0 with Lease, makes each central replica hold
	// and answer only the shards assigned to it (sync/assign), each shard
	// on this many replicas; 0: every replica serves every shard.
	ShardReplicas int
	// ReplicaAddr is the QUIC address the other replicas reach this one
	// at, when --quic listens on an unspecified one (0.0.0.0); "": the
	// address --quic bound.
	ReplicaAddr string
	// Pinned names the settings given on the command line, which a fleet
	// config manifest does not override.
	Pinned map[string]bool

	// Hook and OnVerified are fault-injection points for tests (see
	// fleet.SyncerConfig); the production binary leaves them nil.
	Hook       func(point string) error
	OnVerified func(manifest.Hash)
}

// ModelsConfig is model shipping: central publishes models from its
// Ollama; an edge fetches them into its own.
type ModelsConfig struct {
	Publish   []string      // central: models to ship at start (needs Sync.Key and QUIC)
	OllamaDir string        // central: its Ollama's models directory; "": the default
	Ensure    bool          // edge: fetch central's models at start and on new versions
	Timeout   time.Duration // edge: longest start waits for them; zero: 30 minutes
}

// ConfigError is a configuration that cannot work; its message says which
// setting to change. main reports it as a usage error.
type ConfigError struct{ Msg string }

func (e ConfigError) Error() string { return e.Msg }

func configErrorf(format string, args ...any) error {
	return ConfigError{fmt.Sprintf(format, args...)}
}

// setDefaults fills zero values and refuses combinations that cannot work,
// before anything is opened.
func (c *Config) setDefaults() error {
	if c.Role == "" {
		c.Role = "edge"
	}
	if c.Role != "edge" && c.Role != "central" {
		return configErrorf("role %q: use edge or central", c.Role)
	}
	if c.DataDir == "" {
		return configErrorf("%s needs --data DIR: where the node keeps its shards", cmdName(c.Role))
	}
	if c.Role == "central" && c.Fleet.Central != "" {
		return configErrorf("central does not escalate: drop --central")
	}
	if c.Fleet.TLSDir == "" {
		// 'edgerag enroll --data DIR' puts the node's key and certificate
		// in DIR/tls: a node enrolled so needs no --tls-dir.
		if _, err := os.Stat(filepath.Join(c.DataDir, "tls", enrollStateFile)); err == nil {
			c.Fleet.TLSDir = filepath.Join(c.DataDir, "tls")
		}
	}
	if err := c.checkAuth(); err != nil {
		return err
	}
	if c.Fleet.CentralName == "" {
		c.Fleet.CentralName = "central"
	}
	if c.Sync.Poll == 0 {
		c.Sync.Poll = time.Minute
	}
	if c.Sync.Batch == 0 {
		c.Sync.Batch = 1 << 20
	}
	if c.Models.Timeout == 0 {
		c.Models.Timeout = 30 * time.Minute
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}

func cmdName(role string) string {
	if role == "central" {
		return "central"
	}
	return "serve"
}

// identity loads the node's fleet certificate.
func (c FleetConfig) identity(name string) (*pki.Identity, error) {
	if c.TLSDir == "" {
		return nil, configErrorf("--tls-dir is required to use QUIC (--quic or --central): enroll the device with 'edgerag enroll --data DATA' (then DATA/tls is used), or make one with 'edgerag ca init' and 'edgerag cert issue'")
	}
	id, err := pki.LoadIdentity(filepath.Join(c.TLSDir, "ca.crt"), filepath.Join(c.TLSDir, name+".crt"), filepath.Join(c.TLSDir, name+".key"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("load fleet identity of %q: %w; enroll the device with 'edgerag enroll' (with a token made for %s), or issue its certificate with 'edgerag cert issue --ca CA_DIR --out %s --name %s' and copy the CA's ca.crt beside it", name, err, name, c.TLSDir, name)
	}
	if err != nil {
		return nil, fmt.Errorf("load fleet identity of %q: %w", name, err)
	}
	return id, nil
}
