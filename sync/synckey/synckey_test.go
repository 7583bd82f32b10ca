package synckey

import (
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgerag/edgerag/sync/manifest"
)

// TestGenerate writes a key pair that parses back, with the private half
// readable only by its owner, and refuses to write over it.
func TestGenerate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	id, err := Generate(dir, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := os.ReadFile(filepath.Join(dir, "sync.key"))
	if err != nil {
		t.Fatal(err)
	}
	pb, err := os.ReadFile(filepath.Join(dir, "sync.pub"))
	if err != nil {
		t.Fatal(err)
	}
	priv, err := manifest.ParsePrivateKey(kb)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := manifest.ParsePublicKey(pb)
	if err != nil {
		t.Fatal(err)
	}
	if manifest.IDOf(pub) != id || !pub.Equal(priv.Public()) {
		t.Fatalf("the files do not hold the pair of key %s", id)
	}
	if st, _ := os.Stat(filepath.Join(dir, "sync.key")); st.Mode().Perm() != 0o600 {
		t.Errorf("sync.key mode %v, want 0600", st.Mode().Perm())
	}
	if _, err := Generate(dir, rand.Reader); err == nil || !strings.Contains(err.Error(), "remove the old key only if no edge trusts it") {
		t.Fatalf("second keygen into the same directory: %v", err)
	}
	if kb2, _ := os.ReadFile(filepath.Join(dir, "sync.key")); string(kb2) != string(kb) {
		t.Fatal("the key was overwritten")
	}
}
