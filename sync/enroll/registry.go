package enroll

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/edgerag/edgerag/sync/pki"
)

// RegistryFile is the registry's file in the CA directory.
const RegistryFile = "registry.json"

// MaxTokenTTL bounds an enrollment token's life: it is meant to be typed
// into a device within minutes.
const MaxTokenTTL = 24 * time.Hour

// tokenPrefix marks enrollment tokens, so one pasted where an API token is
// expected (or the reverse) is recognised.
const tokenPrefix = "enroll_"

// Errors a device sees when its token is refused.
var (
	ErrTokenUnknown = errors.New("enrollment token unknown or already used: ask the admin for a new one ('edgerag cert enroll-token NAME' on central)")
	ErrTokenExpired = errors.New("enrollment token expired: ask the admin for a new one ('edgerag cert enroll-token NAME' on central)")
)

// Registry is central's record of enrollment: pending one-time tokens
// (hashed), the newest certificate issued to each name, and the signed
// revocation list. It lives in one JSON file beside the CA, replaced
// atomically on every change, and is safe for concurrent use.
type Registry struct {
	path string
	ca   *pki.CA
	now  func() time.Time

	mu     sync.Mutex
	st     state
	signed []byte // st.Revocations signed by the CA; nil while Number is 0
}

type state struct {
	Tokens      []pendingToken     `json:"tokens"`
	Certs       []Issued           `json:"certs"`
	Revocations pki.RevocationList `json:"revocations"`
}

// pendingToken is a token not yet used: only its hash is kept.
type pendingToken struct {
	Hash    string    `json:"hash"`
	Name    string    `json:"name"`
	Role    string    `json:"role"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
	By      string    `json:"by,omitempty"`
	// Groups bounds the groups the node may assert (pki.Groups).
	Groups pki.Groups `json:"groups"`
}

// Issued is a certificate central issued: the newest per name is kept.
type Issued struct {
	Name     string    `json:"name"`
	Role     string    `json:"role"`
	Serial   string    `json:"serial"`
	IssuedAt time.Time `json:"issued_at"`
	NotAfter time.Time `json:"not_after"`
	Via      string    `json:"via"` // "enroll" or "renew"
	// Groups is the certificate's bound on the groups the node may assert.
	Groups pki.Groups `json:"groups"`
}

// TokenInfo describes a pending token, without the secret.
type TokenInfo struct {
	Name    string     `json:"name"`
	Role    string     `json:"role"`
	Expires time.Time  `json:"expires"`
	By      string     `json:"by,omitempty"`
	Groups  pki.Groups `json:"groups"`
}

// OpenRegistry loads the registry of the CA in caDir (an empty one when
// the file does not exist yet).
func OpenRegistry(caDir string, ca *pki.CA, now func() time.Time) (*Registry, error) {
	if now == nil {
		now = time.Now
	}
	r := &Registry{path: filepath.Join(caDir, RegistryFile), ca: ca, now: now}
	b, err := os.ReadFile(r.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("enrollment registry: %w", err)
	default:
		if err := json.Unmarshal(b, &r.st); err != nil {
			return nil, fmt.Errorf("enrollment registry %s: %w", r.path, err)
		}
	}
	if r.st.Revocations.Number > 0 {
		if r.signed, err = ca.SignRevocations(r.st.Revocations); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// save writes the state; the caller holds mu.
func (r *Registry) save() error {
	b, err := json.MarshalIndent(r.st, "", "  ")
	if err != nil {
		return err
	}
	return pki.ReplaceFile(r.path, b, 0o600)
}

func hashToken(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}

// prune drops expired tokens; the caller holds mu.
func (r *Registry) prune(now time.Time) {
	r.st.Tokens = slices.DeleteFunc(r.st.Tokens, func(t pendingToken) bool { return !now.Before(t.Expires) })
}

// CreateToken makes a one-time token that enrolls a device as name with
// role, valid for ttl; the certificate will bound the groups the node may
// assert to groups when groups.Bounded. Only its hash is stored; the token
// is returned once.
func (r *Registry) CreateToken(name, role string, groups pki.Groups, ttl time.Duration, by string) (string, TokenInfo, error) {
	if err := pki.ValidName(name); err != nil {
		return "", TokenInfo{}, err
	}
	if err := pki.ValidRole(role); err != nil {
		return "", TokenInfo{}, err
	}
	if ttl <= 0 || ttl > MaxTokenTTL {
		return "", TokenInfo{}, fmt.Errorf("token lifetime %v: must be above 0 and at most %v", ttl, MaxTokenTTL)
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", TokenInfo{}, err
	}
	tok := tokenPrefix + base64.RawURLEncoding.EncodeToString(raw[:])
	now := r.now()
	t := pendingToken{Hash: hashToken(tok), Name: name, Role: role, Created: now.UTC(), Expires: now.Add(ttl).UTC(), By: by, Groups: groups}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.prune(now)
	r.st.Tokens = append(r.st.Tokens, t)
	if err := r.save(); err != nil {
		r.st.Tokens = r.st.Tokens[:len(r.st.Tokens)-1]
		return "", TokenInfo{}, err
	}
	return tok, TokenInfo{Name: name, Role: role, Expires: t.Expires, By: by, Groups: groups}, nil
}

// redeem uses a token up: it is removed, and saved so, before the
// certificate is signed, so a token works once even across a crash.
func (r *Registry) redeem(tok string) (pendingToken, error) {
	if !strings.HasPrefix(tok, tokenPrefix) {
		return pendingToken{}, ErrTokenUnknown
	}
	h := hashToken(tok)
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	i := slices.IndexFunc(r.st.Tokens, func(t pendingToken) bool { return t.Hash == h })
	if i < 0 {
		return pendingToken{}, ErrTokenUnknown
	}
	t := r.st.Tokens[i]
	r.st.Tokens = slices.Delete(r.st.Tokens, i, i+1)
	r.prune(now)
	if err := r.save(); err != nil {
		return pendingToken{}, err
	}
	if !now.Before(t.Expires) {
		return pendingToken{}, ErrTokenExpired
	}
	return t, nil
}

// issue signs csr for name and role and records the certificate. Its issue
// time is after any revocation of the name, so a device enrolled again
// after a revocation is not revoked by it.
func (r *Registry) issue(csr *x509.CertificateRequest, name, role string, groups pki.Groups, via string, validFor time.Duration) ([]byte, Issued, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	at := r.now().Truncate(time.Second)
	if rev, ok := r.st.Revocations.RevokedAt(name); ok && !at.After(rev) {
		at = rev.Add(time.Second)
	}
	der, err := r.ca.SignCSR(csr, name, role, at, validFor, groups)
	if err != nil {
		return nil, Issued{}, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, Issued{}, err
	}
	is := Issued{Name: name, Role: role, Serial: cert.SerialNumber.Text(16), IssuedAt: pki.IssuedAt(cert).UTC(), NotAfter: cert.NotAfter.UTC(), Via: via, Groups: groups}
	r.st.Certs = slices.DeleteFunc(r.st.Certs, func(c Issued) bool { return c.Name == name })
	r.st.Certs = append(r.st.Certs, is)
	if err := r.save(); err != nil {
		return nil, Issued{}, err
	}
	return der, is, nil
}

// Revoke revokes every certificate issued to name until now and drops the
// name's pending tokens. It returns the new revocation list, signed.
func (r *Registry) Revoke(name string) (pki.Revocation, []byte, error) {
	if err := pki.ValidName(name); err != nil {
		return pki.Revocation{}, nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	// Whole seconds, rounded up: certificates record their issue time in
	// whole seconds, and one issued in this second must be covered.
	at := now.Truncate(time.Second).Add(time.Second).UTC()
	next := r.st
	next.Revocations.Revoked = slices.DeleteFunc(slices.Clone(next.Revocations.Revoked), func(v pki.Revocation) bool { return v.Name == name })
	rev := pki.Revocation{Name: name, At: at}
	next.Revocations.Revoked = append(next.Revocations.Revoked, rev)
	next.Revocations.Number++
	next.Revocations.Issued = now.UTC()
	next.Tokens = slices.DeleteFunc(slices.Clone(next.Tokens), func(t pendingToken) bool { return t.Name == name })
	signed, err := r.ca.SignRevocations(next.Revocations)
	if err != nil {
		return pki.Revocation{}, nil, err
	}
	prev := r.st
	r.st = next
	if err := r.save(); err != nil {
		r.st = prev
		return pki.Revocation{}, nil, err
	}
	r.signed = signed
	return rev, signed, nil
}

// Revoked reports whether the registry's list revokes cert.
func (r *Registry) Revoked(cert *x509.Certificate) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.st.Revocations.Covers(cert)
}

// Signed returns the signed revocation list and its number (0, nil: none).
func (r *Registry) Signed() (uint64, []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.st.Revocations.Number, r.signed
}

// Listing is what 'edgerag cert list' shows.
type Listing struct {
	CAFingerprint string           `json:"ca_fingerprint"`
	Certs         []CertInfo       `json:"certs"`
	Revoked       []pki.Revocation `json:"revoked"`
	Tokens        []TokenInfo      `json:"tokens"`
}

// CertInfo is an issued certificate and whether it is revoked.
type CertInfo struct {
	Issued
	Revoked bool `json:"revoked"`
}

// List returns the registry's contents, without token secrets.
func (r *Registry) List() Listing {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	l := Listing{CAFingerprint: r.ca.Fingerprint(), Revoked: slices.Clone(r.st.Revocations.Revoked), Certs: []CertInfo{}, Tokens: []TokenInfo{}}
	for _, c := range r.st.Certs {
		at, ok := r.st.Revocations.RevokedAt(c.Name)
		l.Certs = append(l.Certs, CertInfo{Issued: c, Revoked: ok && !c.IssuedAt.After(at)})
	}
	for _, t := range r.st.Tokens {
		if now.Before(t.Expires) {
			l.Tokens = append(l.Tokens, TokenInfo{Name: t.Name, Role: t.Role, Expires: t.Expires, By: t.By, Groups: t.Groups})
		}
	}
	slices.SortFunc(l.Certs, func(a, b CertInfo) int { return strings.Compare(a.Name, b.Name) })
	return l
}

// WriteTable prints the listing for 'edgerag cert list'.
func (l Listing) WriteTable(w io.Writer, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "CA %s\n", l.CAFingerprint)
	fmt.Fprintln(tw, "NAME\tROLE\tISSUED\tEXPIRES\tVIA\tSTATE\tGROUPS")
	for _, c := range l.Certs {
		state := "valid"
		switch {
		case c.Revoked:
			state = "revoked"
		case now.After(c.NotAfter):
			state = "expired"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.Name, c.Role, c.IssuedAt.Format(time.RFC3339), c.NotAfter.Format(time.RFC3339), c.Via, state, groupsText(c.Groups))
	}
	for _, r := range l.Revoked {
		fmt.Fprintf(tw, "%s\t\t\t\trevoked\tcertificates until %s\t\n", r.Name, r.At.Format(time.RFC3339))
	}
	for _, t := range l.Tokens {
		fmt.Fprintf(tw, "%s\t%s\t\t%s\ttoken\tpending\t%s\n", t.Name, t.Role, t.Expires.Format(time.RFC3339), groupsText(t.Groups))
	}
	return tw.Flush()
}

// groupsText shows a bound on asserted groups: "any" without one.
func groupsText(g pki.Groups) string {
	switch {
	case !g.Bounded:
		return "any"
	case len(g.Names) == 0:
		return "none"
	}
	return strings.Join(g.Names, ",")
}
