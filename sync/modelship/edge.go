package modelship

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/ollama/ollama/api"

	"github.com/edgerag/edgerag/sync/manifest"
	"github.com/edgerag/edgerag/sync/transport"
	"github.com/edgerag/edgerag/sync/wire"
)

// Errors EnsureModel returns; test with errors.Is.
var (
	// ErrDigestMismatch reports a blob whose bytes do not hash to the
	// digest central signed: it was altered or corrupted. Its staged copy
	// is deleted and nothing of it reaches Ollama.
	ErrDigestMismatch = errors.New("blob does not match its signed digest")
	// ErrModelMismatch reports a model that Ollama recreated with another
	// manifest digest than central's, so it is not the model central signed.
	ErrModelMismatch = errors.New("recreated model differs from central's")
)

// Target names central on the transport.
type Target struct {
	Name string // node name in central's fleet certificate
	Addr string // host:port of central's QUIC listener
}

// Progress reports what EnsureModel is doing.
type Progress struct {
	Model  string
	Phase  string // "fetch", "push", "create" or "ready"
	Digest string // the blob being fetched or pushed
	// Done and Total count the blob's bytes held; Fetched counts the bytes
	// this call received from central (a resumed blob starts above zero
	// Done with zero Fetched).
	Done, Total, Fetched int64
}

// EdgeConfig configures an Edge.
type EdgeConfig struct {
	Transport transport.Caller    // required: a *transport.Client or a *transport.Group
	Central   Target              // required
	Trusted   []ed25519.PublicKey // central's sync keys; required
	// OllamaHost is the local Ollama's base URL ("http://127.0.0.1:11434").
	OllamaHost string
	// HTTPClient talks to Ollama; nil means one without a timeout, as a
	// push of a large blob takes long. Calls are bounded by their context.
	HTTPClient *http.Client
	// StageDir keeps partly fetched blobs, so a transfer resumes after a
	// restart; it should be under the node's data directory. Required.
	StageDir string
	// RangeSize is how many bytes one request asks for; 0 means
	// DefaultRange. At most MaxRange.
	RangeSize int
	// CallTimeout bounds one request to central; 0 means 60 s.
	CallTimeout time.Duration
	// Progress, if set, is called as blobs are fetched and models created.
	Progress func(Progress)
	Logger   *slog.Logger
}

// Edge makes a local Ollama hold the models central signed.
type Edge struct {
	cfg    EdgeConfig
	ollama *api.Client
	base   *url.URL
	// mu serializes EnsureModel: two calls would write the same staged
	// file.
	mu sync.Mutex
}

// NewEdge checks cfg and returns an Edge.
func NewEdge(cfg EdgeConfig) (*Edge, error) {
	switch {
	case cfg.Transport == nil:
		return nil, errors.New("modelship: EdgeConfig.Transport is nil")
	case cfg.Central.Name == "" || cfg.Central.Addr == "":
		return nil, errors.New("modelship: EdgeConfig.Central needs central's node name and QUIC address")
	case len(cfg.Trusted) == 0:
		return nil, errors.New("modelship: no trusted sync key; give the edge central's sync.pub")
	case cfg.StageDir == "":
		return nil, errors.New("modelship: EdgeConfig.StageDir is empty; use a directory under the node's data directory")
	case cfg.RangeSize < 0 || cfg.RangeSize > MaxRange:
		return nil, fmt.Errorf("modelship: RangeSize %d out of range; use 1 to %d, or 0 for %d", cfg.RangeSize, MaxRange, DefaultRange)
	}
	base, err := url.Parse(cfg.OllamaHost)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("modelship: Ollama host %q: want a URL like http://127.0.0.1:11434", cfg.OllamaHost)
	}
	if cfg.RangeSize == 0 {
		cfg.RangeSize = DefaultRange
	}
	if cfg.CallTimeout == 0 {
		cfg.CallTimeout = 60 * time.Second
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Progress == nil {
		cfg.Progress = func(Progress) {}
	}
	if err := os.MkdirAll(cfg.StageDir, 0o755); err != nil {
		return nil, fmt.Errorf("modelship: stage directory: %w", err)
	}
	return &Edge{cfg: cfg, ollama: api.NewClient(base, cfg.HTTPClient), base: base}, nil
}

// Manifest fetches central's model manifest and verifies its signature.
func (e *Edge) Manifest(ctx context.Context) (manifest.Models, error) {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.CallTimeout)
	defer cancel()
	b, err := e.cfg.Transport.Call(ctx, e.cfg.Central.Addr, e.cfg.Central.Name, wire.TypeModelManifest, nil)
	if err != nil {
		return manifest.Models{}, fmt.Errorf("fetch model manifest: %w", err)
	}
	ms, err := manifest.OpenModels(b, e.cfg.Trusted...)
	if err != nil {
		return manifest.Models{}, fmt.Errorf("model manifest from %s: %w", e.cfg.Central.Name, err)
	}
	return ms, nil
}

// Capabilities returns what the local Ollama says the model can do
// ("completion", "embedding", ...): how the edge tells which model of a
// manifest writes answers and which embeds.
func (e *Edge) Capabilities(ctx context.Context, name string) ([]string, error) {
	resp, err := e.ollama.Show(ctx, &api.ShowRequest{Model: name})
	if err != nil {
		return nil, fmt.Errorf("ask the local Ollama about model %s: %w", name, err)
	}
	out := make([]string, len(resp.Capabilities))
	for i, c := range resp.Capabilities {
		out[i] = string(c)
	}
	return out, nil
}

// EnsureAll ensures every model of ms, stopping at the first failure.
func (e *Edge) EnsureAll(ctx context.Context, ms manifest.Models) error {
	for _, m := range ms.Models {
		if err := e.EnsureModel(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

// EnsureModel makes the local Ollama hold m: it does nothing when Ollama
// already holds it; otherwise it fetches the blobs Ollama lacks (resuming
// staged ones), verifies and pushes them, recreates the model with
// /api/create and checks the result as hasModel does. m must come from a
// verified manifest (Manifest).
func (e *Edge) EnsureModel(ctx context.Context, m manifest.Model) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	p, err := planModel(m)
	if err != nil {
		return err
	}
	if ok, err := e.hasModel(ctx, m); err != nil {
		return err
	} else if ok {
		e.cfg.Progress(Progress{Model: m.Name, Phase: "ready"})
		return nil
	}
	for _, b := range p.weights {
		d, _ := ParseDigest(b.Digest) // checked by planModel
		have, err := e.ollamaHasBlob(ctx, b.Digest)
		if err != nil {
			return fmt.Errorf("model %s: %w", m.Name, err)
		}
		if have {
			continue
		}
		path, err := e.fetch(ctx, m.Name, d, b.Size)
		if err != nil {
			return fmt.Errorf("model %s: %w", m.Name, err)
		}
		e.cfg.Progress(Progress{Model: m.Name, Phase: "push", Digest: b.Digest, Done: b.Size, Total: b.Size})
		if err := e.push(ctx, b.Digest, path); err != nil {
			return fmt.Errorf("model %s: %w", m.Name, err)
		}
		os.Remove(path)
	}
	meta := make(map[string][]byte, len(p.meta))
	for _, b := range p.meta {
		d, _ := ParseDigest(b.Digest)
		path, err := e.fetch(ctx, m.Name, d, b.Size)
		if err != nil {
			return fmt.Errorf("model %s: %w", m.Name, err)
		}
		data, err := readLimited(path, maxMetaLayer)
		if err != nil {
			return fmt.Errorf("model %s: staged layer: %w", m.Name, err)
		}
		meta[b.Digest] = data
	}
	req, err := p.createRequest(meta)
	if err != nil {
		return err
	}
	e.cfg.Progress(Progress{Model: m.Name, Phase: "create"})
	noStream := false
	req.Stream = &noStream
	if err := e.ollama.Create(ctx, req, func(api.ProgressResponse) error { return nil }); err != nil {
		return fmt.Errorf("model %s: create it in the local Ollama: %w", m.Name, err)
	}
	for _, b := range p.meta {
		d, _ := ParseDigest(b.Digest)
		os.Remove(e.stagePath(d))
	}
	ok, err := e.hasModel(ctx, m)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("model %s: %w: the local Ollama built another config than central's (was the model made on central with another Ollama version?)", m.Name, ErrModelMismatch)
	}
	e.cfg.Logger.Info("model ready", "model", m.Name, "digest", m.Digest)
	e.cfg.Progress(Progress{Model: m.Name, Phase: "ready"})
	return nil
}

// hasModel reports whether the local Ollama holds m as central does.
//
// The manifest digests cannot be compared: Ollama records in a created
// model's manifest the local path of each blob ("from"), so the same model
// has another manifest digest on every machine. What is compared instead
// is what the API shows: Ollama lists the name with the total size of
// central's blobs, and holds central's config blob. The config names every
// layer digest in order (rootfs.diff_ids) and the model's format, family,
// renderer and parser, and Ollama writes it itself at create; holding the
// one with central's digest means it built the same model.
func (e *Edge) hasModel(ctx context.Context, m manifest.Model) (bool, error) {
	want, err := ParseModelName(m.Name)
	if err != nil {
		return false, err
	}
	var config string
	var size int64
	for _, b := range m.Blobs {
		size += b.Size
		if b.MediaType == mediaConfig {
			config = b.Digest
		}
	}
	list, err := e.ollama.List(ctx)
	if err != nil {
		return false, fmt.Errorf("list the local Ollama's models at %s: %w", e.base, err)
	}
	for _, l := range list.Models {
		if n, err := ParseModelName(l.Model); err == nil && n.EqualFold(want) {
			if l.Size != size || config == "" {
				return false, nil
			}
			return e.ollamaHasBlob(ctx, config)
		}
	}
	return false, nil
}

// ollamaHasBlob asks Ollama with HEAD /api/blobs/:digest, which the api
// client does not offer.
func (e *Edge) ollamaHasBlob(ctx context.Context, digest string) (bool, error) {
	u := e.base.JoinPath("api", "blobs", digest)
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, u.String(), nil)
	if err != nil {
		return false, err
	}
	resp, err := e.cfg.HTTPClient.Do(req)
	if err != nil {
		return false, fmt.Errorf("ask the local Ollama for blob %s: %w", digest, err)
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return true, nil
	case http.StatusNotFound:
		return false, nil
	}
	return false, fmt.Errorf("ask the local Ollama for blob %s: HTTP %s", digest, resp.Status)
}

func (e *Edge) push(ctx context.Context, digest, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("push blob %s: %w", digest, err)
	}
	defer f.Close()
	if err := e.ollama.CreateBlob(ctx, digest, f); err != nil {
		return fmt.Errorf("push blob %s to the local Ollama: %w", digest, err)
	}
	return nil
}

func (e *Edge) stagePath(d [32]byte) string {
	return filepath.Join(e.cfg.StageDir, blobFile(d)+".partial")
}

// fetch brings the blob d into the stage directory and returns its path
// once its bytes hash to d. Bytes already staged by an earlier, broken
// transfer are hashed again locally and not fetched again. They are only
// checked with the whole blob: if the staged part was damaged on disk, the
// blob fails its check, its staged copy is deleted and the next attempt
// fetches it whole, so damage costs one extra transfer, never a bad model.
func (e *Edge) fetch(ctx context.Context, modelName string, d [32]byte, size int64) (string, error) {
	path := e.stagePath(d)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return "", fmt.Errorf("stage blob %s: %w", digestString(d), err)
	}
	defer f.Close()
	h := sha256.New()
	have, err := io.Copy(h, ctxReader{ctx, f})
	if err != nil {
		return "", fmt.Errorf("read staged blob %s: %w", digestString(d), err)
	}
	if have > size {
		// Not a prefix of this blob; start over.
		if err := f.Truncate(0); err != nil {
			return "", fmt.Errorf("reset staged blob %s: %w", digestString(d), err)
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return "", err
		}
		h.Reset()
		have = 0
	}
	if have > 0 {
		e.cfg.Logger.Info("resuming blob", "model", modelName, "digest", digestString(d), "have", have, "size", size)
	}
	var fetched int64
	for have < size {
		want := min(int64(e.cfg.RangeSize), size-have)
		b, err := e.fetchRange(ctx, RangeRequest{Digest: d, Offset: uint64(have), Length: uint32(want)})
		if err != nil {
			return "", err
		}
		if int64(len(b)) != want {
			return "", fmt.Errorf("blob %s: central sent %d bytes at offset %d, want %d", digestString(d), len(b), have, want)
		}
		if _, err := f.Write(b); err != nil {
			return "", fmt.Errorf("stage blob %s: %w", digestString(d), err)
		}
		h.Write(b)
		have += want
		fetched += want
		e.cfg.Progress(Progress{Model: modelName, Phase: "fetch", Digest: digestString(d), Done: have, Total: size, Fetched: fetched})
	}
	if err := verified(h, d); err != nil {
		f.Close()
		os.Remove(path)
		return "", err
	}
	if err := f.Sync(); err != nil {
		return "", fmt.Errorf("stage blob %s: %w", digestString(d), err)
	}
	return path, nil
}

func verified(h hash.Hash, d [32]byte) error {
	if [32]byte(h.Sum(nil)) != d {
		return fmt.Errorf("blob %s: %w; the staged copy is deleted, and central's copy should be checked", digestString(d), ErrDigestMismatch)
	}
	return nil
}

func (e *Edge) fetchRange(ctx context.Context, r RangeRequest) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.CallTimeout)
	defer cancel()
	b, err := e.cfg.Transport.Call(ctx, e.cfg.Central.Addr, e.cfg.Central.Name, wire.TypeModelBlob, r.Marshal())
	if err != nil {
		return nil, fmt.Errorf("fetch blob %s at %d: %w", digestString(r.Digest), r.Offset, err)
	}
	return b, nil
}

// Layer media types Ollama v0.24 writes.
const (
	mediaModel     = "application/vnd.ollama.image.model"
	mediaProjector = "application/vnd.ollama.image.projector"
	mediaAdapter   = "application/vnd.ollama.image.adapter"
	mediaTemplate  = "application/vnd.ollama.image.template"
	mediaSystem    = "application/vnd.ollama.image.system"
	mediaParams    = "application/vnd.ollama.image.params"
	mediaLicense   = "application/vnd.ollama.image.license"
	mediaMessages  = "application/vnd.ollama.image.messages"
	mediaConfig    = "application/vnd.docker.container.image.v1+json"
)

// maxMetaLayer bounds a template, system prompt, parameter, license,
// message or config layer, which the edge reads into memory.
const maxMetaLayer = 1 << 20

// plan splits a model's blobs into weights, which go to Ollama as blobs,
// and metadata, whose text goes into the create request.
type plan struct {
	model   manifest.Model
	weights []manifest.Blob
	meta    []manifest.Blob
}

func planModel(m manifest.Model) (plan, error) {
	p := plan{model: m}
	if _, err := ParseModelName(m.Name); err != nil {
		return p, err
	}
	if _, err := ParseDigest(m.Digest); err != nil {
		return p, fmt.Errorf("model %s: %w", m.Name, err)
	}
	var models, adapters, configs int
	for _, b := range m.Blobs {
		if _, err := ParseDigest(b.Digest); err != nil {
			return p, fmt.Errorf("model %s: %w", m.Name, err)
		}
		if b.Size <= 0 {
			return p, fmt.Errorf("model %s: blob %s has size %d", m.Name, b.Digest, b.Size)
		}
		switch b.MediaType {
		case mediaModel, mediaProjector, mediaAdapter:
			p.weights = append(p.weights, b)
			switch b.MediaType {
			case mediaModel:
				models++
			case mediaAdapter:
				adapters++
			}
		case mediaTemplate, mediaSystem, mediaParams, mediaLicense, mediaMessages, mediaConfig:
			if b.Size > maxMetaLayer {
				return p, fmt.Errorf("model %s: %s layer of %d bytes, at most %d", m.Name, b.MediaType, b.Size, maxMetaLayer)
			}
			if b.MediaType == mediaConfig {
				configs++
			}
			p.meta = append(p.meta, b)
		default:
			return p, fmt.Errorf("model %s: layer %s has media type %q, which this build cannot recreate", m.Name, b.Digest, b.MediaType)
		}
	}
	switch {
	case models != 1:
		return p, fmt.Errorf("model %s: %d model layers; shipping needs exactly one", m.Name, models)
	case adapters > 1:
		return p, fmt.Errorf("model %s: %d adapters; Ollama takes at most one", m.Name, adapters)
	case configs != 1:
		return p, fmt.Errorf("model %s: %d config blobs; an Ollama model has exactly one", m.Name, configs)
	}
	return p, nil
}

// createRequest rebuilds the /api/create request that makes Ollama write
// central's manifest again: the weights by digest, the text layers by
// content, and the renderer, parser and version floor of central's config.
// meta maps each metadata blob's digest to its verified bytes.
func (p plan) createRequest(meta map[string][]byte) (*api.CreateRequest, error) {
	m := p.model
	req := &api.CreateRequest{Model: m.Name, Files: map[string]string{}}
	for i, b := range p.weights {
		switch b.MediaType {
		case mediaAdapter:
			req.Adapters = map[string]string{"adapter.gguf": b.Digest}
		default:
			// Ollama tells a projector from a model by its content; the
			// name only needs to end in .gguf.
			req.Files[fmt.Sprintf("layer%d.gguf", i)] = b.Digest
		}
	}
	var licenses []string
	for _, b := range p.meta {
		data, ok := meta[b.Digest]
		if !ok {
			return nil, fmt.Errorf("model %s: layer %s not fetched", m.Name, b.Digest)
		}
		var err error
		switch b.MediaType {
		case mediaTemplate:
			req.Template = string(data)
		case mediaSystem:
			req.System = string(data)
		case mediaLicense:
			licenses = append(licenses, string(data))
		case mediaParams:
			err = decodeJSON(data, &req.Parameters)
		case mediaMessages:
			err = decodeJSON(data, &req.Messages)
		case mediaConfig:
			var cfg struct {
				Renderer string `json:"renderer"`
				Parser   string `json:"parser"`
				Requires string `json:"requires"`
			}
			err = decodeJSON(data, &cfg)
			req.Renderer, req.Parser, req.Requires = cfg.Renderer, cfg.Parser, cfg.Requires
		}
		if err != nil {
			return nil, fmt.Errorf("model %s: %s layer: %w", m.Name, strings.TrimPrefix(b.MediaType, "application/vnd.ollama.image."), err)
		}
	}
	if len(licenses) == 1 {
		req.License = licenses[0]
	} else if len(licenses) > 1 {
		req.License = licenses
	}
	return req, nil
}

func decodeJSON(data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("not the JSON Ollama writes: %w", err)
	}
	return nil
}
