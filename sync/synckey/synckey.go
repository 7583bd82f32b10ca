// Package synckey writes central's fleet-sync signing key pair to files:
// sync.key, which only central holds (--sync-key), and sync.pub, which every
// edge trusts (--sync-pub). It never writes over a key the fleet may
// already trust. 'edgerag sync keygen' imports it.
package synckey

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/edgerag/edgerag/sync/manifest"
)

// Generate makes a new key pair from rand and writes it into dir (created
// 0700 if missing): sync.key mode 0600, sync.pub mode 0644. It returns
// the key's id.
func Generate(dir string, rand io.Reader) (manifest.KeyID, error) {
	pub, priv, err := manifest.GenerateKey(rand)
	if err != nil {
		return manifest.KeyID{}, err
	}
	kb, err := manifest.MarshalPrivateKey(priv)
	if err != nil {
		return manifest.KeyID{}, err
	}
	pb, err := manifest.MarshalPublicKey(pub)
	if err != nil {
		return manifest.KeyID{}, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return manifest.KeyID{}, fmt.Errorf("sync keygen: %w", err)
	}
	for _, f := range []struct {
		name string
		b    []byte
		mode os.FileMode
	}{{"sync.key", kb, 0o600}, {"sync.pub", pb, 0o644}} {
		// O_EXCL: never overwrite a key the fleet already trusts.
		fh, err := os.OpenFile(filepath.Join(dir, f.name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, f.mode)
		if err != nil {
			return manifest.KeyID{}, fmt.Errorf("sync keygen: %w (remove the old key only if no edge trusts it)", err)
		}
		_, err = fh.Write(f.b)
		if cerr := fh.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return manifest.KeyID{}, fmt.Errorf("sync keygen: %w", err)
		}
	}
	return manifest.IDOf(pub), nil
}
