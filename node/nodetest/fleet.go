package nodetest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/edgerag/edgerag/node/agent"
	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/sync/pki"
)

// Fleet is nodes of one fleet running in this process: each an agent.Agent
// with its own data directory and fleet certificate under Dir.
type Fleet struct {
	dir    string
	caDir  string
	tlsDir string
	agents []*agent.Agent
}

// NewFleet creates the fleet's CA under dir.
func NewFleet(dir string) (*Fleet, error) {
	f := &Fleet{dir: dir, caDir: filepath.Join(dir, "ca"), tlsDir: filepath.Join(dir, "tls")}
	if err := pki.InitCA(f.caDir, "test", time.Now()); err != nil {
		return nil, err
	}
	// Nodes find the CA beside their certificates, as 'cert issue' asks.
	ca, err := os.ReadFile(filepath.Join(f.caDir, pki.CACertFile))
	if err == nil {
		err = os.MkdirAll(f.tlsDir, 0o700)
	}
	if err == nil {
		err = os.WriteFile(filepath.Join(f.tlsDir, pki.CACertFile), ca, 0o644)
	}
	if err != nil {
		return nil, fmt.Errorf("fleet CA: %w", err)
	}
	return f, nil
}

// Config returns the config of a node named name with role (pki.RoleEdge
// or pki.RoleCentral), as 'edgerag cert issue' and the flags would make it:
// its certificate issued, a data directory of its own, no fsync, QUIC on a
// free loopback port and no HTTP API. Adjust it before Start: an edge
// escalates once Fleet.Central is set (see Edge).
func (f *Fleet) Config(name, role string) (agent.Config, error) {
	if err := pki.IssueCert(f.caDir, f.tlsDir, name, role, time.Hour); err != nil {
		return agent.Config{}, err
	}
	return agent.Config{
		Name: name, Role: role, Version: "test", DataDir: filepath.Join(f.dir, name), NoSync: true,
		Fleet: agent.FleetConfig{TLSDir: f.tlsDir, QUICAddr: "127.0.0.1:0"},
	}, nil
}

// Edge returns the config of an edge that escalates to central (a started
// agent), holding no QUIC listener of its own.
func (f *Fleet) Edge(name string, central *agent.Agent) (agent.Config, error) {
	cfg, err := f.Config(name, pki.RoleEdge)
	if err != nil {
		return cfg, err
	}
	if central.QUICAddr() == "" {
		return cfg, fmt.Errorf("central %q has no QUIC address", "central")
	}
	cfg.Fleet.QUICAddr = ""
	cfg.Fleet.Central = central.QUICAddr()
	return cfg, nil
}

// Start assembles and starts a node from cfg; Close stops it.
func (f *Fleet) Start(ctx context.Context, cfg agent.Config) (*agent.Agent, error) {
	a, err := agent.New(cfg)
	if err != nil {
		return nil, err
	}
	if err := a.Start(ctx); err != nil {
		return nil, err
	}
	f.agents = append(f.agents, a)
	return a, nil
}

// Identity loads the fleet certificate of a node Config issued, for a test
// that dials the fleet with a transport of its own.
func (f *Fleet) Identity(name string) (*pki.Identity, error) {
	return pki.LoadIdentity(filepath.Join(f.tlsDir, pki.CACertFile), filepath.Join(f.tlsDir, name+".crt"), filepath.Join(f.tlsDir, name+".key"))
}

// Close stops every node started, the last first.
func (f *Fleet) Close() {
	for i := len(f.agents) - 1; i >= 0; i-- {
		f.agents[i].Close()
	}
	f.agents = nil
}

// StartFleet is NewFleet for a test: the fleet lives in t's temporary
// directory and is closed at cleanup.
func StartFleet(t TB) *Fleet {
	t.Helper()
	f, err := NewFleet(t.TempDir())
	if err != nil {
		t.Fatalf("fleet CA: %v", err)
	}
	t.Cleanup(f.Close)
	return f
}

// StartCentral starts the fleet's central, named "central", on a free
// loopback QUIC port, holding docs; it stops with the fleet. Tests of the
// wire put a relay (sync/transport/relaytest) in front of its QUICAddr to
// inject loss and delay.
func (f *Fleet) StartCentral(t TB, docs []api.Document) *agent.Agent {
	t.Helper()
	cfg, err := f.Config("central", pki.RoleCentral)
	if err != nil {
		t.Fatalf("central's config: %v", err)
	}
	a, err := f.Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("start central: %v", err)
	}
	for i := 0; i < len(docs); i += 1000 {
		if _, err := a.Node().Ingest(context.Background(), docs[i:min(i+1000, len(docs))]); err != nil {
			t.Fatalf("ingest into central: %v", err)
		}
	}
	return a
}

// StartEdge starts an edge named name holding nothing, so that every
// question escalates, to central at addr: central's QUICAddr, or a relay in
// front of it. adjust, when not nil, changes the config first (a query
// deadline, a cooldown).
func (f *Fleet) StartEdge(t TB, name, addr string, adjust func(*agent.Config)) *agent.Agent {
	t.Helper()
	cfg, err := f.Config(name, pki.RoleEdge)
	if err != nil {
		t.Fatalf("%s's config: %v", name, err)
	}
	cfg.Fleet.QUICAddr, cfg.Fleet.Central = "", addr
	if adjust != nil {
		adjust(&cfg)
	}
	a, err := f.Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	return a
}
