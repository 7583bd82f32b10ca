package modelship

import (
	"context"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ollama/ollama/api"

	"github.com/edgerag/edgerag/models/ollama/tinymodel"
	"github.com/edgerag/edgerag/sync/manifest"
	"github.com/edgerag/edgerag/sync/transport"
	"github.com/edgerag/edgerag/sync/wire"
)

func modelBytes(m manifest.Model) int64 {
	var n int64
	for _, b := range m.Blobs {
		n += b.Size
	}
	return n
}

// TestShipModelsToEdge ships both tiny models from central's Ollama to an
// empty edge Ollama over QUIC and uses them there: generation answers as
// on central, embedding returns 64-d vectors. A second run sends nothing.
func TestShipModelsToEdge(t *testing.T) {
	f := newFleet(t)
	e := f.edge("edge-1", 0)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	ms, err := e.Manifest(ctx)
	if err != nil {
		t.Fatalf("Manifest: %v", err)
	}
	if len(ms.Models) != 2 {
		t.Fatalf("manifest lists %d models, want 2", len(ms.Models))
	}
	var total int64
	for _, m := range ms.Models {
		total += modelBytes(m)
	}
	if err := e.EnsureAll(ctx, ms); err != nil {
		t.Fatalf("EnsureAll: %v", err)
	}
	if got := f.served.Load(); got != total {
		t.Errorf("central sent %d blob bytes, want the models' %d", got, total)
	}

	stream := false
	var resp api.GenerateResponse
	err = e.ollama.Client.Generate(ctx, &api.GenerateRequest{
		Model: f.ollama.GenModel, Prompt: "What does the edge device answer?", Stream: &stream,
		Options: map[string]any{"temperature": 0, "num_thread": 1, "num_predict": 32},
	}, func(r api.GenerateResponse) error { resp = r; return nil })
	if err != nil {
		t.Fatalf("Generate on the edge: %v", err)
	}
	if resp.Response != tinymodel.GenAnswer {
		t.Errorf("edge generated %q, want %q", resp.Response, tinymodel.GenAnswer)
	}
	emb, err := e.ollama.Client.Embed(ctx, &api.EmbedRequest{Model: f.ollama.EmbedModel, Input: "edge device memory", Options: map[string]any{"num_thread": 1}})
	if err != nil {
		t.Fatalf("Embed on the edge: %v", err)
	}
	if len(emb.Embeddings) != 1 || len(emb.Embeddings[0]) != tinymodel.HiddenSize {
		t.Errorf("edge embedding has shape %d x %d, want 1 x %d", len(emb.Embeddings), len(emb.Embeddings[0]), tinymodel.HiddenSize)
	}

	before := f.served.Load()
	if err := e.EnsureAll(ctx, ms); err != nil {
		t.Fatalf("second EnsureAll: %v", err)
	}
	if sent := f.served.Load() - before; sent != 0 {
		t.Errorf("second EnsureAll fetched %d bytes, want 0: the models were there", sent)
	}
	if left, _ := os.ReadDir(e.stage); len(left) != 0 {
		t.Errorf("stage directory keeps %d files after success, want none", len(left))
	}
}

// TestResumeAfterBrokenTransfer breaks the link after a few ranges of the
// generation model's weights and checks that the next run, by a restarted
// edge, fetches only the bytes that were missing.
func TestResumeAfterBrokenTransfer(t *testing.T) {
	f := newFleet(t)
	const rangeSize = 64 << 10
	e := f.edge("edge-1", rangeSize)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ms, err := e.Manifest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	gen := findModel(t, ms, f.ollama.GenModel)

	const okRanges = 3
	var calls int
	f.setTamper(func(req wire.Frame, resp []byte) ([]byte, error) {
		if req.Type != wire.TypeModelBlob {
			return resp, nil
		}
		if calls++; calls > okRanges {
			return nil, transport.Errorf(wire.CodeUnavailable, "link down")
		}
		return resp, nil
	})
	err = e.EnsureModel(ctx, gen)
	if err == nil {
		t.Fatal("EnsureModel succeeded over a broken link")
	}
	var te *transport.Error
	if !errors.As(err, &te) || te.Code != wire.CodeUnavailable {
		t.Fatalf("EnsureModel error = %v, want the link failure", err)
	}
	staged := stagedBytes(t, e.stage)
	if staged != okRanges*rangeSize {
		t.Fatalf("staged %d bytes after the break, want %d", staged, okRanges*rangeSize)
	}
	// A process killed while writing leaves a range half written: cut the
	// staged file mid-range, so the resume starts at an unaligned offset.
	const torn = 1000
	staged -= torn
	tornFile(t, e.stage, staged)

	// A new Edge on the same stage directory stands for the node after a
	// restart: all it has is what is on disk.
	f.setTamper(nil)
	restarted, err := NewEdge(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	before := f.served.Load()
	e.progress = nil
	if err := restarted.EnsureModel(ctx, gen); err != nil {
		t.Fatalf("resumed EnsureModel: %v", err)
	}
	if len(e.progress) == 0 || e.progress[0].Phase != "fetch" || e.progress[0].Done != staged+rangeSize || e.progress[0].Fetched != rangeSize {
		t.Errorf("first progress report after resuming = %+v, want fetch with %d done, %d fetched", first(e.progress), staged+rangeSize, rangeSize)
	}
	if last := e.progress[len(e.progress)-1]; last.Phase != "ready" {
		t.Errorf("last progress report = %+v, want ready", last)
	}
	resent := f.served.Load() - before
	if want := modelBytes(gen) - staged; resent != want {
		t.Errorf("resume fetched %d bytes, want %d (model %d minus %d staged)", resent, want, modelBytes(gen), staged)
	}
	t.Logf("model %d bytes; resume fetched %d, saved %d", modelBytes(gen), resent, staged)
}

// TestCorruptBlobRejected flips one byte of a range: the edge refuses the
// blob, keeps no staged copy, and neither the blob nor the model reaches
// its Ollama.
func TestCorruptBlobRejected(t *testing.T) {
	f := newFleet(t)
	e := f.edge("edge-1", 0)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ms, err := e.Manifest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	gen := findModel(t, ms, f.ollama.GenModel)
	f.setTamper(func(req wire.Frame, resp []byte) ([]byte, error) {
		if req.Type == wire.TypeModelBlob && len(resp) > 100 {
			resp = append([]byte(nil), resp...)
			resp[100] ^= 1
		}
		return resp, nil
	})
	err = e.EnsureModel(ctx, gen)
	if !errors.Is(err, ErrDigestMismatch) {
		t.Fatalf("EnsureModel error = %v, want ErrDigestMismatch", err)
	}
	if n := stagedBytes(t, e.stage); n != 0 {
		t.Errorf("%d bytes of the corrupt blob stay staged", n)
	}
	p, _ := planModel(gen)
	for _, b := range p.weights {
		if has, err := e.ollamaHasBlob(ctx, b.Digest); err != nil || has {
			t.Errorf("edge Ollama has blob %s = %v (%v), want false", b.Digest, has, err)
		}
	}
	if has, err := e.hasModel(ctx, gen); err != nil || has {
		t.Errorf("edge Ollama lists the model = %v (%v), want false", has, err)
	}
}

// TestBadManifestRejected checks that an altered manifest and one signed
// by another key are refused before anything is fetched.
func TestBadManifestRejected(t *testing.T) {
	f := newFleet(t)
	e := f.edge("edge-1", 0)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	f.setTamper(func(req wire.Frame, resp []byte) ([]byte, error) {
		if req.Type == wire.TypeModelManifest {
			resp = append([]byte(nil), resp...)
			resp[len(resp)/2] ^= 0x40 // inside the body
		}
		return resp, nil
	})
	if _, err := e.Manifest(ctx); !errors.Is(err, manifest.ErrBadSignature) {
		t.Errorf("altered manifest: error = %v, want a bad signature", err)
	}
	f.setTamper(nil)

	otherPub, _, err := manifest.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	stranger := f.edge("edge-2", 0, otherPub)
	if _, err := stranger.Manifest(ctx); !errors.Is(err, manifest.ErrUnknownKey) {
		t.Errorf("manifest by an untrusted key: error = %v, want ErrUnknownKey", err)
	}
	if got := f.served.Load(); got != 0 {
		t.Errorf("%d blob bytes sent, want none", got)
	}
}

func findModel(t testing.TB, ms manifest.Models, name string) manifest.Model {
	t.Helper()
	want, err := ParseModelName(name)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms.Models {
		if n, _ := ParseModelName(m.Name); n.EqualFold(want) {
			return m
		}
	}
	t.Fatalf("model %s not in the manifest", name)
	return manifest.Model{}
}

func stagedBytes(t testing.TB, dir string) int64 {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, de := range entries {
		fi, err := de.Info()
		if err != nil {
			t.Fatal(err)
		}
		n += fi.Size()
	}
	return n
}

func first(ps []Progress) Progress {
	if len(ps) == 0 {
		return Progress{}
	}
	return ps[0]
}

// TestOutsiderCannotFetch checks that a node whose certificate is not from
// the fleet CA gets neither the manifest nor a blob.
func TestOutsiderCannotFetch(t *testing.T) {
	f := newFleet(t)
	tr := transport.NewClient(transport.Config{Identity: f.Outsider("edge-x")})
	defer tr.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	addr := f.server.Addr().String()
	if _, err := tr.Call(ctx, addr, "central", wire.TypeModelManifest, nil); err == nil {
		t.Error("an outsider fetched the model manifest")
	}
	ms, err := manifest.OpenModels(mustManifest(t, f), f.pub)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := ParseDigest(ms.Models[0].Blobs[0].Digest)
	if _, err := tr.Call(ctx, addr, "central", wire.TypeModelBlob, RangeRequest{Digest: d, Length: 10}.Marshal()); err == nil {
		t.Error("an outsider fetched a blob range")
	}
	if got := f.served.Load(); got != 0 {
		t.Errorf("central sent %d blob bytes to an outsider", got)
	}
}

func mustManifest(t *testing.T, f *fleet) []byte {
	t.Helper()
	b, err := f.central.Handle(context.Background(), transport.Peer{Name: "test"}, wire.Frame{Type: wire.TypeModelManifest})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// tornFile truncates the one staged file in dir to size bytes.
func tornFile(t *testing.T, dir string, size int64) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 1 {
		t.Fatalf("stage directory holds %d files (%v), want 1", len(entries), err)
	}
	if err := os.Truncate(filepath.Join(dir, entries[0].Name()), size); err != nil {
		t.Fatal(err)
	}
}
