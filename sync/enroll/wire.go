// Package enroll brings a new device into the fleet and keeps it there:
// an admin makes a one-time token on central, the device makes its own key
// (it never leaves the device), sends a certificate request with the token
// and receives a short-lived fleet certificate and the CA certificate; the
// running node renews its certificate before it expires; an admin can
// revoke a device, which central refuses at once and every edge within one
// fleet-sync poll.
//
// Enrollment and renewal are HTTPS on central, on a listener of its own
// (by default the TCP port of the same number as its QUIC port). Central
// serves its fleet certificate there; a device checks it against the CA
// fingerprint the admin gave it (or the CA certificate file), so an
// enrollment never trusts whatever answers. Renewal presents the node's
// current certificate as a TLS client certificate.
//
// Central keeps tokens (hashed), issued certificates and the revocation
// list in a Registry beside the CA, whose key signs certificates and the
// revocation list and is never sent anywhere. node/agent wires the server
// into central and the Renewer into an enrolled edge; cmd_enroll.go and
// cmd_cert.go call it from the command line.
package enroll

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"time"

	"github.com/edgerag/edgerag/sync/pki"
)

// Paths of the enrollment listener.
const (
	PathEnroll = "/v1/enroll"
	PathRenew  = "/v1/renew"
)

// Paths of the admin routes on central's HTTP API.
const (
	PathTokens = "/v1/certs/enroll-tokens"
	PathRevoke = "/v1/certs/revoke"
	PathList   = "/v1/certs"
)

// maxRequest bounds an enrollment request's body: a token and a CSR.
const maxRequest = 16 << 10

// Request is the body of an enrollment (Token set) or a renewal (Token
// empty; the client certificate says who asks).
type Request struct {
	Token string `json:"token,omitempty"`
	CSR   []byte `json:"csr"` // DER, base64 in JSON
}

// Response carries the certificate issued and the CA certificate, PEM.
type Response struct {
	Name     string    `json:"name"`
	Role     string    `json:"role"`
	Cert     string    `json:"cert"`
	CA       string    `json:"ca"`
	NotAfter time.Time `json:"not_after"`
}

// TokenRequest asks central for an enrollment token.
type TokenRequest struct {
	Name string `json:"name"`
	Role string `json:"role,omitempty"` // "": edge
	TTL  string `json:"ttl,omitempty"`  // Go duration; "": 10m
	// Groups, when set (even to none), bounds the document groups the
	// node may assert for the askers of the questions it forwards; nil
	// leaves them unbounded.
	Groups *[]string `json:"groups,omitempty"`
}

// TokenResponse is a new enrollment token, shown once.
type TokenResponse struct {
	Token         string     `json:"token"`
	Name          string     `json:"name"`
	Role          string     `json:"role"`
	Expires       time.Time  `json:"expires"`
	CAFingerprint string     `json:"ca_fingerprint"`
	Groups        pki.Groups `json:"groups"`
}

// RevokeRequest asks central to revoke a node.
type RevokeRequest struct {
	Name string `json:"name"`
}

// RevokeResponse reports a revocation.
type RevokeResponse struct {
	Name      string    `json:"name"`
	RevokedAt time.Time `json:"revoked_at"`
	List      uint64    `json:"list"` // number of the revocation list now in force
}

// DefaultTokenTTL is an enrollment token's life when none is asked for.
const DefaultTokenTTL = 10 * time.Minute

// ParseRequest decodes an enrollment or renewal request from outside:
// exactly one JSON object with known fields, a CSR that parses, carries a
// valid self-signature and a supported key. It is what the enrollment
// listener runs on every body.
func ParseRequest(body []byte) (Request, *x509.CertificateRequest, error) {
	if len(body) > maxRequest {
		return Request{}, nil, fmt.Errorf("request of %d bytes: over the limit of %d", len(body), maxRequest)
	}
	var req Request
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return Request{}, nil, fmt.Errorf("request body: %w", err)
	}
	if dec.More() {
		return Request{}, nil, fmt.Errorf("request body: more than one JSON value")
	}
	if len(req.Token) > 256 {
		return Request{}, nil, fmt.Errorf("token of %d characters: too long to be an enrollment token", len(req.Token))
	}
	csr, err := pki.ParseCSR(req.CSR)
	if err != nil {
		return Request{}, nil, err
	}
	return req, csr, nil
}
