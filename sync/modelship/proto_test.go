package modelship

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgerag/edgerag/sync/manifest"
	"github.com/edgerag/edgerag/sync/transport"
	"github.com/edgerag/edgerag/sync/wire"
)

func TestRangeRequestRoundTrip(t *testing.T) {
	d := sha256.Sum256([]byte("blob"))
	for _, r := range []RangeRequest{
		{Digest: d, Offset: 0, Length: 1},
		{Digest: d, Offset: 1 << 40, Length: MaxRange},
		{Digest: d, Offset: maxOffset, Length: DefaultRange},
	} {
		got, err := ParseRangeRequest(r.Marshal())
		if err != nil || got != r {
			t.Errorf("round trip of %+v = %+v, %v", r, got, err)
		}
	}
}

func TestParseRangeRequestRefuses(t *testing.T) {
	d := sha256.Sum256([]byte("blob"))
	good := RangeRequest{Digest: d, Offset: 5, Length: 10}.Marshal()
	enc := func(format byte, off, length uint64, tail ...byte) []byte {
		b := append([]byte{format}, d[:]...)
		b = binary.AppendUvarint(b, off)
		b = binary.AppendUvarint(b, length)
		return append(b, tail...)
	}
	for name, b := range map[string][]byte{
		"empty":           nil,
		"short":           good[:20],
		"format 2":        enc(2, 0, 1),
		"zero length":     enc(1, 0, 0),
		"length too big":  enc(1, 0, MaxRange+1),
		"offset too big":  enc(1, maxOffset+1, 1),
		"trailing bytes":  enc(1, 0, 1, 0),
		"padded varint":   append(append(append([]byte{1}, d[:]...), 0x85, 0x00), 1),
		"truncated value": append(append([]byte{1}, d[:]...), 0x85, 0x80),
	} {
		if _, err := ParseRangeRequest(b); !errors.Is(err, ErrBadRequest) {
			t.Errorf("%s: error = %v, want ErrBadRequest", name, err)
		}
	}
}

func TestParseDigest(t *testing.T) {
	hex := strings.Repeat("ab", 32)
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"sha256:" + hex, true},
		{"sha256-" + hex, false},
		{"sha256:" + strings.ToUpper(hex), false},
		{"sha256:" + hex[:62], false},
		{"sha256:../../../../etc/passwd" + hex[:36], false},
		{"sha256:" + hex[:62] + "zz", false},
		{"", false},
	} {
		d, err := ParseDigest(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("ParseDigest(%q) error = %v, want ok=%v", tc.in, err, tc.ok)
		}
		if tc.ok && digestString(d) != tc.in {
			t.Errorf("digestString(ParseDigest(%q)) = %q", tc.in, digestString(d))
		}
	}
}

func TestParseModelName(t *testing.T) {
	for _, tc := range []struct {
		in, want string
	}{
		{"all-minilm", "all-minilm:latest"},
		{"edgerag-tiny-gen:v2", "edgerag-tiny-gen:v2"},
		{"example.com/team/model:tag", "example.com/team/model:tag"},
		{"../../etc/passwd", ""},
		{"a/../../b", ""},
		{"", ""},
	} {
		n, err := ParseModelName(tc.in)
		if tc.want == "" {
			if err == nil {
				t.Errorf("ParseModelName(%q) = %s, want an error", tc.in, n.DisplayShortest())
			}
			continue
		}
		if err != nil || n.DisplayShortest() != tc.want {
			t.Errorf("ParseModelName(%q) = %q, %v; want %q", tc.in, n.DisplayShortest(), err, tc.want)
		}
	}
}

func blob(media string, size int64, seed string) manifest.Blob {
	return manifest.Blob{Digest: fmt.Sprintf("sha256:%x", sha256.Sum256([]byte(seed))), Size: size, MediaType: media}
}

func TestCreateRequest(t *testing.T) {
	weights := blob(mediaModel, 1000, "w")
	proj := blob(mediaProjector, 10, "p")
	tmpl := blob(mediaTemplate, 5, "t")
	sys := blob(mediaSystem, 5, "s")
	params := blob(mediaParams, 5, "pa")
	lic := blob(mediaLicense, 5, "l")
	cfg := blob(mediaConfig, 5, "c")
	meta := map[string][]byte{
		tmpl.Digest:   []byte("{{ .Prompt }}"),
		sys.Digest:    []byte("be brief"),
		params.Digest: []byte(`{"stop":["END"],"temperature":0.2}` + "\n"),
		lic.Digest:    []byte("MIT"),
		cfg.Digest:    []byte(`{"model_format":"gguf","renderer":"r1","parser":"p1","requires":"0.20.0"}`),
	}
	m := manifest.Model{Name: "x:latest", Digest: blob("", 0, "m").Digest, Blobs: []manifest.Blob{weights, proj, tmpl, sys, params, lic, cfg}}
	p, err := planModel(m)
	if err != nil {
		t.Fatal(err)
	}
	req, err := p.createRequest(meta)
	if err != nil {
		t.Fatal(err)
	}
	if len(req.Files) != 2 || req.Files["layer0.gguf"] != weights.Digest || req.Files["layer1.gguf"] != proj.Digest {
		t.Errorf("Files = %v", req.Files)
	}
	if req.Template != "{{ .Prompt }}" || req.System != "be brief" || req.License != "MIT" {
		t.Errorf("template %q system %q license %v", req.Template, req.System, req.License)
	}
	if req.Renderer != "r1" || req.Parser != "p1" || req.Requires != "0.20.0" {
		t.Errorf("renderer %q parser %q requires %q", req.Renderer, req.Parser, req.Requires)
	}
	if got, _ := json.Marshal(req.Parameters); string(got) != `{"stop":["END"],"temperature":0.2}` {
		t.Errorf("Parameters = %s", got)
	}

	delete(meta, sys.Digest)
	if _, err := p.createRequest(meta); err == nil {
		t.Error("createRequest without a fetched layer succeeded")
	}
	meta[sys.Digest] = nil
	meta[params.Digest] = []byte("{not json")
	if _, err := p.createRequest(meta); err == nil {
		t.Error("createRequest with a broken params layer succeeded")
	}
}

func TestPlanModelRefuses(t *testing.T) {
	w, cfg := blob(mediaModel, 10, "w"), blob(mediaConfig, 10, "c")
	digest := blob("", 0, "m").Digest
	for name, blobs := range map[string][]manifest.Blob{
		"no weights":        {cfg},
		"two models":        {w, blob(mediaModel, 10, "w2"), cfg},
		"no config":         {w},
		"unknown media":     {w, cfg, blob("application/x-unknown", 10, "u")},
		"huge template":     {w, cfg, blob(mediaTemplate, maxMetaLayer+1, "t")},
		"empty blob":        {w, cfg, blob(mediaSystem, 0, "s")},
		"two adapters":      {w, cfg, blob(mediaAdapter, 5, "a1"), blob(mediaAdapter, 5, "a2")},
		"bad digest in set": {w, cfg, {Digest: "sha256:../x", Size: 1, MediaType: mediaSystem}},
	} {
		if _, err := planModel(manifest.Model{Name: "x", Digest: digest, Blobs: blobs}); err == nil {
			t.Errorf("%s: planModel accepted it", name)
		}
	}
	if _, err := planModel(manifest.Model{Name: "../x", Digest: digest, Blobs: []manifest.Blob{w, cfg}}); err == nil {
		t.Error("planModel accepted a name with ..")
	}
}

// writeModelsDir lays out an Ollama models directory holding one model
// named name, with the given layer contents, as Ollama writes it.
func writeModelsDir(t *testing.T, dir, name string, layers map[string][]byte) {
	t.Helper()
	n, err := ParseModelName(name)
	if err != nil {
		t.Fatal(err)
	}
	type layer struct {
		MediaType string `json:"mediaType"`
		Digest    string `json:"digest"`
		Size      int64  `json:"size"`
	}
	var om struct {
		SchemaVersion int     `json:"schemaVersion"`
		MediaType     string  `json:"mediaType"`
		Config        layer   `json:"config"`
		Layers        []layer `json:"layers"`
	}
	om.SchemaVersion = 2
	if err := os.MkdirAll(filepath.Join(dir, "blobs"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, media := range []string{mediaModel, mediaTemplate, mediaConfig} {
		data, ok := layers[media]
		if !ok {
			continue
		}
		d := sha256.Sum256(data)
		if err := os.WriteFile(filepath.Join(dir, "blobs", blobFile(d)), data, 0o644); err != nil {
			t.Fatal(err)
		}
		l := layer{media, digestString(d), int64(len(data))}
		if media == mediaConfig {
			om.Config = l
		} else {
			om.Layers = append(om.Layers, l)
		}
	}
	b, _ := json.Marshal(om)
	p := filepath.Join(dir, "manifests", n.Filepath())
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestCentralServesOnlyPublishedRanges checks central's handler on a
// hand-made models directory: ranges of published blobs come back
// exactly; anything else is refused with a code saying why.
func TestCentralServesOnlyPublishedRanges(t *testing.T) {
	dir := t.TempDir()
	weights := bytes.Repeat([]byte("0123456789"), 1000)
	writeModelsDir(t, dir, "m1", map[string][]byte{mediaModel: weights, mediaTemplate: []byte("{{ .Prompt }}"), mediaConfig: []byte(`{"model_format":"gguf"}`)})
	// A blob on disk that no published model lists.
	secret := []byte("not for edges")
	sd := sha256.Sum256(secret)
	os.WriteFile(filepath.Join(dir, "blobs", blobFile(sd)), secret, 0o644)

	_, priv, _ := manifest.GenerateKey(rand.Reader)
	c := NewCentral(Source{Dir: dir}, nil)
	ctx := context.Background()
	peer := transport.Peer{Name: "edge-1"}
	if _, err := c.Handle(ctx, peer, wire.Frame{Type: wire.TypeModelManifest}); codeOf(err) != wire.CodeNotFound {
		t.Errorf("manifest before publish: %v, want not found", err)
	}
	ms, err := c.Publish(ctx, priv, 1, time.Now(), "m1")
	if err != nil {
		t.Fatal(err)
	}
	if len(ms.Models) != 1 || ms.Models[0].Name != "m1:latest" || len(ms.Models[0].Blobs) != 3 {
		t.Fatalf("published %+v", ms)
	}
	wd := sha256.Sum256(weights)
	get := func(r RangeRequest) ([]byte, error) {
		return c.Handle(ctx, peer, wire.Frame{Type: wire.TypeModelBlob, Payload: r.Marshal()})
	}
	b, err := get(RangeRequest{Digest: wd, Offset: 9995, Length: 100})
	if err != nil || string(b) != "56789" {
		t.Errorf("tail range = %q, %v; want the last 5 bytes", b, err)
	}
	b, err = get(RangeRequest{Digest: wd, Offset: 10, Length: 20})
	if err != nil || !bytes.Equal(b, weights[10:30]) {
		t.Errorf("middle range = %q, %v", b, err)
	}
	for name, tc := range map[string]struct {
		payload []byte
		want    wire.Code
	}{
		"unpublished blob": {RangeRequest{Digest: sd, Length: 10}.Marshal(), wire.CodeNotFound},
		"past the end":     {RangeRequest{Digest: wd, Offset: 10000, Length: 10}.Marshal(), wire.CodeBadRequest},
		"garbage":          {[]byte("../../etc/passwd"), wire.CodeBadRequest},
	} {
		if _, err := c.Handle(ctx, peer, wire.Frame{Type: wire.TypeModelBlob, Payload: tc.payload}); codeOf(err) != tc.want {
			t.Errorf("%s: %v, want code %s", name, err, tc.want)
		}
	}
}

func TestPublishChecksBlobsAndNames(t *testing.T) {
	dir := t.TempDir()
	weights := []byte("weights")
	writeModelsDir(t, dir, "m1", map[string][]byte{mediaModel: weights, mediaConfig: []byte(`{}`)})
	_, priv, _ := manifest.GenerateKey(rand.Reader)
	c := NewCentral(Source{Dir: dir}, nil)
	ctx := context.Background()
	for _, name := range []string{"../../../etc/passwd", "absent"} {
		if _, err := c.Publish(ctx, priv, 1, time.Now(), name); err == nil {
			t.Errorf("Publish(%q) succeeded", name)
		}
	}
	wd := sha256.Sum256(weights)
	os.WriteFile(filepath.Join(dir, "blobs", blobFile(wd)), []byte("weighty"), 0o644) // same size, other bytes
	if _, err := c.Publish(ctx, priv, 1, time.Now(), "m1"); !errors.Is(err, ErrDigestMismatch) {
		t.Errorf("Publish of a corrupt blob: %v, want ErrDigestMismatch", err)
	}
}

func codeOf(err error) wire.Code {
	var te *transport.Error
	if errors.As(err, &te) {
		return te.Code
	}
	if err == nil {
		return wire.CodeOK
	}
	return wire.CodeInternal
}

// TestServeRefusesOtherManifests: central serves only a model manifest;
// a config manifest or bytes that are no envelope are refused.
func TestServeRefusesOtherManifests(t *testing.T) {
	_, key, err := manifest.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := manifest.SignConfig(key, &manifest.Config{Version: 1, Created: time.Unix(1, 0)})
	if err != nil {
		t.Fatal(err)
	}
	c := NewCentral(Source{Dir: t.TempDir()}, nil)
	for name, b := range map[string][]byte{"config manifest": cfg, "garbage": []byte("not an envelope")} {
		if _, err := c.Serve(b); err == nil {
			t.Errorf("Serve(%s) accepted", name)
		}
	}
	models, err := manifest.SignModels(key, &manifest.Models{Version: 3, Created: time.Unix(1, 0)})
	if err != nil {
		t.Fatal(err)
	}
	if ms, err := c.Serve(models); err != nil || ms.Version != 3 {
		t.Fatalf("Serve(model manifest) = %+v, %v", ms, err)
	}
}
