package modelship

import (
	"bytes"
	"crypto/sha256"
	"testing"

	"github.com/edgerag/edgerag/sync/manifest"
)

// FuzzParseRangeRequest feeds central's decoder what any fleet member can
// send: it must never panic, and what it accepts must be within bounds and
// be the only encoding of its value.
func FuzzParseRangeRequest(f *testing.F) {
	d := sha256.Sum256([]byte("x"))
	f.Add(RangeRequest{Digest: d, Offset: 0, Length: 1}.Marshal())
	f.Add(RangeRequest{Digest: d, Offset: 1 << 30, Length: MaxRange}.Marshal())
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseRangeRequest(b)
		if err != nil {
			return
		}
		if r.Length == 0 || r.Length > MaxRange || r.Offset > maxOffset {
			t.Fatalf("accepted out-of-bounds request %+v", r)
		}
		if !bytes.Equal(r.Marshal(), b) {
			t.Fatalf("accepted a non-canonical encoding %x of %+v", b, r)
		}
	})
}

// FuzzCreateRequest feeds the edge's create-request builder arbitrary
// layer contents (they come from central, checked against their digests,
// but a bad central must not crash an edge).
func FuzzCreateRequest(f *testing.F) {
	f.Add([]byte(`{"stop":["x"]}`), []byte(`{"renderer":"r"}`), []byte(`[{"role":"user","content":"hi"}]`))
	f.Add([]byte(`null`), []byte(`[]`), []byte(`{`))
	w, params, cfg, msgs := blob(mediaModel, 9, "w"), blob(mediaParams, 9, "p"), blob(mediaConfig, 9, "c"), blob(mediaMessages, 9, "m")
	p, err := planModel(manifest.Model{Name: "x", Digest: w.Digest, Blobs: []manifest.Blob{w, params, cfg, msgs}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, pb, cb, mb []byte) {
		req, err := p.createRequest(map[string][]byte{params.Digest: pb, cfg.Digest: cb, msgs.Digest: mb})
		if err == nil && req.Files["layer0.gguf"] != w.Digest {
			t.Fatalf("weights missing from %+v", req)
		}
	})
}
