package enroll

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/sync/pki"
)

// StateFile is written beside an enrolled node's certificate: where to
// renew it. Its presence is what makes a running node renew.
const StateFile = "enroll.json"

// State is what enrollment leaves for the running node.
type State struct {
	Central       string    `json:"central"` // enrollment address of central (host:port)
	Name          string    `json:"name"`
	Role          string    `json:"role"`
	CAFingerprint string    `json:"ca_fingerprint"`
	EnrolledAt    time.Time `json:"enrolled_at"`
}

// ReadState reads dir's enrollment state; ok is false when the node in dir
// was not enrolled (its certificate was made by hand).
func ReadState(dir string) (State, bool, error) {
	b, err := os.ReadFile(filepath.Join(dir, StateFile))
	if errors.Is(err, os.ErrNotExist) {
		return State{}, false, nil
	}
	if err != nil {
		return State{}, false, err
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return State{}, false, fmt.Errorf("%s: %w", filepath.Join(dir, StateFile), err)
	}
	return st, true, nil
}

// Options is what 'edgerag enroll' needs.
type Options struct {
	Central string // central's enrollment address, host:port
	Token   string
	// Fingerprint pins central's CA ("sha256:…", as 'edgerag ca
	// fingerprint' and 'cert enroll-token' print); or CAFile, the CA
	// certificate itself. One of them is required.
	Fingerprint string
	CAFile      string
	Dir         string // where ca.crt, NAME.crt, NAME.key and enroll.json go
	// Name, when set, must be the name the token was made for.
	Name string
}

// Result is an enrollment done.
type Result struct {
	Name, Role string
	NotAfter   time.Time
	Dir        string
}

// Enroll makes the device's key, sends a certificate request with the
// one-time token to central over HTTPS (central verified against the
// pinned CA), and writes the key, the certificate, the CA certificate and
// the enrollment state into o.Dir.
func Enroll(ctx context.Context, o Options) (Result, error) {
	if o.Central == "" || o.Token == "" || o.Dir == "" {
		return Result{}, errors.New("enroll needs central's address, the token and a directory")
	}
	pin, err := newPin(o.Fingerprint, o.CAFile)
	if err != nil {
		return Result{}, err
	}
	if o.Name != "" {
		if err := pki.ValidName(o.Name); err != nil {
			return Result{}, err
		}
	}
	key, err := pki.NewKey()
	if err != nil {
		return Result{}, err
	}
	csr, err := pki.CreateCSR(key, o.Name)
	if err != nil {
		return Result{}, err
	}
	resp, err := post(ctx, o.Central, PathEnroll, pin.config(nil), Request{Token: o.Token, CSR: csr})
	if err != nil {
		return Result{}, err
	}
	leaf, err := pin.checkIssued(resp, key)
	if err != nil {
		return Result{}, err
	}
	if o.Name != "" && resp.Name != o.Name {
		return Result{}, fmt.Errorf("the token was made for %q, not %q: ask for a token for this name, or drop --name", resp.Name, o.Name)
	}
	keyPEM, err := pki.EncodeKey(key)
	if err != nil {
		return Result{}, err
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return Result{}, fmt.Errorf("enroll: %w", err)
	}
	st, _ := json.MarshalIndent(State{Central: o.Central, Name: resp.Name, Role: resp.Role, CAFingerprint: pki.Fingerprint(pin.ca), EnrolledAt: time.Now().UTC()}, "", "  ")
	// The key before the certificate: an interrupted enrollment leaves no
	// certificate without its key (run it again with a new token).
	for _, f := range []struct {
		name string
		data []byte
		mode os.FileMode
	}{
		{pki.CACertFile, pki.EncodeCert(pin.ca.Raw), 0o644},
		{resp.Name + ".key", keyPEM, 0o600},
		{resp.Name + ".crt", []byte(resp.Cert), 0o644},
		{StateFile, st, 0o644},
	} {
		if err := pki.ReplaceFile(filepath.Join(o.Dir, f.name), f.data, f.mode); err != nil {
			return Result{}, fmt.Errorf("enroll: %w", err)
		}
	}
	return Result{Name: resp.Name, Role: resp.Role, NotAfter: leaf.NotAfter, Dir: o.Dir}, nil
}

// pin is how a device recognises central: the fleet CA it was told of.
type pin struct {
	fingerprint string
	ca          *x509.Certificate // known from a file, or learned in the handshake
}

func newPin(fingerprint, caFile string) (*pin, error) {
	switch {
	case fingerprint != "" && caFile != "":
		return nil, errors.New("give the CA fingerprint or the CA file, not both")
	case fingerprint != "":
		fp, err := pki.ParseFingerprint(fingerprint)
		if err != nil {
			return nil, err
		}
		return &pin{fingerprint: fp}, nil
	case caFile != "":
		b, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("CA file: %w", err)
		}
		cas := pki.ParseCerts(b)
		if len(cas) != 1 {
			return nil, fmt.Errorf("CA file %s: want exactly one certificate, found %d", caFile, len(cas))
		}
		return &pin{fingerprint: pki.Fingerprint(cas[0]), ca: cas[0]}, nil
	}
	return nil, errors.New("central must be verified: give --ca-fingerprint (printed by 'edgerag cert enroll-token' and 'edgerag ca fingerprint') or --ca-file")
}

// config is the TLS client configuration that accepts only a central
// node's certificate under the pinned CA, presenting cert when set.
func (p *pin) config(cert *tls.Certificate) *tls.Config {
	c := &tls.Config{
		MinVersion: tls.VersionTLS13,
		// The standard verification needs a host name; central is
		// recognised by its CA and role instead, in VerifyPeerCertificate.
		InsecureSkipVerify:    true,
		VerifyPeerCertificate: p.verify,
	}
	if cert != nil {
		c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	return c
}

// verify accepts a chain whose leaf is a central node's certificate issued
// by the pinned CA, which the chain must carry when only its fingerprint is
// known.
func (p *pin) verify(raw [][]byte, _ [][]*x509.Certificate) error {
	var certs []*x509.Certificate
	for _, b := range raw {
		c, err := x509.ParseCertificate(b)
		if err != nil {
			return fmt.Errorf("central's certificate: %w", err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return errors.New("central sent no certificate")
	}
	ca := p.ca
	if ca == nil {
		for _, c := range certs[1:] {
			if pki.Fingerprint(c) == p.fingerprint {
				ca = c
			}
		}
		if ca == nil {
			return fmt.Errorf("central's CA is not the one pinned (%s): wrong --ca-fingerprint, or not your central", p.fingerprint)
		}
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	if _, err := certs[0].Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		return fmt.Errorf("central's certificate is not issued by the pinned CA %s: %w", p.fingerprint, err)
	}
	if _, role, err := pki.NameOf(certs[0]); err != nil || role != pki.RoleCentral {
		return fmt.Errorf("the node answering is not a central node of the fleet (role %q, %v)", role, err)
	}
	p.ca = ca
	return nil
}

// checkIssued checks the certificate central sent: issued by the pinned CA
// for this device's key, naming a node.
func (p *pin) checkIssued(resp Response, key crypto.Signer) (*x509.Certificate, error) {
	blk, _ := pem.Decode([]byte(resp.Cert))
	if blk == nil {
		return nil, errors.New("central's answer holds no certificate")
	}
	leaf, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("certificate from central: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(p.ca)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: pki.IssuedAt(leaf), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return nil, fmt.Errorf("certificate from central is not issued by the pinned CA: %w", err)
	}
	if !publicKeyEqual(key.Public(), leaf.PublicKey) {
		return nil, errors.New("certificate from central is for another key")
	}
	name, role, err := pki.NameOf(leaf)
	if err != nil || name != resp.Name || role != resp.Role {
		return nil, fmt.Errorf("certificate from central names %q (%q), the answer %q (%q): %v", name, role, resp.Name, resp.Role, err)
	}
	return leaf, nil
}

func publicKeyEqual(a, b crypto.PublicKey) bool {
	k, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(b)
}

// post sends req to central's enrollment listener and decodes the answer;
// a refusal comes back as the *api.Error central sent.
func post(ctx context.Context, central, path string, tc *tls.Config, req Request) (Response, error) {
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tc, ForceAttemptHTTP2: false}, Timeout: 30 * time.Second}
	defer hc.CloseIdleConnections()
	var resp Response
	err := api.NewClient("https://"+central, hc).Call(ctx, http.MethodPost, path, req, &resp)
	if err != nil {
		var ae *api.Error
		if errors.As(err, &ae) {
			return resp, &RefusedError{Status: ae.Status, Message: ae.Message}
		}
		return resp, err
	}
	return resp, nil
}

// RefusedError is central's refusal of an enrollment or a renewal: the
// HTTP status and central's reason.
type RefusedError struct {
	Status  int
	Message string
}

func (e *RefusedError) Error() string { return "central refused: " + e.Message }

// Final reports a refusal that asking again will not change: a token
// refused, a certificate revoked.
func (e *RefusedError) Final() bool {
	return e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden
}
