package fleet_test

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgerag/edgerag/node/nodetest"
	"github.com/edgerag/edgerag/node/shard"
	"github.com/edgerag/edgerag/sync/fleet"
	"github.com/edgerag/edgerag/sync/fleet/fleetnode"
	"github.com/edgerag/edgerag/sync/manifest"
	"github.com/edgerag/edgerag/sync/wire"
)

// configSyncer gives an edge a syncer that follows the fleet config,
// applying it to the node's run-time settings as main does (without the
// command-line precedence, which cmd tests cover).
func (e *edge) configSyncer(t *testing.T) *fleet.Syncer {
	t.Helper()
	base := e.n.Tunables()
	n := e.n
	s, err := fleet.NewSyncer(fleet.SyncerConfig{
		Client: e.client, Central: e.c.addr, CentralName: "central", Trusted: []ed25519.PublicKey{e.trusted},
		Target: fleetnode.Target(n), StageDir: e.stageDir, BatchBytes: e.batch,
		ApplyConfig: func(_ context.Context, c manifest.Config) ([]fleet.SettingStatus, error) {
			tun := base
			for _, s := range c.Settings {
				if err := tun.Set(s.Name, s.Value); err != nil {
					return nil, err
				}
			}
			if err := n.SetTunables(tun, "test"); err != nil {
				return nil, err
			}
			v, _ := tun.Get("escalate-below")
			return []fleet.SettingStatus{{Name: "escalate-below", Value: v, Source: "test"}}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// signConfig stores settings as config manifest version, signed with
// central's key, as a central that checks nothing before signing would
// publish them: central's publisher refuses settings no edge could apply,
// and these tests need an edge to meet them.
func (c *central) signConfig(t *testing.T, version uint64, settings map[string]string) {
	t.Helper()
	m := manifest.Config{Version: version, Created: time.Now().UTC()}
	for name, v := range settings {
		m.Settings = append(m.Settings, manifest.Setting{Name: name, Value: v})
	}
	slices.SortFunc(m.Settings, func(a, b manifest.Setting) int { return strings.Compare(a.Name, b.Name) })
	signed, err := manifest.SignConfig(c.key, &m)
	if err != nil {
		t.Fatal(err)
	}
	err = c.n.SyncKV().Update(context.Background(), []shard.KV{
		{Key: fmt.Sprintf("c/v/%020d", version), Value: signed},
		{Key: "c/latest", Value: []byte(strconv.FormatUint(version, 10))},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
}

// TestConfigManifest publishes fleet configs on central and has an edge
// follow them over real QUIC: a config applies at run time and survives a
// restart; one the edge cannot apply, one with a bad signature and a
// replayed older one are refused with the settings left as they were.
func TestConfigManifest(t *testing.T) {
	ctx := context.Background()
	p := nodetest.StartFleet(t)
	c := startCentral(t, p)
	e := startEdge(t, p, c, "edge-cfg")
	s := e.configSyncer(t)
	escalate := func() float64 { return e.n.Tunables().EscalateBelow }
	before := escalate()

	publish := func(settings map[string]string) fleet.PublishedConfig {
		t.Helper()
		res, err := c.pub.PublishConfig(ctx, settings)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	v1 := publish(map[string]string{"escalate-below": "0.9", "query-timeout": "3s"})
	if v1.Version != 1 {
		t.Fatalf("first config published as version %d", v1.Version)
	}
	if again := publish(map[string]string{"query-timeout": "3s", "escalate-below": "0.9"}); !again.Unchanged || again.Version != 1 {
		t.Fatalf("the same settings again: %+v, want unchanged version 1", again)
	}
	if err := s.SyncOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if got := e.n.Tunables(); got.EscalateBelow != 0.9 || got.QueryTimeout != 3*time.Second {
		t.Fatalf("after config v1: %+v", got)
	}
	if st := s.Status().Config; st == nil || st.Applied != 1 || st.LastError != "" {
		t.Fatalf("config status after v1: %+v", st)
	}

	refused := func(t *testing.T, reason string) {
		t.Helper()
		if err := s.SyncOnce(ctx); err == nil || !strings.Contains(err.Error(), reason) {
			t.Fatalf("sync: %v, want a refusal for %q", err, reason)
		}
		st := s.Status().Config
		if st.Applied != 1 || !strings.Contains(st.LastError, reason) {
			t.Fatalf("config status: applied %d (want 1), last error %q (want %q)", st.Applied, st.LastError, reason)
		}
		if escalate() != 0.9 {
			t.Fatalf("escalate-below is %v after a refused config, want 0.9 still", escalate())
		}
	}
	t.Run("setting the edge cannot apply", func(t *testing.T) {
		c.signConfig(t, 2, map[string]string{"escalate-below": "0.2", "gen-model": "qwen3"})
		refused(t, "cannot change at run time")
	})
	v1env, err := c.n.SyncKV().Get("c/v/00000000000000000001")
	if err != nil {
		t.Fatal(err)
	}
	publish(map[string]string{"escalate-below": "0.5"})
	tamper := func(f func(resp []byte) []byte) {
		c.mu.Lock()
		c.tamper = func(req wire.Frame, resp []byte) []byte {
			if req.Type == wire.TypeManifest && strings.Contains(string(req.Payload), `"config"`) {
				return f(resp)
			}
			return resp
		}
		c.mu.Unlock()
	}
	t.Run("bad signature", func(t *testing.T) {
		tamper(func(resp []byte) []byte {
			b := append([]byte(nil), resp...)
			b[len(b)-65] ^= 0x01 // the body's last byte: "0.5" becomes "0.4"
			return b
		})
		defer tamper(func(b []byte) []byte { return b })
		refused(t, "bad signature")
	})
	t.Run("replayed older version", func(t *testing.T) {
		tamper(func([]byte) []byte { return v1env })
		defer tamper(func(b []byte) []byte { return b })
		refused(t, "not newer")
	})
	if err := s.SyncOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if escalate() != 0.5 || s.Status().Config.Applied != 3 {
		t.Fatalf("after config v3: escalate-below %v, status %+v", escalate(), s.Status().Config)
	}

	// A restart starts from the node's own settings; the syncer applies
	// the recorded config before it even reaches central.
	e.restart()
	if escalate() != before {
		t.Fatalf("a reopened node starts with escalate-below %v, want its own %v", escalate(), before)
	}
	if err := c.a.CloseQUIC(); err != nil { // central is down
		t.Fatal(err)
	}
	s = e.configSyncer(t)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); s.Run(rctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for escalate() != 0.5 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	if escalate() != 0.5 {
		t.Fatalf("after a restart with central down: escalate-below %v, want 0.5 from the recorded config v3", escalate())
	}
}

// TestProgressOnCentral checks that central sees a transfer under way: an
// edge reports its progress during the transfer, and the report is gone
// once it applied the version.
func TestProgressOnCentral(t *testing.T) {
	ctx := context.Background()
	p := nodetest.StartFleet(t)
	c := startCentral(t, p)
	c.ingest(t, rangeInts(0, 120), "blue")
	c.publish(t)
	e := startEdge(t, p, c, "edge-prog")
	var during []fleet.Transfer
	e.hook = func(point string) error {
		if point == "staged" {
			during = c.pubStatus(t).Transfers
		}
		return nil
	}
	if err := e.s.SyncOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if len(during) != 1 || during[0].Node != "edge-prog" || during[0].State != "fetching" || during[0].ChunksDone == 0 ||
		during[0].ChunksTotal != 120 || during[0].BytesTotal == 0 {
		t.Fatalf("central's transfers during the sync: %+v", during)
	}
	st := c.pubStatus(t)
	if len(st.Transfers) != 0 || len(st.Edges) != 1 || !st.Edges[0].Healthy {
		t.Fatalf("central's status after the sync: transfers %+v, edges %+v", st.Transfers, st.Edges)
	}
}
