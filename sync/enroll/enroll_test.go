package enroll

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgerag/edgerag/sync/pki"
)

// clock is a settable clock for the registry.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// central is a fleet CA, central's identity and its enrollment listener on
// loopback.
type central struct {
	caDir, addr, fingerprint string
	reg                      *Registry
	srv                      *Server
	clock                    *clock
}

func startCentral(t *testing.T, ttl time.Duration) *central {
	t.Helper()
	caDir, tlsDir := t.TempDir(), t.TempDir()
	if err := pki.InitCA(caDir, "test", time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := pki.IssueCert(caDir, tlsDir, "central", pki.RoleCentral, time.Hour); err != nil {
		t.Fatal(err)
	}
	id, err := pki.LoadIdentity(filepath.Join(caDir, pki.CACertFile), filepath.Join(tlsDir, "central.crt"), filepath.Join(tlsDir, "central.key"))
	if err != nil {
		t.Fatal(err)
	}
	ca, err := pki.LoadCA(caDir)
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{t: time.Now()}
	reg, err := OpenRegistry(caDir, ca, c.now)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := NewServer(ServerConfig{Registry: reg, CA: ca, Identity: id, CertTTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return &central{caDir: caDir, addr: srv.Addr().String(), fingerprint: ca.Fingerprint(), reg: reg, srv: srv, clock: c}
}

func (c *central) token(t *testing.T, name string, ttl time.Duration) string {
	t.Helper()
	tok, _, err := c.reg.CreateToken(name, pki.RoleEdge, pki.Groups{}, ttl, "admin")
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestEnrollTokenOnceExpiredAndPinned(t *testing.T) {
	c := startCentral(t, time.Hour)
	ctx := context.Background()
	dir := t.TempDir()
	tok := c.token(t, "edge-1", time.Minute)
	wrongFP := "sha256:" + strings.Repeat("ab", 32)
	if _, err := Enroll(ctx, Options{Central: c.addr, Token: tok, Fingerprint: wrongFP, Dir: dir}); err == nil || !strings.Contains(err.Error(), "not the one pinned") {
		t.Fatalf("wrong fingerprint: %v", err)
	}
	if _, err := Enroll(ctx, Options{Central: c.addr, Token: tok, Dir: dir}); err == nil || !strings.Contains(err.Error(), "--ca-fingerprint") {
		t.Fatalf("no pin at all: %v", err)
	}
	// The refused attempts never reached central: the token still works.
	r, err := Enroll(ctx, Options{Central: c.addr, Token: tok, Fingerprint: c.fingerprint, Dir: dir, Name: "edge-1"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Name != "edge-1" || r.Role != pki.RoleEdge || time.Until(r.NotAfter) > time.Hour+time.Second {
		t.Errorf("enrolled %+v", r)
	}
	id, err := pki.LoadIdentity(filepath.Join(dir, pki.CACertFile), filepath.Join(dir, "edge-1.crt"), filepath.Join(dir, "edge-1.key"))
	if err != nil || id.Name() != "edge-1" {
		t.Fatalf("enrolled files do not load: %v", err)
	}
	if st, ok, err := ReadState(dir); !ok || err != nil || st.Central != c.addr || st.CAFingerprint != c.fingerprint {
		t.Errorf("state %+v %v %v", st, ok, err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "edge-1.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode: %v %v", fi.Mode(), err)
	}

	_, err = Enroll(ctx, Options{Central: c.addr, Token: tok, Fingerprint: c.fingerprint, Dir: t.TempDir()})
	var ref *RefusedError
	if !errors.As(err, &ref) || ref.Status != 401 || !strings.Contains(err.Error(), "already used") {
		t.Fatalf("reused token: %v", err)
	}
	short := c.token(t, "edge-2", time.Second)
	c.clock.add(2 * time.Second)
	if _, err := Enroll(ctx, Options{Central: c.addr, Token: short, CAFile: filepath.Join(c.caDir, pki.CACertFile), Dir: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("expired token: %v", err)
	}
	other := c.token(t, "edge-3", time.Minute)
	if _, err := Enroll(ctx, Options{Central: c.addr, Token: other, Fingerprint: c.fingerprint, Dir: t.TempDir(), Name: "edge-9"}); err == nil || !strings.Contains(err.Error(), `made for "edge-3"`) {
		t.Fatalf("name other than the token's: %v", err)
	}
	// The registry file beside the CA keeps no token in the clear.
	b, _ := os.ReadFile(filepath.Join(c.caDir, RegistryFile))
	if strings.Contains(string(b), tok) || strings.Contains(string(b), short) {
		t.Error("the registry stores a token in the clear")
	}
}

func TestRenewAndRevoke(t *testing.T) {
	c := startCentral(t, time.Hour)
	ctx := context.Background()
	dir := t.TempDir()
	if _, err := Enroll(ctx, Options{Central: c.addr, Token: c.token(t, "edge-1", time.Minute), Fingerprint: c.fingerprint, Dir: dir}); err != nil {
		t.Fatal(err)
	}
	id, err := pki.LoadIdentity(filepath.Join(dir, pki.CACertFile), filepath.Join(dir, "edge-1.crt"), filepath.Join(dir, "edge-1.key"))
	if err != nil {
		t.Fatal(err)
	}
	st, _, _ := ReadState(dir)
	r := &Renewer{Dir: dir, State: st, Identity: id}
	before := id.Leaf().SerialNumber
	c.clock.add(2 * time.Second)
	notAfter, err := r.RenewOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if id.Leaf().SerialNumber.Cmp(before) == 0 || !id.NotAfter().Equal(notAfter) {
		t.Fatal("the identity still presents the old certificate")
	}
	onDisk, err := pki.LoadIdentity(filepath.Join(dir, pki.CACertFile), filepath.Join(dir, "edge-1.crt"), filepath.Join(dir, "edge-1.key"))
	if err != nil || !onDisk.NotAfter().Equal(notAfter) {
		t.Fatalf("renewed certificate on disk: %v", err)
	}
	if _, _, err := c.reg.Revoke("edge-1"); err != nil {
		t.Fatal(err)
	}
	_, err = r.RenewOnce(ctx)
	var ref *RefusedError
	if !errors.As(err, &ref) || !ref.Final() || !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("renewal after revocation: %v", err)
	}
	l := c.reg.List()
	if len(l.Certs) != 1 || !l.Certs[0].Revoked || len(l.Revoked) != 1 {
		t.Errorf("listing after revocation: %+v", l)
	}
	// Enrolled again with a new token, the device is good again.
	c.clock.add(time.Second)
	if _, err := Enroll(ctx, Options{Central: c.addr, Token: c.token(t, "edge-1", time.Minute), Fingerprint: c.fingerprint, Dir: dir}); err != nil {
		t.Fatal(err)
	}
	again, _ := pki.LoadIdentity(filepath.Join(dir, pki.CACertFile), filepath.Join(dir, "edge-1.crt"), filepath.Join(dir, "edge-1.key"))
	if c.reg.Revoked(again.Leaf()) {
		t.Error("a certificate issued after the revocation is revoked")
	}
	// The registry survives a restart of central, revocations and all.
	ca, _ := pki.LoadCA(c.caDir)
	reopened, err := OpenRegistry(c.caDir, ca, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n, signed := reopened.Signed(); n != 1 || signed == nil || !reopened.Revoked(id.Leaf()) {
		t.Errorf("reopened registry: list %d", n)
	}
}

func TestRenewSchedule(t *testing.T) {
	issued := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		life   time.Duration
		jitter float64
		want   time.Duration
	}{
		{72 * time.Hour, 0, 48 * time.Hour},
		{72 * time.Hour, 1, 48*time.Hour + 216*time.Minute},
		{72 * time.Hour, -1, 48*time.Hour - 216*time.Minute},
		{6 * time.Second, 0, 4 * time.Second},
	} {
		if got := renewAt(issued, issued.Add(tc.life), tc.jitter).Sub(issued); got != tc.want {
			t.Errorf("renewAt(life %v, jitter %v) = %v, want %v", tc.life, tc.jitter, got, tc.want)
		}
	}
	for _, tc := range []struct {
		n          int
		life, left time.Duration
		want       time.Duration
	}{
		{1, 72 * time.Hour, 24 * time.Hour, 10 * time.Second},
		{5, 72 * time.Hour, 24 * time.Hour, 160 * time.Second},
		{20, 72 * time.Hour, 24 * time.Hour, 10 * time.Minute},
		{20, 72 * time.Hour, 8 * time.Minute, 2 * time.Minute},
		{1, 6 * time.Second, 2 * time.Second, 100 * time.Millisecond},
		{3, 6 * time.Second, 2 * time.Second, 400 * time.Millisecond},
		{9, 6 * time.Second, -time.Second, 25600 * time.Millisecond},
		{30, 6 * time.Second, -time.Hour, 10 * time.Minute},
	} {
		if got := retryAfter(tc.n, tc.life, tc.left); got != tc.want {
			t.Errorf("retryAfter(%d, %v, %v) = %v, want %v", tc.n, tc.life, tc.left, got, tc.want)
		}
	}
}

func FuzzParseRequest(f *testing.F) {
	key, _ := pki.NewKey()
	csr, _ := pki.CreateCSR(key, "edge-1")
	good, _ := json.Marshal(Request{Token: "enroll_x", CSR: csr})
	f.Add(good)
	f.Add([]byte(`{"csr":""}`))
	f.Add([]byte(`{"token":"a","csr":"AAAA","x":1}`))
	f.Add([]byte(`{} {}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		req, c, err := ParseRequest(b)
		if err != nil {
			return
		}
		if c == nil || c.CheckSignature() != nil || len(req.Token) > 256 || len(b) > maxRequest {
			t.Fatalf("accepted %q", b)
		}
	})
}

// TestTokenGroupsBoundCertificate: groups named with the token bound the
// certificate, and renewal keeps the bound.
func TestTokenGroupsBoundCertificate(t *testing.T) {
	c := startCentral(t, time.Hour)
	ctx := context.Background()
	tok, _, err := c.reg.CreateToken("edge-1", pki.RoleEdge, pki.Groups{Bounded: true, Names: []string{"ops"}}, time.Minute, "admin")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, err := Enroll(ctx, Options{Central: c.addr, Token: tok, Fingerprint: c.fingerprint, Dir: dir}); err != nil {
		t.Fatal(err)
	}
	id, err := pki.LoadIdentity(filepath.Join(dir, pki.CACertFile), filepath.Join(dir, "edge-1.crt"), filepath.Join(dir, "edge-1.key"))
	if err != nil {
		t.Fatal(err)
	}
	if g := pki.GroupsOf(id.Leaf()); !g.Bounded || strings.Join(g.Names, ",") != "ops" {
		t.Fatalf("enrolled certificate bounds groups to %+v", g)
	}
	st, _, _ := ReadState(dir)
	c.clock.add(time.Second)
	if _, err := (&Renewer{Dir: dir, State: st, Identity: id}).RenewOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if g := pki.GroupsOf(id.Leaf()); !g.Bounded || strings.Join(g.Names, ",") != "ops" {
		t.Fatalf("renewed certificate bounds groups to %+v", g)
	}
}
