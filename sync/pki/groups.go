package pki

import (
	"crypto/x509"
	"fmt"
	"net/url"
	"strings"
)

// A node certificate may bound the document groups the node may assert for
// the people whose questions it forwards. Without a bound (certificates
// made by hand, and enrolled ones whose token named no groups) a node's
// claims are taken as they are; with one, the receiving node keeps only the
// claimed groups the certificate lists, so a compromised edge cannot read
// restricted documents of groups it was never meant to serve. The bound is
// carried as URI SANs: urn:edgerag:groups marks it, one
// urn:edgerag:group:NAME per group (NAME as node/auth checks group names).

const (
	groupsMarker = "edgerag:groups"
	groupPrefix  = "edgerag:group:"
)

// Groups is a certificate's bound on asserted groups.
type Groups struct {
	Bounded bool     `json:"bounded"`         // false: no bound (every claim is kept)
	Names   []string `json:"names,omitempty"` // the groups the node may assert, when Bounded
}

// Intersect keeps the claimed groups the bound allows.
func (g Groups) Intersect(claimed []string) []string {
	if !g.Bounded {
		return claimed
	}
	var out []string
	for _, c := range claimed {
		for _, n := range g.Names {
			if c == n {
				out = append(out, c)
				break
			}
		}
	}
	return out
}

func (g Groups) uris() ([]*url.URL, error) {
	if !g.Bounded {
		return nil, nil
	}
	out := []*url.URL{{Scheme: "urn", Opaque: groupsMarker}}
	for _, n := range g.Names {
		if n == "" || len(n) > 64 || strings.ContainsAny(n, ":/?#%, ") {
			return nil, fmt.Errorf("group %q cannot go into a certificate", n)
		}
		out = append(out, &url.URL{Scheme: "urn", Opaque: groupPrefix + n})
	}
	return out, nil
}

// GroupsOf returns the bound a certificate carries.
func GroupsOf(cert *x509.Certificate) Groups {
	var g Groups
	for _, u := range cert.URIs {
		if u.Scheme != "urn" {
			continue
		}
		switch {
		case u.Opaque == groupsMarker:
			g.Bounded = true
		case strings.HasPrefix(u.Opaque, groupPrefix):
			g.Names = append(g.Names, strings.TrimPrefix(u.Opaque, groupPrefix))
		}
	}
	if !g.Bounded {
		g.Names = nil
	}
	return g
}
