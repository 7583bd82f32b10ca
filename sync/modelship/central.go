package modelship

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/ollama/ollama/types/model"

	"github.com/edgerag/edgerag/sync/manifest"
	"github.com/edgerag/edgerag/sync/transport"
	"github.com/edgerag/edgerag/sync/wire"
)

// maxOllamaManifest bounds the Ollama manifest file central reads: a few
// layers of JSON are a kilobyte or two.
const maxOllamaManifest = 1 << 20

// Source reads models from an Ollama models directory: the layout Ollama
// keeps under OLLAMA_MODELS, manifests/<host>/<namespace>/<model>/<tag>
// (JSON) and blobs/sha256-<hex>.
type Source struct {
	Dir string
}

// DefaultModelsDir returns the directory a local Ollama keeps its models in:
// OLLAMA_MODELS, or else ~/.ollama/models, as Ollama itself decides.
func DefaultModelsDir() (string, error) {
	if d := os.Getenv("OLLAMA_MODELS"); d != "" {
		return d, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find the Ollama models directory (set OLLAMA_MODELS): %w", err)
	}
	return filepath.Join(home, ".ollama", "models"), nil
}

// ollamaManifest is the part of Ollama's manifest file central needs.
type ollamaManifest struct {
	SchemaVersion int           `json:"schemaVersion"`
	Config        ollamaLayer   `json:"config"`
	Layers        []ollamaLayer `json:"layers"`
}

type ollamaLayer struct {
	MediaType string `json:"mediaType"`
	Digest    string `json:"digest"`
	Size      int64  `json:"size"`
}

// ParseModelName parses an Ollama model name ("all-minilm", "x:latest",
// "host/ns/model:tag"), filling in Ollama's defaults, and refuses one that
// does not map to a plain relative path.
func ParseModelName(name string) (model.Name, error) {
	n := model.ParseName(name)
	if !n.IsFullyQualified() {
		return n, fmt.Errorf("model name %q: not a valid Ollama model name (like \"all-minilm:latest\")", name)
	}
	if !filepath.IsLocal(n.Filepath()) {
		return n, fmt.Errorf("model name %q: does not name a file inside the models directory", name)
	}
	return n, nil
}

// Model reads the model called name and checks every blob it lists
// against its digest, so that central never signs a digest it has not
// checked. It reads every byte of the model: seconds for a gigabyte.
func (s Source) Model(ctx context.Context, name string) (manifest.Model, error) {
	n, err := ParseModelName(name)
	if err != nil {
		return manifest.Model{}, err
	}
	path := filepath.Join(s.Dir, "manifests", n.Filepath())
	raw, err := readLimited(path, maxOllamaManifest)
	if err != nil {
		return manifest.Model{}, fmt.Errorf("model %s: read its Ollama manifest (is it in %s? 'ollama list' shows the models): %w", n.DisplayShortest(), s.Dir, err)
	}
	var om ollamaManifest
	if err := json.Unmarshal(raw, &om); err != nil {
		return manifest.Model{}, fmt.Errorf("model %s: Ollama manifest %s: %w", n.DisplayShortest(), path, err)
	}
	if om.SchemaVersion != 2 {
		return manifest.Model{}, fmt.Errorf("model %s: Ollama manifest schema %d, this build reads 2", n.DisplayShortest(), om.SchemaVersion)
	}
	m := manifest.Model{Name: n.DisplayShortest(), Digest: fmt.Sprintf("sha256:%x", sha256.Sum256(raw))}
	for _, l := range append(slices.Clone(om.Layers), om.Config) {
		d, err := ParseDigest(l.Digest)
		if err != nil {
			return manifest.Model{}, fmt.Errorf("model %s: layer: %w", m.Name, err)
		}
		if err := checkBlob(ctx, s.blobPath(d), d, l.Size); err != nil {
			return manifest.Model{}, fmt.Errorf("model %s: %w", m.Name, err)
		}
		m.Blobs = append(m.Blobs, manifest.Blob{Digest: l.Digest, Size: l.Size, MediaType: l.MediaType})
	}
	return m, nil
}

func (s Source) blobPath(d [32]byte) string { return filepath.Join(s.Dir, "blobs", blobFile(d)) }

func readLimited(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s is over %d bytes", path, max)
	}
	return b, nil
}

// checkBlob verifies that the file at path has size bytes hashing to d.
func checkBlob(ctx context.Context, path string, d [32]byte, size int64) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("blob %s: %w", digestString(d), err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, ctxReader{ctx, f})
	if err != nil {
		return fmt.Errorf("blob %s: %w", digestString(d), err)
	}
	if n != size {
		return fmt.Errorf("blob %s: %d bytes on disk, the manifest says %d", digestString(d), n, size)
	}
	if [32]byte(h.Sum(nil)) != d {
		return fmt.Errorf("blob %s: %w: the file on disk hashes otherwise; repair it with 'ollama pull' or recreate the model", digestString(d), ErrDigestMismatch)
	}
	return nil
}

// ctxReader stops a long read when ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// Central serves the published model manifests and the blobs they list.
// Only blobs of a published manifest are served: a digest is a key into
// that set, never a path, so a peer cannot read anything else.
type Central struct {
	src Source
	log *slog.Logger

	mu       sync.RWMutex
	signed   []byte             // the latest signed envelope, what edges fetch by default
	versions map[uint64][]byte  // every version served, by number
	blobs    map[[32]byte]int64 // digest -> size, of the models of every version served
}

// NewCentral serves models from src. log may be nil.
func NewCentral(src Source, log *slog.Logger) *Central {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Central{src: src, log: log}
}

// Publish reads the named models, signs a model manifest of them with
// priv and serves it from now on in place of the previous one.
func (c *Central) Publish(ctx context.Context, priv ed25519.PrivateKey, version uint64, created time.Time, names ...string) (manifest.Models, error) {
	models, err := c.Read(ctx, names...)
	if err != nil {
		return manifest.Models{}, err
	}
	ms := manifest.Models{Version: version, Created: created.UTC(), Models: models}
	signed, err := manifest.SignModels(priv, &ms)
	if err != nil {
		return manifest.Models{}, fmt.Errorf("publish models: %w", err)
	}
	if _, err := c.Serve(signed); err != nil {
		return manifest.Models{}, err
	}
	return ms, nil
}

// Read reads the named models and checks every blob against its digest,
// returning them sorted by name, each once: the Models of a manifest.
func (c *Central) Read(ctx context.Context, names ...string) ([]manifest.Model, error) {
	var models []manifest.Model
	for _, name := range names {
		m, err := c.src.Model(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("publish models: %w", err)
		}
		models = append(models, m)
	}
	slices.SortFunc(models, func(a, b manifest.Model) int { return cmpString(a.Name, b.Name) })
	return slices.CompactFunc(models, func(a, b manifest.Model) bool { return a.Name == b.Name }), nil
}

// Serve makes signed (a model manifest central signed, as SignModels
// returns it) the one edges fetch, and its blobs the ones served. Versions
// served before stay fetchable by number (a staged rollout keeps edges on
// one of them), with their blobs.
func (c *Central) Serve(signed []byte) (manifest.Models, error) {
	return c.serve(signed, true)
}

// Keep serves an older version by number, as Serve, without making it the
// latest: a restarted central keeps its history fetchable.
func (c *Central) Keep(signed []byte) (manifest.Models, error) {
	return c.serve(signed, false)
}

func (c *Central) serve(signed []byte, latest bool) (manifest.Models, error) {
	if len(signed) > wire.MaxManifest {
		return manifest.Models{}, fmt.Errorf("publish models: signed manifest is %d bytes, over the wire limit of %d: publish fewer models", len(signed), wire.MaxManifest)
	}
	e, err := manifest.UnmarshalEnvelope(signed)
	if err == nil && e.Kind != manifest.KindModels {
		err = fmt.Errorf("a %s manifest, not a model manifest", e.Kind)
	}
	var ms manifest.Models
	if err == nil {
		ms, err = manifest.UnmarshalModels(e.Body)
	}
	if err != nil {
		return manifest.Models{}, fmt.Errorf("serve models: %w", err)
	}
	blobs := make(map[[32]byte]int64)
	for _, m := range ms.Models {
		for _, b := range m.Blobs {
			d, err := ParseDigest(b.Digest)
			if err != nil {
				return manifest.Models{}, fmt.Errorf("serve models: model %s: %w", m.Name, err)
			}
			blobs[d] = b.Size
		}
	}
	c.mu.Lock()
	if latest {
		c.signed = signed
	}
	if c.versions == nil {
		c.versions, c.blobs = make(map[uint64][]byte), make(map[[32]byte]int64)
	}
	c.versions[ms.Version] = signed
	maps.Copy(c.blobs, blobs)
	c.mu.Unlock()
	c.log.Info("model manifest served", "version", ms.Version, "latest", latest, "models", len(ms.Models), "blobs", len(blobs))
	return ms, nil
}

// manifestFor returns the signed manifest a TypeModelManifest request asks
// for: no payload or version 0, the latest; else that version.
func (c *Central) manifestFor(payload []byte) ([]byte, error) {
	var req struct {
		Version uint64 `json:"version"`
	}
	if len(payload) > 0 {
		d := json.NewDecoder(bytes.NewReader(payload))
		d.DisallowUnknownFields()
		if err := d.Decode(&req); err != nil || d.More() {
			return nil, transport.Errorf(wire.CodeBadRequest, "model manifest request: want {\"version\": N}")
		}
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	if req.Version == 0 {
		if c.signed == nil {
			return nil, transport.Errorf(wire.CodeNotFound, "central has published no model manifest yet")
		}
		return c.signed, nil
	}
	b, ok := c.versions[req.Version]
	if !ok {
		return nil, transport.Errorf(wire.CodeNotFound, "central does not serve model manifest version %d", req.Version)
	}
	return b, nil
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Handle serves wire types TypeModelManifest and TypeModelBlob; give it the
// requests of those types from the node's transport handler.
func (c *Central) Handle(ctx context.Context, peer transport.Peer, req wire.Frame) ([]byte, error) {
	switch req.Type {
	case wire.TypeModelManifest:
		return c.manifestFor(req.Payload)
	case wire.TypeModelBlob:
		return c.serveRange(ctx, peer, req.Payload)
	}
	return nil, transport.Errorf(wire.CodeBadRequest, "modelship does not serve %s requests", req.Type)
}

func (c *Central) serveRange(ctx context.Context, peer transport.Peer, payload []byte) ([]byte, error) {
	r, err := ParseRangeRequest(payload)
	if err != nil {
		return nil, transport.Errorf(wire.CodeBadRequest, "%v", err)
	}
	c.mu.RLock()
	size, ok := c.blobs[r.Digest]
	c.mu.RUnlock()
	if !ok {
		return nil, transport.Errorf(wire.CodeNotFound, "blob %s is in no published model", digestString(r.Digest))
	}
	if r.Offset >= uint64(size) {
		return nil, transport.Errorf(wire.CodeBadRequest, "offset %d is past the end of blob %s (%d bytes)", r.Offset, digestString(r.Digest), size)
	}
	n := min(uint64(r.Length), uint64(size)-r.Offset)
	f, err := os.Open(c.src.blobPath(r.Digest))
	if err != nil {
		return nil, fmt.Errorf("serve blob %s to %s: %w", digestString(r.Digest), peer.Name, err)
	}
	defer f.Close()
	buf := make([]byte, n)
	if _, err := f.ReadAt(buf, int64(r.Offset)); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, transport.Errorf(wire.CodeNotFound, "blob %s is shorter on central than published; central must republish", digestString(r.Digest))
		}
		return nil, fmt.Errorf("serve blob %s to %s: %w", digestString(r.Digest), peer.Name, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return buf, nil
}
