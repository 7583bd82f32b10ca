package agent

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/edgerag/edgerag/node"
	"github.com/edgerag/edgerag/node/membership"
	"github.com/edgerag/edgerag/sync/fleet"
	"github.com/edgerag/edgerag/sync/manifest"
)

// A fleet config manifest carries the settings a node can change while it
// runs (node.TunableNames: escalate-below, min-confidence, query-timeout,
// central-cooldown). On an edge it overrides the configuration file, the
// environment and the defaults, but not a flag given on the command line:
// whoever started a node by hand with a flag meant that node to differ.
// A setting the manifest stops carrying returns to the node's own value.

// CheckFleetConfig refuses settings no edge could apply; central runs it
// before signing.
func CheckFleetConfig(settings []manifest.Setting) error {
	var errs []error
	for _, s := range settings {
		if err := CheckSetting(s.Name, s.Value); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// CheckSetting reports whether an edge could apply one fleet config
// setting, whatever its other settings are.
func CheckSetting(name, value string) error {
	t := validTunables()
	return t.Set(name, value)
}

// validTunables are settings in range, to check one setting's value
// against: each is checked on its own, as an edge's other values are its
// own.
func validTunables() node.Tunables {
	return node.Tunables{EscalateBelow: 0.5, MinConfidence: node.DefaultMinConfidence, QueryTimeout: 5 * time.Second, CentralCooldown: 30 * time.Second}
}

// fleetConfigApplier returns the function fleet sync applies config
// manifests with: the node's own settings, overridden by the manifest's
// except where a command-line flag set them, applied in one step.
func fleetConfigApplier(n *node.Node, given map[string]bool) func(context.Context, manifest.Config) ([]fleet.SettingStatus, error) {
	base := n.Tunables() // the node's own: flags, environment, file, defaults
	return func(_ context.Context, c manifest.Config) ([]fleet.SettingStatus, error) {
		t := base
		source := map[string]string{}
		for _, name := range node.TunableNames() {
			source[name] = "local"
			if given[name] {
				source[name] = "flag"
			}
		}
		by := fmt.Sprintf("fleet config v%d", c.Version)
		for _, s := range c.Settings {
			probe := t
			if err := probe.Set(s.Name, s.Value); err != nil {
				return nil, err // the whole manifest, or nothing
			}
			if given[s.Name] {
				source[s.Name] = "flag (over " + by + ")"
				continue
			}
			t, source[s.Name] = probe, by
		}
		if c.Version == 0 {
			by = "local settings"
		}
		if err := n.SetTunables(t, by); err != nil {
			return nil, err
		}
		var out []fleet.SettingStatus
		for _, name := range node.TunableNames() {
			v, _ := t.Get(name)
			out = append(out, fleet.SettingStatus{Name: name, Value: v, Source: source[name]})
		}
		return out, nil
	}
}

// syncState is a node's fleet-sync state as membership announces it.
func syncState(s *fleet.Syncer) func() membership.SyncState {
	return func() membership.SyncState {
		st := s.Status()
		var out membership.SyncState
		for _, sh := range st.Shards {
			out.Shards = append(out.Shards, membership.SyncShard{Name: sh.Shard, Applied: sh.Applied, Healthy: sh.State != "error", Error: clip(sh.LastError, 200)})
		}
		if st.Config != nil {
			out.Config, out.ConfigError = st.Config.Applied, clip(st.Config.LastError, 200)
		}
		return out
	}
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xc0 == 0x80 { // not in the middle of a UTF-8 sequence
		n--
	}
	return s[:n]
}
