package auth

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// TokenFile is the name of the file in a node's data directory that holds
// the bootstrap admin token.
const TokenFile = "admin.token"

// Bootstrap makes sure an admin can reach a new node: when no admin token
// exists it creates one named "admin" and writes it to dataDir/admin.token,
// readable by the owner only, and returns the file's path. A node that has
// an admin token already returns "".
func Bootstrap(ctx context.Context, t *Tokens, dataDir string, audit *Audit) (string, error) {
	if t.HasRole(RoleAdmin) {
		return "", nil
	}
	name := "admin"
	for i := 2; t.hasName(name); i++ {
		name = fmt.Sprintf("admin-%d", i)
	}
	tok, _, err := t.Create(ctx, name, RoleAdmin, nil, "bootstrap")
	if err != nil {
		return "", fmt.Errorf("bootstrap admin token: %w", err)
	}
	path := filepath.Join(dataDir, TokenFile)
	if err := writePrivate(path, tok+"\n"); err != nil {
		_, _ = t.Revoke(ctx, name) // unusable without the file
		return "", fmt.Errorf("bootstrap admin token: %w", err)
	}
	audit.Record(Event{Kind: EventBootstrap, Principal: "bootstrap", Action: "token create", Detail: name + " written to " + path})
	return path, nil
}

func (t *Tokens) hasName(name string) bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	for _, r := range t.byID {
		if r.Name == name {
			return true
		}
	}
	return false
}

// writePrivate replaces path with content, mode 0600, atomically: a reader
// never sees half a token.
func writePrivate(path, content string) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(content); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// ReadTokenFile returns the token in dataDir/admin.token, or "" when there
// is none.
func ReadTokenFile(dataDir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, TokenFile))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read admin token: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}
