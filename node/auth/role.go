// Package auth decides who may do what on a node: bearer tokens with a role
// (query ⊂ ingest ⊂ admin) and optional groups, stored hashed in the node's
// Badger store; the HTTP middleware that checks them before a request's body
// is read; the principal a request runs as, carried in its context down to
// retrieval, which shows a principal only the documents its groups may see;
// and the node's append-only, size-bounded audit log. The agent wires it in
// front of the HTTP API; node reads the principal of a query from its
// context; sync/queryrpc carries it across an escalation.
package auth

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// Role is what a principal may do. Each role includes the ones below it.
type Role uint8

// Roles, weakest first.
const (
	RoleNone   Role = iota // nothing but /healthz and /readyz
	RoleQuery              // ask questions, read status, metrics and the status page
	RoleIngest             // also add and delete documents
	RoleAdmin              // also publish, roll out, change config, rotate keys, manage tokens, read the audit log
)

var roleNames = [...]string{"none", "query", "ingest", "admin"}

func (r Role) String() string {
	if int(r) < len(roleNames) {
		return roleNames[r]
	}
	return fmt.Sprintf("role(%d)", r)
}

// ParseRole reads a role name: none, query, ingest or admin.
func ParseRole(s string) (Role, error) {
	for i, n := range roleNames {
		if strings.EqualFold(s, n) {
			return Role(i), nil
		}
	}
	return RoleNone, fmt.Errorf("role %q: use query, ingest or admin", s)
}

// MarshalText writes the role's name, so JSON shows "admin", not 3.
func (r Role) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText reads a role's name.
func (r *Role) UnmarshalText(b []byte) error {
	v, err := ParseRole(string(b))
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// Allows reports whether a principal with role r may do what needs role
// need.
func (r Role) Allows(need Role) bool { return r >= need }

// Principal is who a request runs as.
type Principal struct {
	// Name is the token's name, "anonymous", or for a question another
	// node forwarded, "<node>/<name of the asking principal>".
	Name   string
	Role   Role
	Groups []string // sorted, unique; none: sees only documents without groups
	// Unverified marks a forwarded question whose asker's groups are not
	// known (a node of an older version did not send them): it sees no
	// restricted shard at all.
	Unverified bool
	// Scoped limits the principal to the shards in Shards: another node's
	// question sees only what this node makes available to it (central's
	// published shards, an edge's synced and shared ones).
	Scoped bool
	Shards []string
}

// InScope reports whether the principal may search shard.
func (p Principal) InScope(shard string) bool {
	return !p.Scoped || slices.Contains(p.Shards, shard)
}

// Anonymous is the name of requests without a token when the node grants
// anonymous access.
const Anonymous = "anonymous"

type principalKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the principal ctx carries. A context without one
// (an in-process caller such as eval) gets ok == false; retrieval then
// shows only documents without groups.
func FromContext(ctx context.Context) (p Principal, ok bool) {
	p, ok = ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// MaxGroups bounds the groups of a token or a document.
const MaxGroups = 32

// MaxNameLen bounds token and group names.
const MaxNameLen = 64

// ValidName checks a token or group name: 1–64 characters of lower-case
// letters, digits, '-', '_' and '.', starting with a letter or digit.
func ValidName(kind, s string) error {
	if s == "" || len(s) > MaxNameLen {
		return fmt.Errorf("%s name %q: must be 1 to %d characters", kind, s, MaxNameLen)
	}
	for i, r := range s {
		ok := (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || (i > 0 && (r == '-' || r == '_' || r == '.'))
		if !ok {
			return fmt.Errorf("%s name %q: use lower-case letters, digits, '-', '_' and '.', starting with a letter or digit", kind, s)
		}
	}
	return nil
}

// NormalizeGroups checks group names and returns them sorted and unique;
// nil for none.
func NormalizeGroups(groups []string) ([]string, error) {
	if len(groups) == 0 {
		return nil, nil
	}
	if len(groups) > MaxGroups {
		return nil, fmt.Errorf("%d groups; at most %d", len(groups), MaxGroups)
	}
	out := make([]string, 0, len(groups))
	for _, g := range groups {
		g = strings.TrimSpace(g)
		if err := ValidName("group", g); err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// ParseGroupList reads a comma-separated list of groups ("" for none).
func ParseGroupList(s string) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	return NormalizeGroups(strings.Split(s, ","))
}

// CanSee reports whether a principal with groups may see a document with
// docGroups: a document without groups is everyone's, one with groups is
// seen by principals sharing at least one of them. Both lists are sorted.
func CanSee(principal, docGroups []string) bool {
	if len(docGroups) == 0 {
		return true
	}
	i, j := 0, 0
	for i < len(principal) && j < len(docGroups) {
		switch c := strings.Compare(principal[i], docGroups[j]); {
		case c == 0:
			return true
		case c < 0:
			i++
		default:
			j++
		}
	}
	return false
}

// Subset reports whether every group of want is in have (both sorted).
func Subset(want, have []string) bool {
	for _, g := range want {
		if _, ok := slices.BinarySearch(have, g); !ok {
			return false
		}
	}
	return true
}
