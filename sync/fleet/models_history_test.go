package fleet_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/edgerag/edgerag/node/agent"
	"github.com/edgerag/edgerag/node/nodetest"
	"github.com/edgerag/edgerag/sync/fleet"
	"github.com/edgerag/edgerag/sync/fleet/fleetnode"
	"github.com/edgerag/edgerag/sync/manifest"
	"github.com/edgerag/edgerag/sync/modelship"
	"github.com/edgerag/edgerag/sync/transport"
	"github.com/edgerag/edgerag/sync/wire"
)

// modelEdge is an edge that follows central's model manifest; its models
// "apply" by being recorded.
type modelEdge struct {
	*edge
	mu      sync.Mutex
	applied []uint64
	fail    bool
	s       *fleet.Syncer
}

func (me *modelEdge) versions() []uint64 {
	me.mu.Lock()
	defer me.mu.Unlock()
	return slices.Clone(me.applied)
}

func startModelEdge(t *testing.T, p *nodetest.Fleet, c *central, name string) *modelEdge {
	me := &modelEdge{edge: startEdge(t, p, c, name)}
	var err error
	me.s, err = fleet.NewSyncer(fleet.SyncerConfig{
		Client: me.client, Central: c.addr, Trusted: []ed25519.PublicKey{c.pubKey},
		Target: fleetnode.Target(me.n), StageDir: me.stageDir,
		ApplyModels: func(_ context.Context, m manifest.Models) ([]fleet.ModelInUse, error) {
			me.mu.Lock()
			defer me.mu.Unlock()
			if me.fail {
				return nil, errors.New("the local Ollama refused the model")
			}
			me.applied = append(me.applied, m.Version)
			return nil, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return me
}

// TestModelManifestHistoryRolloutRollback: central keeps every model
// manifest version; a new one rolls out in stages (the canary first, the
// others once it reports healthy; a failing canary halts the next); an edge
// rolls back to the version it applied before, and polls do not undo that;
// central's model shipping serves each version by number.
func TestModelManifestHistoryRolloutRollback(t *testing.T) {
	ctx := context.Background()
	p := nodetest.StartFleet(t)
	ship := modelship.NewCentral(modelship.Source{Dir: t.TempDir()}, nil)
	c := startCentralWith(t, p, func(cfg *agent.Config) {
		cfg.Sync.Canary = 0.5
		counting := cfg.Hooks.WrapDispatch
		cfg.Hooks.WrapDispatch = func(next transport.Handler) transport.Handler {
			next = counting(next)
			return func(ctx context.Context, peer transport.Peer, req wire.Frame) ([]byte, error) {
				if req.Type == wire.TypeModelManifest {
					return ship.Handle(ctx, peer, req)
				}
				return next(ctx, peer, req)
			}
		}
	})
	publish := func(names ...string) fleet.PublishedModels {
		t.Helper()
		var ms []manifest.Model
		for _, n := range names {
			ms = append(ms, testModel(n))
		}
		res, env, err := c.pub.PublishModels(ctx, ms)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ship.Serve(env); err != nil {
			t.Fatal(err)
		}
		return res
	}
	v1 := publish("embed-a:latest", "gen-a:latest")
	a, b := startModelEdge(t, p, c, "edge-a"), startModelEdge(t, p, c, "edge-b")
	for _, e := range []*modelEdge{a, b} {
		if err := e.s.SyncOnce(ctx); err != nil {
			t.Fatal(err)
		}
	}
	v2 := publish("embed-a:latest", "gen-b:latest")
	if v2.Rollout == nil || len(v2.Rollout.Canaries) != 1 || v2.Rollout.From != v1.Version {
		t.Fatalf("v2 started no staged rollout from v1: %+v", v2)
	}
	canary, other := a, b
	if v2.Rollout.Canaries[0] == "edge-b" {
		canary, other = b, a
	}
	// The other edge is held at v1 until the canary reports.
	if err := other.s.SyncOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if got := other.versions(); !slices.Equal(got, []uint64{v1.Version}) {
		t.Fatalf("the edge outside the canaries applied %v before the canary reported", got)
	}
	if err := canary.s.SyncOnce(ctx); err != nil {
		t.Fatal(err)
	}
	h, err := c.pub.History(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if h.Rollout == nil || h.Rollout.Stage != "promoted" || len(h.Versions) != 2 || !h.Versions[0].Latest || h.Versions[1].Version != v1.Version {
		t.Fatalf("history after a healthy canary: %+v", h)
	}
	if err := other.s.SyncOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if got := other.versions(); !slices.Equal(got, []uint64{v1.Version, v2.Version}) {
		t.Fatalf("after promotion the other edge applied %v", got)
	}

	// Rollback on an edge: v1 again, kept through polls.
	from, to, err := other.s.RollbackModels(ctx)
	if err != nil || from != v2.Version || to != v1.Version {
		t.Fatalf("rollback: %d → %d, %v", from, to, err)
	}
	if _, _, err := other.s.RollbackModels(ctx); !errors.Is(err, fleet.ErrNothingToRevert) {
		t.Fatalf("a second rollback: %v, want nothing to roll back to", err)
	}
	if err := other.s.SyncOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if st := other.s.Status().Models; st.Applied != v1.Version || st.Previous != v2.Version {
		t.Fatalf("after rollback and a poll: %+v", st)
	}
	if got := other.versions(); !slices.Equal(got, []uint64{v1.Version, v2.Version, v1.Version}) {
		t.Fatalf("applied %v; want v1, v2, then v1 again (and no v2 from the poll)", got)
	}

	// v3 fails on its canary: the rollout halts, the other edge stays.
	canary.mu.Lock()
	canary.fail = true
	canary.mu.Unlock()
	v3 := publish("embed-b:latest", "gen-b:latest")
	if len(v3.Rollout.Canaries) != 1 {
		t.Fatalf("v3: %+v", v3)
	}
	canary, other = a, b
	if v3.Rollout.Canaries[0] == "edge-b" {
		canary, other = b, a
	}
	canary.mu.Lock()
	canary.fail = true
	canary.mu.Unlock()
	other.mu.Lock()
	other.fail = false
	other.mu.Unlock()
	if err := canary.s.SyncOnce(ctx); err == nil {
		t.Fatal("the canary applied a manifest its Ollama refused")
	}
	if h, _ := c.pub.History(ctx); h.Rollout == nil || h.Rollout.Stage != "halted" || len(h.Versions) != 3 {
		t.Fatalf("after a failing canary: %+v", h)
	}
	before := other.versions()
	if err := other.s.SyncOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if got := other.versions(); slices.Contains(got, v3.Version) || len(got) != len(before) {
		t.Fatalf("a halted rollout reached the other edge: %v", got)
	}
	// Central's model shipping still serves v1 by number.
	env, err := ship.Handle(ctx, transport.Peer{Name: "edge-a"}, wire.Frame{Type: wire.TypeModelManifest, Payload: []byte(`{"version":1}`)})
	if err != nil {
		t.Fatal(err)
	}
	if m, err := manifest.OpenModels(env, c.pubKey); err != nil || m.Version != v1.Version {
		t.Fatalf("version 1 by number: %+v %v", m, err)
	}
}
