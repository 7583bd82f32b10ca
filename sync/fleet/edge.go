package fleet

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/edgerag/edgerag/node/shard"
	"github.com/edgerag/edgerag/sync/manifest"
	"github.com/edgerag/edgerag/sync/rollout"
	"github.com/edgerag/edgerag/sync/transport"
	"github.com/edgerag/edgerag/sync/wire"
)

// Pointer is an edge's record of a synced shard's versions.
type Pointer struct {
	Current, Previous uint64
	Highest           uint64 // highest version ever applied: manifests must be above it
}

// Doc is one document of a delivered version, in the order the manifest
// lists its chunks.
type Doc struct {
	ID, Title, Source string
	Metadata          map[string]string
	Chunks            []manifest.Record
	// Flagged and Released come from central's store (Source): a chunk
	// the trust screen flagged (Flagged[i], the whole document's flags
	// included) is held back from publishing unless the document was
	// released by an admin.
	Flagged  []bool
	Released bool
}

// Target is the edge node fleet sync applies versions to.
type Target interface {
	KV() KV
	Pointer(name string) (Pointer, error)
	// Analyzer names the analysis chain the node builds term vectors with.
	Analyzer() string
	// Stage writes version v of a shard where queries do not see it; it
	// may run again after a crash.
	Stage(ctx context.Context, name string, v uint64, docs func(yield func(Doc) error) error) error
	// Activate switches queries to staged version v in one step, writing
	// sets and deletes in the same transaction as the switch.
	Activate(ctx context.Context, name string, v uint64, sets []shard.KV, deletes []string) error
}

// Caller makes transport calls to central (a *transport.Client).
type Caller interface {
	Call(ctx context.Context, addr, serverName string, typ wire.Type, payload []byte) ([]byte, error)
}

// maxBatchBytes keeps a batch's response, length prefixes included, under
// the wire limit of a chunk message.
const maxBatchBytes = wire.MaxChunkBatch - MaxBatch*5

// SyncerConfig configures an edge's fleet sync.
type SyncerConfig struct {
	Client      Caller
	Central     string // central's QUIC address
	CentralName string // name in central's certificate
	// Trusted are central's sync public keys; manifests signed otherwise
	// are refused.
	Trusted  []ed25519.PublicKey
	Target   Target
	StageDir string        // where transfers in progress are staged
	Poll     time.Duration // how often to ask central; default 1 minute
	// Shards limits sync to these shards; empty: every shard central
	// publishes.
	Shards []string
	// BatchBytes bounds the records asked for in one request; default
	// 1 MiB. Smaller batches waste less when a link drops mid-transfer.
	BatchBytes int64
	Logger     *slog.Logger     // nil: discard
	Now        func() time.Time // nil: time.Now
	// Hook, when set, is called at each step of a sync (after every
	// verified chunk, between phases); an error it returns aborts the sync
	// there. Tests use it to kill a sync at chosen points.
	Hook func(point string) error
	// OnVerified, when set, is called with each chunk record verified on
	// arrival, before it is staged. Tests count re-fetches with it.
	OnVerified func(manifest.Hash)
	// OnLearn, when set, is called when a poll shows a version of a
	// followed shard newer than any applied here, and neither this edge
	// nor a hint from another already announced it: main sends it to the
	// site as a Serf user event, so the others poll at once (see Hint).
	OnLearn func(Hint)
	// MinNudgeGap is the least time between two passes started by nudges,
	// so a flood of hints (forged, or a busy publisher) cannot turn into a
	// flood of polls; default 1 s.
	MinNudgeGap time.Duration
	// ApplyConfig, when set, makes the edge follow central's config
	// manifest: it is called with each newer verified manifest (and, at
	// start, with the one applied before, or an empty one) and must apply
	// it whole or refuse it, returning the settings then in force.
	ApplyConfig func(ctx context.Context, c manifest.Config) ([]SettingStatus, error)
	// ApplyModels, when set, makes the edge follow central's model
	// manifest: it is called with each newer verified manifest (and, at
	// start, with the one applied before the restart), must bring the
	// models into the local Ollama and switch the node to them, and
	// returns what the node does with each. Only after it succeeds is the
	// version recorded as applied.
	ApplyModels func(ctx context.Context, m manifest.Models) ([]ModelInUse, error)
	// Revocations, when set with ApplyRevocations, makes the edge follow
	// the fleet's revocation list: it returns the number of the list in
	// force, and ApplyRevocations verifies (against the fleet CA) and
	// applies a newer signed list.
	Revocations      func() uint64
	ApplyRevocations func(ctx context.Context, signed []byte) error
	// AnswerProbe, when set, makes the edge answer a shard's probe set
	// when it is a canary of that shard's rollout (probes.go): it answers
	// one question from the shard's applied version only, with the node's
	// own answerer and no escalation, returning the documents cited (best
	// first) and whether it abstained.
	AnswerProbe func(ctx context.Context, shard, question string) (docs []string, abstained bool, err error)
}

// ShardStatus is an edge's sync state of one shard, for GET /v1/sync and
// 'edgerag sync status'.
type ShardStatus struct {
	Shard    string `json:"shard"`
	Applied  uint64 `json:"applied"`  // version queries see
	Previous uint64 `json:"previous"` // kept for rollback
	Target   uint64 `json:"target,omitempty"`
	// State is idle, paging (fetching manifest pages), fetching,
	// staging, applying or error.
	State       string `json:"state"`
	ChunksTotal int    `json:"chunks_total,omitempty"` // chunk records the version needs fetched
	ChunksDone  int    `json:"chunks_done,omitempty"`
	BytesTotal  int64  `json:"bytes_total,omitempty"`
	BytesDone   int64  `json:"bytes_done,omitempty"`
	// PagesTotal counts the pages of the version's manifest;
	// PagesFetched and PageBytes those the edge lacked and fetched.
	PagesTotal   int       `json:"pages_total,omitempty"`
	PagesFetched int       `json:"pages_fetched,omitempty"`
	PageBytes    int64     `json:"page_bytes,omitempty"`
	LastError    string    `json:"last_error,omitempty"`
	LastErrorAt  time.Time `json:"last_error_at,omitzero"`
	AppliedAt    time.Time `json:"applied_at,omitzero"`
	// Probes are the figures this edge, as a canary, last measured on the
	// shard's probe set before and after applying a version.
	Probes *rollout.CanaryQuality `json:"probes,omitempty"`
}

// EdgeStatus is an edge's view of fleet sync.
type EdgeStatus struct {
	Role    string `json:"role"` // "edge"
	Central string `json:"central"`
	// Centrals is each central replica's address and breaker, when the
	// edge knows several (transport.Group), in the order calls try them.
	Centrals  []transport.AddrHealth `json:"centrals,omitempty"`
	LastPoll  time.Time              `json:"last_poll,omitzero"`
	PollError string                 `json:"poll_error,omitempty"`
	Shards    []ShardStatus          `json:"shards"`
	// Config is the fleet config manifest applied, when the edge follows
	// one.
	Config *ConfigStatus `json:"config,omitempty"`
	// Models is the model manifest applied, when the edge follows one.
	Models *ModelsStatus `json:"models,omitempty"`
}

// Syncer is an edge's fleet sync: it polls central, and applies every
// newer version of the shards it follows.
type Syncer struct {
	cfg   SyncerConfig
	log   *slog.Logger
	nudge chan struct{}
	runMu sync.Mutex // one sync pass at a time

	mu     sync.Mutex
	status EdgeStatus
	shards map[string]*ShardStatus
	known  map[string]uint64 // highest version of each shard announced or hinted
	config ConfigStatus
	models ModelsStatus
	// modelsRetry: the applied model manifest did not apply at start;
	// polls try again.
	modelsRetry bool
	lastRep     time.Time       // last progress report to central
	canary      map[string]bool // shards whose rollout has this edge as a canary, as of the last poll
}

// NewSyncer validates cfg. It starts nothing; Run does.
func NewSyncer(cfg SyncerConfig) (*Syncer, error) {
	switch {
	case cfg.Client == nil || cfg.Target == nil:
		return nil, errors.New("fleet: syncer needs a Client and a Target")
	case cfg.Central == "":
		return nil, errors.New("fleet: syncer needs central's address (--central)")
	case len(cfg.Trusted) == 0:
		return nil, errors.New("fleet: syncer needs central's sync public key (--sync-pub): without it no manifest can be trusted")
	case cfg.StageDir == "":
		return nil, errors.New("fleet: syncer needs a staging directory")
	}
	if cfg.CentralName == "" {
		cfg.CentralName = "central"
	}
	if cfg.Poll <= 0 {
		cfg.Poll = time.Minute
	}
	if cfg.BatchBytes <= 0 {
		cfg.BatchBytes = 1 << 20
	}
	if cfg.BatchBytes > maxBatchBytes {
		return nil, fmt.Errorf("fleet: a batch of %d bytes of records would not fit one response; at most %d (--sync-batch)", cfg.BatchBytes, maxBatchBytes)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MinNudgeGap <= 0 {
		cfg.MinNudgeGap = time.Second
	}
	s := &Syncer{cfg: cfg, log: cfg.Logger, nudge: make(chan struct{}, 1), shards: make(map[string]*ShardStatus), known: make(map[string]uint64)}
	s.status = EdgeStatus{Role: "edge", Central: cfg.CentralName + " at " + cfg.Central}
	return s, nil
}

// Nudge asks for a sync pass soon, without waiting for the poll interval:
// membership calls it when central announces a new version. It never
// blocks; nudges while a pass is pending merge into one.
func (s *Syncer) Nudge() {
	select {
	case s.nudge <- struct{}{}:
	default:
	}
}

// Hint tells the syncer that another member of the site learned of
// version h.Version of a shard. If that is newer than what this edge
// applied and heard of, it polls central soon; otherwise nothing happens,
// so an old or forged hint costs nothing. It reports whether it nudged.
func (s *Syncer) Hint(h Hint) bool {
	if !s.newer(h) {
		return false
	}
	s.mu.Lock()
	fresh := h.Version > s.known[h.key()]
	if fresh {
		s.known[h.key()] = h.Version
	}
	s.mu.Unlock()
	// A hint already heard still nudges: the pass it caused may have
	// failed; MinNudgeGap bounds the cost.
	s.log.Debug("fleet sync: hint", "shard", h.Shard, "version", h.Version, "new", fresh)
	s.Nudge()
	return true
}

// Run syncs at once, then every poll interval and on every nudge, until ctx
// ends. Passes started by nudges are at least MinNudgeGap apart.
func (s *Syncer) Run(ctx context.Context) {
	if s.cfg.ApplyConfig != nil {
		s.loadConfig(ctx)
	}
	if s.cfg.ApplyModels != nil {
		s.loadModels(ctx)
	}
	t := time.NewTicker(s.cfg.Poll)
	defer t.Stop()
	var last time.Time
	for {
		last = time.Now()
		if err := s.SyncOnce(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("fleet sync", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.nudge:
			if wait := s.cfg.MinNudgeGap - time.Since(last); wait > 0 {
				select {
				case <-ctx.Done():
					return
				case <-time.After(wait):
				}
			}
		}
	}
}

// SyncOnce polls central and brings every followed shard to its latest
// version. A shard that fails is reported in its status and does not stop
// the others.
func (s *Syncer) SyncOnce(ctx context.Context) error {
	s.runMu.Lock()
	defer s.runMu.Unlock()
	b, err := s.cfg.Client.Call(ctx, s.cfg.Central, s.cfg.CentralName, wire.TypeSyncVersions, []byte("{}"))
	var resp struct {
		Shards []Version `json:"shards"`
		Config uint64    `json:"config"` // latest config manifest; 0: none
		Models uint64    `json:"models"` // latest model manifest; 0: none
		// Revocations is the number of the fleet's revocation list.
		Revocations uint64 `json:"revocations"`
	}
	if err == nil {
		err = json.Unmarshal(b, &resp)
	}
	s.mu.Lock()
	s.status.LastPoll = s.cfg.Now().UTC()
	s.status.PollError = ""
	if err != nil {
		s.status.PollError = err.Error()
	}
	s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("poll central: %w", err)
	}
	canary := make(map[string]bool)
	for _, v := range resp.Shards {
		if v.Canary {
			canary[v.Shard] = true
		}
	}
	s.mu.Lock()
	s.canary = canary
	s.mu.Unlock()
	var errs []error
	// Revocations first: a long transfer must not keep a revoked node in.
	if err := s.syncRevocations(ctx, resp.Revocations); err != nil {
		errs = append(errs, err)
	}
	// Tell the site first: a long transfer here must not delay the others.
	for _, v := range resp.Shards {
		s.learn(Hint{Shard: v.Shard, Version: v.Version})
	}
	if resp.Config > 0 {
		s.learn(Hint{Config: true, Version: resp.Config})
	}
	if resp.Models > 0 {
		s.learn(Hint{Models: true, Version: resp.Models})
	}
	for _, v := range resp.Shards {
		if len(s.cfg.Shards) > 0 && !slices.Contains(s.cfg.Shards, v.Shard) {
			continue
		}
		if err := s.SyncShard(ctx, v.Shard, v.Version); err != nil {
			errs = append(errs, err)
		}
	}
	if resp.Config > 0 && s.cfg.ApplyConfig != nil {
		if err := s.syncConfig(ctx, resp.Config); err != nil {
			errs = append(errs, err)
		}
	}
	if resp.Models > 0 && s.cfg.ApplyModels != nil {
		if err := s.syncModels(ctx, resp.Models); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// newer reports whether a hint names a version above the one applied, of
// something this edge follows.
func (s *Syncer) newer(h Hint) bool {
	if h.Config {
		if s.cfg.ApplyConfig == nil {
			return false
		}
		cur, err := s.appliedConfig()
		return err == nil && h.Version > cur.Version
	}
	if h.Models {
		if s.cfg.ApplyModels == nil {
			return false
		}
		cur, err := s.appliedModels()
		return err == nil && h.Version > cur.Version
	}
	if len(s.cfg.Shards) > 0 && !slices.Contains(s.cfg.Shards, h.Shard) {
		return false
	}
	p, err := s.cfg.Target.Pointer(h.Shard)
	return err == nil && h.Version > p.Highest
}

// learn announces a version the poll showed, once, if it is newer than
// anything applied or heard of.
func (s *Syncer) learn(h Hint) {
	if s.cfg.OnLearn == nil || h.Version == 0 || !s.newer(h) {
		return
	}
	s.mu.Lock()
	fresh := h.Version > s.known[h.key()]
	if fresh {
		s.known[h.key()] = h.Version
	}
	s.mu.Unlock()
	if fresh {
		s.cfg.OnLearn(h)
	}
}

func (s *Syncer) shardStatus(name string) *ShardStatus {
	st := s.shards[name]
	if st == nil {
		st = &ShardStatus{Shard: name, State: "idle"}
		s.shards[name] = st
	}
	return st
}

func (s *Syncer) update(name string, f func(*ShardStatus)) {
	s.mu.Lock()
	f(s.shardStatus(name))
	s.mu.Unlock()
}

// fail records why a sync of a shard stopped, for the status and the log.
func (s *Syncer) fail(name string, err error) error {
	s.update(name, func(st *ShardStatus) {
		st.State, st.LastError, st.LastErrorAt = "error", err.Error(), s.cfg.Now().UTC()
	})
	s.log.Warn("fleet sync: version rejected or not applied", "shard", name, "err", err)
	return fmt.Errorf("sync shard %q: %w", name, err)
}

func (s *Syncer) hook(point string) error {
	if s.cfg.Hook == nil {
		return nil
	}
	return s.cfg.Hook(point)
}

// report tells central which version the node applied, or that applying
// it failed (failed != nil); best effort.
func (s *Syncer) report(ctx context.Context, name string, v uint64, failed error) {
	s.reportQuality(ctx, name, v, failed, nil)
}

// reportQuality is report with a canary's probe-set figures.
func (s *Syncer) reportQuality(ctx context.Context, name string, v uint64, failed error, q *rollout.CanaryQuality) {
	r := reportRequest{Shard: name, Version: v, Healthy: failed == nil, Quality: q}
	if failed != nil {
		r.Error = failed.Error()
	}
	b, _ := json.Marshal(r)
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := s.cfg.Client.Call(cctx, s.cfg.Central, s.cfg.CentralName, wire.TypeReport, b); err != nil {
		s.log.Debug("fleet sync: report to central", "err", err)
	}
}

// progressEvery is the least time between two progress reports of a
// transfer to central: enough for a progress bar, cheap for central.
const progressEvery = time.Second

// progress tells central how far a transfer got, at most every
// progressEvery; best effort, and bounded so a slow link delays the
// transfer by little.
func (s *Syncer) progress(ctx context.Context, name string) {
	now := s.cfg.Now()
	s.mu.Lock()
	if now.Sub(s.lastRep) < progressEvery {
		s.mu.Unlock()
		return
	}
	s.lastRep = now
	st := *s.shardStatus(name)
	s.mu.Unlock()
	b, _ := json.Marshal(reportRequest{Shard: name, Version: st.Applied, Healthy: true, Progress: &Progress{
		Target: st.Target, State: st.State, ChunksDone: st.ChunksDone, ChunksTotal: st.ChunksTotal, BytesDone: st.BytesDone, BytesTotal: st.BytesTotal}})
	cctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	if _, err := s.cfg.Client.Call(cctx, s.cfg.Central, s.cfg.CentralName, wire.TypeReport, b); err != nil {
		s.log.Debug("fleet sync: progress report to central", "err", err)
	}
}

// Status returns the sync state of every shard the edge follows.
func (s *Syncer) Status() EdgeStatus {
	names := map[string]bool{}
	s.mu.Lock()
	for n := range s.shards {
		names[n] = true
	}
	s.mu.Unlock()
	// Applied versions come from the store, the truth after a restart.
	for n := range names {
		if p, err := s.cfg.Target.Pointer(n); err == nil {
			s.update(n, func(st *ShardStatus) { st.Applied, st.Previous = p.Current, p.Previous })
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.status
	st.Shards = make([]ShardStatus, 0, len(s.shards))
	for _, sh := range s.shards {
		st.Shards = append(st.Shards, *sh)
	}
	sort.Slice(st.Shards, func(i, j int) bool { return st.Shards[i].Shard < st.Shards[j].Shard })
	if s.cfg.ApplyConfig != nil {
		c := s.config
		c.Settings = slices.Clone(c.Settings)
		st.Config = &c
	}
	if s.cfg.ApplyModels != nil {
		m := s.models
		m.Models = slices.Clone(m.Models)
		st.Models = &m
	}
	if g, ok := s.cfg.Client.(interface{ Health() []transport.AddrHealth }); ok {
		st.Centrals = g.Health()
	}
	return st
}

// Floor returns the min_version of the shard's current manifest, the
// lowest version it may be rolled back to.
func Floor(kv KV, name string, current uint64) (uint64, error) {
	b, err := kv.Get(manifestKey(name, current))
	if err != nil {
		return 0, err
	}
	r, err := manifest.ReadRoot(b)
	if err != nil {
		return 0, err
	}
	return r.Shard.MinVersion, nil
}

func sortAcks(a []Ack) {
	sort.Slice(a, func(i, j int) bool {
		if a[i].Node != a[j].Node {
			return a[i].Node < a[j].Node
		}
		return strings.Compare(a[i].Shard, a[j].Shard) < 0
	})
}
