package pki

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
)

// The fleet's revocation list names nodes, not serial numbers: revoking a
// node at time T revokes every certificate issued to that name at or before
// T (certificates enrolled through central and ones made by hand with
// 'cert issue' alike), and a certificate issued after T — a device
// enrolled again with a new token — is good. The CA signs the list;
// central hands it to edges with fleet sync, and every node refuses
// handshakes and requests from a revoked certificate.

// ErrRevoked reports a peer whose certificate the fleet revoked.
var ErrRevoked = errors.New("certificate revoked")

// MaxRevocationList bounds a signed revocation list from outside: tens of
// thousands of revoked names.
const MaxRevocationList = 4 << 20

// Revocation revokes the certificates of Name issued at or before At.
type Revocation struct {
	Name string    `json:"name"`
	At   time.Time `json:"at"`
}

// RevocationList is the fleet's revocations. Number grows with every
// change, so a node keeps the newest list it has seen and ignores an older
// one replayed at it.
type RevocationList struct {
	Number  uint64       `json:"number"`
	Issued  time.Time    `json:"issued"`
	Revoked []Revocation `json:"revoked"`
}

// RevokedAt returns the time up to which certificates of name are revoked.
func (l *RevocationList) RevokedAt(name string) (time.Time, bool) {
	for _, r := range l.Revoked {
		if r.Name == name {
			return r.At, true
		}
	}
	return time.Time{}, false
}

// Covers reports whether the list revokes cert.
func (l *RevocationList) Covers(cert *x509.Certificate) bool {
	at, ok := l.RevokedAt(cert.Subject.CommonName)
	return ok && !IssuedAt(cert).After(at)
}

// signedList is the wire form: the list's JSON and the CA's signature
// over it.
type signedList struct {
	List []byte `json:"list"`
	Sig  []byte `json:"sig"`
}

// SignRevocations signs a revocation list with the CA key.
func (ca *CA) SignRevocations(l RevocationList) ([]byte, error) {
	body, err := json.Marshal(l)
	if err != nil {
		return nil, fmt.Errorf("sign revocation list: %w", err)
	}
	// An Ed25519 key signs the message itself (crypto.Hash(0)).
	opts := crypto.SignerOpts(crypto.Hash(0))
	if _, ok := ca.key.Public().(ed25519.PublicKey); !ok {
		return nil, fmt.Errorf("sign revocation list: the fleet CA key is a %T; revocation lists need the Ed25519 key 'ca init' makes", ca.key.Public())
	}
	sig, err := ca.key.Sign(rand.Reader, append([]byte(revocationContext), body...), opts)
	if err != nil {
		return nil, fmt.Errorf("sign revocation list: %w", err)
	}
	return json.Marshal(signedList{List: body, Sig: sig})
}

// revocationContext separates the CA's signatures over revocation lists
// from anything else the key signs.
const revocationContext = "edgerag revocation list\x00"

// OpenRevocations verifies a signed revocation list against any of the CA
// certificates cas and decodes it. It is the parser of revocation lists
// arriving from outside.
func OpenRevocations(b []byte, cas []*x509.Certificate) (RevocationList, error) {
	if len(b) > MaxRevocationList {
		return RevocationList{}, fmt.Errorf("revocation list of %d bytes: over the limit of %d", len(b), MaxRevocationList)
	}
	var s signedList
	if err := json.Unmarshal(b, &s); err != nil {
		return RevocationList{}, fmt.Errorf("revocation list: %w", err)
	}
	verified := false
	for _, ca := range cas {
		if pub, ok := ca.PublicKey.(ed25519.PublicKey); ok && ed25519.Verify(pub, append([]byte(revocationContext), s.List...), s.Sig) {
			verified = true
			break
		}
	}
	if !verified {
		return RevocationList{}, errors.New("revocation list: not signed by the fleet CA")
	}
	var l RevocationList
	if err := json.Unmarshal(s.List, &l); err != nil {
		return RevocationList{}, fmt.Errorf("revocation list: %w", err)
	}
	for _, r := range l.Revoked {
		if err := ValidName(r.Name); err != nil {
			return RevocationList{}, fmt.Errorf("revocation list: %w", err)
		}
	}
	return l, nil
}

// Revoked reports whether the newest revocation list applied revokes cert.
func (id *Identity) Revoked(cert *x509.Certificate) bool { return id.revoked.Load().Covers(cert) }

// Revocations returns the newest revocation list applied (Number 0: none).
func (id *Identity) Revocations() RevocationList {
	l := *id.revoked.Load()
	l.Revoked = slices.Clone(l.Revoked)
	return l
}

// SetRevocations verifies a signed revocation list against the fleet CA
// and applies it when it is newer than the one applied; it returns the
// number of the list in force. New handshakes and, through the transport,
// new requests of revoked peers are refused from then on.
func (id *Identity) SetRevocations(signed []byte) (uint64, error) {
	l, err := OpenRevocations(signed, id.cas)
	if err != nil {
		return id.revoked.Load().Number, err
	}
	for {
		cur := id.revoked.Load()
		if l.Number <= cur.Number {
			return cur.Number, nil
		}
		if id.revoked.CompareAndSwap(cur, &l) {
			return l.Number, nil
		}
	}
}
