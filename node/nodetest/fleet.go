package nodetest

import (
	"context"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/edgerag/edgerag/node/agent"
	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/sync/pki"
	"github.com/edgerag/edgerag/sync/synckey"
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
	if err := f.issue(name, role); err != nil {
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

// issue issues name's certificate with role, once: a node started again
// (a restart, each run of a benchmark) keeps the one it was first given.
func (f *Fleet) issue(name, role string) error {
	if _, err := os.Stat(filepath.Join(f.tlsDir, name+".crt")); err == nil {
		return nil
	}
	return pki.IssueCert(f.caDir, f.tlsDir, name, role, time.Hour)
}

// IssueBound issues name's certificate with role and a bound on the groups
// it may assert for its askers (what 'cert enroll-token --groups' gives an
// enrolled device), before the node is configured: Config then keeps it.
func (f *Fleet) IssueBound(t TB, name, role string, groups pki.Groups) {
	t.Helper()
	ca, err := pki.LoadCA(f.caDir)
	if err != nil {
		t.Fatalf("load the fleet CA: %v", err)
	}
	key, err := pki.NewKey()
	var der []byte
	if err == nil {
		der, err = pki.CreateCSR(key, name)
	}
	var cert, keyPEM []byte
	if err == nil {
		var csr *x509.CertificateRequest
		if csr, err = pki.ParseCSR(der); err == nil {
			cert, err = ca.SignCSR(csr, name, role, time.Now(), time.Hour, groups)
		}
	}
	if err == nil {
		keyPEM, err = pki.EncodeKey(key)
	}
	if err == nil {
		err = os.WriteFile(filepath.Join(f.tlsDir, name+".key"), keyPEM, 0o600)
	}
	if err == nil {
		err = os.WriteFile(filepath.Join(f.tlsDir, name+".crt"), pki.EncodeCert(cert), 0o644)
	}
	if err != nil {
		t.Fatalf("issue %s's bounded certificate: %v", name, err)
	}
}

// Identity loads the fleet certificate of a node Config issued, for a test
// that dials the fleet with a transport of its own.
func (f *Fleet) Identity(name string) (*pki.Identity, error) {
	return pki.LoadIdentity(filepath.Join(f.tlsDir, pki.CACertFile), filepath.Join(f.tlsDir, name+".crt"), filepath.Join(f.tlsDir, name+".key"))
}

// NewIdentity issues a fleet certificate for name with role and loads it,
// for a test that dials the fleet with a transport client of its own (a
// client misbehaving on purpose, or many of them).
func (f *Fleet) NewIdentity(t TB, name, role string) *pki.Identity {
	t.Helper()
	if err := f.issue(name, role); err != nil {
		t.Fatalf("issue %s's certificate: %v", name, err)
	}
	id, err := f.Identity(name)
	if err != nil {
		t.Fatalf("load %s's identity: %v", name, err)
	}
	return id
}

// Outsider returns the identity of an edge whose certificate comes from
// another CA but that trusts this fleet's CA too, so that it is the
// fleet's node, not the outsider, that has to refuse the connection.
func (f *Fleet) Outsider(t TB, name string) *pki.Identity {
	t.Helper()
	other, out := filepath.Join(f.dir, "outsider-ca"), filepath.Join(f.dir, "outsider")
	both := filepath.Join(out, "both.crt")
	err := pki.InitCA(other, "evil", time.Now())
	if err == nil {
		err = pki.IssueCert(other, out, name, pki.RoleEdge, time.Hour)
	}
	var ours, theirs []byte
	if err == nil {
		ours, err = os.ReadFile(filepath.Join(f.tlsDir, pki.CACertFile))
	}
	if err == nil {
		theirs, err = os.ReadFile(filepath.Join(other, pki.CACertFile))
	}
	if err == nil {
		err = os.WriteFile(both, append(ours, theirs...), 0o644)
	}
	var id *pki.Identity
	if err == nil {
		id, err = pki.LoadIdentity(both, filepath.Join(out, name+".crt"), filepath.Join(out, name+".key"))
	}
	if err != nil {
		t.Fatalf("outsider %s: %v", name, err)
	}
	return id
}

// SyncKey writes the fleet's sync key pair ('edgerag sync keygen') once and
// returns its files: key for central's Sync.Key, pub for an edge's
// Sync.Pub.
func (f *Fleet) SyncKey(t TB) (key, pub string) {
	t.Helper()
	dir := filepath.Join(f.dir, "sync-key")
	key, pub = filepath.Join(dir, "sync.key"), filepath.Join(dir, "sync.pub")
	if _, err := os.Stat(key); err == nil {
		return key, pub
	}
	if _, err := synckey.Generate(dir, nil); err != nil {
		t.Fatalf("sync key: %v", err)
	}
	return key, pub
}

// Restart closes a and starts it again, from its config and its data
// directory, on the same QUIC address: a node that crashed and came back
// where the others know it.
func (f *Fleet) Restart(t TB, a *agent.Agent) *agent.Agent {
	t.Helper()
	cfg, addr := a.Config(), a.QUICAddr()
	a.Close()
	if addr != "" {
		cfg.Fleet.QUICAddr = addr
	}
	b, err := f.Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("restart %s: %v", cfg.Name, err)
	}
	return b
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
// loopback QUIC port, holding docs; it stops with the fleet. adjust, when
// not nil, changes the config first: a sync key (SyncKey) to publish, a
// dispatcher hook (agent.Hooks) to hold, rewrite or count requests. Tests
// of the wire put a relay (sync/transport/relaytest) in front of its
// QUICAddr to inject loss and delay.
func (f *Fleet) StartCentral(t TB, docs []api.Document, adjust func(*agent.Config)) *agent.Agent {
	t.Helper()
	cfg, err := f.Config("central", pki.RoleCentral)
	if err != nil {
		t.Fatalf("central's config: %v", err)
	}
	if adjust != nil {
		adjust(&cfg)
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
