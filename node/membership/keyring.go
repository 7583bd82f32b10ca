package membership

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/hashicorp/serf/serf"
)

// KeySize is the gossip key length: AES-256.
const KeySize = 32

// maxKeyringFile bounds what LoadKeyring reads; a keyring holds a few keys.
const maxKeyringFile = 64 << 10

// The keyring file is Serf's own format, a JSON array of base64 keys with
// the primary (the one messages are encrypted with) first, so that Serf can
// rewrite it when keys are installed, used or removed at run time and a
// restarted node starts with the keys the fleet moved to.

// GenerateKey returns a new random gossip key, base64-encoded.
func GenerateKey() (string, error) {
	var k [KeySize]byte
	if _, err := rand.Read(k[:]); err != nil {
		return "", fmt.Errorf("read random key: %w", err)
	}
	return base64.StdEncoding.EncodeToString(k[:]), nil
}

// DecodeKey checks one base64 gossip key.
func DecodeKey(s string) ([]byte, error) {
	k, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("gossip key is not base64: %w (make one with 'edgerag keys generate')", err)
	}
	if len(k) != KeySize {
		return nil, fmt.Errorf("gossip key is %d bytes; want %d (AES-256; make one with 'edgerag keys generate')", len(k), KeySize)
	}
	return k, nil
}

// ParseKeyring reads a keyring file's content: the keys, primary first.
func ParseKeyring(b []byte) ([][]byte, error) {
	var enc []string
	if err := json.Unmarshal(b, &enc); err != nil {
		return nil, fmt.Errorf("keyring is not a JSON array of base64 keys: %w", err)
	}
	if len(enc) == 0 {
		return nil, errors.New("keyring holds no key; make one with 'edgerag keys generate'")
	}
	keys := make([][]byte, 0, len(enc))
	for i, s := range enc {
		k, err := DecodeKey(s)
		if err != nil {
			return nil, fmt.Errorf("keyring entry %d: %w", i+1, err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// LoadKeyring reads the keyring file at path. The file must be readable by
// its owner only (mode 0600 or stricter): whoever reads the key can join
// the pool and forge membership.
func LoadKeyring(path string) ([][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open keyring: %w (make one with 'edgerag keys generate --out %s')", err, path)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("keyring %s: %w", path, err)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("keyring %s has mode %04o: others may read the gossip key; run 'chmod 600 %s'", path, perm, path)
	}
	if st.Size() > maxKeyringFile {
		return nil, fmt.Errorf("keyring %s is %d bytes; a keyring holds a few keys", path, st.Size())
	}
	b := make([]byte, st.Size())
	if _, err := f.ReadAt(b, 0); err != nil && st.Size() > 0 {
		return nil, fmt.Errorf("read keyring %s: %w", path, err)
	}
	keys, err := ParseKeyring(b)
	if err != nil {
		return nil, fmt.Errorf("keyring %s: %w", path, err)
	}
	return keys, nil
}

// WriteKeyring writes keys (base64, primary first) to a new file at path
// with mode 0600. It refuses to overwrite an existing keyring: replacing
// the key of a running fleet is what 'edgerag keys rotate' is for.
func WriteKeyring(path string, keys []string) error {
	for i, k := range keys {
		if _, err := DecodeKey(k); err != nil {
			return fmt.Errorf("key %d: %w", i+1, err)
		}
	}
	b, err := json.MarshalIndent(keys, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create keyring: %w (to change the key of a running fleet use 'edgerag keys rotate')", err)
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("write keyring: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write keyring: %w", err)
	}
	return f.Close()
}

// KeyResult is what a keyring operation reports from the pool.
type KeyResult struct {
	Op       string            `json:"op"`
	Nodes    int               `json:"nodes"`    // members asked
	Answered int               `json:"answered"` // members that answered
	Failed   int               `json:"failed"`   // members that answered with an error
	Messages map[string]string `json:"messages"` // member → error
	Keys     map[string]int    `json:"keys"`     // list: key → members holding it
	Primary  map[string]int    `json:"primary"`  // list: primary key → members using it
}

// errNoEncryption refuses key operations on a pool without a keyring.
var errNoEncryption = errors.New("gossip is not encrypted (--insecure-dev); there are no keys to manage")

// Keys runs a keyring operation across the pool: "list", or "install",
// "use", "remove" of key (base64). Serf asks every member and each
// rewrites its keyring file.
func (a *Agent) Keys(op, key string) (KeyResult, error) {
	if !a.serf.EncryptionEnabled() {
		return KeyResult{}, errNoEncryption
	}
	km := a.serf.KeyManager()
	if op != "list" {
		if _, err := DecodeKey(key); err != nil {
			return KeyResult{}, err
		}
	}
	var r *serf.KeyResponse
	var err error
	switch op {
	case "list":
		r, err = km.ListKeys()
	case "install":
		r, err = km.InstallKey(key)
	case "use":
		r, err = km.UseKey(key)
	case "remove":
		r, err = km.RemoveKey(key)
	default:
		return KeyResult{}, fmt.Errorf("key operation %q: use list, install, use or remove", op)
	}
	if r == nil {
		return KeyResult{}, err
	}
	res := KeyResult{Op: op, Nodes: r.NumNodes, Answered: r.NumResp, Failed: r.NumErr, Messages: r.Messages, Keys: r.Keys, Primary: r.PrimaryKeys}
	if err != nil {
		return res, fmt.Errorf("%s key: %w", op, err)
	}
	return res, nil
}

// splitHostPort parses host:port with a numeric port (0 allowed).
