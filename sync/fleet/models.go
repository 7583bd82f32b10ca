package fleet

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/edgerag/edgerag/node/shard"
	"github.com/edgerag/edgerag/sync/manifest"
	"github.com/edgerag/edgerag/sync/rollout"
	"github.com/edgerag/edgerag/sync/wire"
)

// The model manifest names the Ollama models every edge must hold
// (sync/modelship ships their blobs). Central numbers its versions here, one
// more each time the set of models (names or digests) changes, and keeps
// the signed manifest so a restart serves the same version; an edge applies
// only a version above the one it applied, which it keeps in its
// fleet-sync key space, where no shard data is written:
//
//	k/latest    central: signed model manifest published last
//	k/version   central: its version (decimal), for the poll
//	k/v/<ver>   central: every version published (history), signed
//	k/applied   edge: signed model manifest applied
//	k/previous  edge: the one applied before it, kept for rollback
//	k/highest   edge: highest version ever applied (decimal): a rollback
//	            is not undone by the next poll
//
// Model manifests roll out in stages as shard versions do (central.go):
// the rollout is kept under the reserved name ModelsRollout, which no
// shard can have, so edges' reports, promote and halt, and the status
// treat it as one more rollout.

const (
	modelsLatestKey   = "k/latest"
	modelsVersionKey  = "k/version"
	modelsAppliedKey  = "k/applied"
	modelsPreviousKey = "k/previous"
	modelsHighestKey  = "k/highest"
)

// ModelsRollout names the model manifest's staged rollout and edges'
// reports of it: not a valid shard name, so it never meets a shard's.
const ModelsRollout = "@models"

func modelsHistoryKey(v uint64) string { return fmt.Sprintf("k/v/%020d", v) }

// isModelsKey tells the model manifest's keys from the known edges' ("k/"
// and a node name, which has no '/'). A node named "latest" or "version"
// would still collide: the known edges deserve a prefix of their own.
func isModelsKey(k string) bool {
	n := strings.TrimPrefix(k, "k/")
	return strings.Contains(n, "/") || k == modelsLatestKey || k == modelsVersionKey ||
		k == modelsAppliedKey || k == modelsPreviousKey || k == modelsHighestKey
}

// PublishedModels describes a published model manifest.
type PublishedModels struct {
	Version   uint64   `json:"version"`
	Models    []string `json:"models"`
	Unchanged bool     `json:"unchanged"` // the same models as the latest: nothing published
	// Rollout is the staged rollout the version started, if any.
	Rollout *rollout.State `json:"rollout,omitempty"`
}

// PublishModels signs and stores a model manifest of models (sorted by
// name, as modelship.Central.Read returns them) under the next version,
// unless they are the models of the latest one. It returns the signed
// manifest to serve (the stored one when unchanged).
func (p *Publisher) PublishModels(ctx context.Context, models []manifest.Model) (PublishedModels, []byte, error) {
	if p.cfg.Key == nil {
		return PublishedModels{}, nil, ErrNoKey
	}
	p.pubMu.Lock()
	defer p.pubMu.Unlock()
	names := make([]string, len(models))
	for i, m := range models {
		names[i] = m.Name
	}
	prevEnv, prev, err := p.LatestModels()
	if err != nil {
		return PublishedModels{}, nil, err
	}
	if prevEnv != nil && slices.EqualFunc(prev.Models, models, sameModel) {
		return PublishedModels{Version: prev.Version, Models: names, Unchanged: true}, prevEnv, nil
	}
	ms := manifest.Models{Version: prev.Version + 1, Created: p.cfg.Now().UTC(), Models: models}
	signed, err := manifest.SignModels(p.cfg.Key, &ms)
	if err != nil {
		return PublishedModels{}, nil, fmt.Errorf("publish models: %w", err)
	}
	if len(signed) > wire.MaxManifest {
		return PublishedModels{}, nil, fmt.Errorf("publish models: signed manifest is %d bytes, over the wire limit of %d: publish fewer models", len(signed), wire.MaxManifest)
	}
	sets := []shard.KV{
		{Key: modelsLatestKey, Value: signed},
		{Key: modelsVersionKey, Value: []byte(strconv.FormatUint(ms.Version, 10))},
		{Key: modelsHistoryKey(ms.Version), Value: signed},
	}
	if prevEnv != nil {
		// Centrals from before the history kept only the latest.
		sets = append(sets, shard.KV{Key: modelsHistoryKey(prev.Version), Value: prevEnv})
	}
	out := PublishedModels{Version: ms.Version, Models: names}
	if p.cfg.CanaryShare > 0 && prevEnv != nil {
		st, err := p.startRollout(ctx, ModelsRollout, prev.Version, ms.Version)
		if err != nil {
			return PublishedModels{}, nil, fmt.Errorf("publish models: %w", err)
		}
		b, _ := json.Marshal(st)
		sets = append(sets, shard.KV{Key: rolloutKey(ModelsRollout), Value: b})
		out.Rollout = &st
	}
	if err := p.cfg.KV.Update(ctx, sets, nil); err != nil {
		return PublishedModels{}, nil, fmt.Errorf("publish models: %w", err)
	}
	p.log.Info("published model manifest", "version", ms.Version, "models", names)
	return out, signed, nil
}

// startRollout starts a staged rollout of version to: edges outside the
// canaries stay at from, or where a rollout still in progress started.
func (p *Publisher) startRollout(ctx context.Context, name string, from, to uint64) (rollout.State, error) {
	if prev, ok, err := p.rolloutState(name); err != nil {
		return rollout.State{}, err
	} else if ok && prev.Stage != rollout.StagePromoted {
		from = prev.From
	}
	edges, err := p.knownEdges(ctx)
	if err != nil {
		return rollout.State{}, err
	}
	return rollout.Start(name, from, to, edges, p.cfg.CanaryShare)
}

// modelsFor returns the model manifest version an edge may take: the
// latest, or what a staged rollout allows it.
func (p *Publisher) modelsFor(edge string) (uint64, error) {
	v, err := p.latestModels()
	if err != nil || v == 0 {
		return v, err
	}
	st, ok, err := p.rolloutState(ModelsRollout)
	if err != nil {
		return 0, err
	}
	if ok && st.To == v {
		return st.Allowed(edge), nil
	}
	return v, nil
}

// ModelsVersion is one published model manifest, for the history.
type ModelsVersion struct {
	Version uint64    `json:"version"`
	Created time.Time `json:"created"`
	Models  []string  `json:"models"` // name@digest
	Latest  bool      `json:"latest,omitempty"`
}

// ModelsHistory is central's model manifests, newest first, with the
// staged rollout of the latest.
type ModelsHistory struct {
	Versions []ModelsVersion `json:"versions"`
	Rollout  *rollout.State  `json:"rollout,omitempty"`
	// Edges are the edges' last reports of the model manifest.
	Edges []Ack `json:"edges,omitempty"`
}

// ModelsManifests returns every signed model manifest central keeps, by
// version: what central's model shipping serves an edge that asks for one.
func (p *Publisher) ModelsManifests(ctx context.Context) (map[uint64][]byte, error) {
	out := map[uint64][]byte{}
	err := p.cfg.KV.Scan(ctx, "k/v/", false, func(k string, v []byte) error {
		n, err := strconv.ParseUint(strings.TrimPrefix(k, "k/v/"), 10, 64)
		if err != nil {
			return fmt.Errorf("model manifest key %q: %w", k, err)
		}
		out[n] = v
		return nil
	})
	if err != nil {
		return nil, err
	}
	env, latest, err := p.LatestModels()
	if err == nil && env != nil {
		out[latest.Version] = env
	}
	return out, err
}

// History lists the model manifests central published.
func (p *Publisher) History(ctx context.Context) (ModelsHistory, error) {
	envs, err := p.ModelsManifests(ctx)
	if err != nil {
		return ModelsHistory{}, err
	}
	latest, err := p.latestModels()
	if err != nil {
		return ModelsHistory{}, err
	}
	var h ModelsHistory
	for v, env := range envs {
		e, err := manifest.UnmarshalEnvelope(env)
		if err != nil {
			return ModelsHistory{}, fmt.Errorf("model manifest %d: %w", v, err)
		}
		ms, err := manifest.UnmarshalModels(e.Body)
		if err != nil {
			return ModelsHistory{}, fmt.Errorf("model manifest %d: %w", v, err)
		}
		mv := ModelsVersion{Version: v, Created: ms.Created, Latest: v == latest}
		for _, m := range ms.Models {
			mv.Models = append(mv.Models, m.Name+"@"+m.Digest)
		}
		h.Versions = append(h.Versions, mv)
	}
	slices.SortFunc(h.Versions, func(a, b ModelsVersion) int { return cmp.Compare(b.Version, a.Version) })
	if st, ok, err := p.rolloutState(ModelsRollout); err != nil {
		return ModelsHistory{}, err
	} else if ok {
		h.Rollout = &st
	}
	err = p.cfg.KV.Scan(ctx, "a/"+ModelsRollout+"/", false, func(_ string, v []byte) error {
		var a Ack
		if err := json.Unmarshal(v, &a); err != nil {
			return err
		}
		h.Edges = append(h.Edges, a)
		return nil
	})
	return h, err
}

func sameModel(a, b manifest.Model) bool {
	return a.Name == b.Name && a.Digest == b.Digest && slices.Equal(a.Blobs, b.Blobs)
}

// LatestModels returns the model manifest published last, signed and
// decoded; a nil envelope when none was.
func (p *Publisher) LatestModels() ([]byte, manifest.Models, error) {
	b, err := p.cfg.KV.Get(modelsLatestKey)
	if errors.Is(err, shard.ErrNotFound) {
		return nil, manifest.Models{}, nil
	}
	if err != nil {
		return nil, manifest.Models{}, err
	}
	e, err := manifest.UnmarshalEnvelope(b)
	if err != nil {
		return nil, manifest.Models{}, fmt.Errorf("stored model manifest: %w", err)
	}
	ms, err := manifest.UnmarshalModels(e.Body)
	if err != nil {
		return nil, manifest.Models{}, fmt.Errorf("stored model manifest: %w", err)
	}
	return b, ms, nil
}

func (p *Publisher) latestModels() (uint64, error) {
	b, err := p.cfg.KV.Get(modelsVersionKey)
	if errors.Is(err, shard.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(string(b), 10, 64)
}

// Model roles an edge reports, from the capabilities its Ollama shows.
const (
	RoleGeneration = "generation" // writes the answers
	RoleEmbedding  = "embedding"  // embeds chunks and questions
	RoleHeld       = "held"       // held for later; the node uses another
)

// ModelInUse is one model of the applied manifest and what the node does
// with it.
type ModelInUse struct {
	Name string `json:"name"`
	Role string `json:"role"`
}

// ModelsStatus is an edge's state of the model manifest.
type ModelsStatus struct {
	Applied     uint64       `json:"applied"`            // version; 0: none
	Previous    uint64       `json:"previous,omitempty"` // kept for rollback
	AppliedAt   time.Time    `json:"applied_at,omitzero"`
	State       string       `json:"state"`            // idle, ensuring or error
	Target      uint64       `json:"target,omitempty"` // the version being ensured
	Models      []ModelInUse `json:"models,omitempty"`
	LastError   string       `json:"last_error,omitempty"`
	LastErrorAt time.Time    `json:"last_error_at,omitzero"`
}

// appliedModels returns the model manifest this edge applied, verified
// again; the zero Models when none was.
func (s *Syncer) appliedModels() (manifest.Models, error) {
	b, err := s.cfg.Target.KV().Get(modelsAppliedKey)
	if errors.Is(err, shard.ErrNotFound) {
		return manifest.Models{}, nil
	}
	if err != nil {
		return manifest.Models{}, err
	}
	return manifest.OpenModels(b, s.cfg.Trusted...)
}

func (s *Syncer) failModels(err error) error {
	s.mu.Lock()
	s.models.State, s.models.Target = "error", 0
	s.models.LastError, s.models.LastErrorAt = err.Error(), s.cfg.Now().UTC()
	s.mu.Unlock()
	s.log.Warn("fleet sync: model manifest refused or not applied", "err", err)
	return fmt.Errorf("sync models: %w", err)
}

// loadModels, at start, applies again the model manifest applied before
// the restart: the node starts with the models of its flags, and this
// switches it back to the ones central shipped (they are in Ollama
// already, so it is quick). When that fails (Ollama down), every poll
// tries again until it works or a newer manifest arrives.
func (s *Syncer) loadModels(ctx context.Context) {
	m, err := s.appliedModels()
	if err != nil {
		s.failModels(fmt.Errorf("model manifest applied before the restart is unreadable: %w", err))
		return
	}
	var previous uint64
	if b, err := s.cfg.Target.KV().Get(modelsPreviousKey); err == nil {
		if pm, err := manifest.OpenModels(b, s.cfg.Trusted...); err == nil {
			previous = pm.Version
		}
	}
	s.mu.Lock()
	s.models.State, s.models.Applied, s.models.Previous, s.modelsRetry = "idle", m.Version, previous, false
	s.mu.Unlock()
	if m.Version == 0 {
		return
	}
	inUse, err := s.cfg.ApplyModels(ctx, m)
	if err != nil {
		if ctx.Err() == nil {
			s.failModels(fmt.Errorf("model manifest version %d applied before the restart does not apply now: %w", m.Version, err))
			s.mu.Lock()
			s.modelsRetry = true
			s.mu.Unlock()
		}
		return
	}
	s.mu.Lock()
	s.models.State, s.models.Models = "idle", inUse // the last error stays: it says what happened
	s.mu.Unlock()
}

// syncModels fetches, verifies and applies the model manifest when central
// announces a version (want) above the one applied. Central serves only
// its latest manifest; one above want (published since the poll) is taken.
// If no newer one was applied and the applied one failed to apply at
// start, it tries that again.
func (s *Syncer) syncModels(ctx context.Context, want uint64) error {
	err := s.syncNewModels(ctx, want)
	s.mu.Lock()
	retry := s.modelsRetry
	s.mu.Unlock()
	if retry && ctx.Err() == nil {
		s.loadModels(ctx)
	}
	return err
}

func (s *Syncer) syncNewModels(ctx context.Context, want uint64) error {
	cur, err := s.appliedModels()
	if err != nil {
		return s.failModels(err)
	}
	highest, err := s.highestModels()
	if err != nil {
		return s.failModels(err)
	}
	highest = max(highest, cur.Version)
	if want <= highest {
		return nil
	}
	// Central keeps every version; a staged rollout may allow this edge
	// one below the latest. A central from before the history ignores
	// the request and sends its latest.
	req, _ := json.Marshal(modelsRequest{Version: want})
	env, err := s.cfg.Client.Call(ctx, s.cfg.Central, s.cfg.CentralName, wire.TypeModelManifest, req)
	if err != nil {
		return s.failModels(fmt.Errorf("fetch model manifest: %w", err))
	}
	m, err := manifest.OpenModels(env, s.cfg.Trusted...)
	switch {
	case err != nil:
		return s.failModels(fmt.Errorf("model manifest version %d refused: %w", want, err))
	case m.Version <= highest:
		return s.failModels(fmt.Errorf("model manifest refused: version %d is not newer than version %d already applied (replayed or stale manifest)", m.Version, highest))
	case m.Version < want:
		return s.failModels(fmt.Errorf("model manifest refused: central announced version %d but sent version %d", want, m.Version))
	}
	prevEnv, err := s.cfg.Target.KV().Get(modelsAppliedKey)
	if err != nil && !errors.Is(err, shard.ErrNotFound) {
		return s.failModels(err)
	}
	s.mu.Lock()
	s.models.State, s.models.Target = "ensuring", m.Version
	s.mu.Unlock()
	inUse, err := s.cfg.ApplyModels(ctx, m)
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		err = fmt.Errorf("model manifest version %d not applied: %w", m.Version, err)
		s.report(ctx, ModelsRollout, m.Version, err) // a staged rollout halts on it
		return s.failModels(err)
	}
	// Recorded after the node switched: a crash in between applies it
	// again at the next poll, which finds the models in Ollama.
	sets := []shard.KV{{Key: modelsAppliedKey, Value: env}, {Key: modelsHighestKey, Value: []byte(strconv.FormatUint(m.Version, 10))}}
	if prevEnv != nil {
		sets = append(sets, shard.KV{Key: modelsPreviousKey, Value: prevEnv})
	}
	if err := s.cfg.Target.KV().Update(ctx, sets, nil); err != nil {
		return s.failModels(fmt.Errorf("record model manifest version %d: %w", m.Version, err))
	}
	s.mu.Lock()
	s.models = ModelsStatus{Applied: m.Version, Previous: cur.Version, AppliedAt: s.cfg.Now().UTC(), State: "idle", Models: inUse}
	s.modelsRetry = false
	s.mu.Unlock()
	s.log.Info("fleet sync: model manifest applied", "version", m.Version, "previous", cur.Version, "models", len(m.Models))
	s.report(ctx, ModelsRollout, m.Version, nil)
	return nil
}

// modelsRequest is the payload of a TypeModelManifest request: the version
// wanted (0 or no payload: the latest).
type modelsRequest struct {
	Version uint64 `json:"version"`
}

func (s *Syncer) highestModels() (uint64, error) {
	b, err := s.cfg.Target.KV().Get(modelsHighestKey)
	if errors.Is(err, shard.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(string(b), 10, 64)
}

// Errors RollbackModels returns; test with errors.Is.
var (
	ErrNoModels        = errors.New("no model manifest applied")
	ErrNothingToRevert = errors.New("nothing to roll back to")
)

// RollbackModels returns the edge to the model manifest it applied before
// the current one, as 'edgerag shard rollback' does for a shard: it applies
// it again (the models are in the local Ollama still, unless removed, in
// which case they are fetched), and keeps the one left as the previous.
// Polls do not undo it: only a version above the highest ever applied is
// taken.
func (s *Syncer) RollbackModels(ctx context.Context) (from, to uint64, err error) {
	if s.cfg.ApplyModels == nil {
		return 0, 0, fmt.Errorf("%w: this edge does not follow central's models (start it with --sync-models)", ErrNoModels)
	}
	s.runMu.Lock() // not while a sync pass applies a manifest
	defer s.runMu.Unlock()
	kv := s.cfg.Target.KV()
	curEnv, err := kv.Get(modelsAppliedKey)
	if errors.Is(err, shard.ErrNotFound) {
		return 0, 0, fmt.Errorf("%w: central's models never reached this edge", ErrNoModels)
	}
	if err != nil {
		return 0, 0, err
	}
	cur, err := manifest.OpenModels(curEnv, s.cfg.Trusted...)
	if err != nil {
		return 0, 0, fmt.Errorf("applied model manifest: %w", err)
	}
	prevEnv, err := kv.Get(modelsPreviousKey)
	if errors.Is(err, shard.ErrNotFound) {
		return cur.Version, 0, fmt.Errorf("%w: only model manifest version %d was applied", ErrNothingToRevert, cur.Version)
	}
	if err != nil {
		return cur.Version, 0, err
	}
	prev, err := manifest.OpenModels(prevEnv, s.cfg.Trusted...)
	if err != nil {
		return cur.Version, 0, fmt.Errorf("previous model manifest: %w", err)
	}
	if prev.Version > cur.Version {
		return cur.Version, 0, fmt.Errorf("%w: the models are already rolled back to version %d (from %d), and no older version is kept", ErrNothingToRevert, cur.Version, prev.Version)
	}
	inUse, err := s.cfg.ApplyModels(ctx, prev)
	if err != nil {
		return cur.Version, prev.Version, fmt.Errorf("roll the models back to version %d: %w", prev.Version, err)
	}
	if err := kv.Update(ctx, []shard.KV{{Key: modelsAppliedKey, Value: prevEnv}, {Key: modelsPreviousKey, Value: curEnv}}, nil); err != nil {
		return cur.Version, prev.Version, fmt.Errorf("record the rollback to model manifest version %d: %w", prev.Version, err)
	}
	s.mu.Lock()
	s.models = ModelsStatus{Applied: prev.Version, Previous: cur.Version, AppliedAt: s.cfg.Now().UTC(), State: "idle", Models: inUse}
	s.modelsRetry = false
	s.mu.Unlock()
	s.log.Info("fleet sync: model manifest rolled back", "from", cur.Version, "to", prev.Version)
	return cur.Version, prev.Version, nil
}
