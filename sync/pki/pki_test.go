package pki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestValidName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"edge-1", true},
		{"a", true},
		{"0pi", true},
		{strings.Repeat("a", 63), true},
		{"", false},
		{strings.Repeat("a", 64), false},
		{"-edge", false},
		{"Edge", false},
		{"edge_1", false},
		{"edge.local", false},
		{"édge", false},
	}
	for _, tc := range tests {
		err := ValidName(tc.name)
		if (err == nil) != tc.ok {
			t.Errorf("ValidName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrBadName) {
			t.Errorf("ValidName(%q) error does not wrap ErrBadName", tc.name)
		}
	}
}

// fleet is a CA directory plus helpers to make node identities under it.
type fleet struct {
	t   *testing.T
	dir string
}

func newFleet(t *testing.T, name string) *fleet {
	t.Helper()
	dir := t.TempDir()
	// Made a day ago, so that it can sign certificates that have expired.
	if err := InitCA(dir, name, time.Now().Add(-24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	return &fleet{t: t, dir: dir}
}

// identity issues a certificate valid from issuedAt for validFor and loads
// it as if the clock read issuedAt.
func (f *fleet) identity(node, role string, issuedAt time.Time, validFor time.Duration) *Identity {
	f.t.Helper()
	out := f.t.TempDir()
	if err := issueCert(f.dir, out, node, role, validFor, issuedAt); err != nil {
		f.t.Fatal(err)
	}
	id, err := loadIdentity(filepath.Join(f.dir, CACertFile), filepath.Join(out, node+".crt"), filepath.Join(out, node+".key"), issuedAt)
	if err != nil {
		f.t.Fatal(err)
	}
	return id
}

func TestInitCA(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ca")
	if err := InitCA(dir, "acme", time.Now()); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, CAKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("ca.key mode %v, want 0600", st.Mode().Perm())
	}
	cert, _, err := loadCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !cert.IsCA || !cert.MaxPathLenZero || cert.Subject.Organization[0] != "acme" {
		t.Errorf("bad CA certificate: %+v", cert.Subject)
	}
	err = InitCA(dir, "acme", time.Now())
	if err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("second InitCA: got %v, want a refusal to overwrite", err)
	}
	if err := InitCA(t.TempDir(), "Bad Name", time.Now()); !errors.Is(err, ErrBadName) {
		t.Fatalf("bad fleet name: got %v", err)
	}
}

func TestIssueCert(t *testing.T) {
	f := newFleet(t, "acme")
	out := t.TempDir()
	if err := IssueCert(f.dir, out, "edge-7", RoleEdge, 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(out, "edge-7.key"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, mode %v", err, st.Mode().Perm())
	}
	id, err := LoadIdentity(filepath.Join(f.dir, CACertFile), filepath.Join(out, "edge-7.crt"), filepath.Join(out, "edge-7.key"))
	if err != nil {
		t.Fatal(err)
	}
	leaf := id.Leaf()
	if id.Name() != "edge-7" || id.Role() != RoleEdge || leaf.Subject.CommonName != "edge-7" || len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != "edge-7" {
		t.Errorf("identity %s/%s, CN %q, SANs %q", id.Name(), id.Role(), leaf.Subject.CommonName, leaf.DNSNames)
	}
	if got := id.NotAfter().Sub(time.Now()); got < 23*time.Hour || got > 25*time.Hour {
		t.Errorf("certificate valid for %v more, want about 24h", got)
	}
	if id.DeriveSecret("a") == id.DeriveSecret("b") || id.DeriveSecret("a") != id.DeriveSecret("a") {
		t.Error("DeriveSecret is not a deterministic function of the label")
	}

	tests := []struct {
		name, node, role string
		validFor         time.Duration
		want             string
	}{
		{"exists", "edge-7", RoleEdge, time.Hour, "already exists"},
		{"bad name", "Edge_7", RoleEdge, time.Hour, "bad node name"},
		{"bad role", "edge-8", "admin", time.Hour, "bad role"},
		{"no validity", "edge-9", RoleEdge, 0, "must be positive"},
		{"outlives CA", "edge-10", RoleEdge, 20 * 365 * 24 * time.Hour, "CA expires"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := IssueCert(f.dir, out, tc.node, tc.role, tc.validFor)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
	if err := IssueCert(t.TempDir(), out, "edge-11", RoleEdge, time.Hour); err == nil || !strings.Contains(err.Error(), "InitCA") {
		t.Fatalf("missing CA: got %v", err)
	}
}

func TestLoadIdentityRejects(t *testing.T) {
	f, other := newFleet(t, "acme"), newFleet(t, "evil")
	out := t.TempDir()
	if err := IssueCert(other.dir, out, "edge-1", RoleEdge, time.Hour); err != nil {
		t.Fatal(err)
	}
	_, err := LoadIdentity(filepath.Join(f.dir, CACertFile), filepath.Join(out, "edge-1.crt"), filepath.Join(out, "edge-1.key"))
	if err == nil || !strings.Contains(err.Error(), "not valid under the fleet CA") {
		t.Fatalf("certificate of another fleet: got %v", err)
	}
	if err := issueCert(f.dir, out, "edge-2", RoleEdge, time.Hour, time.Now().Add(-48*time.Hour)); err != nil {
		t.Fatal(err)
	}
	_, err = LoadIdentity(filepath.Join(f.dir, CACertFile), filepath.Join(out, "edge-2.crt"), filepath.Join(out, "edge-2.key"))
	if err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("expired certificate: got %v", err)
	}
	_, err = LoadIdentity(filepath.Join(f.dir, CACertFile), filepath.Join(out, "edge-1.crt"), filepath.Join(out, "edge-2.key"))
	if err == nil {
		t.Fatal("mismatched key accepted")
	}
}

type result struct {
	err   error
	state tls.ConnectionState
}

// handshake runs a TLS handshake over an in-memory pipe and a one-byte
// exchange after it: in TLS 1.3 the client finishes its handshake before
// the server has checked the client certificate, so a refusal by the server
// only shows on the client's first read.
func handshake(t *testing.T, server, client *tls.Config) (srv, cli result) {
	t.Helper()
	c1, c2 := net.Pipe()
	deadline := time.Now().Add(5 * time.Second)
	c1.SetDeadline(deadline)
	c2.SetDeadline(deadline)
	var wg sync.WaitGroup
	wg.Go(func() {
		// Closing the pipe, not the TLS conn: a close_notify would block on
		// the synchronous pipe once the other side stops reading.
		defer c1.Close()
		s := tls.Server(c1, server)
		if srv.err = s.Handshake(); srv.err == nil {
			srv.state = s.ConnectionState()
			_, srv.err = s.Write([]byte{1})
		}
	})
	wg.Go(func() {
		defer c2.Close()
		c := tls.Client(c2, client)
		if cli.err = c.Handshake(); cli.err == nil {
			cli.state = c.ConnectionState()
			_, cli.err = c.Read(make([]byte, 1))
		}
	})
	wg.Wait()
	return srv, cli
}

func TestMutualTLS(t *testing.T) {
	now := time.Now()
	f, other := newFleet(t, "acme"), newFleet(t, "acme")
	central := f.identity("central-1", RoleCentral, now, time.Hour)
	edge := f.identity("edge-1", RoleEdge, now, time.Hour)
	// The outsider trusts the fleet CA, so that it is the server that has
	// to notice its certificate comes from another one.
	outsider := *other.identity("edge-1", RoleEdge, now, time.Hour)
	outsider.pool = edge.pool
	fakeCentral := other.identity("central-1", RoleCentral, now, time.Hour)
	expiredEdge := f.identity("edge-2", RoleEdge, now.Add(-3*time.Hour), time.Hour)
	expiredCentral := f.identity("central-1", RoleCentral, now.Add(-3*time.Hour), time.Hour)

	t.Run("fleet members", func(t *testing.T) {
		srv, cli := handshake(t, central.ServerTLS(), edge.ClientTLS("central-1"))
		if srv.err != nil || cli.err != nil {
			t.Fatalf("server: %v; client: %v", srv.err, cli.err)
		}
		if name, role, err := PeerName(srv.state); name != "edge-1" || role != RoleEdge || err != nil {
			t.Errorf("server sees %q/%q, %v", name, role, err)
		}
		if name, role, err := PeerName(cli.state); name != "central-1" || role != RoleCentral || err != nil {
			t.Errorf("client sees %q/%q, %v", name, role, err)
		}
		if srv.state.NegotiatedProtocol != ALPN || srv.state.Version != tls.VersionTLS13 {
			t.Errorf("negotiated %q, version %x", srv.state.NegotiatedProtocol, srv.state.Version)
		}
	})

	refusals := []struct {
		name         string
		server       *tls.Config
		client       *tls.Config
		serverRefuse bool // else the client refuses
		want         string
	}{
		{"client of another CA", central.ServerTLS(), outsider.ClientTLS("central-1"), true, "unknown authority"},
		{"server of another CA", fakeCentral.ServerTLS(), edge.ClientTLS("central-1"), false, "unknown authority"},
		{"wrong server name", central.ServerTLS(), edge.ClientTLS("central-2"), false, "central-2"},
		{"expired client", central.ServerTLS(), expiredEdge.ClientTLS("central-1"), true, "expired"},
		{"expired server", expiredCentral.ServerTLS(), edge.ClientTLS("central-1"), false, "expired"},
		{"client without certificate", central.ServerTLS(), &tls.Config{RootCAs: edge.pool, ServerName: "central-1", MinVersion: tls.VersionTLS13, NextProtos: []string{ALPN}}, true, "certificate"},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			srv, cli := handshake(t, tc.server, tc.client)
			if srv.err == nil || cli.err == nil {
				t.Fatalf("handshake succeeded: server %v, client %v", srv.err, cli.err)
			}
			refusal := cli.err
			if tc.serverRefuse {
				refusal = srv.err
			}
			if !strings.Contains(refusal.Error(), tc.want) {
				t.Fatalf("refusal %q does not mention %q (other side: server %v, client %v)", refusal, tc.want, srv.err, cli.err)
			}
		})
	}
}

func TestPeerNameRejectsUnverified(t *testing.T) {
	f := newFleet(t, "acme")
	id := f.identity("edge-1", RoleEdge, time.Now(), time.Hour)
	if _, _, err := PeerName(tls.ConnectionState{}); err == nil {
		t.Error("no certificate accepted")
	}
	if _, _, err := PeerName(tls.ConnectionState{PeerCertificates: []*x509.Certificate{id.Leaf()}}); err == nil {
		t.Error("unverified certificate accepted")
	}
}
