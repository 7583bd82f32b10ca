package fleet

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/edgerag/edgerag/node/shard"
	"github.com/edgerag/edgerag/sync/manifest"
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
//	k/applied   edge: signed model manifest applied

const (
	modelsLatestKey  = "k/latest"
	modelsVersionKey = "k/version"
	modelsAppliedKey = "k/applied"
)

// PublishedModels describes a published model manifest.
type PublishedModels struct {
	Version   uint64   `json:"version"`
	Models    []string `json:"models"`
	Unchanged bool     `json:"unchanged"` // the same models as the latest: nothing published
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
	err = p.cfg.KV.Update(ctx, []shard.KV{
		{Key: modelsLatestKey, Value: signed},
		{Key: modelsVersionKey, Value: []byte(strconv.FormatUint(ms.Version, 10))},
	}, nil)
	if err != nil {
		return PublishedModels{}, nil, fmt.Errorf("publish models: %w", err)
	}
	p.log.Info("published model manifest", "version", ms.Version, "models", names)
	return PublishedModels{Version: ms.Version, Models: names}, signed, nil
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
	Applied     uint64       `json:"applied"` // version; 0: none
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
	s.mu.Lock()
	s.models.State, s.models.Applied, s.modelsRetry = "idle", m.Version, false
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
	if want <= cur.Version {
		return nil
	}
	env, err := s.cfg.Client.Call(ctx, s.cfg.Central, s.cfg.CentralName, wire.TypeModelManifest, nil)
	if err != nil {
		return s.failModels(fmt.Errorf("fetch model manifest: %w", err))
	}
	m, err := manifest.OpenModels(env, s.cfg.Trusted...)
	switch {
	case err != nil:
		return s.failModels(fmt.Errorf("model manifest version %d refused: %w", want, err))
	case m.Version <= cur.Version:
		return s.failModels(fmt.Errorf("model manifest refused: version %d is not newer than version %d already applied (replayed or stale manifest)", m.Version, cur.Version))
	case m.Version < want:
		return s.failModels(fmt.Errorf("model manifest refused: central announced version %d but sent version %d", want, m.Version))
	}
	s.mu.Lock()
	s.models.State, s.models.Target = "ensuring", m.Version
	s.mu.Unlock()
	inUse, err := s.cfg.ApplyModels(ctx, m)
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		return s.failModels(fmt.Errorf("model manifest version %d not applied: %w", m.Version, err))
	}
	// Recorded after the node switched: a crash in between applies it
	// again at the next poll, which finds the models in Ollama.
	if err := s.cfg.Target.KV().Update(ctx, []shard.KV{{Key: modelsAppliedKey, Value: env}}, nil); err != nil {
		return s.failModels(fmt.Errorf("record model manifest version %d: %w", m.Version, err))
	}
	s.mu.Lock()
	s.models = ModelsStatus{Applied: m.Version, AppliedAt: s.cfg.Now().UTC(), State: "idle", Models: inUse}
	s.modelsRetry = false
	s.mu.Unlock()
	s.log.Info("fleet sync: model manifest applied", "version", m.Version, "previous", cur.Version, "models", len(m.Models))
	return nil
}
