package manifest

import (
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// A shard manifest of one body grows by ~18 bytes a chunk, so a signed
// single-body manifest stops at what one message carries (4 MiB, ~230k
// chunks). A paged manifest (shard body format 2) signs a small root instead:
// the shard's header and the list of its pages, each page a run of
// consecutive chunk refs named by the hash of its encoding. Pages are
// content-addressed like chunk records, so an edge verifies every page
// against the signed root, keeps the pages of the versions it holds, and
// fetches only those it lacks; a page already stored survives a cut link.
//
// Where pages are cut is central's choice, not part of the format (the root
// lists them): CutPages ends a page after a chunk whose hash falls in a
// 1/target slice of the hash space (content-defined boundaries, as rsync
// and backup tools cut files), between min and max chunks a page. The
// manifest lists chunks in document order, not by hash, so a cut by key
// range does not apply; a cut by position would shift every page after an
// insertion. Content-defined boundaries move only around an edit, so a
// version that changes a few documents changes the pages that hold them and
// at most one neighbour each.

// ErrBadPage reports a manifest page that is not the one the signed root
// names.
var ErrBadPage = errors.New("manifest page refused")

// PageRef names one page of a paged shard manifest.
type PageRef struct {
	Hash   Hash   // HashOf the page's encoding
	Chunks uint32 // chunk refs it lists
	Size   uint32 // bytes of its encoding
}

// Page sizing limits, part of the format's bounds (not of the cut rule).
const (
	// MaxPageChunks bounds the chunk refs of one page, so a page stays
	// well inside one chunk message (at most ~1.2 MiB).
	MaxPageChunks = 1 << 16
	// MaxShardChunks bounds the chunks of a paged shard: the index's slot
	// limit.
	MaxShardChunks = 16 << 20
	// MaxPages bounds the pages a root lists.
	MaxPages = MaxShardChunks
)

// Paging is the cut rule's parameters: a page ends after Min chunks at the
// earliest, Max at the latest, and in between after a chunk whose hash is
// 0 modulo Target.
type Paging struct{ Min, Target, Max int }

// DefaultPaging averages ~80 chunks (~1.4 KiB) a page: a 100k-chunk shard
// has ~1,250 pages (a root of ~25 KiB), a 1M-chunk one ~12,500 (~250 KiB).
// Every edge fetches the whole root of each new version, and each page that
// holds a changed chunk: smaller pages cost root bytes, larger ones cost
// page bytes when a change is scattered (1% of the documents spread evenly
// over the shard touches most pages of 320 chunks, a fifth of pages of 80).
var DefaultPaging = Paging{Min: 16, Target: 64, Max: 1024}

func (p Paging) valid() error {
	if p.Min < 1 || p.Target < 1 || p.Max < p.Min || p.Max > MaxPageChunks {
		return fmt.Errorf("paging %+v: want 1 <= min <= max <= %d and target >= 1", p, MaxPageChunks)
	}
	return nil
}

// CutPages splits chunks into pages by the rule above.
func CutPages(chunks []ChunkRef, p Paging) ([][]ChunkRef, error) {
	if err := p.valid(); err != nil {
		return nil, err
	}
	var out [][]ChunkRef
	start := 0
	for i, c := range chunks {
		n := i + 1 - start
		if n >= p.Max || (n >= p.Min && binary.BigEndian.Uint32(c.Hash[12:])%uint32(p.Target) == 0) {
			out = append(out, chunks[start:i+1])
			start = i + 1
		}
	}
	if start < len(chunks) {
		out = append(out, chunks[start:])
	}
	return out, nil
}

const pageFormat = 1

// MarshalPage returns the canonical encoding of one page: a format byte,
// the count, and each chunk's hash and size.
func MarshalPage(chunks []ChunkRef) ([]byte, error) {
	if len(chunks) == 0 || len(chunks) > MaxPageChunks {
		return nil, fmt.Errorf("manifest page: %d chunks, want 1 to %d", len(chunks), MaxPageChunks)
	}
	e := enc{b: make([]byte, 0, 4+20*len(chunks))}
	e.byte1(pageFormat)
	e.uvarint(uint64(len(chunks)))
	for i, c := range chunks {
		if c.Size == 0 || c.Size > MaxChunkSize {
			return nil, fmt.Errorf("manifest page: chunk %d (%s) has size %d; must be 1 to %d", i, c.Hash, c.Size, MaxChunkSize)
		}
		e.fixed(c.Hash[:], len(c.Hash))
		e.uvarint(uint64(c.Size))
	}
	return e.b, nil
}

// UnmarshalPage decodes a page. It does not check the page's hash; Assemble
// does, against the signed root.
func UnmarshalPage(b []byte) ([]ChunkRef, error) {
	d := dec{b: b}
	if f := d.byte1("format"); d.err == nil && f != pageFormat {
		return nil, fmt.Errorf("%w: manifest page format %d, this build reads %d: upgrade the node", ErrMalformed, f, pageFormat)
	}
	n := d.count("page chunks", MaxPageChunks, len(Hash{})+1)
	if d.err == nil && n == 0 {
		d.fail("empty manifest page")
	}
	var out []ChunkRef
	if d.err == nil {
		out = make([]ChunkRef, n)
	}
	for i := 0; i < n && d.err == nil; i++ {
		copy(out[i].Hash[:], d.take("chunk hash", len(Hash{})))
		sz := d.uvarint("chunk size")
		if d.err == nil && (sz == 0 || sz > MaxChunkSize) {
			d.fail("chunk %d: size %d, want 1 to %d", i, sz, MaxChunkSize)
		}
		out[i].Size = uint32(sz)
	}
	if err := d.end("manifest page"); err != nil {
		return nil, err
	}
	return out, nil
}

// Root is a decoded shard envelope body: the shard's header (Shard with
// Chunks nil) and, for a paged manifest, its pages. A single-body manifest
// (format 1) decodes to a Root with Inline set and the chunks in Shard.
type Root struct {
	Shard  Shard
	Pages  []PageRef
	Inline bool
}

// Chunks returns the number of chunks the manifest lists.
func (r *Root) Chunks() int {
	if r.Inline {
		return len(r.Shard.Chunks)
	}
	n := 0
	for _, p := range r.Pages {
		n += int(p.Chunks)
	}
	return n
}

// PageBytes returns the bytes of all its pages' encodings.
func (r *Root) PageBytes() int64 {
	var n int64
	for _, p := range r.Pages {
		n += int64(p.Size)
	}
	return n
}

const pagedFormat = 2

// header writes the fields formats 1 and 2 share, after the format byte.
func (m *Shard) header(e *enc) {
	e.str(m.Name)
	e.uvarint(m.Version)
	e.uvarint(m.MinVersion)
	e.varint(m.Created.UnixNano())
	e.float(m.Index.K1)
	e.float(m.Index.B)
	e.str(m.Index.Analyzer)
	e.uvarint(uint64(m.Index.ChunkTokens))
	e.varint(int64(m.Index.ChunkOverlap))
	e.str(m.EmbedModel)
}

func (m *Shard) readHeader(d *dec) {
	m.Name = d.str("name", 64)
	m.Version = d.uvarint("version")
	m.MinVersion = d.uvarint("min_version")
	if ns := d.varint("created"); d.err == nil {
		m.Created = time.Unix(0, ns).UTC()
	}
	m.Index.K1 = d.float("k1")
	m.Index.B = d.float("b")
	m.Index.Analyzer = d.str("analyzer", MaxString)
	ct := d.uvarint("chunk tokens")
	co := d.varint("chunk overlap")
	if ct > 1<<20 || co < -1 || co > 1<<20 {
		d.fail("chunking parameters out of range")
	}
	m.Index.ChunkTokens, m.Index.ChunkOverlap = int(ct), int(co)
	m.EmbedModel = d.str("embedding model", MaxString)
}

// Paginate cuts a valid manifest into pages and returns the root body
// (format 2) and the pages' encodings, in order.
func (m *Shard) Paginate(p Paging) (root []byte, pages [][]byte, err error) {
	if err := m.Validate(); err != nil {
		return nil, nil, err
	}
	if len(m.Chunks) == 0 {
		return nil, nil, fmt.Errorf("shard manifest %q: no chunks to page", m.Name)
	}
	cuts, err := CutPages(m.Chunks, p)
	if err != nil {
		return nil, nil, err
	}
	e := enc{b: make([]byte, 0, 64+len(m.Name)+len(m.EmbedModel)+24*len(cuts))}
	e.byte1(pagedFormat)
	m.header(&e)
	e.uvarint(uint64(len(cuts)))
	pages = make([][]byte, len(cuts))
	for i, c := range cuts {
		if pages[i], err = MarshalPage(c); err != nil {
			return nil, nil, err
		}
		h := HashOf(pages[i])
		e.fixed(h[:], len(h))
		e.uvarint(uint64(len(c)))
		e.uvarint(uint64(len(pages[i])))
	}
	return e.b, pages, nil
}

// Marshal returns the canonical encoding of a root: format 1 when Inline,
// format 2 otherwise.
func (r *Root) Marshal() ([]byte, error) {
	if r.Inline {
		return r.Shard.Marshal()
	}
	if err := r.validate(); err != nil {
		return nil, err
	}
	var e enc
	e.byte1(pagedFormat)
	r.Shard.header(&e)
	e.uvarint(uint64(len(r.Pages)))
	for _, p := range r.Pages {
		e.fixed(p.Hash[:], len(p.Hash))
		e.uvarint(uint64(p.Chunks))
		e.uvarint(uint64(p.Size))
	}
	return e.b, nil
}

// maxPageSize bounds a page's encoding: MaxPageChunks refs of a 16-byte hash
// and a size of at most 3 bytes, plus format and count.
const maxPageSize = 1 + 3 + MaxPageChunks*(16+3)

func (r *Root) validate() error {
	h := r.Shard
	h.Chunks = nil
	if err := h.Validate(); err != nil {
		return err
	}
	if len(r.Pages) == 0 || len(r.Pages) > MaxPages {
		return fmt.Errorf("shard manifest: %d pages, want 1 to %d", len(r.Pages), MaxPages)
	}
	total := 0
	for i, p := range r.Pages {
		// A page of n refs takes 18 to 22 bytes a ref plus its head.
		if p.Chunks == 0 || p.Chunks > MaxPageChunks || p.Size < 2+17*p.Chunks || p.Size > maxPageSize {
			return fmt.Errorf("shard manifest: page %d (%s): %d chunks in %d bytes is impossible", i, p.Hash, p.Chunks, p.Size)
		}
		if total += int(p.Chunks); total > MaxShardChunks {
			return fmt.Errorf("shard manifest: over %d chunks: split the shard", MaxShardChunks)
		}
	}
	return nil
}

// UnmarshalRoot decodes and validates a shard envelope body of either
// format. It does not check a signature; use OpenRoot for bytes that came
// over the network.
func UnmarshalRoot(b []byte) (Root, error) {
	if len(b) > 0 && b[0] == shardFormat {
		m, err := UnmarshalShard(b)
		return Root{Shard: m, Inline: true}, err
	}
	d := dec{b: b}
	var r Root
	if f := d.byte1("format"); d.err == nil && f != pagedFormat {
		return r, fmt.Errorf("%w: shard manifest format %d, this build reads %d and %d: upgrade the node", ErrMalformed, f, shardFormat, pagedFormat)
	}
	r.Shard.readHeader(&d)
	n := d.count("pages", MaxPages, len(Hash{})+2)
	if d.err == nil {
		r.Pages = make([]PageRef, n)
	}
	for i := 0; i < n && d.err == nil; i++ {
		p := &r.Pages[i]
		copy(p.Hash[:], d.take("page hash", len(Hash{})))
		c, sz := d.uvarint("page chunks"), d.uvarint("page size")
		if d.err == nil && (c > MaxPageChunks || sz > maxPageSize) {
			d.fail("page %d: %d chunks in %d bytes out of range", i, c, sz)
		}
		p.Chunks, p.Size = uint32(c), uint32(sz)
	}
	if err := d.end("shard manifest root"); err != nil {
		return Root{}, err
	}
	if err := r.validate(); err != nil {
		return Root{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return r, nil
}

// Assemble returns the whole manifest of a root, reading each page with
// get and checking it against the root: its hash, its count and its size.
// A page that fails is named, so the caller can drop it and fetch it again.
func (r *Root) Assemble(get func(PageRef) ([]byte, error)) (Shard, error) {
	if r.Inline {
		return r.Shard, nil
	}
	m := r.Shard
	m.Chunks = make([]ChunkRef, 0, r.Chunks())
	for i, p := range r.Pages {
		b, err := get(p)
		if err != nil {
			return Shard{}, fmt.Errorf("page %d (%s) of shard %q version %d: %w", i, p.Hash, m.Name, m.Version, err)
		}
		if err := CheckPage(p, b); err != nil {
			return Shard{}, err
		}
		cs, err := UnmarshalPage(b)
		if err != nil {
			return Shard{}, fmt.Errorf("page %s: %w", p.Hash, err)
		}
		if len(cs) != int(p.Chunks) {
			return Shard{}, fmt.Errorf("%w: page %s lists %d chunks, the root says %d", ErrMalformed, p.Hash, len(cs), p.Chunks)
		}
		m.Chunks = append(m.Chunks, cs...)
	}
	return m, nil
}

// CheckPage reports a page's encoding that is not the one the root names.
func CheckPage(p PageRef, b []byte) error {
	if got := HashOf(b); got != p.Hash || len(b) != int(p.Size) {
		return fmt.Errorf("%w: page %s refused: hash mismatch (got %s, %d bytes, want %d): it was altered on the way or the store is damaged", ErrBadPage, p.Hash, got, len(b), p.Size)
	}
	return nil
}

// SignPaged pages, encodes and signs a shard manifest: the signed root
// envelope and the pages it lists, in order.
func SignPaged(priv ed25519.PrivateKey, m *Shard, p Paging) (signed []byte, pages [][]byte, err error) {
	body, pages, err := m.Paginate(p)
	if err != nil {
		return nil, nil, err
	}
	e := Sign(priv, KindShard, body)
	return e.Marshal(), pages, nil
}

// OpenRoot verifies a signed shard envelope of either format and decodes
// its body.
func OpenRoot(b []byte, trusted ...ed25519.PublicKey) (Root, error) {
	e, err := open(b, KindShard, trusted)
	if err != nil {
		return Root{}, err
	}
	return UnmarshalRoot(e.Body)
}

// ReadRoot decodes a stored shard envelope of either format without
// checking its signature (a node's own store, checked when it arrived).
func ReadRoot(b []byte) (Root, error) {
	e, err := UnmarshalEnvelope(b)
	if err != nil {
		return Root{}, err
	}
	if e.Kind != KindShard {
		return Root{}, fmt.Errorf("%w: got a %s manifest, want shard", ErrWrongKind, e.Kind)
	}
	return UnmarshalRoot(e.Body)
}
