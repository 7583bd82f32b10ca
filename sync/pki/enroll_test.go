package pki

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// enrolled signs a CSR of a fresh key with the CA, the way central does for
// an enrolling device, and loads the result as the device would.
func enrolled(t *testing.T, f *fleet, name string, issuedAt time.Time, life time.Duration) (*Identity, *CA, string) {
	t.Helper()
	ca, err := LoadCA(f.dir)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := NewKey()
	der, err := CreateCSR(key, "whatever the device says")
	if err != nil {
		t.Fatal(err)
	}
	csr, err := ParseCSR(der)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.SignCSR(csr, name, RoleEdge, issuedAt, life, Groups{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	keyPEM, _ := EncodeKey(key)
	if err := ReplaceFile(filepath.Join(dir, name+".key"), keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := ReplaceFile(filepath.Join(dir, name+".crt"), EncodeCert(cert), 0o644); err != nil {
		t.Fatal(err)
	}
	id, err := loadIdentity(filepath.Join(f.dir, CACertFile), filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key"), issuedAt)
	if err != nil {
		t.Fatal(err)
	}
	return id, ca, dir
}

// TestSignCSRAndRenew: the CA names the certificate, not the request; a
// renewed certificate for the same key replaces the one handshakes
// present, one for another key or name is refused.
func TestSignCSRAndRenew(t *testing.T) {
	f := newFleet(t, "acme")
	now := time.Now()
	id, ca, _ := enrolled(t, f, "edge-7", now, time.Minute)
	if id.Name() != "edge-7" || id.Role() != RoleEdge || !IssuedAt(id.Leaf()).Equal(now.Truncate(time.Second)) {
		t.Fatalf("enrolled as %s/%s issued %v", id.Name(), id.Role(), IssuedAt(id.Leaf()))
	}
	csr, err := ParseCSR(mustCSR(t, id))
	if err != nil {
		t.Fatal(err)
	}
	renewed, err := ca.SignCSR(csr, "edge-7", RoleEdge, now.Add(time.Minute), time.Hour, Groups{})
	if err != nil {
		t.Fatal(err)
	}
	if err := id.SetCertificate(EncodeCert(renewed)); err != nil {
		t.Fatal(err)
	}
	if got := id.NotAfter(); !got.Equal(now.Add(time.Minute + time.Hour).Truncate(time.Second)) {
		t.Errorf("after renewal NotAfter %v", got)
	}
	srv, cli := handshake(t, f.identity("central", RoleCentral, now, time.Hour).ServerTLS(), id.ClientTLS("central"))
	if srv.err != nil || cli.err != nil || srv.state.PeerCertificates[0].NotAfter != id.NotAfter() {
		t.Fatalf("handshake after renewal: %v %v", srv.err, cli.err)
	}
	other, _, _ := enrolled(t, f, "edge-7", now, time.Minute)
	if err := id.SetCertificate(EncodeCert(other.Leaf().Raw)); err == nil || !strings.Contains(err.Error(), "another key") {
		t.Errorf("certificate for another key: %v", err)
	}
	wrongName, err := ca.SignCSR(csr, "edge-8", RoleEdge, now, time.Hour, Groups{})
	if err != nil {
		t.Fatal(err)
	}
	if err := id.SetCertificate(EncodeCert(wrongName)); err == nil {
		t.Error("a certificate for another name was taken")
	}
	if _, err := ca.SignCSR(csr, "edge-7", RoleEdge, now, 20*365*24*time.Hour, Groups{}); err == nil {
		t.Error("a certificate outliving the CA was signed")
	}
}

func mustCSR(t *testing.T, id *Identity) []byte {
	t.Helper()
	der, err := CreateCSR(id.Certificate().PrivateKey.(crypto.Signer), id.Name())
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// TestRevocationList: a list signed by the fleet CA revokes the
// certificates of a name issued until its time, and handshakes refuse
// them at once; a list from another CA, a tampered one or an older one
// changes nothing.
func TestRevocationList(t *testing.T) {
	f := newFleet(t, "acme")
	now := time.Now()
	central := f.identity("central", RoleCentral, now, time.Hour)
	edge, ca, _ := enrolled(t, f, "edge-1", now.Add(-time.Minute), time.Hour)
	later, _, _ := enrolled(t, f, "edge-1", now.Add(time.Minute), time.Hour)
	at := now.Truncate(time.Second).Add(time.Second)
	list := RevocationList{Number: 2, Issued: now, Revoked: []Revocation{{Name: "edge-1", At: at}}}
	signed, err := ca.SignRevocations(list)
	if err != nil {
		t.Fatal(err)
	}

	srv, cli := handshake(t, central.ServerTLS(), edge.ClientTLS("central"))
	if srv.err != nil || cli.err != nil {
		t.Fatalf("before revocation: %v %v", srv.err, cli.err)
	}
	if n, err := central.SetRevocations(signed); n != 2 || err != nil {
		t.Fatalf("SetRevocations = %d, %v", n, err)
	}
	srv, _ = handshake(t, central.ServerTLS(), edge.ClientTLS("central"))
	if srv.err == nil || !strings.Contains(srv.err.Error(), "revoked") {
		t.Fatalf("revoked client: server error %v", srv.err)
	}
	if !central.Revoked(edge.Leaf()) || central.Revoked(later.Leaf()) {
		t.Errorf("revoked: enrolled before %v, enrolled after %v", central.Revoked(edge.Leaf()), central.Revoked(later.Leaf()))
	}
	srv, cli = handshake(t, central.ServerTLS(), later.ClientTLS("central"))
	if srv.err != nil || cli.err != nil {
		t.Fatalf("enrolled again after the revocation: %v %v", srv.err, cli.err)
	}

	older, _ := ca.SignRevocations(RevocationList{Number: 1})
	if n, err := central.SetRevocations(older); n != 2 || err != nil || !central.Revoked(edge.Leaf()) {
		t.Errorf("an older list replayed: %d, %v", n, err)
	}
	otherCA, _ := LoadCA(newFleet(t, "acme").dir)
	forged, _ := otherCA.SignRevocations(RevocationList{Number: 9})
	tampered := bytes.Replace(signed, []byte(`"sig":"`), []byte(`"sig":"AA`), 1)
	for name, b := range map[string][]byte{"another CA": forged, "tampered": tampered, "not JSON": []byte("{"), "empty": nil} {
		if n, err := central.SetRevocations(b); err == nil || n != 2 {
			t.Errorf("%s: applied (%d, %v)", name, n, err)
		}
	}
}

func TestParseFingerprint(t *testing.T) {
	f := newFleet(t, "acme")
	fp, err := CAFingerprint(f.dir)
	if err != nil {
		t.Fatal(err)
	}
	hex := strings.TrimPrefix(fp, "sha256:")
	colons := ""
	for i := 0; i < len(hex); i += 2 {
		colons += strings.ToUpper(hex[i:i+2]) + ":"
	}
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{fp, true}, {hex, true}, {strings.TrimSuffix(colons, ":"), true}, {" " + strings.ToUpper(fp) + "\n", true},
		{"", false}, {"sha256:abc", false}, {fp + "00", false}, {"md5:" + hex, false},
	} {
		got, err := ParseFingerprint(tc.in)
		if (err == nil) != tc.ok || (tc.ok && got != fp) {
			t.Errorf("ParseFingerprint(%q) = %q, %v", tc.in, got, err)
		}
	}
}

// TestCAKeyStaysPut: nothing this package hands out carries the CA key:
// the certificate PEM, the revocation list and issued certificates hold
// only public material.
func TestCAKeyStaysPut(t *testing.T) {
	f := newFleet(t, "acme")
	keyPEM, err := os.ReadFile(filepath.Join(f.dir, CAKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := LoadCA(f.dir)
	signed, _ := ca.SignRevocations(RevocationList{Number: 1})
	edge, _, _ := enrolled(t, f, "edge-1", time.Now(), time.Hour)
	blk := bytes.TrimSpace(keyPEM)
	body := blk[bytes.IndexByte(blk, '\n')+1 : bytes.LastIndexByte(blk, '\n')]
	for name, out := range map[string][]byte{"ca cert": ca.CertPEM(), "revocations": signed, "node cert": EncodeCert(edge.Leaf().Raw)} {
		if bytes.Contains(out, body) || bytes.Contains(out, []byte("PRIVATE KEY")) {
			t.Errorf("%s carries the CA key", name)
		}
	}
}

func FuzzOpenRevocations(f *testing.F) {
	dir := f.TempDir()
	if err := InitCA(dir, "fuzz", time.Now()); err != nil {
		f.Fatal(err)
	}
	ca, _ := LoadCA(dir)
	signed, _ := ca.SignRevocations(RevocationList{Number: 3, Revoked: []Revocation{{Name: "edge-1", At: time.Now()}}})
	f.Add(signed)
	f.Add([]byte(`{"list":"e30=","sig":""}`))
	f.Add([]byte(`{}`))
	cas := []*x509.Certificate{ca.Cert()}
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := OpenRevocations(b, cas)
		if err != nil {
			return
		}
		for _, r := range l.Revoked {
			if ValidName(r.Name) != nil {
				t.Fatalf("accepted a list naming %q", r.Name)
			}
		}
	})
}

func FuzzParseCSR(f *testing.F) {
	key, _ := NewKey()
	der, _ := CreateCSR(key, "edge-1")
	f.Add(der)
	f.Add([]byte{0x30, 0x03, 0x02, 0x01, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		csr, err := ParseCSR(b)
		if err != nil {
			return
		}
		if csr.CheckSignature() != nil || len(b) > MaxCSR {
			t.Fatal("accepted a request with a bad signature or over the limit")
		}
	})
}

func TestGroupsBound(t *testing.T) {
	f := newFleet(t, "acme")
	ca, _ := LoadCA(f.dir)
	key, _ := NewKey()
	der, _ := CreateCSR(key, "edge-1")
	csr, _ := ParseCSR(der)
	for _, tc := range []struct {
		groups  Groups
		claimed []string
		want    []string
	}{
		{Groups{}, []string{"hr", "ops"}, []string{"hr", "ops"}},
		{Groups{Bounded: true, Names: []string{"ops"}}, []string{"hr", "ops"}, []string{"ops"}},
		{Groups{Bounded: true}, []string{"hr"}, nil},
	} {
		cert, err := ca.SignCSR(csr, "edge-1", RoleEdge, time.Now(), time.Hour, tc.groups)
		if err != nil {
			t.Fatal(err)
		}
		leaf, _ := x509.ParseCertificate(cert)
		got := GroupsOf(leaf)
		if got.Bounded != tc.groups.Bounded || strings.Join(got.Names, ",") != strings.Join(tc.groups.Names, ",") {
			t.Errorf("GroupsOf = %+v, want %+v", got, tc.groups)
		}
		if i := got.Intersect(tc.claimed); strings.Join(i, ",") != strings.Join(tc.want, ",") {
			t.Errorf("%+v.Intersect(%v) = %v, want %v", got, tc.claimed, i, tc.want)
		}
		if _, _, err := NameOf(leaf); err != nil {
			t.Errorf("a certificate with groups no longer names its node: %v", err)
		}
	}
	if _, err := ca.SignCSR(csr, "edge-1", RoleEdge, time.Now(), time.Hour, Groups{Bounded: true, Names: []string{"a:b"}}); err == nil {
		t.Error("a group name that breaks the URI was signed")
	}
}
