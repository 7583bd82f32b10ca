package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// CA is the fleet CA loaded with its key, on the machine it was made on.
// Nothing in the project writes its key anywhere or sends it: it signs
// node certificates and revocation lists, and only those leave.
type CA struct {
	cert *x509.Certificate
	key  crypto.Signer
}

// LoadCA loads the fleet CA InitCA wrote into dir.
func LoadCA(dir string) (*CA, error) {
	cert, key, err := loadCA(dir)
	if err != nil {
		return nil, err
	}
	return &CA{cert: cert, key: key}, nil
}

// Cert returns the CA certificate.
func (ca *CA) Cert() *x509.Certificate { return ca.cert }

// CertPEM returns the CA certificate in PEM, as ca.crt holds it.
func (ca *CA) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw})
}

// Fingerprint returns the SHA-256 fingerprint of the CA certificate.
func (ca *CA) Fingerprint() string { return Fingerprint(ca.cert) }

// Fingerprint returns "sha256:" and the hex SHA-256 of a certificate's DER,
// what an enrolling device pins central's CA with.
func Fingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// ParseFingerprint normalises a fingerprint as an operator may paste it:
// with or without "sha256:", upper or lower case, with or without colons.
func ParseFingerprint(s string) (string, error) {
	h := strings.ToLower(strings.TrimSpace(s))
	h = strings.TrimPrefix(h, "sha256:")
	h = strings.ReplaceAll(h, ":", "")
	if b, err := hex.DecodeString(h); err != nil || len(b) != sha256.Size {
		return "", fmt.Errorf("CA fingerprint %q: want sha256: and 64 hex digits, as 'edgerag ca fingerprint' prints", s)
	}
	return "sha256:" + h, nil
}

// MaxCSR bounds a certificate request's DER: an Ed25519 or P-256 request
// for a node name is a few hundred bytes.
const MaxCSR = 4096

// NewKey makes a node key: Ed25519, generated where it will be used.
func NewKey() (crypto.Signer, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate node key: %w", err)
	}
	return priv, nil
}

// CreateCSR returns a DER certificate request for name signed by key. The
// CA decides the name and role the certificate carries; the request only
// proves possession of the key.
func CreateCSR(key crypto.Signer, name string) ([]byte, error) {
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: name}}, key)
	if err != nil {
		return nil, fmt.Errorf("create certificate request: %w", err)
	}
	return der, nil
}

// ParseCSR decodes a certificate request from outside and checks its
// self-signature and key type (Ed25519 or ECDSA P-256).
func ParseCSR(der []byte) (*x509.CertificateRequest, error) {
	if len(der) == 0 || len(der) > MaxCSR {
		return nil, fmt.Errorf("certificate request of %d bytes: must be 1 to %d", len(der), MaxCSR)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, fmt.Errorf("certificate request: %w", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("certificate request: signature: %w", err)
	}
	switch k := csr.PublicKey.(type) {
	case ed25519.PublicKey:
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return nil, errors.New("certificate request: ECDSA keys must use P-256")
		}
	default:
		return nil, fmt.Errorf("certificate request: key type %T: use Ed25519 or ECDSA P-256", csr.PublicKey)
	}
	return csr, nil
}

// SignCSR issues a node certificate for the key of csr (from ParseCSR),
// naming nodeName with role, valid for validFor from issuedAt. It returns
// the certificate's DER.
//
// groups, when Bounded, limits the document groups the node may assert
// for the askers of the questions it forwards (groups.go).
func (ca *CA) SignCSR(csr *x509.CertificateRequest, nodeName, role string, issuedAt time.Time, validFor time.Duration, groups Groups) ([]byte, error) {
	if err := ValidName(nodeName); err != nil {
		return nil, fmt.Errorf("sign certificate: %w", err)
	}
	if err := ValidRole(role); err != nil {
		return nil, fmt.Errorf("sign certificate for %s: %w", nodeName, err)
	}
	if validFor <= 0 {
		return nil, fmt.Errorf("sign certificate for %s: validity %v must be positive", nodeName, validFor)
	}
	notAfter := issuedAt.Add(validFor)
	if notAfter.After(ca.cert.NotAfter) {
		return nil, fmt.Errorf("sign certificate for %s: it would outlive the fleet CA (%s)", nodeName, ca.cert.NotAfter.Format(time.RFC3339))
	}
	tmpl, err := nodeTemplate(nodeName, role, ca.cert.Subject.Organization, issuedAt, notAfter)
	if err != nil {
		return nil, fmt.Errorf("sign certificate for %s: %w", nodeName, err)
	}
	if tmpl.URIs, err = groups.uris(); err != nil {
		return nil, fmt.Errorf("sign certificate for %s: %w", nodeName, err)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, csr.PublicKey, ca.key)
	if err != nil {
		return nil, fmt.Errorf("sign certificate for %s: %w", nodeName, err)
	}
	return der, nil
}

// nodeTemplate is the certificate of a node: its name as CommonName and
// only DNS SAN, its role as the only OU, usable to serve and to dial.
func nodeTemplate(nodeName, role string, org []string, issuedAt, notAfter time.Time) (*x509.Certificate, error) {
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	return &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: nodeName, OrganizationalUnit: []string{role}, Organization: org},
		DNSNames:     []string{nodeName},
		NotBefore:    issuedAt.Add(-backdate),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		// Every node both serves and dials, so one certificate does both.
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}, nil
}

// IssuedAt is when a node certificate was issued: its NotBefore is
// backdated by an hour for devices with lagging clocks.
func IssuedAt(cert *x509.Certificate) time.Time { return cert.NotBefore.Add(backdate) }

// EncodeCert returns a certificate DER as PEM.
func EncodeCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// EncodeKey returns a private key as PKCS#8 PEM.
func EncodeKey(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// ParseCerts returns the certificates of a PEM bundle, skipping anything
// else.
func ParseCerts(pemBytes []byte) []*x509.Certificate { return parseCerts(pemBytes) }

func parseCerts(b []byte) []*x509.Certificate {
	var out []*x509.Certificate
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return out
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		if c, err := x509.ParseCertificate(blk.Bytes); err == nil {
			out = append(out, c)
		}
	}
}

// ReplaceFile writes data to path so that a crash at any moment leaves
// either the old file or the new one, never a mix: a temporary file in the
// same directory, synced, renamed over path, and the directory synced.
func ReplaceFile(path string, data []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("replace %s: %w", path, err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(mode)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("replace %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// SetCertificate replaces the node's certificate with a renewed one for
// the same key, name and role (PEM); new handshakes present it at once.
func (id *Identity) SetCertificate(certPEM []byte) error {
	cur := id.cert.Load()
	blk, _ := pem.Decode(certPEM)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return errors.New("renewed certificate: not a PEM certificate")
	}
	leaf, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return fmt.Errorf("renewed certificate: %w", err)
	}
	name, role, err := nameOf(leaf)
	if err != nil {
		return fmt.Errorf("renewed certificate: %w", err)
	}
	if name != id.name || role != id.role {
		return fmt.Errorf("renewed certificate names %s (%s), this node is %s (%s)", name, role, id.name, id.role)
	}
	pub, ok := cur.PrivateKey.(crypto.Signer)
	if !ok || !publicKeyEqual(pub.Public(), leaf.PublicKey) {
		return errors.New("renewed certificate is for another key than this node's")
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: id.pool, CurrentTime: IssuedAt(leaf),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}); err != nil {
		return fmt.Errorf("renewed certificate is not valid under the fleet CA: %w", err)
	}
	next := tls.Certificate{Certificate: [][]byte{leaf.Raw}, PrivateKey: cur.PrivateKey, Leaf: leaf}
	id.cert.Store(&next)
	return nil
}

func publicKeyEqual(a, b crypto.PublicKey) bool {
	k, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(b)
}

// NameOf returns the node name and role a node certificate records, or why
// it records none.
func NameOf(cert *x509.Certificate) (name, role string, err error) { return nameOf(cert) }

// Certificate returns the node's current certificate and key, for a TLS
// client that is not a fleet transport (certificate renewal).
func (id *Identity) Certificate() *tls.Certificate { return id.cert.Load() }

// CAFingerprint returns the fingerprint of the CA certificate in dir
// (ca.crt; the key is not read).
func CAFingerprint(dir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, CACertFile))
	if err != nil {
		return "", fmt.Errorf("fleet CA: %w", err)
	}
	certs := parseCerts(b)
	if len(certs) == 0 {
		return "", fmt.Errorf("fleet CA: %s holds no certificate", filepath.Join(dir, CACertFile))
	}
	return Fingerprint(certs[0]), nil
}
