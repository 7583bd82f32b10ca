// Package pkitest makes throwaway fleet CAs and node identities for the
// tests of packages that speak the fleet's mutual TLS. Only tests import it:
// it fails the test it was given instead of returning errors.
package pkitest

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/edgerag/edgerag/sync/pki"
)

// validity is long enough for any test and short enough that a leaked
// certificate is worthless.
const validity = time.Hour

// Fleet is a fleet CA in a temporary directory that enrols nodes.
type Fleet struct {
	t     testing.TB
	caDir string
}

// NewFleet creates a fleet CA that is removed with t's temporary files.
func NewFleet(t testing.TB) *Fleet {
	t.Helper()
	dir := t.TempDir()
	if err := pki.InitCA(dir, "test", time.Now()); err != nil {
		t.Fatal(err)
	}
	return &Fleet{t: t, caDir: dir}
}

// CAFile is the fleet CA's certificate, as nodes are given it to trust.
func (f *Fleet) CAFile() string { return filepath.Join(f.caDir, pki.CACertFile) }

// Identity enrols node name with role (pki.RoleEdge or pki.RoleCentral).
func (f *Fleet) Identity(name, role string) *pki.Identity {
	f.t.Helper()
	return f.issue(f.caDir, f.CAFile(), name, role)
}

// Outsider returns an edge whose certificate comes from another CA but that
// trusts this fleet's CA too, so that it is the fleet's node, not the
// outsider, that has to refuse the connection.
func (f *Fleet) Outsider(name string) *pki.Identity {
	f.t.Helper()
	other := f.t.TempDir()
	if err := pki.InitCA(other, "evil", time.Now()); err != nil {
		f.t.Fatal(err)
	}
	ours, err := os.ReadFile(f.CAFile())
	if err != nil {
		f.t.Fatal(err)
	}
	theirs, err := os.ReadFile(filepath.Join(other, pki.CACertFile))
	if err != nil {
		f.t.Fatal(err)
	}
	both := filepath.Join(f.t.TempDir(), "both.crt")
	if err := os.WriteFile(both, append(ours, theirs...), 0o644); err != nil {
		f.t.Fatal(err)
	}
	return f.issue(other, both, name, pki.RoleEdge)
}

// issue signs a certificate with the CA in caDir and loads it trusting
// the CAs in caFile.
func (f *Fleet) issue(caDir, caFile, name, role string) *pki.Identity {
	f.t.Helper()
	out := f.t.TempDir()
	if err := pki.IssueCert(caDir, out, name, role, validity); err != nil {
		f.t.Fatal(err)
	}
	id, err := pki.LoadIdentity(caFile, filepath.Join(out, name+".crt"), filepath.Join(out, name+".key"))
	if err != nil {
		f.t.Fatal(err)
	}
	return id
}

// Revocations returns a revocation list signed by the fleet CA, numbered
// number, revoking the certificates of names issued until now.
func (f *Fleet) Revocations(number uint64, names ...string) []byte {
	f.t.Helper()
	ca, err := pki.LoadCA(f.caDir)
	if err != nil {
		f.t.Fatal(err)
	}
	l := pki.RevocationList{Number: number, Issued: time.Now()}
	for _, n := range names {
		l.Revoked = append(l.Revoked, pki.Revocation{Name: n, At: time.Now().Truncate(time.Second).Add(time.Second)})
	}
	b, err := ca.SignRevocations(l)
	if err != nil {
		f.t.Fatal(err)
	}
	return b
}

// BoundIdentity enrols node name with role through a certificate request,
// as central does for an enrolling device, its certificate bounding the
// groups the node may assert to groups.
func (f *Fleet) BoundIdentity(name, role string, groups pki.Groups) *pki.Identity {
	f.t.Helper()
	ca, err := pki.LoadCA(f.caDir)
	if err != nil {
		f.t.Fatal(err)
	}
	key, err := pki.NewKey()
	if err != nil {
		f.t.Fatal(err)
	}
	der, err := pki.CreateCSR(key, name)
	if err != nil {
		f.t.Fatal(err)
	}
	csr, err := pki.ParseCSR(der)
	if err != nil {
		f.t.Fatal(err)
	}
	cert, err := ca.SignCSR(csr, name, role, time.Now(), validity, groups)
	if err != nil {
		f.t.Fatal(err)
	}
	keyPEM, err := pki.EncodeKey(key)
	if err != nil {
		f.t.Fatal(err)
	}
	out := f.t.TempDir()
	if err := os.WriteFile(filepath.Join(out, name+".key"), keyPEM, 0o600); err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(out, name+".crt"), pki.EncodeCert(cert), 0o644); err != nil {
		f.t.Fatal(err)
	}
	id, err := pki.LoadIdentity(f.CAFile(), filepath.Join(out, name+".crt"), filepath.Join(out, name+".key"))
	if err != nil {
		f.t.Fatal(err)
	}
	return id
}
