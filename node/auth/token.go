package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/edgerag/edgerag/node/api"
)

// A token reads "edgerag_<id>_<secret>": a 64-bit id in hex that names the
// stored record, and a 256-bit secret in hex of which only the SHA-256 is
// stored. A plain hash suffices (no slow KDF) because the secret is random,
// not a password: guessing it means searching 2^256 values.
const (
	tokenPrefix = "edgerag_"
	idHexLen    = 16
	secretBytes = 32
	tokenLen    = len(tokenPrefix) + idHexLen + 1 + 2*secretBytes
)

// Errors callers branch on.
var (
	ErrBadToken   = errors.New("token is not valid")
	ErrNoSuchName = errors.New("no such token")
	ErrNameTaken  = errors.New("a token with this name exists")
)

// TokenInfo is a token as stored and listed: everything but its secret.
type TokenInfo struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Role      Role      `json:"role"`
	Groups    []string  `json:"groups,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by,omitempty"`
}

type tokenRecord struct {
	TokenInfo
	Hash string `json:"sha256"` // of the secret, hex
}

func tokenKey(id string) string { return "tok/" + id }

// Tokens manages a node's tokens. Verification reads a copy held in
// memory, so checking a request costs a hash and a map lookup; every change
// is written to the store first. It is safe for concurrent use.
type Tokens struct {
	kv  KV
	now func() time.Time

	mu   sync.RWMutex
	byID map[string]tokenRecord
}

// OpenTokens loads the tokens of kv. now may be nil for time.Now.
func OpenTokens(ctx context.Context, kv KV, now func() time.Time) (*Tokens, error) {
	if now == nil {
		now = time.Now
	}
	t := &Tokens{kv: kv, now: now, byID: make(map[string]tokenRecord)}
	err := kv.Scan(ctx, "tok/", false, func(_ string, v []byte) error {
		var r tokenRecord
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("token record: %w", err)
		}
		t.byID[r.ID] = r
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load tokens: %w", err)
	}
	return t, nil
}

// Create makes a token and returns its secret form, which is shown once and
// never stored. Names are unique among the live tokens.
func (t *Tokens) Create(ctx context.Context, name string, role Role, groups []string, by string) (string, TokenInfo, error) {
	bad := func(err error) error { return api.Errorf(http.StatusBadRequest, api.CodeBadRequest, "%v", err) }
	if err := ValidName("token", name); err != nil {
		return "", TokenInfo{}, bad(err)
	}
	if role < RoleQuery || role > RoleAdmin {
		return "", TokenInfo{}, bad(fmt.Errorf("role %v: a token is query, ingest or admin", role))
	}
	groups, err := NormalizeGroups(groups)
	if err != nil {
		return "", TokenInfo{}, bad(err)
	}
	var raw [8 + secretBytes]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", TokenInfo{}, fmt.Errorf("token: %w", err)
	}
	id, secret := hex.EncodeToString(raw[:8]), raw[8:]
	sum := sha256.Sum256(secret)
	rec := tokenRecord{
		TokenInfo: TokenInfo{ID: id, Name: name, Role: role, Groups: groups, CreatedAt: t.now().UTC(), CreatedBy: by},
		Hash:      hex.EncodeToString(sum[:]),
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return "", TokenInfo{}, err
	}
	// The lock is held across the write so two creations cannot both take
	// a name.
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, r := range t.byID {
		if r.Name == name {
			return "", TokenInfo{}, &api.Error{Status: http.StatusConflict, Code: api.CodeBadRequest,
				Message: fmt.Errorf("token %q: %w; revoke it first or pick another name", name, ErrNameTaken).Error()}
		}
	}
	if err := t.kv.Put(ctx, tokenKey(id), b); err != nil {
		return "", TokenInfo{}, fmt.Errorf("store token: %w", err)
	}
	t.byID[id] = rec
	return tokenPrefix + id + "_" + hex.EncodeToString(secret), rec.TokenInfo, nil
}

// List returns the live tokens, by name.
func (t *Tokens) List() []TokenInfo {
	t.mu.RLock()
	out := make([]TokenInfo, 0, len(t.byID))
	for _, r := range t.byID {
		out = append(out, r.TokenInfo)
	}
	t.mu.RUnlock()
	slices.SortFunc(out, func(a, b TokenInfo) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Revoke deletes the token with this name or id; requests carrying it are
// refused from then on.
func (t *Tokens) Revoke(ctx context.Context, nameOrID string) (TokenInfo, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for id, r := range t.byID {
		if r.Name == nameOrID || id == nameOrID {
			if err := t.kv.Delete(ctx, tokenKey(id)); err != nil {
				return TokenInfo{}, fmt.Errorf("revoke token: %w", err)
			}
			delete(t.byID, id)
			return r.TokenInfo, nil
		}
	}
	return TokenInfo{}, api.Errorf(http.StatusNotFound, api.CodeNotFound, "token %q: %v (edgerag token list shows the names)", nameOrID, ErrNoSuchName)
}

// HasRole reports whether a live token has at least role r.
func (t *Tokens) HasRole(r Role) bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	for _, rec := range t.byID {
		if rec.Role >= r {
			return true
		}
	}
	return false
}

// Verify returns the principal of a token in its secret form, or an error
// wrapping ErrBadToken. The secret is compared in constant time.
func (t *Tokens) Verify(token string) (Principal, error) {
	id, secret, err := parseToken(token)
	if err != nil {
		return Principal{}, err
	}
	sum := sha256.Sum256(secret[:])
	t.mu.RLock()
	rec, ok := t.byID[id]
	t.mu.RUnlock()
	var want [sha256.Size]byte
	if ok {
		if _, err := hex.Decode(want[:], []byte(rec.Hash)); err != nil {
			ok = false
		}
	}
	if subtle.ConstantTimeCompare(sum[:], want[:]) != 1 || !ok {
		return Principal{}, fmt.Errorf("%w: unknown or revoked", ErrBadToken)
	}
	return Principal{Name: rec.Name, Role: rec.Role, Groups: rec.Groups}, nil
}

// parseToken splits a token into its id and secret.
func parseToken(s string) (string, [secretBytes]byte, error) {
	var secret [secretBytes]byte
	if len(s) != tokenLen || !strings.HasPrefix(s, tokenPrefix) || s[len(tokenPrefix)+idHexLen] != '_' {
		return "", secret, fmt.Errorf("%w: expected edgerag_<16 hex>_<64 hex> (as 'edgerag token create' prints it)", ErrBadToken)
	}
	id := s[len(tokenPrefix) : len(tokenPrefix)+idHexLen]
	var idb [8]byte
	if _, err := hex.Decode(idb[:], []byte(id)); err != nil || strings.ToLower(id) != id {
		return "", secret, fmt.Errorf("%w: the id is not lower-case hex", ErrBadToken)
	}
	if _, err := hex.Decode(secret[:], []byte(s[len(s)-2*secretBytes:])); err != nil {
		return "", secret, fmt.Errorf("%w: the secret is not hex", ErrBadToken)
	}
	return id, secret, nil
}
