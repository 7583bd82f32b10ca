package manifest

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

func testKey(t testing.TB, seed byte) (ed25519.PublicKey, ed25519.PrivateKey) {
	t.Helper()
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
	return priv.Public().(ed25519.PublicKey), priv
}

func sampleShard(n int) Shard {
	m := Shard{
		Name: "manuals", Version: 7, MinVersion: 5,
		Created:    time.Date(2026, 11, 24, 12, 0, 0, 123, time.UTC),
		Index:      IndexParams{K1: 0.9, B: 0.4, Analyzer: "english-porter", ChunkTokens: 128, ChunkOverlap: 32},
		EmbedModel: "all-minilm:latest",
	}
	for i := range n {
		m.Chunks = append(m.Chunks, ChunkRef{Hash: HashOf([]byte{byte(i), byte(i >> 8)}), Size: uint32(100 + i)})
	}
	return m
}

func TestShardRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, 1000} {
		m := sampleShard(n)
		b, err := m.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		got, err := UnmarshalShard(b)
		if err != nil {
			t.Fatalf("%d chunks: %v", n, err)
		}
		b2, _ := got.Marshal()
		if !bytes.Equal(b, b2) || got.Name != m.Name || got.Version != m.Version || got.MinVersion != m.MinVersion ||
			!got.Created.Equal(m.Created) || got.Index != m.Index || got.EmbedModel != m.EmbedModel || len(got.Chunks) != n {
			t.Fatalf("%d chunks: round trip changed the manifest: %+v", n, got)
		}
		// 16-byte hash + a 1-2 byte size: a 100k-chunk shard stays near 1.8 MB.
		if n == 1000 && len(b) > 100+19*n {
			t.Errorf("1000 chunks encode to %d bytes; want about 18 a chunk", len(b))
		}
	}
}

func TestShardValidate(t *testing.T) {
	cases := []struct {
		name string
		edit func(*Shard)
		want string
	}{
		{"ok", func(*Shard) {}, ""},
		{"bad name", func(m *Shard) { m.Name = "Manuals" }, "lower-case"},
		{"no version", func(m *Shard) { m.Version = 0 }, "version must be"},
		{"floor above version", func(m *Shard) { m.MinVersion = 8 }, "min_version 8 is above"},
		{"no time", func(m *Shard) { m.Created = time.Time{} }, "creation time"},
		{"bad k1", func(m *Shard) { m.Index.K1 = 11 }, "k1"},
		{"bad b", func(m *Shard) { m.Index.B = -0.1 }, "b=-0.1"},
		{"no analyzer", func(m *Shard) { m.Index.Analyzer = "" }, "analyzer"},
		{"empty chunk", func(m *Shard) { m.Chunks[1].Size = 0 }, "size 0"},
		{"huge chunk", func(m *Shard) { m.Chunks[1].Size = MaxChunkSize + 1 }, "size"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := sampleShard(3)
			c.edit(&m)
			err := m.Validate()
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
			if _, err := m.Marshal(); err == nil {
				t.Fatal("Marshal accepted an invalid manifest")
			}
		})
	}
}

func TestDecodeRejects(t *testing.T) {
	m := sampleShard(2)
	good, _ := m.Marshal()
	padded := append([]byte{good[0]}, good[1:]...)
	// Pad the version varint (7 → 0x87 0x00): same value, second encoding.
	i := 1 + 1 + len(m.Name)
	padded = append(append(append([]byte{}, padded[:i]...), 0x87, 0x00), padded[i+1:]...)
	cases := []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "truncated"},
		{"future format", append([]byte{9}, good[1:]...), "format 9"},
		{"trailing", append(append([]byte{}, good...), 0), "trailing"},
		{"truncated", good[:len(good)-3], "cannot fit"},
		{"truncated name", good[:5], "truncated"},
		{"padded varint", padded, "minimally"},
		{"huge count", append(append([]byte{}, good[:len(good)-2*17-1]...), 0xff, 0xff, 0x3f), "entries"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := UnmarshalShard(c.b)
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want ErrMalformed containing %q", err, c.want)
			}
		})
	}
}

func TestSignOpen(t *testing.T) {
	pub, priv := testKey(t, 1)
	otherPub, otherPriv := testKey(t, 2)
	m := sampleShard(5)
	signed, err := SignShard(priv, &m)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := OpenShard(signed, otherPub, pub); err != nil || got.Version != 7 {
		t.Fatalf("open: %v %+v", err, got)
	}
	flip := func(i int) []byte {
		b := append([]byte(nil), signed...)
		b[i] ^= 1
		return b
	}
	forged, _ := SignShard(otherPriv, &m)
	// Same key id, other key's signature: a forgery naming central's key.
	env, _ := UnmarshalEnvelope(forged)
	env.KeyID = IDOf(pub)
	cfg := Config{Version: 1, Created: m.Created, Settings: []Setting{{"escalate-below", "0.6"}}}
	cfgSigned, _ := SignConfig(priv, &cfg)
	cases := []struct {
		name string
		b    []byte
		want error
	}{
		{"body bit flipped", flip(len(signed) / 2), ErrBadSignature},
		{"signature bit flipped", flip(len(signed) - 1), ErrBadSignature},
		{"other key", forged, ErrUnknownKey},
		{"forged key id", env.Marshal(), ErrBadSignature},
		{"config as shard", cfgSigned, ErrWrongKind},
		{"bad magic", flip(0), ErrMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := OpenShard(c.b, pub); !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
	if got, err := OpenConfig(cfgSigned, pub); err != nil {
		t.Fatal(err)
	} else if v, ok := got.Get("escalate-below"); !ok || v != "0.6" {
		t.Fatalf("config setting: %q %v", v, ok)
	}
}

func TestModelsAndConfig(t *testing.T) {
	pub, priv := testKey(t, 3)
	d := "sha256:" + strings.Repeat("ab", 32)
	now := time.Unix(1800000000, 0).UTC()
	good := Models{Version: 2, Created: now, Models: []Model{
		{Name: "all-minilm:latest", Digest: d, Blobs: []Blob{{Digest: d, Size: 45 << 20, MediaType: "application/vnd.ollama.image.model"}}},
		{Name: "qwen:0.5b", Digest: d},
	}}
	signed, err := SignModels(priv, &good)
	if err != nil {
		t.Fatal(err)
	}
	got, err := OpenModels(signed, pub)
	if err != nil || len(got.Models) != 2 || got.Models[0].Blobs[0].Size != 45<<20 {
		t.Fatalf("models round trip: %v %+v", err, got)
	}
	bad := []struct {
		name string
		m    Models
		want string
	}{
		{"unsorted", Models{Version: 1, Created: now, Models: []Model{{Name: "b", Digest: d}, {Name: "a", Digest: d}}}, "sorted"},
		{"bad digest", Models{Version: 1, Created: now, Models: []Model{{Name: "a", Digest: "sha256:XYZ"}}}, "digest"},
		{"no version", Models{Created: now}, "version"},
	}
	for _, c := range bad {
		if _, err := c.m.Marshal(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.name, err, c.want)
		}
	}
	cfg := Config{Version: 1, Created: now, Settings: []Setting{{"b", "1"}, {"a", "2"}}}
	if _, err := cfg.Marshal(); err == nil || !strings.Contains(err.Error(), "sorted") {
		t.Errorf("unsorted config: %v", err)
	}
}

func TestRecordRoundTrip(t *testing.T) {
	r := Record{DocID: "pump", Title: "Pump P-100", Source: "file:///p.md", Position: 3, Heading: "Reset",
		Text: "Press the blue RESET button.", Metadata: map[string]string{"z": "1", "a": "2"}}
	b, err := r.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := r.Marshal()
	if !bytes.Equal(b, b2) || HashOf(b) != HashOf(b2) {
		t.Fatal("record encoding is not deterministic (map order leaked)")
	}
	got, err := UnmarshalRecord(b)
	if err != nil || got.DocID != r.DocID || got.Position != 3 || got.Text != r.Text || got.Metadata["a"] != "2" {
		t.Fatalf("record round trip: %v %+v", err, got)
	}
	r2 := r
	r2.Title = "Pump P-200"
	b3, _ := r2.Marshal()
	if HashOf(b3) == HashOf(b) {
		t.Fatal("a provenance change must change the record's hash")
	}
	if _, err := (&Record{Position: 1}).Marshal(); err == nil {
		t.Fatal("record without a document id accepted")
	}
}

func TestMissingAndBatches(t *testing.T) {
	m := sampleShard(10)
	m.Chunks = append(m.Chunks, m.Chunks[2]) // a chunk repeated in the shard is fetched once
	have := map[Hash]bool{m.Chunks[0].Hash: true, m.Chunks[5].Hash: true}
	miss := Missing(&m, func(h Hash) bool { return have[h] })
	if len(miss) != 8 {
		t.Fatalf("missing %d chunks, want 8", len(miss))
	}
	for _, c := range []struct {
		maxBytes int64
		maxCount int
		want     int
	}{{1 << 20, 1000, 1}, {1 << 20, 3, 3}, {250, 1000, 4}, {1, 1000, 8}} {
		bs := Batches(miss, c.maxBytes, c.maxCount)
		total := 0
		for _, b := range bs {
			total += len(b)
		}
		if len(bs) != c.want || total != len(miss) {
			t.Errorf("Batches(%d bytes, %d): %d batches of %d refs, want %d of %d", c.maxBytes, c.maxCount, len(bs), total, c.want, len(miss))
		}
	}
}

func TestKeysPEM(t *testing.T) {
	pub, priv, err := GenerateKey(rand.NewChaCha8([32]byte{1}))
	if err != nil {
		t.Fatal(err)
	}
	pb, _ := MarshalPublicKey(pub)
	kb, _ := MarshalPrivateKey(priv)
	pub2, err := ParsePublicKey(pb)
	if err != nil || !pub2.Equal(pub) {
		t.Fatalf("public key: %v", err)
	}
	priv2, err := ParsePrivateKey(kb)
	if err != nil || !priv2.Equal(priv) {
		t.Fatalf("private key: %v", err)
	}
	if _, err := ParsePublicKey(kb); err == nil {
		t.Fatal("a private key parsed as a public one")
	}
}
