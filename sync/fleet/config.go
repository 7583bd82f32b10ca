package fleet

import (
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
	"github.com/edgerag/edgerag/sync/wire"
)

// The fleet config manifest carries settings every edge shares (thresholds
// and timeouts; which ones is main's to say, through PublisherConfig's
// CheckConfig and SyncerConfig's ApplyConfig). Central signs each version;
// an edge applies only versions above the one it applied, which it keeps
// in its fleet-sync key space:
//
//	c/latest      central: latest config version (decimal)
//	c/v/<version> central: signed config manifest of every version
//	c/applied     edge: signed config manifest applied

const (
	configLatestKey  = "c/latest"
	configAppliedKey = "c/applied"
)

func configKey(v uint64) string { return fmt.Sprintf("c/v/%020d", v) }

// SettingStatus is one run-time setting in force on an edge and where its
// value came from: "fleet config vN", "flag" (a command-line flag, which
// the fleet config does not override) or "local" (the file, the
// environment or the default).
type SettingStatus struct {
	Name   string `json:"name"`
	Value  string `json:"value"`
	Source string `json:"source"`
}

// ConfigStatus is an edge's state of the fleet config manifest.
type ConfigStatus struct {
	Applied     uint64          `json:"applied"` // version; 0: none
	AppliedAt   time.Time       `json:"applied_at,omitzero"`
	LastError   string          `json:"last_error,omitempty"`
	LastErrorAt time.Time       `json:"last_error_at,omitzero"`
	Settings    []SettingStatus `json:"settings"`
}

// PublishedConfig describes a published config version.
type PublishedConfig struct {
	Version   uint64             `json:"version"`
	Settings  []manifest.Setting `json:"settings"`
	Unchanged bool               `json:"unchanged"` // same settings as the latest: nothing published
}

// PublishConfig signs and stores a new config manifest with settings
// (name → value). CheckConfig, when set, refuses what edges could not
// apply, so a bad value is caught on central rather than on every edge.
func (p *Publisher) PublishConfig(ctx context.Context, settings map[string]string) (PublishedConfig, error) {
	if p.cfg.Key == nil {
		return PublishedConfig{}, ErrNoKey
	}
	if err := p.mayPublish(); err != nil {
		return PublishedConfig{}, err
	}
	c := manifest.Config{Created: p.cfg.Now().UTC()}
	for name, v := range settings {
		c.Settings = append(c.Settings, manifest.Setting{Name: name, Value: v})
	}
	slices.SortFunc(c.Settings, func(a, b manifest.Setting) int { return strings.Compare(a.Name, b.Name) })
	if p.cfg.CheckConfig != nil {
		if err := p.cfg.CheckConfig(c.Settings); err != nil {
			return PublishedConfig{}, fmt.Errorf("publish config: %w", err)
		}
	}
	p.pubMu.Lock()
	defer p.pubMu.Unlock()
	latest, err := p.latestConfig()
	if err != nil {
		return PublishedConfig{}, err
	}
	if latest > 0 {
		prev, err := p.storedConfig(latest)
		if err != nil {
			return PublishedConfig{}, err
		}
		if slices.Equal(prev.Settings, c.Settings) {
			return PublishedConfig{Version: latest, Settings: prev.Settings, Unchanged: true}, nil
		}
	}
	c.Version = latest + 1
	signed, err := manifest.SignConfig(p.cfg.Key, &c)
	if err != nil {
		return PublishedConfig{}, fmt.Errorf("publish config: %w", err)
	}
	err = p.cfg.KV.Update(ctx, []shard.KV{
		{Key: configKey(c.Version), Value: signed},
		{Key: configLatestKey, Value: []byte(strconv.FormatUint(c.Version, 10))},
	}, nil)
	if err != nil {
		return PublishedConfig{}, fmt.Errorf("publish config: %w", err)
	}
	p.log.Info("published config version", "version", c.Version, "settings", len(c.Settings))
	return PublishedConfig{Version: c.Version, Settings: c.Settings}, nil
}

func (p *Publisher) latestConfig() (uint64, error) {
	b, err := p.cfg.KV.Get(configLatestKey)
	if errors.Is(err, shard.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(string(b), 10, 64)
}

func (p *Publisher) storedConfig(v uint64) (manifest.Config, error) {
	b, err := p.cfg.KV.Get(configKey(v))
	if err != nil {
		return manifest.Config{}, err
	}
	e, err := manifest.UnmarshalEnvelope(b)
	if err != nil {
		return manifest.Config{}, err
	}
	return manifest.UnmarshalConfig(e.Body)
}

// configManifest serves a signed config manifest (v 0: the latest).
func (p *Publisher) configManifest(v uint64) ([]byte, error) {
	if v == 0 {
		var err error
		if v, err = p.latestConfig(); err != nil {
			return nil, err
		}
	}
	b, err := p.cfg.KV.Get(configKey(v))
	if errors.Is(err, shard.ErrNotFound) || v == 0 {
		return nil, errNotFound("no version %d of the fleet config was published", v)
	}
	return b, err
}

// appliedConfig returns the config manifest this edge applied, verified
// again (the store is the node's, but a signature is cheap), and its
// envelope; the zero Config when none was.
func (s *Syncer) appliedConfig() (manifest.Config, error) {
	b, err := s.cfg.Target.KV().Get(configAppliedKey)
	if errors.Is(err, shard.ErrNotFound) {
		return manifest.Config{}, nil
	}
	if err != nil {
		return manifest.Config{}, err
	}
	return manifest.OpenConfig(b, s.cfg.Trusted...)
}

// loadConfig applies, at start, the config manifest applied before the
// restart, or none, so the status lists every setting and its source.
func (s *Syncer) loadConfig(ctx context.Context) {
	c, err := s.appliedConfig()
	if err != nil {
		s.failConfig(fmt.Errorf("config applied before the restart is unreadable: %w", err))
		c = manifest.Config{}
	}
	settings, err := s.cfg.ApplyConfig(ctx, c)
	if err != nil {
		s.failConfig(fmt.Errorf("config version %d no longer applies: %w", c.Version, err))
		if settings, err = s.cfg.ApplyConfig(ctx, manifest.Config{}); err != nil {
			return
		}
		c = manifest.Config{}
	}
	s.mu.Lock()
	s.config.Applied, s.config.Settings = c.Version, settings
	s.mu.Unlock()
}

func (s *Syncer) failConfig(err error) error {
	s.mu.Lock()
	s.config.LastError, s.config.LastErrorAt = err.Error(), s.cfg.Now().UTC()
	s.mu.Unlock()
	s.log.Warn("fleet sync: config refused or not applied", "err", err)
	return fmt.Errorf("sync config: %w", err)
}

// syncConfig fetches, verifies and applies config version want when it is
// above the one applied.
func (s *Syncer) syncConfig(ctx context.Context, want uint64) error {
	cur, err := s.appliedConfig()
	if err != nil {
		return s.failConfig(err)
	}
	if want <= cur.Version {
		return nil
	}
	req, _ := json.Marshal(manifestRequest{Kind: "config", Version: want})
	env, err := s.cfg.Client.Call(ctx, s.cfg.Central, s.cfg.CentralName, wire.TypeManifest, req)
	if err != nil {
		return s.failConfig(fmt.Errorf("fetch config manifest: %w", err))
	}
	c, err := manifest.OpenConfig(env, s.cfg.Trusted...)
	switch {
	case err != nil:
		return s.failConfig(fmt.Errorf("config version %d refused: %w", want, err))
	case c.Version <= cur.Version:
		return s.failConfig(fmt.Errorf("config refused: version %d is not newer than version %d already applied (replayed or stale manifest)", c.Version, cur.Version))
	case c.Version != want:
		return s.failConfig(fmt.Errorf("config refused: central announced version %d but sent version %d", want, c.Version))
	}
	settings, err := s.cfg.ApplyConfig(ctx, c)
	if err != nil {
		return s.failConfig(fmt.Errorf("config version %d not applied: %w", c.Version, err))
	}
	// Recorded after it took effect: a crash in between re-applies it at
	// the next poll, which changes nothing.
	if err := s.cfg.Target.KV().Update(ctx, []shard.KV{{Key: configAppliedKey, Value: env}}, nil); err != nil {
		return s.failConfig(fmt.Errorf("record config version %d: %w", c.Version, err))
	}
	s.mu.Lock()
	s.config = ConfigStatus{Applied: c.Version, AppliedAt: s.cfg.Now().UTC(), Settings: settings}
	s.mu.Unlock()
	s.log.Info("fleet sync: config applied", "version", c.Version, "previous", cur.Version, "settings", len(c.Settings))
	return nil
}
