package fleet_test

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgerag/edgerag/node/agent"
	"github.com/edgerag/edgerag/node/nodetest"
	"github.com/edgerag/edgerag/sync/fleet"
	"github.com/edgerag/edgerag/sync/fleet/fleetnode"
	"github.com/edgerag/edgerag/sync/manifest"
	"github.com/edgerag/edgerag/sync/transport"
	"github.com/edgerag/edgerag/sync/wire"
)

// testModel is a model entry with well-formed digests derived from name.
func testModel(name string) manifest.Model {
	d := func(s string) string { return fmt.Sprintf("sha256:%x", sha256.Sum256([]byte(name+s))) }
	return manifest.Model{Name: name, Digest: d("manifest"), Blobs: []manifest.Blob{
		{Digest: d("weights"), Size: 1000, MediaType: "application/vnd.ollama.image.model"},
		{Digest: d("config"), Size: 100, MediaType: "application/vnd.docker.container.image.v1+json"},
	}}
}

// modelCentral serves central's publisher over real QUIC, and as model
// manifest whatever signed bytes the test sets: what central's model
// shipping would serve, or a replayed old manifest.
type modelCentral struct {
	*central
	addr string
	mu   sync.Mutex
	env  []byte
}

func startModelCentral(t *testing.T, p *nodetest.Fleet) *modelCentral {
	t.Helper()
	mc := &modelCentral{}
	// The model manifest is answered before central's own dispatcher, and
	// before the counting one of startCentral.
	mc.central = startCentralWith(t, p, func(cfg *agent.Config) {
		counting := cfg.Hooks.WrapDispatch
		cfg.Hooks.WrapDispatch = func(next transport.Handler) transport.Handler {
			next = counting(next)
			return func(ctx context.Context, peer transport.Peer, req wire.Frame) ([]byte, error) {
				if req.Type == wire.TypeModelManifest {
					mc.mu.Lock()
					defer mc.mu.Unlock()
					return mc.env, nil
				}
				return next(ctx, peer, req)
			}
		}
	})
	mc.addr = mc.central.addr
	return mc
}

func (mc *modelCentral) serve(env []byte) {
	mc.mu.Lock()
	mc.env = env
	mc.mu.Unlock()
}

// publish publishes models and serves the result, as main does.
func (mc *modelCentral) publish(t *testing.T, names ...string) (fleet.PublishedModels, []byte) {
	t.Helper()
	var ms []manifest.Model
	for _, n := range names {
		ms = append(ms, testModel(n))
	}
	res, env, err := mc.pub.PublishModels(context.Background(), ms)
	if err != nil {
		t.Fatal(err)
	}
	mc.serve(env)
	return res, env
}

// TestModelManifestVersionFloor: central numbers model manifests (a new
// version only when the models change); an edge applies each newer one
// once, and refuses a replayed older manifest, one signed with another
// key, and — after a restart — still refuses the replay, with the reason
// in its sync status and nothing applied.
func TestModelManifestVersionFloor(t *testing.T) {
	ctx := context.Background()
	p := nodetest.StartFleet(t)
	mc := startModelCentral(t, p)
	e := startEdge(t, p, mc.central, "edge-1")

	var mu sync.Mutex
	var applied []uint64
	failNext := false // the next ApplyModels fails, as with the local Ollama down
	newSyncer := func() *fleet.Syncer {
		s, err := fleet.NewSyncer(fleet.SyncerConfig{
			Client: e.client, Central: mc.addr, CentralName: "central", Trusted: []ed25519.PublicKey{mc.pubKey},
			Target: fleetnode.Target(e.n), StageDir: e.stageDir,
			ApplyModels: func(_ context.Context, m manifest.Models) ([]fleet.ModelInUse, error) {
				mu.Lock()
				applied = append(applied, m.Version)
				fail := failNext
				failNext = false
				mu.Unlock()
				if fail {
					return nil, errors.New("local Ollama down")
				}
				out := make([]fleet.ModelInUse, len(m.Models))
				for i, md := range m.Models {
					out[i] = fleet.ModelInUse{Name: md.Name, Role: fleet.RoleHeld}
				}
				return out, nil
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	appliedVersions := func() []uint64 {
		mu.Lock()
		defer mu.Unlock()
		return append([]uint64(nil), applied...)
	}

	res1, env1 := mc.publish(t, "embed-a:latest", "gen-a:latest")
	if res1.Version != 1 || res1.Unchanged {
		t.Fatalf("first publish: %+v, want version 1", res1)
	}
	if again, _ := mc.publish(t, "embed-a:latest", "gen-a:latest"); !again.Unchanged || again.Version != 1 {
		t.Fatalf("publishing the same models again: %+v, want unchanged version 1", again)
	}
	s := newSyncer()
	if err := s.SyncOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if st := s.Status().Models; st == nil || st.Applied != 1 || len(st.Models) != 2 || st.LastError != "" {
		t.Fatalf("after v1: models status %+v", st)
	}
	if err := s.SyncOnce(ctx); err != nil { // nothing new: ApplyModels not called again
		t.Fatal(err)
	}

	if res2, _ := mc.publish(t, "embed-a:latest", "gen-b:latest"); res2.Version != 2 {
		t.Fatalf("second publish: %+v, want version 2", res2)
	}
	if err := s.SyncOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if got := appliedVersions(); len(got) != 2 || got[1] != 2 {
		t.Fatalf("applied %v, want [1 2]", got)
	}

	// Central publishes v3, but what reaches the edge is v1's signed
	// manifest (a replay on the way, a stale mirror).
	mc.publish(t, "embed-b:latest", "gen-b:latest")
	mc.serve(env1)
	if err := s.SyncOnce(ctx); err == nil || !strings.Contains(err.Error(), "not newer") {
		t.Fatalf("replayed v1: err %v, want a refusal", err)
	}
	st := s.Status().Models
	if st.Applied != 2 || !strings.Contains(st.LastError, "version 1 is not newer than version 2") || st.State != "error" {
		t.Fatalf("after the replay: models status %+v", st)
	}
	if got := appliedVersions(); len(got) != 2 {
		t.Fatalf("the replay reached ApplyModels: applied %v", got)
	}

	// A manifest of a higher version signed with another key.
	_, otherKey, _ := manifest.GenerateKey(nil)
	forged, err := manifest.SignModels(otherKey, &manifest.Models{Version: 9, Created: time.Now(), Models: []manifest.Model{testModel("evil:latest")}})
	if err != nil {
		t.Fatal(err)
	}
	mc.serve(forged)
	if err := s.SyncOnce(ctx); err == nil || !strings.Contains(s.Status().Models.LastError, "unknown key") {
		t.Fatalf("forged manifest: err %v, status %+v", err, s.Status().Models)
	}

	// After a restart the floor still holds: the applied manifest is
	// applied again at start (retried at the next poll when that fails),
	// the replay is refused.
	mu.Lock()
	failNext = true
	mu.Unlock()
	// Central serves the replay before the syncer starts, so its first
	// poll cannot still see the forged manifest.
	mc.serve(env1)
	e.restart()
	s = newSyncer()
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); s.Run(runCtx) }()
	deadline := time.Now().Add(10 * time.Second)
	for (!strings.Contains(s.Status().Models.LastError, "not newer") || len(appliedVersions()) < 4) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
	st = s.Status().Models
	if st.Applied != 2 || !strings.Contains(st.LastError, "not newer") || st.State != "idle" || len(st.Models) != 2 {
		t.Fatalf("after a restart: models status %+v", st)
	}
	if got := appliedVersions(); len(got) < 4 || got[2] != 2 || got[3] != 2 {
		t.Fatalf("applied %v, want [1 2 2 2 ...] (v2 again at start, failing, then at the next poll)", got)
	}
}
