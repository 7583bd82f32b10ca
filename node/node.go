// Package node is the edgerag daemon's heart: it holds a node's shards (the
// Badger store and the in-memory BM25 index built from it), ingests documents,
// retrieves and answers questions. It implements api.Service; node/agent wires it
// to HTTP, membership and the QUIC transport. node/agent, fleetnode and tests import it.
package node

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"maps"
	"math"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgerag/edgerag/models"
	"github.com/edgerag/edgerag/models/confidence"
	"github.com/edgerag/edgerag/models/extractive"
	"github.com/edgerag/edgerag/node/admission"
	"github.com/edgerag/edgerag/node/analysis"
	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/node/auth"
	"github.com/edgerag/edgerag/node/chunk"
	"github.com/edgerag/edgerag/node/dense"
	"github.com/edgerag/edgerag/node/fusion"
	"github.com/edgerag/edgerag/node/jobs"
	"github.com/edgerag/edgerag/node/lexical"
	"github.com/edgerag/edgerag/node/metrics"
	"github.com/edgerag/edgerag/node/route"
	"github.com/edgerag/edgerag/node/shard"
	"github.com/edgerag/edgerag/node/shardstore"
	"github.com/edgerag/edgerag/node/trust"
)

// Config configures a node. The zero value of every field but DataDir is a
// usable default.
type Config struct {
	Name    string // node name, reported in answers; default "edge"
	Role    string // "edge" or "central"; default "edge"
	Version string // build version for status
	DataDir string // where the Badger database lives
	// NoSync skips fsync on commit (tests and scratch evaluation nodes):
	// acknowledged writes then survive a crash but not a power cut.
	NoSync   bool
	BM25     lexical.Params // zero: lexical.DefaultParams()
	Chunking chunk.Options  // zero: 128-token chunks with 32 tokens of overlap
	// MinConfidence is the confidence below which the node abstains
	// ("not in the local index") instead of guessing. Default
	// DefaultMinConfidence.
	MinConfidence float64
	// GCInterval is how often value-log GC runs; default 10 minutes.
	GCInterval time.Duration
	// Generator writes answers from the retrieved passages; nil: the
	// embedded default (extractive answers). When it fails the node answers
	// extractively and says so, and tries the model again after a cooldown.
	Generator models.Generator
	// Embedder turns chunks and questions into vectors; nil: BM25 only.
	// With one, chunks are embedded in the background and retrieval is
	// hybrid (BM25 and dense, fused by reciprocal rank) for every shard
	// whose vectors are complete.
	Embedder models.Embedder
	// PreviousEmbedder, when set, reaches an embedding model that the store
	// holds a complete set of vectors for. At start, if Embedder's own set
	// is not complete (the configured model changed), the node searches
	// with the previous model's vectors through this embedder while it
	// re-embeds with the new one, and switches when that set is whole.
	PreviousEmbedder func(ctx context.Context, model string) (models.Embedder, error)
	// Fusion weighs BM25 against dense retrieval; zero:
	// fusion.DefaultWeights().
	Fusion fusion.Weights
	// ModelCooldown is how long the node answers extractively after the
	// generation model failed before it tries the model again; default 5 s.
	ModelCooldown time.Duration
	// Remote reaches central; nil: no central.
	Remote Remote
	// Peers reaches the other nodes of the site through membership; nil:
	// no peer routing. With neither Remote nor Peers the node answers on
	// its own.
	Peers Peers
	// Routing tunes when a query leaves the node; zero:
	// route.DefaultThresholds().
	Routing route.Thresholds
	// QueryTimeout bounds a whole query, escalation included; default 5 s.
	QueryTimeout time.Duration
	// CentralFailures consecutive failed escalations open the circuit to
	// central for CentralCooldown, after which one probe is let through;
	// defaults 1 and 30 s.
	CentralFailures int
	CentralCooldown time.Duration
	// CentralQuiet is how long an open connection to central may hear
	// nothing before central is pinged, and the circuit opened if that
	// fails too (watchCentral); default 3 s, three of the keep-alives an
	// edge's client sends (node/agent).
	CentralQuiet time.Duration
	// Recalibration bounds how an edge recalibrates its confidence from
	// central's answers to its escalations (confidence.Online); zero:
	// confidence.DefaultOnlineOptions(). NoRecalibration keeps the model's
	// confidence as fitted.
	Recalibration   confidence.OnlineOptions
	NoRecalibration bool
	// Caller tells who is calling and whether they hold the admin role.
	// Trust above a document's origin, and the flagged-chunk admin
	// endpoints, need admin. nil: the principal node/auth put in the
	// context; a context without one (in-process callers) is admin.
	Caller func(ctx context.Context) (principal string, admin bool)
	// DisableScreening turns the injection and poisoning screen off at
	// ingest and sync; only benchmarks measuring its cost set it.
	DisableScreening bool
	// Redactor removes personal data and secrets from questions before
	// they go to a peer or central; nil: trust.NewRedactor's defaults.
	Redactor *trust.Redactor
	// Admission sizes the gates of retrieval, generation and ingest
	// (package admission); nil: admission.Defaults for GOMAXPROCS cores.
	Admission []admission.Config
	Logger    *slog.Logger     // nil: discard
	Now       func() time.Time // nil: time.Now
	// AuditMax bounds the audit log (see auth.Audit); zero:
	// auth.DefaultAuditMax events.
	AuditMax int
}

// DefaultMinConfidence is the default abstention threshold. Confidence is
// the estimated probability that the answer is supported by its passages
// (models/confidence); 0.28 is where, on the development sets' hold-out
// construction (squad-v1.1-dev, seed 1), abstention on questions the index
// cannot answer and the answer rate on those it can are balanced, both
// about 0.9 (BENCHMARKS.md).
const DefaultMinConfidence = 0.28

func (c *Config) setDefaults() error {
	if c.DataDir == "" {
		return errors.New("node: no data directory (use --data DIR)")
	}
	if c.Name == "" {
		c.Name = "edge"
	}
	if c.Role == "" {
		c.Role = "edge"
	}
	if c.BM25 == (lexical.Params{}) {
		c.BM25 = lexical.DefaultParams()
	}
	if err := c.BM25.Validate(); err != nil {
		return err
	}
	if err := c.Chunking.Validate(); err != nil {
		return fmt.Errorf("chunking: %w", err)
	}
	if c.MinConfidence == 0 {
		c.MinConfidence = DefaultMinConfidence
	}
	if c.MinConfidence < 0 || c.MinConfidence > 1 {
		return fmt.Errorf("min confidence %v: must be between 0 and 1", c.MinConfidence)
	}
	if c.Routing == (route.Thresholds{}) {
		c.Routing = route.DefaultThresholds()
	}
	if r := c.Routing.MinConfidence; r < 0 || r > 1 {
		return fmt.Errorf("escalation threshold (--escalate-below) %v: must be between 0 and 1; 0 never escalates a weak answer, 1 always asks", r)
	}
	if c.QueryTimeout == 0 {
		c.QueryTimeout = 5 * time.Second
	}
	if c.Fusion == (fusion.Weights{}) {
		c.Fusion = fusion.DefaultWeights()
	}
	if err := c.Fusion.Validate(); err != nil {
		return err
	}
	if c.ModelCooldown == 0 {
		c.ModelCooldown = 5 * time.Second
	}
	if c.CentralFailures == 0 {
		// One failure is enough: after central dies, each further failure
		// would cost a query its whole timeout; a probe after the cooldown
		// finds out when it is back.
		c.CentralFailures = 1
	}
	if c.CentralCooldown == 0 {
		c.CentralCooldown = 30 * time.Second
	}
	if c.CentralQuiet <= 0 {
		c.CentralQuiet = 3 * time.Second
	}
	if c.GCInterval == 0 {
		c.GCInterval = 10 * time.Minute
	}
	if c.Redactor == nil {
		r, err := trust.NewRedactor(nil, nil)
		if err != nil {
			return fmt.Errorf("redaction: %w", err)
		}
		c.Redactor = r
	}
	if c.Admission == nil {
		c.Admission = admission.Defaults(runtime.GOMAXPROCS(0))
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	// Lines logged with a query's context carry its request id.
	c.Logger = slog.New(api.NewLogHandler(c.Logger.Handler()))
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}

// shardState is one shard's index and record. The index is replaced whole
// when rebuilt, so readers that loaded the pointer keep a consistent view.
type shardState struct {
	mu   sync.RWMutex // guards ix contents and meta
	ix   *lexical.Index
	meta shardstore.ShardMeta
	// store is the store shard holding the data of a shard fleet sync
	// delivers (its current version's key space); "" for ordinary shards.
	store string
}

// Node is a running node. Its methods are safe for concurrent use.
type Node struct {
	closeOnce sync.Once // Close runs once; later calls return its result
	closeErr  error

	// Immutable after New.
	cfg      Config
	log      *slog.Logger
	analyzer *analysis.Analyzer
	answerer *extractive.Answerer
	checker  *trust.Checker
	scratch  *lexical.ScratchPool
	started  time.Time
	metrics  *metrics.Metrics
	adm      *admission.Controller
	jobs     *jobs.Queue // set by Open
	// shed holds the prebuilt early refusal per whole second of
	// Retry-After (see ShedEarly).
	shed [16]atomic.Pointer[api.Prebuilt]

	// Set by Open.
	audit  *auth.Audit
	store  *shardstore.Store
	dense  *dense.Manager // nil without an embedder
	dict   *lexical.Dict
	ready  atomic.Bool
	cancel context.CancelFunc
	wg     sync.WaitGroup

	writeMu sync.Mutex  // serialises writes: term ids, store and index stay in step
	staged  stageCounts // documents fleet sync staging analysed or copied

	mu     sync.RWMutex // guards shards
	shards map[string]*shardState

	fleet       atomic.Pointer[lexical.FleetStats] // nil until central sends them
	tun         atomic.Pointer[Tunables]           // run-time settings; nil: those of cfg
	tunMu       sync.Mutex                         // one SetTunables at a time
	breaker     *route.Breaker                     // the link to central
	genBreaker  *route.Breaker                     // the generation model
	gen         atomic.Pointer[genSlot]            // set by SetGenerator; nil: cfg.Generator
	escMu       sync.Mutex                         // guards escalations and recent
	escalations map[string]int64
	recent      []api.RecentQuery // ring of the last recentSize queries
	recentNext  int
	recal       recalibration // learned from central's answers; loaded by Open
}

// New validates the configuration. It opens nothing; Open does.
func New(cfg Config) (*Node, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	a := analysis.New()
	n := &Node{
		cfg:      cfg,
		log:      cfg.Logger,
		analyzer: a,
		answerer: extractive.New(a, extractive.Options{}),
		checker:  trust.NewChecker(a),
		scratch:  lexical.NewScratchPool(2 * workers()),
		started:  cfg.Now(),
		dict:     lexical.NewDict(),
		shards:   make(map[string]*shardState),
		breaker:  route.NewBreaker(cfg.CentralFailures, cfg.CentralCooldown),
		// One failure is enough to stop asking a local model server for a
		// few seconds: each failed call costs the user a timeout.
		genBreaker: route.NewBreaker(1, cfg.ModelCooldown),

		escalations: make(map[string]int64),
		metrics:     metrics.New(),
		adm:         admission.NewController(cfg.Admission...),
	}
	n.metrics.Observe(n.metricsSnapshot)
	return n, nil
}

// Metrics returns the node's Prometheus metrics.
func (n *Node) Metrics() *metrics.Metrics { return n.metrics }

func (n *Node) metricsSnapshot() metrics.Snapshot {
	s := metrics.Snapshot{Shards: make(map[string]metrics.ShardSnapshot), ModelUp: -1, CentralUp: -1}
	for _, sh := range n.Shards() {
		s.Shards[sh.Name] = metrics.ShardSnapshot{Version: sh.Version, Documents: sh.Documents, Chunks: sh.Chunks}
	}
	for _, g := range n.Admission() {
		s.Admission = append(s.Admission, metrics.AdmissionGate{Class: g.Class, Running: g.Running, Waiting: g.Waiting})
	}
	if n.ready.Load() {
		lsm, vlog := n.store.Size()
		s.StoreBytes = lsm + vlog
	}
	now := n.cfg.Now()
	if n.generator() != nil {
		s.ModelUp = 1
		if n.genBreaker.State(now) == route.StateOpen {
			s.ModelUp = 0
		}
	}
	if n.cfg.Remote != nil {
		s.CentralUp = 0
		if n.breaker.State(now) == route.StateClosed {
			s.CentralUp = 1
		}
	}
	s.Recalibration = n.recalibrationSnapshot()
	return s
}

// Open opens the store, rebuilds the index from it and starts background
// maintenance. The node is ready when Open returns.
func (n *Node) Open(ctx context.Context) error {
	start := n.cfg.Now()
	st, err := shardstore.Open(shardstore.Options{Dir: n.cfg.DataDir, NoSync: n.cfg.NoSync, Logger: n.log})
	if err != nil {
		return err
	}
	n.store = st
	n.loadRecalibration(st)
	sl, err := loadPointers(ctx, st)
	if err == nil {
		err = st.LoadMeta(ctx,
			func(t shardstore.Term) { n.dict.Set(t.Term, t.ID) },
			func(m shardstore.ShardMeta) { n.loadShard(sl, m) })
	}
	if err == nil {
		err = n.loadIndexes(ctx)
	}
	if err != nil {
		_ = st.Close()
		return err
	}
	// Loading decoded every term vector once; hand that garbage back to
	// the OS now rather than whenever the heap next grows, so a small
	// device sees the node's steady-state footprint from the start.
	debug.FreeOSMemory()
	bg, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	if n.cfg.Embedder != nil {
		serving := n.servingEmbedder(ctx, st)
		n.dense = dense.New(st, serving, n.log)
		// Large shards' compact vector graphs live beside the postings.
		n.dense.SetDir(filepath.Join(n.cfg.DataDir, "vectors"))
		if err := n.dense.Load(ctx, n.liveChunks("")); err != nil {
			cancel()
			_ = st.Close()
			return fmt.Errorf("load chunk vectors: %w", err)
		}
		if serving != n.cfg.Embedder {
			n.dense.SetEmbedder(n.cfg.Embedder)
		}
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			n.dense.Run(bg)
		}()
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		st.RunGC(bg, n.cfg.GCInterval)
	}()
	// The audit log lives in the store beside the tokens; the node owns it
	// as it owns its metrics, so escalations are logged where they happen.
	if n.audit, err = auth.OpenAudit(ctx, auth.StoreKV(st.AuthKV()), n.cfg.AuditMax, n.cfg.Now, n.log); err != nil {
		cancel()
		n.wg.Wait()
		_ = st.Close()
		return err
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		n.audit.Run(bg)
	}()
	if n.cfg.Remote != nil {
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			n.runCentralProbe(bg)
		}()
	}
	n.ready.Store(true)
	if err := n.startJobs(ctx, bg); err != nil {
		n.log.Warn("ingest jobs could not be recovered; async ingest is off", "err", err)
		n.jobs = nil
	}
	docs, chunks := n.counts()
	n.log.Info("node ready", "name", n.cfg.Name, "shards", len(n.shards), "documents", docs, "chunks", chunks,
		"terms", n.dict.Len(), "load_ms", time.Since(start).Milliseconds())
	return nil
}

// Close stops background work and closes the store.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		n.ready.Store(false)
		if n.cancel != nil {
			n.cancel()
		}
		n.wg.Wait()
		if n.store == nil {
			return
		}
		n.closeErr = n.store.Close()
		if n.closeErr == nil {
			n.saveIndexes()
		}
	})
	return n.closeErr
}

// Ready reports whether the node has loaded its index.
func (n *Node) Ready() bool { return n.ready.Load() }

// Name returns the node's name.
func (n *Node) Name() string { return n.cfg.Name }

func (n *Node) counts() (docs, chunks int) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	for _, s := range n.shards {
		s.mu.RLock()
		docs += s.ix.Docs()
		chunks += s.ix.Live()
		s.mu.RUnlock()
	}
	return docs, chunks
}

// Shards returns a summary of every shard, sorted by name.
func (n *Node) Shards() []shard.Info {
	n.mu.RLock()
	defer n.mu.RUnlock()
	out := make([]shard.Info, 0, len(n.shards))
	for name, s := range n.shards {
		s.mu.RLock()
		out = append(out, shard.Info{Name: name, Version: s.meta.Version, Documents: s.ix.Docs(), Chunks: s.ix.Live(), UpdatedAt: s.meta.UpdatedAt})
		s.mu.RUnlock()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Status implements api.Service.
func (n *Node) Status(ctx context.Context) (api.Status, error) {
	st := api.Status{
		Node: n.cfg.Name, Role: n.cfg.Role, Version: n.cfg.Version, Ready: n.Ready(), StartedAt: n.started,
		Shards: n.Shards(), Terms: n.dict.Len(), Retrieval: n.retrievalKind(""), Answerer: "extractive",
	}
	if n.dense != nil {
		p := n.dense.Progress()
		st.Embedding = &api.EmbeddingStatus{Model: p.Model, Dims: p.Dims, Embedded: p.Embedded, Pending: p.Pending, Error: p.Err}
		if p.Next != nil {
			st.Embedding.Next = p.Next.Model
			st.Embedding.NextPending = p.Next.Pending
		}
	}
	if g := n.generator(); g != nil {
		st.Answerer = g.Model()
		if n.genBreaker.State(n.cfg.Now()) == route.StateOpen {
			st.Answerer += " (down: answering extractively)"
		}
	}
	st.Central = n.centralState(n.cfg.Now())
	if r := n.recalibrationSnapshot(); r != nil {
		st.Recalibration = &api.Recalibration{Scale: r.Scale, Offset: r.Offset, Threshold: r.Threshold, Target: r.Target,
			Labels: r.Labels, Window: r.Window, Agreed: r.Agreed}
	}
	n.escMu.Lock()
	st.Escalations = maps.Clone(n.escalations)
	// Recent questions are the askers' own words: only an admin (or an
	// in-process caller) sees them.
	p, authed := auth.FromContext(ctx)
	for i, l := 0, len(n.recent); i < l && (!authed || p.Role >= auth.RoleAdmin); i++ {
		st.Recent = append(st.Recent, n.recent[((n.recentNext-1-i)%l+l)%l]) // newest first
	}
	n.escMu.Unlock()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	st.Memory = api.Memory{HeapBytes: ms.HeapAlloc, SysBytes: ms.Sys}
	if l := debug.SetMemoryLimit(-1); l < math.MaxInt64 {
		st.Memory.LimitBytes = l
	}
	for _, s := range st.Shards {
		st.Documents += s.Documents
		st.Chunks += s.Chunks
	}
	if n.store != nil {
		lsm, vlog := n.store.Size()
		st.StoreBytes = lsm + vlog
		st.Storage = n.Storage()
	}
	return st, nil
}

// liveChunks yields the findable chunks of one shard, or of all shards when
// name is "", as the dense manager numbers them.
// servingEmbedder picks the model searches start with: the configured one
// when its vectors are complete (or nothing better exists), else the most
// recently completed earlier model, so that changing the model never leaves
// the node without dense retrieval while it re-embeds.
func (n *Node) servingEmbedder(ctx context.Context, st *shardstore.Store) models.Embedder {
	want := n.cfg.Embedder
	if n.cfg.PreviousEmbedder == nil {
		return want
	}
	metas, err := st.EmbeddingModels(ctx)
	if err != nil {
		n.log.Warn("dense: cannot list stored vector sets; starting with the configured model", "err", err)
		return want
	}
	var prev *shardstore.EmbeddingMeta
	for i, m := range metas {
		switch {
		case m.Model == want.Model() && m.Complete:
			return want
		case m.Complete && (prev == nil || m.Completed.After(prev.Completed)):
			prev = &metas[i]
		}
	}
	if prev == nil {
		return want
	}
	emb, err := n.cfg.PreviousEmbedder(ctx, prev.Model)
	if err != nil {
		n.log.Warn("dense: the previous embedding model is not reachable; hybrid retrieval waits for the new model's vectors",
			"previous", prev.Model, "model", want.Model(), "err", err)
		return want
	}
	if emb.Model() != prev.Model {
		n.log.Warn("dense: the previous embedding model changed on the server; its vectors cannot be used",
			"stored", prev.Model, "server", emb.Model())
		return want
	}
	return emb
}

func (n *Node) liveChunks(name string) iter.Seq[dense.Chunk] {
	return func(yield func(dense.Chunk) bool) {
		n.mu.RLock()
		states := make(map[string]*shardState, len(n.shards))
		for sn, s := range n.shards {
			if name == "" || sn == name {
				states[sn] = s
			}
		}
		n.mu.RUnlock()
		for sn, s := range states {
			var out []dense.Chunk
			s.mu.RLock()
			s.ix.EachLive(func(slot uint32, sl lexical.Slot) bool {
				out = append(out, dense.Chunk{Shard: sn, Slot: slot, ID: sl.ID})
				return true
			})
			s.mu.RUnlock()
			for _, c := range out {
				if !yield(c) {
					return
				}
			}
		}
	}
}

// SetFleetStats gives the node the fleet's term statistics; nil removes them.
func (n *Node) SetFleetStats(s *lexical.FleetStats) { n.fleet.Store(s) }

// TermStats returns the term statistics of every shard this node holds, as
// central hands them to edges.
func (n *Node) TermStats() *lexical.FleetStats {
	n.mu.RLock()
	defer n.mu.RUnlock()
	fs := &lexical.FleetStats{DF: make(map[string]uint32)}
	for _, s := range n.shards {
		s.mu.RLock()
		fs.N += uint64(s.ix.Live())
		s.mu.RUnlock()
	}
	n.dict.Each(func(term string, id uint32) {
		var df uint32
		for _, s := range n.shards {
			s.mu.RLock()
			df += s.ix.DF(id)
			s.mu.RUnlock()
		}
		if df > 0 {
			fs.DF[term] = df
		}
	})
	return fs
}

// recentSize is how many queries the status page shows.
const recentSize = 50

// remember adds a query to the recent history.
func (n *Node) remember(q api.RecentQuery) {
	if len(q.Question) > 120 {
		q.Question = strings.ToValidUTF8(q.Question[:120], "") + "…"
	}
	n.escMu.Lock()
	defer n.escMu.Unlock()
	if len(n.recent) < recentSize {
		n.recent = append(n.recent, q)
		n.recentNext = len(n.recent) % recentSize
		return
	}
	n.recent[n.recentNext] = q
	n.recentNext = (n.recentNext + 1) % recentSize
}

// workers is how many goroutines analyse documents during ingest.
func workers() int { return max(1, runtime.GOMAXPROCS(0)) }
