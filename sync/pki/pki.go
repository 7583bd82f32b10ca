// Package pki manages the fleet's mutual-TLS identities: a private fleet
// certificate authority, one certificate per node naming the node and its
// role, and the TLS configurations that make both ends of every connection
// prove membership of the fleet.
//
// Node certificates carry the node name as CommonName and as a DNS SAN, so
// standard hostname verification checks that a dialled server is the node
// the caller meant, and the role (edge or central) in the OrganizationalUnit.
//
// The command-line tools that enrol nodes and sync/transport import it. It
// imports nothing of the project.
package pki

import (
	"crypto"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"
)

// ALPN is the application protocol both ends must agree on; a connection
// from anything that is not an edgerag node of this protocol generation
// fails in the handshake.
const ALPN = "edgerag/1"

// Roles a node certificate can record.
const (
	RoleEdge    = "edge"
	RoleCentral = "central"
)

// File names InitCA writes into its directory.
const (
	CACertFile = "ca.crt"
	CAKeyFile  = "ca.key"
)

const (
	// caValidity is long because re-keying a fleet means visiting every
	// device; node certificates are the ones to keep short.
	caValidity = 10 * 365 * 24 * time.Hour
	// backdate starts validity an hour early: a Raspberry Pi has no
	// real-time clock, and a freshly booted one whose clock lags slightly
	// must still accept a certificate issued moments ago.
	backdate = time.Hour
)

// ErrBadName reports a node or fleet name that ValidName rejects.
var ErrBadName = errors.New("bad node name")

// ValidName reports whether name can name a node or fleet: 1–63 characters
// of lower-case letters, digits and '-', starting with a letter or digit.
// These are exactly the names that are also valid DNS labels, so a node name
// can be a certificate's DNS SAN and a TLS server name.
func ValidName(name string) error {
	if name == "" || len(name) > 63 {
		return fmt.Errorf("%w %q: must be 1 to 63 characters", ErrBadName, name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || i > 0 && c == '-') {
			return fmt.Errorf("%w %q: use lower-case letters, digits and '-', starting with a letter or digit", ErrBadName, name)
		}
	}
	return nil
}

// ValidRole reports whether role is one a node certificate may record.
func ValidRole(role string) error {
	if role != RoleEdge && role != RoleCentral {
		return fmt.Errorf("bad role %q: must be %q or %q", role, RoleEdge, RoleCentral)
	}
	return nil
}

// InitCA creates the fleet CA in dir: ca.crt and ca.key (mode 0600), an
// Ed25519 key and a self-signed certificate valid from now for ten years. It
// refuses to overwrite an existing CA, because replacing it would cut every
// enrolled node off the fleet.
func InitCA(dir, fleetName string, now time.Time) error {
	if err := ValidName(fleetName); err != nil {
		return fmt.Errorf("init fleet CA: fleet name: %w", err)
	}
	certPath, keyPath := filepath.Join(dir, CACertFile), filepath.Join(dir, CAKeyFile)
	for _, p := range []string{certPath, keyPath} {
		if _, err := os.Stat(p); err == nil {
			return fmt.Errorf("init fleet CA: %s already exists; refusing to replace the fleet CA (move it away first if you really mean to re-key the fleet)", p)
		}
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return fmt.Errorf("init fleet CA: generate key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return fmt.Errorf("init fleet CA: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "edgerag fleet " + fleetName + " CA", Organization: []string{fleetName}},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(caValidity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true, // the CA signs node certificates only, never another CA
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	if err != nil {
		return fmt.Errorf("init fleet CA: create certificate: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("init fleet CA: %w", err)
	}
	return writePair(certPath, keyPath, der, priv)
}

// IssueCert signs a certificate for node nodeName with role (RoleEdge or
// RoleCentral), valid from now for validFor, using the CA in caDir, and
// writes NAME.crt and NAME.key (mode 0600) into outDir. It refuses to
// overwrite an existing pair; delete it first to re-issue.
func IssueCert(caDir, outDir, nodeName, role string, validFor time.Duration) error {
	return issueCert(caDir, outDir, nodeName, role, validFor, time.Now())
}

// issueCert is IssueCert with the clock as a parameter, so tests can make
// certificates that are already expired.
func issueCert(caDir, outDir, nodeName, role string, validFor time.Duration, now time.Time) error {
	if err := ValidName(nodeName); err != nil {
		return fmt.Errorf("issue certificate: %w", err)
	}
	if err := ValidRole(role); err != nil {
		return fmt.Errorf("issue certificate for %s: %w", nodeName, err)
	}
	if validFor <= 0 {
		return fmt.Errorf("issue certificate for %s: validity %v must be positive", nodeName, validFor)
	}
	caCert, caKey, err := loadCA(caDir)
	if err != nil {
		return fmt.Errorf("issue certificate for %s: %w", nodeName, err)
	}
	notAfter := now.Add(validFor)
	if notAfter.After(caCert.NotAfter) {
		return fmt.Errorf("issue certificate for %s: it would be valid until %s but the fleet CA expires at %s; choose a shorter validity", nodeName, notAfter.Format(time.RFC3339), caCert.NotAfter.Format(time.RFC3339))
	}
	certPath, keyPath := filepath.Join(outDir, nodeName+".crt"), filepath.Join(outDir, nodeName+".key")
	for _, p := range []string{certPath, keyPath} {
		if _, err := os.Stat(p); err == nil {
			return fmt.Errorf("issue certificate for %s: %s already exists; delete the old pair to re-issue", nodeName, p)
		}
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return fmt.Errorf("issue certificate for %s: generate key: %w", nodeName, err)
	}
	tmpl, err := nodeTemplate(nodeName, role, caCert.Subject.Organization, now, notAfter)
	if err != nil {
		return fmt.Errorf("issue certificate for %s: %w", nodeName, err)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, pub, caKey)
	if err != nil {
		return fmt.Errorf("issue certificate for %s: sign: %w", nodeName, err)
	}
	if err := os.MkdirAll(outDir, 0o700); err != nil {
		return fmt.Errorf("issue certificate for %s: %w", nodeName, err)
	}
	return writePair(certPath, keyPath, der, priv)
}

func newSerial() (*big.Int, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("generate serial number: %w", err)
	}
	return serial, nil
}

// writePair writes the key first and with O_EXCL, so that two concurrent
// runs cannot both succeed and a crash never leaves a certificate whose key
// is missing.
func writePair(certPath, keyPath string, certDER []byte, key crypto.Signer) error {
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("encode key: %w", err)
	}
	if err := writeNew(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return err
	}
	if err := writeNew(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certDER}), 0o644); err != nil {
		os.Remove(keyPath)
		return err
	}
	return nil
}

func writeNew(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func loadCA(dir string) (*x509.Certificate, crypto.Signer, error) {
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, CACertFile), filepath.Join(dir, CAKeyFile))
	if err != nil {
		return nil, nil, fmt.Errorf("load fleet CA from %s (create one with InitCA): %w", dir, err)
	}
	cert := pair.Leaf
	if !cert.IsCA {
		return nil, nil, fmt.Errorf("load fleet CA from %s: %s is not a CA certificate", dir, CACertFile)
	}
	key, ok := pair.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, nil, fmt.Errorf("load fleet CA from %s: key of type %T cannot sign", dir, pair.PrivateKey)
	}
	return cert, key, nil
}

// Identity is a node's fleet membership: its certificate and key, the
// fleet CA it trusts and the fleet's revocation list. It is safe for
// concurrent use. The certificate can be replaced by a renewed one for the
// same key (SetCertificate) and the revocation list by a newer one
// (SetRevocations) while connections use it: TLS configurations read both
// at each handshake.
type Identity struct {
	cert   atomic.Pointer[tls.Certificate]
	pool   *x509.CertPool
	cas    []*x509.Certificate // the certificates in the CA file, to verify revocation lists
	name   string
	role   string
	keyDER []byte // PKCS#8; only for DeriveSecret
	// revoked is the newest revocation list applied; never nil.
	revoked atomic.Pointer[RevocationList]
}

// LoadIdentity loads a node's identity. It checks that the certificate
// names a valid node and role, is signed by a CA in caFile (which may hold
// several, to roll the CA over) and has not expired.
//
// A certificate that is not yet valid is accepted: a Raspberry Pi boots with
// a stale clock, and refusing to start until NTP has run would leave it
// unreachable. Its handshakes fail until the clock is right.
func LoadIdentity(caFile, certFile, keyFile string) (*Identity, error) {
	return loadIdentity(caFile, certFile, keyFile, time.Now())
}

// loadIdentity is LoadIdentity with the clock as a parameter, so tests can
// load an expired certificate and watch handshakes refuse it.
func loadIdentity(caFile, certFile, keyFile string, now time.Time) (*Identity, error) {
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("load identity: read fleet CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("load identity: %s holds no PEM certificate", caFile)
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("load identity from %s and %s: %w", certFile, keyFile, err)
	}
	leaf := cert.Leaf
	name, role, err := nameOf(leaf)
	if err != nil {
		return nil, fmt.Errorf("load identity from %s: %w", certFile, err)
	}
	if now.After(leaf.NotAfter) {
		return nil, fmt.Errorf("load identity: certificate %s of %s expired at %s; issue a new one", certFile, name, leaf.NotAfter.Format(time.RFC3339))
	}
	_, err = leaf.Verify(x509.VerifyOptions{
		Roots:       pool,
		CurrentTime: leaf.NotBefore.Add(backdate), // see the doc comment on clocks
		KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSName:     name,
	})
	if err != nil {
		return nil, fmt.Errorf("load identity: certificate %s is not valid under the fleet CA in %s: %w", certFile, caFile, err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("load identity: key %s: %w", keyFile, err)
	}
	id := &Identity{pool: pool, cas: parseCerts(caPEM), name: name, role: role, keyDER: keyDER}
	id.cert.Store(&cert)
	id.revoked.Store(&RevocationList{})
	return id, nil
}

// Name returns the node name the certificate was issued to.
func (id *Identity) Name() string { return id.name }

// Role returns the node's role, RoleEdge or RoleCentral.
func (id *Identity) Role() string { return id.role }

// NotAfter returns when the node certificate expires, for health checks.
func (id *Identity) NotAfter() time.Time { return id.cert.Load().Leaf.NotAfter }

// Leaf returns the node's current certificate.
func (id *Identity) Leaf() *x509.Certificate { return id.cert.Load().Leaf }

// DeriveSecret returns a 32-byte secret derived from the node's private key
// and label. It serves keys that must survive a restart without being
// stored, such as QUIC's stateless reset key: a restarted node must be able
// to tell peers that their old connections are gone.
func (id *Identity) DeriveSecret(label string) [32]byte {
	mac := hmac.New(sha256.New, id.keyDER)
	mac.Write([]byte("edgerag derived secret\x00" + label))
	var out [32]byte
	copy(out[:], mac.Sum(nil))
	return out
}

// ServerTLS returns the configuration to accept connections with: TLS 1.3,
// client certificates required and verified against the fleet CA.
func (id *Identity) ServerTLS() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		// Read at each handshake: a renewed certificate is served at once.
		GetCertificate:   func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return id.cert.Load(), nil },
		ClientAuth:       tls.RequireAndVerifyClientCert,
		ClientCAs:        id.pool,
		NextProtos:       []string{ALPN},
		VerifyConnection: id.verifyPeer,
	}
}

// ClientTLS returns the configuration to dial serverName with: TLS 1.3, the
// server verified against the fleet CA and required to be the node
// serverName, and this node's certificate presented.
func (id *Identity) ClientTLS(serverName string) *tls.Config {
	return &tls.Config{
		MinVersion:           tls.VersionTLS13,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return id.cert.Load(), nil },
		RootCAs:              id.pool,
		ServerName:           serverName,
		NextProtos:           []string{ALPN},
		VerifyConnection:     id.verifyPeer,
	}
}

// verifyPeer runs after chain verification, on full handshakes and
// resumptions alike, and refuses a peer whose certificate chains to the
// fleet CA but does not name a node, so that PeerName cannot fail later,
// or whose certificate the fleet revoked.
func (id *Identity) verifyPeer(cs tls.ConnectionState) error {
	name, _, err := PeerName(cs)
	if err != nil {
		return err
	}
	if id.Revoked(cs.PeerCertificates[0]) {
		return fmt.Errorf("%w: the certificate of %s was revoked", ErrRevoked, name)
	}
	return nil
}

// PeerName returns the node name and role of the peer of a verified
// connection.
func PeerName(cs tls.ConnectionState) (name, role string, err error) {
	if len(cs.PeerCertificates) == 0 {
		return "", "", errors.New("peer presented no certificate")
	}
	if len(cs.VerifiedChains) == 0 {
		return "", "", errors.New("peer certificate was not verified against the fleet CA")
	}
	return nameOf(cs.PeerCertificates[0])
}

func nameOf(cert *x509.Certificate) (name, role string, err error) {
	name = cert.Subject.CommonName
	if err := ValidName(name); err != nil {
		return "", "", fmt.Errorf("certificate common name: %w", err)
	}
	if len(cert.DNSNames) != 1 || cert.DNSNames[0] != name {
		return "", "", fmt.Errorf("certificate of %s must have exactly the DNS name %q, has %q", name, name, cert.DNSNames)
	}
	if len(cert.Subject.OrganizationalUnit) != 1 {
		return "", "", fmt.Errorf("certificate of %s must record one role in its OU, has %q", name, cert.Subject.OrganizationalUnit)
	}
	role = cert.Subject.OrganizationalUnit[0]
	if err := ValidRole(role); err != nil {
		return "", "", fmt.Errorf("certificate of %s: %w", name, err)
	}
	return name, role, nil
}
