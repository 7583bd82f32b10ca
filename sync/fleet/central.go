// Package fleet is fleet sync: central cuts signed, immutable shard
// versions from its own shards and serves their manifests and chunk records
// over the QUIC transport (Publisher); an edge polls central, fetches only
// the chunk records it lacks, verifies each against the signed manifest,
// stages them so a broken transfer resumes where it stopped, and applies
// the version atomically with rollback to the previous one (Syncer).
//
// Manifests, signatures and record encodings are sync/manifest's; the
// edge's switch between versions is the node's (a Target). node/agent wires both
// into the node's transport server and HTTP API. Records live in the
// store's fleet-sync key space (shardstore.SyncKV):
//
//	l/<shard>             central: latest published version (decimal)
//	m/<shard>/<version>   signed manifest (central: every version; edge: current and previous)
//	r/<hash>              chunk record (central: every published; edge: current and previous)
//	s/<shard>             edge: signed manifest of the version being fetched
//	c/...                 the fleet config manifest (config.go)
//
// Edges learn of new versions by polling; hints (hint.go), which main
// carries as Serf user events, only make them poll sooner.
package fleet

import (
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgerag/edgerag/node/shard"
	"github.com/edgerag/edgerag/node/trust"
	"github.com/edgerag/edgerag/sync/manifest"
	"github.com/edgerag/edgerag/sync/rollout"
	"github.com/edgerag/edgerag/sync/transport"
	"github.com/edgerag/edgerag/sync/wire"
)

// KV is the fleet-sync key space of a node's store.
type KV interface {
	Get(key string) ([]byte, error)
	GetMany(keys []string) ([][]byte, error)
	Update(ctx context.Context, sets []shard.KV, deletes []string) error
	Scan(ctx context.Context, prefix string, keysOnly bool, fn func(key string, value []byte) error) error
}

func latestKey(name string) string { return "l/" + name }
func manifestKey(name string, v uint64) string {
	return fmt.Sprintf("m/%s/%020d", name, v) // zero-padded: keys sort by version
}
func recordKey(h manifest.Hash) string { return "r/" + h.String() }
func stagedKey(name string) string     { return "s/" + name }

// Source is central's shard data: one consistent snapshot of a shard.
type Source interface {
	// Snapshot streams the shard's documents from one consistent read and
	// returns the shard's own version as of that read.
	Snapshot(ctx context.Context, shardName string, fn func(Doc) error) (version uint64, err error)
}

// PublisherConfig configures central's side.
type PublisherConfig struct {
	KV     KV
	Source Source
	Key    ed25519.PrivateKey // central's sync key; nil: serve, but cannot publish
	// Index and EmbedModel are written into every manifest: how edges must
	// index the shard and which embedding model its vectors need.
	Index      manifest.IndexParams
	EmbedModel string
	// Paging is where shard manifests are cut into pages; zero:
	// manifest.DefaultPaging. Edges need not know it: the root lists
	// the pages.
	Paging manifest.Paging
	// CanaryShare, when above 0, rolls every new version of a shard out in
	// stages: first to this share of the edges central knows (at least
	// one), then to all once every canary reports it healthy; a canary
	// that fails halts it. 0: every edge may take a version at once.
	CanaryShare float64
	// CheckConfig, when set, refuses a config manifest's settings that
	// edges could not apply (unknown names, values out of range).
	CheckConfig func([]manifest.Setting) error
	// Revocations, when set, returns the fleet's revocation list, signed
	// by the fleet CA, and its number (0: none); edges fetch it when the
	// number grows (revocations.go).
	Revocations func() (number uint64, signed []byte)
	// MayPublish, when set, is asked before every publish, collect and
	// rollout change: central replicas sharing their published versions
	// let only the holder of the publisher lease write them.
	MayPublish func() error
	// ProbeMargins bound how much worse a canary may answer its shard's
	// probe set on a new version than on the previous one before the
	// rollout halts (zero fields: rollout.Margins' defaults).
	ProbeMargins rollout.Margins
	// LearnProbesAbove is the least confidence of an answer central gave
	// an edge for its question to become a probe (0: 0.5); LearnProbeEvery
	// the least time between two probes learnt for a shard (0: 10 s);
	// MaxProbes bounds a shard's set (0: probes.MaxPerShard).
	LearnProbesAbove float64
	LearnProbeEvery  time.Duration
	MaxProbes        int
	Now              func() time.Time // nil: time.Now
	Logger           *slog.Logger     // nil: discard
}

// Publisher is central's side of fleet sync.
type Publisher struct {
	cfg PublisherConfig
	log *slog.Logger

	pubMu sync.Mutex // one publish at a time: versions stay ordered

	// Serving counters, for status and benchmarks.
	manifestsServed atomic.Int64
	chunksServed    atomic.Int64
	bytesServed     atomic.Int64

	ackMu sync.Mutex
	known map[string]bool // edges that ever polled; nil until loaded

	progMu   sync.Mutex
	progress map[string]Transfer // node/shard → transfer in progress; memory only

	probeMu sync.Mutex // one read-change-write of a probe set at a time
	learnMu sync.Mutex
	learnt  map[string]time.Time // shard → when a probe was last learnt
}

// Progress is how far an edge's transfer of a shard version got.
type Progress struct {
	Target      uint64 `json:"target"`
	State       string `json:"state"`
	ChunksDone  int    `json:"chunks_done"`
	ChunksTotal int    `json:"chunks_total"`
	BytesDone   int64  `json:"bytes_done"`
	BytesTotal  int64  `json:"bytes_total"`
}

// Transfer is an edge's last progress report of a shard, as central keeps
// it: in memory only, since it is stale within seconds.
type Transfer struct {
	Node  string `json:"node"`
	Shard string `json:"shard"`
	Progress
	At time.Time `json:"at"`
}

// Ack is what an edge last reported for a shard.
type Ack struct {
	Node    string `json:"node"`
	Shard   string `json:"shard"`
	Version uint64 `json:"version"`
	Healthy bool   `json:"healthy"`
	Error   string `json:"error,omitempty"`
	// Quality is a canary's probe-set figures on the previous version and
	// on this one, when it ran them.
	Quality *rollout.CanaryQuality `json:"quality,omitempty"`
	At      time.Time              `json:"at"`
}

// NewPublisher returns central's side of fleet sync.
func NewPublisher(cfg PublisherConfig) (*Publisher, error) {
	if cfg.KV == nil || cfg.Source == nil {
		return nil, errors.New("fleet: publisher needs a KV and a Source")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.CanaryShare < 0 || cfg.CanaryShare > 1 {
		return nil, fmt.Errorf("fleet: canary share %v: must be 0 (no staged rollout) to 1", cfg.CanaryShare)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.LearnProbesAbove <= 0 {
		cfg.LearnProbesAbove = defaultLearnAbove
	}
	if cfg.LearnProbeEvery <= 0 {
		cfg.LearnProbeEvery = defaultLearnEvery
	}
	return &Publisher{cfg: cfg, log: cfg.Logger, progress: make(map[string]Transfer), learnt: make(map[string]time.Time)}, nil
}

// Published describes one published version.
type Published struct {
	Shard      string `json:"shard"`
	Version    uint64 `json:"version"`
	MinVersion uint64 `json:"min_version"`
	Chunks     int    `json:"chunks"`
	NewChunks  int    `json:"new_chunks"` // records not in any earlier version
	Bytes      int64  `json:"bytes"`      // of all its records
	Unchanged  bool   `json:"unchanged"`  // the shard had not changed: no new version was cut
	// Held counts chunks the screen flagged that this version does not
	// ship (GET /v1/flagged lists them; releasing one ships it next time).
	Held int `json:"held,omitempty"`
	// Rollout is the staged rollout the version started, if any.
	Rollout *rollout.State `json:"rollout,omitempty"`
}

// ErrNoKey reports a publish on a central without a sync key.
var ErrNoKey = errors.New("no sync key: start central with --sync-key (make one with 'edgerag sync keygen')")

// Publish cuts an immutable version of a shard from central's current data:
// it stores every chunk record not stored before, then the signed manifest,
// so that a version is never visible before its records are retrievable.
// minVersion is the floor written into the manifest (0: none).
//
// It is long because the order of its steps is the invariant (records stored
// before the manifest that names them), which reads best in one place.
func (p *Publisher) Publish(ctx context.Context, shardName string, minVersion uint64) (Published, error) {
	if p.cfg.Key == nil {
		return Published{}, ErrNoKey
	}
	if err := p.mayPublish(); err != nil {
		return Published{}, err
	}
	p.pubMu.Lock()
	defer p.pubMu.Unlock()
	latest, err := p.latest(shardName)
	if err != nil {
		return Published{}, err
	}
	m := manifest.Shard{Name: shardName, MinVersion: minVersion, Created: p.cfg.Now().UTC(), Index: p.cfg.Index, EmbedModel: p.cfg.EmbedModel}
	out := Published{Shard: shardName}
	var pending []shard.KV
	pendingBytes := 0
	flush := func() error {
		if len(pending) == 0 {
			return nil
		}
		keys := make([]string, len(pending))
		for i, kv := range pending {
			keys[i] = kv.Key
		}
		have, err := p.cfg.KV.GetMany(keys)
		if err != nil {
			return err
		}
		var sets []shard.KV
		for i, kv := range pending {
			if have[i] == nil {
				sets = append(sets, kv)
			}
		}
		out.NewChunks += len(sets)
		pending, pendingBytes = pending[:0], 0
		return p.cfg.KV.Update(ctx, sets, nil)
	}
	version, err := p.cfg.Source.Snapshot(ctx, shardName, func(d Doc) error {
		// Central screens what it ships: chunks its injection and
		// poisoning screen flagged (all of a document flagged as a
		// whole) stay behind until an admin releases the document. The
		// chunks kept are numbered anew, as edges expect them in order.
		pos := 0
		for i, c := range d.Chunks {
			flagged := i < len(d.Flagged) && d.Flagged[i]
			if !d.Released && flagged {
				out.Held++
				continue
			}
			md := d.Metadata
			if d.Released && flagged {
				md = maps.Clone(md)
				if md == nil {
					md = make(map[string]string, 1)
				}
				md[trust.ReleasedKey] = "true"
			}
			r := manifest.Record{DocID: d.ID, Title: d.Title, Source: d.Source, Position: pos,
				Heading: c.Heading, Text: c.Text, Metadata: md}
			pos++
			b, err := r.Marshal()
			if err != nil {
				return err
			}
			h := manifest.HashOf(b)
			m.Chunks = append(m.Chunks, manifest.ChunkRef{Hash: h, Size: uint32(len(b))})
			pending = append(pending, shard.KV{Key: recordKey(h), Value: b})
			if pendingBytes += len(b) + 64; pendingBytes > 512<<10 {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if errors.Is(err, shard.ErrNotFound) {
		return Published{}, fmt.Errorf("publish shard %q: central holds no such shard: %w", shardName, err)
	}
	if err != nil {
		return Published{}, fmt.Errorf("publish shard %q: %w", shardName, err)
	}
	if len(m.Chunks) == 0 {
		return Published{}, fmt.Errorf("publish shard %q: it has no documents; ingest some first", shardName)
	}
	out.Chunks, out.Bytes = len(m.Chunks), m.Bytes()
	if latest > 0 {
		prev, err := p.manifest(shardName, latest)
		if err != nil {
			return Published{}, err
		}
		if sameChunks(prev.Chunks, m.Chunks) && prev.MinVersion == minVersion {
			out.Version, out.MinVersion, out.Unchanged, out.NewChunks = latest, prev.MinVersion, true, 0
			return out, nil
		}
	}
	// The shard's own version counts every change, so it is a natural
	// version number; it cannot go backwards past what was published.
	m.Version = max(version, latest+1)
	if minVersion > m.Version {
		return Published{}, fmt.Errorf("publish shard %q: --min-version %d is above the new version %d", shardName, minVersion, m.Version)
	}
	signed, pages, err := p.signShard(&m)
	if err != nil {
		return Published{}, fmt.Errorf("publish shard %q: %w", shardName, err)
	}
	if len(signed) > wire.MaxManifest {
		return Published{}, fmt.Errorf("publish shard %q: its manifest root is %d bytes, over the %d a message carries: split the shard", shardName, len(signed), wire.MaxManifest)
	}
	// Pages before the root that lists them, as records before pages.
	if _, err := storeNew(ctx, p.cfg.KV, pages); err != nil {
		return Published{}, fmt.Errorf("publish shard %q: store manifest pages: %w", shardName, err)
	}
	sets := []shard.KV{
		{Key: manifestKey(shardName, m.Version), Value: signed},
		{Key: latestKey(shardName), Value: []byte(strconv.FormatUint(m.Version, 10))},
	}
	if p.cfg.CanaryShare > 0 && latest > 0 {
		// Edges outside the canaries stay where everyone may be: the
		// previous version, or where a rollout still in progress started.
		from := latest
		if prev, ok, err := p.rolloutState(shardName); err != nil {
			return Published{}, err
		} else if ok && prev.Stage != rollout.StagePromoted {
			from = prev.From
		}
		edges, err := p.knownEdges(ctx)
		if err != nil {
			return Published{}, err
		}
		st, err := rollout.Start(shardName, from, m.Version, edges, p.cfg.CanaryShare)
		if err != nil {
			return Published{}, err
		}
		b, _ := json.Marshal(st)
		sets = append(sets, shard.KV{Key: rolloutKey(shardName), Value: b})
		out.Rollout = &st
	}
	err = p.cfg.KV.Update(ctx, sets, nil)
	if err != nil {
		return Published{}, fmt.Errorf("publish shard %q: %w", shardName, err)
	}
	out.Version, out.MinVersion = m.Version, minVersion
	p.log.Info("published shard version", "shard", shardName, "version", m.Version, "chunks", out.Chunks, "new_chunks", out.NewChunks, "bytes", out.Bytes)
	return out, nil
}

// mayPublish asks the publisher lease, when there is one.
func (p *Publisher) mayPublish() error {
	if p.cfg.MayPublish == nil {
		return nil
	}
	return p.cfg.MayPublish()
}

func sameChunks(a, b []manifest.ChunkRef) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func (p *Publisher) latest(name string) (uint64, error) {
	b, err := p.cfg.KV.Get(latestKey(name))
	if errors.Is(err, shard.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(string(b), 10, 64)
}

// manifest decodes a stored manifest without checking its signature (it
// is central's own).
func (p *Publisher) manifest(name string, v uint64) (manifest.Shard, error) {
	b, err := p.cfg.KV.Get(manifestKey(name, v))
	if err != nil {
		return manifest.Shard{}, err
	}
	m, _, err := loadShard(context.Background(), p.cfg.KV, b)
	return m, err
}

// Version is a shard's latest published version, as the poll returns it.
type Version struct {
	Shard      string `json:"shard"`
	Version    uint64 `json:"version"`
	MinVersion uint64 `json:"min_version,omitempty"`
	// Canary tells the polling edge it is a canary of the shard's staged
	// rollout: it answers the probe set before and after applying.
	Canary bool `json:"canary,omitempty"`
}

// Versions lists the latest published version of every shard.
func (p *Publisher) Versions(ctx context.Context) ([]Version, error) {
	var out []Version
	err := p.cfg.KV.Scan(ctx, "l/", false, func(k string, v []byte) error {
		n, err := strconv.ParseUint(string(v), 10, 64)
		if err != nil {
			return fmt.Errorf("latest version of %q: %w", k, err)
		}
		out = append(out, Version{Shard: strings.TrimPrefix(k, "l/"), Version: n})
		return nil
	})
	return out, err
}

// manifestRequest is the payload of a wire.TypeManifest request.
type manifestRequest struct {
	Kind    string `json:"kind"` // "shard"
	Name    string `json:"name"`
	Version uint64 `json:"version"` // 0: the latest
}

// reportRequest is the payload of a wire.TypeReport request.
type reportRequest struct {
	Shard   string `json:"shard"`
	Version uint64 `json:"version"`
	Healthy bool   `json:"healthy"`
	Error   string `json:"error,omitempty"`
	// Quality is a canary's probe-set figures, sent with its report of
	// the version applied.
	Quality *rollout.CanaryQuality `json:"quality,omitempty"`
	// Progress, when set, makes this a report of a transfer under way,
	// not of a version applied.
	Progress *Progress `json:"progress,omitempty"`
}

func errNotFound(format string, args ...any) error {
	return &transport.Error{Code: wire.CodeNotFound, Message: fmt.Sprintf(format, args...)}
}

// Bounds of the transfers central keeps progress of: a report older than
// staleTransfer is dropped, and a flood of reports from a broken edge
// cannot grow the map past maxTransfers.
const (
	staleTransfer = 30 * time.Second
	maxTransfers  = 16384
)

// MaxBatch bounds the chunk records one request may ask for.
const MaxBatch = 4096

func badRequest(format string, args ...any) error {
	return &transport.Error{Code: wire.CodeBadRequest, Message: fmt.Sprintf(format, args...)}
}

// Handle serves fleet sync's requests: the poll (TypeSyncVersions), signed
// manifests (TypeManifest), chunk record batches (TypeChunks) and reports
// (TypeReport). The transport has already checked that the peer holds a
// certificate of the fleet's CA.
//
// It is long because it is one switch over the request types, each case a
// few lines of decoding and checking untrusted input.
func (p *Publisher) Handle(ctx context.Context, peer transport.Peer, req wire.Frame) ([]byte, error) {
	switch req.Type {
	case wire.TypeSyncVersions:
		if err := p.remember(ctx, peer.Name); err != nil {
			return nil, err
		}
		vs, err := p.Versions(ctx)
		if err != nil {
			return nil, err
		}
		// A staged rollout decides which version this edge may take.
		for i, v := range vs {
			st, ok, err := p.rolloutState(v.Shard)
			if err != nil {
				return nil, err
			}
			if ok {
				vs[i].Version = st.Allowed(peer.Name)
				vs[i].Canary = st.IsCanary(peer.Name)
			}
		}
		cv, err := p.latestConfig()
		if err != nil {
			return nil, err
		}
		mv, err := p.modelsFor(peer.Name)
		if err != nil {
			return nil, err
		}
		resp := map[string]any{"shards": vs, "config": cv, "models": mv}
		if p.cfg.Revocations != nil {
			resp["revocations"], _ = p.cfg.Revocations()
		}
		return json.Marshal(resp)
	case wire.TypeManifest:
		var r manifestRequest
		if err := strictJSON(req.Payload, &r); err != nil {
			return nil, badRequest("manifest request: %v", err)
		}
		if r.Kind == "config" {
			b, err := p.configManifest(r.Version)
			if err == nil {
				p.manifestsServed.Add(1)
				p.bytesServed.Add(int64(len(b)))
			}
			return b, err
		}
		if r.Kind == "revocations" {
			return p.revocations()
		}
		if r.Kind == "probes" {
			return p.serveProbes(r.Name)
		}
		if r.Kind != "shard" {
			return nil, badRequest("manifest request: kind %q: this node serves shard, config, revocations and probes", r.Kind)
		}
		v := r.Version
		if v == 0 {
			var err error
			if v, err = p.latest(r.Name); err != nil {
				return nil, err
			}
		}
		b, err := p.cfg.KV.Get(manifestKey(r.Name, v))
		if errors.Is(err, shard.ErrNotFound) || v == 0 {
			return nil, &transport.Error{Code: wire.CodeNotFound, Message: fmt.Sprintf("no version %d of shard %q was published", v, r.Name)}
		}
		if err != nil {
			return nil, err
		}
		p.manifestsServed.Add(1)
		p.bytesServed.Add(int64(len(b)))
		return b, nil
	case wire.TypeChunks:
		if len(req.Payload) == 0 || len(req.Payload)%len(manifest.Hash{}) != 0 || len(req.Payload)/len(manifest.Hash{}) > MaxBatch {
			return nil, badRequest("chunks request: want 1 to %d chunk hashes of %d bytes each, got %d bytes", MaxBatch, len(manifest.Hash{}), len(req.Payload))
		}
		keys := make([]string, 0, len(req.Payload)/16)
		for b := req.Payload; len(b) > 0; b = b[16:] {
			keys = append(keys, recordKey(manifest.Hash(b[:16])))
		}
		recs, err := p.cfg.KV.GetMany(keys)
		if err != nil {
			return nil, err
		}
		size := 0
		for i, r := range recs {
			if r == nil {
				return nil, &transport.Error{Code: wire.CodeNotFound, Message: fmt.Sprintf("chunk %s is not held by central", strings.TrimPrefix(keys[i], "r/"))}
			}
			size += binary.MaxVarintLen32 + len(r)
		}
		if size > wire.MaxChunkBatch {
			return nil, &transport.Error{Code: wire.CodeTooLarge, Message: "the chunks asked for exceed one response: ask for fewer"}
		}
		out := make([]byte, 0, size) // sized once: ten edges at once must not mean ten growing buffers
		for i, r := range recs {
			out = binary.AppendUvarint(out, uint64(len(r)))
			out = append(out, r...)
			recs[i] = nil // let the copy go as soon as it is in out
		}
		p.chunksServed.Add(int64(len(recs)))
		p.bytesServed.Add(int64(len(out)))
		return out, nil
	case wire.TypeReport:
		var r reportRequest
		if err := strictJSON(req.Payload, &r); err != nil {
			return nil, badRequest("report: %v", err)
		}
		if r.Progress != nil {
			p.progMu.Lock()
			if len(p.progress) < maxTransfers {
				p.progress[peer.Name+"/"+r.Shard] = Transfer{Node: peer.Name, Shard: r.Shard, Progress: *r.Progress, At: p.cfg.Now().UTC()}
			}
			p.progMu.Unlock()
			return []byte("{}"), nil
		}
		if err := checkQuality(r.Quality, r.Version); err != nil {
			return nil, badRequest("report: %v", err)
		}
		a := Ack{Node: peer.Name, Shard: r.Shard, Version: r.Version, Healthy: r.Healthy, Error: r.Error, Quality: r.Quality, At: p.cfg.Now().UTC()}
		p.progMu.Lock()
		delete(p.progress, peer.Name+"/"+r.Shard) // the transfer ended, one way or the other
		p.progMu.Unlock()
		if err := p.ack(ctx, a); err != nil {
			return nil, err
		}
		return []byte("{}"), nil
	}
	return nil, &transport.Error{Code: wire.CodeUnknownType, Message: fmt.Sprintf("fleet sync does not serve %s requests", req.Type)}
}

func strictJSON(b []byte, v any) error {
	d := json.NewDecoder(strings.NewReader(string(b)))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return errors.New("trailing data after the JSON object")
	}
	return nil
}

// CentralStatus is central's view of fleet sync, for GET /v1/sync.
type CentralStatus struct {
	Role            string    `json:"role"` // "central"
	Published       []Version `json:"published"`
	Edges           []Ack     `json:"edges"` // last report of each edge and shard
	ManifestsServed int64     `json:"manifests_served"`
	ChunksServed    int64     `json:"chunks_served"`
	BytesServed     int64     `json:"bytes_served"`
	// Rollouts are the staged rollouts of each shard's latest version.
	Rollouts []rollout.State `json:"rollouts,omitempty"`
	// Transfers are the transfers edges reported under way (at most one
	// report a second each), newest report per edge and shard.
	Transfers []Transfer `json:"transfers,omitempty"`
	// Config is the latest fleet config version published; 0: none.
	Config uint64 `json:"config,omitempty"`
	// Models is the latest model manifest version published; 0: none.
	Models uint64 `json:"models,omitempty"`
}

// Status reports what central published and what edges acknowledged.
func (p *Publisher) Status(ctx context.Context) (CentralStatus, error) {
	vs, err := p.Versions(ctx)
	if err != nil {
		return CentralStatus{}, err
	}
	st := CentralStatus{Role: "central", Published: vs, ManifestsServed: p.manifestsServed.Load(), ChunksServed: p.chunksServed.Load(), BytesServed: p.bytesServed.Load()}
	if st.Models, err = p.latestModels(); err != nil {
		return CentralStatus{}, err
	}
	if st.Config, err = p.latestConfig(); err != nil {
		return CentralStatus{}, err
	}
	now := p.cfg.Now()
	p.progMu.Lock()
	for k, tr := range p.progress {
		// An edge that stopped reporting (killed, link down) has no
		// transfer under way any more as far as anyone can tell.
		if now.Sub(tr.At) > staleTransfer {
			delete(p.progress, k)
			continue
		}
		st.Transfers = append(st.Transfers, tr)
	}
	p.progMu.Unlock()
	slices.SortFunc(st.Transfers, func(a, b Transfer) int {
		if c := strings.Compare(a.Node, b.Node); c != 0 {
			return c
		}
		return strings.Compare(a.Shard, b.Shard)
	})
	err = p.cfg.KV.Scan(ctx, "a/", false, func(_ string, v []byte) error {
		var a Ack
		if err := json.Unmarshal(v, &a); err != nil {
			return err
		}
		st.Edges = append(st.Edges, a)
		return nil
	})
	if err != nil {
		return CentralStatus{}, err
	}
	sortAcks(st.Edges)
	err = p.cfg.KV.Scan(ctx, "o/", false, func(_ string, v []byte) error {
		var r rollout.State
		if err := json.Unmarshal(v, &r); err != nil {
			return err
		}
		st.Rollouts = append(st.Rollouts, r)
		return nil
	})
	return st, err
}

// remember records an edge that polled, so the next rollout can pick
// canaries among the edges central knows.
func (p *Publisher) remember(ctx context.Context, node string) error {
	p.ackMu.Lock()
	defer p.ackMu.Unlock()
	if p.known == nil {
		if err := p.loadKnownLocked(ctx); err != nil {
			return err
		}
	}
	if p.known[node] {
		return nil
	}
	if err := p.cfg.KV.Update(ctx, []shard.KV{{Key: "k/" + node, Value: []byte(p.cfg.Now().UTC().Format(time.RFC3339))}}, nil); err != nil {
		return err
	}
	p.known[node] = true
	return nil
}

func (p *Publisher) loadKnownLocked(ctx context.Context) error {
	known := make(map[string]bool)
	err := p.cfg.KV.Scan(ctx, "k/", true, func(k string, _ []byte) error {
		// The model manifest's keys share the prefix (models.go); they
		// name no edge.
		if n := strings.TrimPrefix(k, "k/"); !isModelsKey(k) {
			known[n] = true
		}
		return nil
	})
	if err == nil {
		p.known = known
	}
	return err
}

func (p *Publisher) knownEdges(ctx context.Context) ([]string, error) {
	p.ackMu.Lock()
	defer p.ackMu.Unlock()
	if p.known == nil {
		if err := p.loadKnownLocked(ctx); err != nil {
			return nil, err
		}
	}
	out := make([]string, 0, len(p.known))
	for n := range p.known {
		out = append(out, n)
	}
	return out, nil
}
