// Package manifest defines what central signs for the fleet: shard
// manifests (one immutable version of a shard: its chunk records by content
// hash), model manifests (the Ollama models edges must hold, with digests)
// and config manifests (settings the fleet shares), all carried in one
// signed envelope (ed25519 over a domain-separated canonical encoding).
//
// It is pure: it encodes, decodes, signs, verifies and diffs bytes, and does
// no I/O, so it is table-tested and its decoders are fuzzed. Central's
// publisher, the edge's syncer and the model-shipping code all import it; it
// imports nothing of the project.
//
// Every encoding here is canonical: one value has exactly one encoding, and
// decoders refuse anything else (padded integers, unsorted settings,
// trailing bytes), so that a signature covers meaning, not formatting.
package manifest

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Hash is a chunk record's content address: the first 16 bytes of the
// SHA-256 of its canonical encoding. The manifest that lists it is signed,
// so a record that arrives with another hash was altered on the way.
type Hash [16]byte

// HashOf returns the content address of an encoded record.
func HashOf(encoded []byte) Hash {
	sum := sha256.Sum256(encoded)
	var h Hash
	copy(h[:], sum[:])
	return h
}

// String returns the hash as 32 lower-case hex digits.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// ParseHash parses the form String returns.
func ParseHash(s string) (Hash, error) {
	var h Hash
	if len(s) != 2*len(h) {
		return h, fmt.Errorf("chunk hash %q: want %d hex digits", s, 2*len(h))
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return h, fmt.Errorf("chunk hash %q: %w", s, err)
	}
	return h, nil
}

// ChunkRef is one entry of a shard manifest: a chunk record's hash and its
// encoded size in bytes.
type ChunkRef struct {
	Hash Hash
	Size uint32
}

// IndexParams are how the edge must index the shard to rank as central does.
type IndexParams struct {
	K1, B    float64 // BM25
	Analyzer string  // analysis chain name, e.g. "english-porter"
	// Chunking central cut the documents with; edges receive chunks ready
	// made, so it is informational (and for re-chunking tools).
	ChunkTokens, ChunkOverlap int
}

// Shard describes one immutable version of a shard.
type Shard struct {
	Name    string
	Version uint64 // strictly increasing per shard; edges refuse anything not newer than what they applied
	// MinVersion is the oldest version of the shard still fit to serve:
	// an edge will not roll back below it. 0 means no floor.
	MinVersion uint64
	Created    time.Time // when central cut the version (UTC, nanoseconds)
	Index      IndexParams
	// EmbedModel is the embedding model dense vectors of this shard must be
	// made with ("" when the shard is BM25 only).
	EmbedModel string
	// Chunks lists the version's chunk records in document order: grouped
	// by document, each document's chunks by position.
	Chunks []ChunkRef
}

// Bytes returns the sum of the chunk records' sizes.
func (m *Shard) Bytes() int64 {
	var n int64
	for _, c := range m.Chunks {
		n += int64(c.Size)
	}
	return n
}

// validName mirrors the shard and node name rules (node/shard.ValidName)
// without importing them, so this package stays a leaf.
func validName(what, name string) error {
	if name == "" || len(name) > 64 {
		return fmt.Errorf("%s %q: must be 1 to 64 characters", what, name)
	}
	for i, r := range name {
		ok := (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || (i > 0 && (r == '-' || r == '_' || r == '.'))
		if !ok {
			return fmt.Errorf("%s %q: use lower-case letters, digits, '-', '_' and '.', starting with a letter or digit", what, name)
		}
	}
	return nil
}

// Validate reports a manifest no edge should act on.
func (m *Shard) Validate() error {
	if err := validName("shard name", m.Name); err != nil {
		return err
	}
	switch {
	case m.Version == 0:
		return errors.New("shard manifest: version must be at least 1")
	case m.MinVersion > m.Version:
		return fmt.Errorf("shard manifest: min_version %d is above version %d", m.MinVersion, m.Version)
	case m.Created.IsZero():
		return errors.New("shard manifest: no creation time")
	case len(m.Chunks) > MaxShardChunks:
		return fmt.Errorf("shard manifest: %d chunks, at most %d: split the shard", len(m.Chunks), MaxShardChunks)
	case !(m.Index.K1 >= 0 && m.Index.K1 <= 10) || !(m.Index.B >= 0 && m.Index.B <= 1):
		return fmt.Errorf("shard manifest: BM25 k1=%v b=%v out of range (k1 0..10, b 0..1)", m.Index.K1, m.Index.B)
	case m.Index.Analyzer == "" || len(m.Index.Analyzer) > MaxString:
		return errors.New("shard manifest: no analyzer named")
	case m.Index.ChunkTokens < 0 || m.Index.ChunkOverlap < -1:
		return errors.New("shard manifest: negative chunking parameters")
	case len(m.EmbedModel) > MaxString:
		return errors.New("shard manifest: embedding model name too long")
	}
	for i, c := range m.Chunks {
		if c.Size == 0 || c.Size > MaxChunkSize {
			return fmt.Errorf("shard manifest: chunk %d (%s) has size %d; must be 1 to %d", i, c.Hash, c.Size, MaxChunkSize)
		}
	}
	return nil
}

// shardFormat is the first byte of a single-body shard manifest, so the
// layout can change: format 2 is the paged root (page.go).
const shardFormat = 1

// Marshal returns the canonical single-body encoding (format 1) of a valid
// manifest of at most MaxChunks chunks; Paginate pages larger ones.
func (m *Shard) Marshal() ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	if len(m.Chunks) > MaxChunks {
		return nil, fmt.Errorf("shard manifest: %d chunks, at most %d in one body: page it", len(m.Chunks), MaxChunks)
	}
	e := enc{b: make([]byte, 0, 64+len(m.Name)+len(m.EmbedModel)+20*len(m.Chunks))}
	e.byte1(shardFormat)
	m.header(&e)
	e.uvarint(uint64(len(m.Chunks)))
	for _, c := range m.Chunks {
		e.fixed(c.Hash[:], len(c.Hash))
		e.uvarint(uint64(c.Size))
	}
	return e.b, nil
}

// UnmarshalShard decodes and validates a shard manifest body. It does not
// check a signature; use Open for bytes that came over the network.
func UnmarshalShard(b []byte) (Shard, error) {
	d := dec{b: b}
	var m Shard
	if f := d.byte1("format"); d.err == nil && f != shardFormat {
		return m, fmt.Errorf("%w: shard manifest format %d, this build reads %d: upgrade the node", ErrMalformed, f, shardFormat)
	}
	m.readHeader(&d)
	n := d.count("chunks", MaxChunks, len(Hash{})+1)
	if d.err == nil {
		m.Chunks = make([]ChunkRef, n)
	}
	for i := 0; i < n && d.err == nil; i++ {
		copy(m.Chunks[i].Hash[:], d.take("chunk hash", len(Hash{})))
		sz := d.uvarint("chunk size")
		if sz > MaxChunkSize {
			d.fail("chunk %d: size %d over %d", i, sz, MaxChunkSize)
		}
		m.Chunks[i].Size = uint32(sz)
	}
	if err := d.end("shard manifest"); err != nil {
		return Shard{}, err
	}
	if err := m.Validate(); err != nil {
		return Shard{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return m, nil
}

// Missing returns the chunks of m that have reports absent, each once, in
// manifest order: what an edge must fetch to hold version m.
func Missing(m *Shard, have func(Hash) bool) []ChunkRef {
	seen := make(map[Hash]struct{}, len(m.Chunks)/8)
	var out []ChunkRef
	for _, c := range m.Chunks {
		if _, dup := seen[c.Hash]; dup || have(c.Hash) {
			continue
		}
		seen[c.Hash] = struct{}{}
		out = append(out, c)
	}
	return out
}

// Batches cuts refs into consecutive batches of at most maxBytes of records
// and maxCount records each (a record larger than maxBytes gets a batch of
// its own), so that each fits one chunk message.
func Batches(refs []ChunkRef, maxBytes int64, maxCount int) [][]ChunkRef {
	var out [][]ChunkRef
	for start := 0; start < len(refs); {
		end, size := start, int64(0)
		for end < len(refs) && end-start < maxCount && (end == start || size+int64(refs[end].Size) <= maxBytes) {
			size += int64(refs[end].Size)
			end++
		}
		out = append(out, refs[start:end])
		start = end
	}
	return out
}

// Model is one model an edge must hold: its Ollama name and the digests of
// its manifest and blobs, so the edge can fetch any it lacks and verify them.
type Model struct {
	Name   string // Ollama model name, e.g. "all-minilm:latest"
	Digest string // "sha256:<64 hex>" of the model's Ollama manifest
	Blobs  []Blob // layers and config
}

// Blob is one content-addressed file of a model.
type Blob struct {
	Digest    string // "sha256:<64 hex>"
	Size      int64
	MediaType string // Ollama's media type of the layer
}

// Models lists the models every edge of the fleet must have.
type Models struct {
	Version uint64
	Created time.Time
	Models  []Model // sorted by Name, names unique
}

func validDigest(d string) error {
	hexPart, ok := strings.CutPrefix(d, "sha256:")
	if !ok || len(hexPart) != 64 || strings.ToLower(hexPart) != hexPart {
		return fmt.Errorf("digest %q: want sha256: and 64 lower-case hex digits", d)
	}
	if _, err := hex.DecodeString(hexPart); err != nil {
		return fmt.Errorf("digest %q: %w", d, err)
	}
	return nil
}

// Validate reports a model manifest no edge should act on.
func (m *Models) Validate() error {
	switch {
	case m.Version == 0:
		return errors.New("model manifest: version must be at least 1")
	case m.Created.IsZero():
		return errors.New("model manifest: no creation time")
	case len(m.Models) > MaxEntries:
		return fmt.Errorf("model manifest: %d models, at most %d", len(m.Models), MaxEntries)
	}
	for i, md := range m.Models {
		if md.Name == "" || len(md.Name) > MaxString {
			return fmt.Errorf("model manifest: model %d has no name or one over %d bytes", i, MaxString)
		}
		if i > 0 && m.Models[i-1].Name >= md.Name {
			return fmt.Errorf("model manifest: models must be sorted by name and unique (%q after %q)", md.Name, m.Models[i-1].Name)
		}
		if err := validDigest(md.Digest); err != nil {
			return fmt.Errorf("model manifest: model %q: %w", md.Name, err)
		}
		if len(md.Blobs) > MaxEntries {
			return fmt.Errorf("model manifest: model %q has %d blobs, at most %d", md.Name, len(md.Blobs), MaxEntries)
		}
		for _, b := range md.Blobs {
			if err := validDigest(b.Digest); err != nil {
				return fmt.Errorf("model manifest: model %q: blob: %w", md.Name, err)
			}
			if b.Size < 0 || len(b.MediaType) > MaxString {
				return fmt.Errorf("model manifest: model %q: blob %s: negative size or media type too long", md.Name, b.Digest)
			}
		}
	}
	return nil
}

const modelsFormat = 1

// Marshal returns the canonical encoding of a valid model manifest.
func (m *Models) Marshal() ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	var e enc
	e.byte1(modelsFormat)
	e.uvarint(m.Version)
	e.varint(m.Created.UnixNano())
	e.uvarint(uint64(len(m.Models)))
	for _, md := range m.Models {
		e.str(md.Name)
		e.str(md.Digest)
		e.uvarint(uint64(len(md.Blobs)))
		for _, b := range md.Blobs {
			e.str(b.Digest)
			e.uvarint(uint64(b.Size))
			e.str(b.MediaType)
		}
	}
	return e.b, nil
}

// UnmarshalModels decodes and validates a model manifest body.
func UnmarshalModels(b []byte) (Models, error) {
	d := dec{b: b}
	var m Models
	if f := d.byte1("format"); d.err == nil && f != modelsFormat {
		return m, fmt.Errorf("%w: model manifest format %d, this build reads %d: upgrade the node", ErrMalformed, f, modelsFormat)
	}
	m.Version = d.uvarint("version")
	if ns := d.varint("created"); d.err == nil {
		m.Created = time.Unix(0, ns).UTC()
	}
	n := d.count("models", MaxEntries, 3)
	for i := 0; i < n && d.err == nil; i++ {
		var md Model
		md.Name = d.str("model name", MaxString)
		md.Digest = d.str("model digest", 128)
		nb := d.count("blobs", MaxEntries, 3)
		for j := 0; j < nb && d.err == nil; j++ {
			var bl Blob
			bl.Digest = d.str("blob digest", 128)
			sz := d.uvarint("blob size")
			if sz > 1<<62 {
				d.fail("blob size %d out of range", sz)
			}
			bl.Size = int64(sz)
			bl.MediaType = d.str("media type", MaxString)
			md.Blobs = append(md.Blobs, bl)
		}
		m.Models = append(m.Models, md)
	}
	if err := d.end("model manifest"); err != nil {
		return Models{}, err
	}
	if err := m.Validate(); err != nil {
		return Models{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return m, nil
}

// Config carries settings the fleet shares (thresholds, timeouts), as
// name/value strings each node parses with its own flag rules.
type Config struct {
	Version  uint64
	Created  time.Time
	Settings []Setting // sorted by Name, names unique
}

// Setting is one shared setting, named like the serve flag it overrides
// ("escalate-below").
type Setting struct{ Name, Value string }

// Get returns the value of a setting and whether it is set.
func (c *Config) Get(name string) (string, bool) {
	i, ok := slices.BinarySearchFunc(c.Settings, name, func(s Setting, n string) int { return strings.Compare(s.Name, n) })
	if !ok {
		return "", false
	}
	return c.Settings[i].Value, true
}

// Validate reports a config manifest no edge should act on.
func (c *Config) Validate() error {
	switch {
	case c.Version == 0:
		return errors.New("config manifest: version must be at least 1")
	case c.Created.IsZero():
		return errors.New("config manifest: no creation time")
	case len(c.Settings) > MaxEntries:
		return fmt.Errorf("config manifest: %d settings, at most %d", len(c.Settings), MaxEntries)
	}
	for i, s := range c.Settings {
		if s.Name == "" || len(s.Name) > 128 || len(s.Value) > MaxString {
			return fmt.Errorf("config manifest: setting %d: names 1 to 128 bytes, values at most %d", i, MaxString)
		}
		if i > 0 && c.Settings[i-1].Name >= s.Name {
			return fmt.Errorf("config manifest: settings must be sorted by name and unique (%q after %q)", s.Name, c.Settings[i-1].Name)
		}
	}
	return nil
}

const configFormat = 1

// Marshal returns the canonical encoding of a valid config manifest.
func (c *Config) Marshal() ([]byte, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	var e enc
	e.byte1(configFormat)
	e.uvarint(c.Version)
	e.varint(c.Created.UnixNano())
	e.uvarint(uint64(len(c.Settings)))
	for _, s := range c.Settings {
		e.str(s.Name)
		e.str(s.Value)
	}
	return e.b, nil
}

// UnmarshalConfig decodes and validates a config manifest body.
func UnmarshalConfig(b []byte) (Config, error) {
	d := dec{b: b}
	var c Config
	if f := d.byte1("format"); d.err == nil && f != configFormat {
		return c, fmt.Errorf("%w: config manifest format %d, this build reads %d: upgrade the node", ErrMalformed, f, configFormat)
	}
	c.Version = d.uvarint("version")
	if ns := d.varint("created"); d.err == nil {
		c.Created = time.Unix(0, ns).UTC()
	}
	n := d.count("settings", MaxEntries, 2)
	for i := 0; i < n && d.err == nil; i++ {
		var s Setting
		s.Name = d.str("setting name", 128)
		s.Value = d.str("setting value", MaxString)
		c.Settings = append(c.Settings, s)
	}
	if err := d.end("config manifest"); err != nil {
		return Config{}, err
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return c, nil
}
