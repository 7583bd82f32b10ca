package vector

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"math/bits"
)

// The stored form, all integers little-endian:
//
//	magic "EGVI", version u16, kind u8, reserved u8 (0), dim u32, nodes u32
//	HNSW only: M u32, efConstruction u32, efSearch u32, seed u64,
//	           entry u32, top i32 (-1 when empty), upper-list words u32
//	ids:          nodes × u32
//	HNSW only:    levels nodes × u8, dead bits ⌈nodes/64⌉ × u64
//	vectors:      nodes × dim × f32, normalised
//	              (hnsw-int8: codes nodes × ⌈dim/8⌉ × u64, scales nodes × f32;
//	              its vectors are in the VectorStore, not here)
//	HNSW only:    layer-0 lists nodes × (2M+1) × u32, upper lists × u32
//	CRC-32C of everything before it, u32
//
// The int8 kind stores what the exact kind does and recomputes its codes on
// load: that is fast, and keeps one fewer thing to validate.
const (
	magic   = "EGVI"
	version = 1
)

// kinds lists the kinds by their code in the stored form, less one.
func kinds() [4]string { return [4]string{KindExact, KindInt8, KindHNSW, KindHNSWInt8} }

func kindCode(kind string) byte {
	for i, k := range kinds() {
		if k == kind {
			return byte(i + 1)
		}
	}
	return 0
}

// corrupt ends the messages about damage the checksum did not catch.
const corrupt = "the stored index is corrupt; rebuild it"

// ioChunk is the buffer through which encoding and decoding stream, so
// neither ever holds a second copy of the index.
const ioChunk = 64 << 10

type encoder struct {
	w   io.Writer
	tab *crc32.Table
	buf []byte
	crc uint32
	n   int64
	err error
}

func newEncoder(w io.Writer) *encoder {
	return &encoder{w: w, tab: crc32.MakeTable(crc32.Castagnoli), buf: make([]byte, 0, ioChunk)}
}

func (e *encoder) room(n int) []byte {
	if len(e.buf)+n > cap(e.buf) {
		e.flush()
	}
	e.buf = e.buf[:len(e.buf)+n]
	return e.buf[len(e.buf)-n:]
}

func (e *encoder) flush() {
	if e.err == nil && len(e.buf) > 0 {
		e.crc = crc32.Update(e.crc, e.tab, e.buf)
		var m int
		m, e.err = e.w.Write(e.buf)
		e.n += int64(m)
	}
	e.buf = e.buf[:0]
}

func (e *encoder) u8(v uint8)   { e.room(1)[0] = v }
func (e *encoder) u16(v uint16) { binary.LittleEndian.PutUint16(e.room(2), v) }
func (e *encoder) u32(v uint32) { binary.LittleEndian.PutUint32(e.room(4), v) }
func (e *encoder) u64(v uint64) { binary.LittleEndian.PutUint64(e.room(8), v) }

func (e *encoder) u32s(vs []uint32) {
	for _, v := range vs {
		e.u32(v)
	}
}

func (e *encoder) f32s(vs []float32) {
	for _, v := range vs {
		e.u32(math.Float32bits(v))
	}
}

// finish appends the checksum and flushes.
func (e *encoder) finish() (int64, error) {
	e.flush()
	crc := e.crc
	e.u32(crc)
	e.flush()
	if e.err != nil {
		return e.n, fmt.Errorf("vector: writing index: %s", e.err)
	}
	return e.n, nil
}

func (e *encoder) header(kind string, dim, nodes int) {
	e.room(len(magic))
	copy(e.buf[len(e.buf)-len(magic):], magic)
	e.u16(version)
	e.u8(kindCode(kind))
	e.u8(0)
	e.u32(uint32(dim))
	e.u32(uint32(nodes))
}

func (e *encoder) rows(r *rows[float32]) {
	for _, b := range r.blocks {
		e.f32s(b)
	}
}

// decoder reads exactly the bytes of one index, checksumming as it goes.
// Its first error sticks; later reads return zeros.
type decoder struct {
	r   io.Reader
	mem []byte // read from here instead of r when set (see loadCompactBytes)
	tab *crc32.Table
	buf []byte
	crc uint32
	n   int64
	err error
}

func newDecoder(r io.Reader) *decoder {
	return &decoder{r: r, tab: crc32.MakeTable(crc32.Castagnoli), buf: make([]byte, ioChunk)}
}

func (d *decoder) read(n int) []byte {
	p := d.buf[:n]
	if d.err != nil {
		clear(p)
		return p
	}
	if d.mem != nil {
		if int64(n) > int64(len(d.mem))-d.n {
			d.n = int64(len(d.mem))
			d.err = fmt.Errorf("vector: stored index ends after %d bytes: %w (it is truncated; rebuild it)", d.n, io.ErrUnexpectedEOF)
			clear(p)
			return p
		}
		return d.view(n)
	}
	m, err := io.ReadFull(d.r, p)
	d.n += int64(m)
	if err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			d.err = fmt.Errorf("vector: stored index ends after %d bytes: %w (it is truncated; rebuild it)", d.n, io.ErrUnexpectedEOF)
		} else {
			d.err = fmt.Errorf("vector: reading index after %d bytes: %w", d.n, err)
		}
		clear(p)
		return p
	}
	d.crc = crc32.Update(d.crc, d.tab, p)
	return p
}

// view returns the next n bytes of a decoder over memory in place; the
// caller has checked they are there.
func (d *decoder) view(n int) []byte {
	p := d.mem[d.n : d.n+int64(n) : d.n+int64(n)]
	d.n += int64(n)
	d.crc = crc32.Update(d.crc, d.tab, p)
	return p
}

func (d *decoder) u8() uint8   { return d.read(1)[0] }
func (d *decoder) u16() uint16 { return binary.LittleEndian.Uint16(d.read(2)) }
func (d *decoder) u32() uint32 { return binary.LittleEndian.Uint32(d.read(4)) }
func (d *decoder) u64() uint64 { return binary.LittleEndian.Uint64(d.read(8)) }

// f32s fills dst, a chunk at a time.
func (d *decoder) f32s(dst []float32) {
	for len(dst) > 0 {
		n := min(len(dst), ioChunk/4)
		p := d.read(4 * n)
		for i := range dst[:n] {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(p[4*i:]))
		}
		dst = dst[n:]
	}
}

func (d *decoder) u32s(dst []uint32) {
	for len(dst) > 0 {
		n := min(len(dst), ioChunk/4)
		p := d.read(4 * n)
		for i := range dst[:n] {
			dst[i] = binary.LittleEndian.Uint32(p[4*i:])
		}
		dst = dst[n:]
	}
}

// growU32s reads n values into a slice that grows as they arrive, so a
// forged n allocates no more than the bytes actually present warrant.
func (d *decoder) growU32s(n int) []uint32 {
	var s []uint32
	for len(s) < n && d.err == nil {
		m := min(n-len(s), ioChunk/4)
		s = append(s, make([]uint32, m)...)
		d.u32s(s[len(s)-m:])
	}
	return s
}

func (d *decoder) growBytes(n int) []byte {
	var s []byte
	for len(s) < n && d.err == nil {
		m := min(n-len(s), ioChunk)
		s = append(s, d.read(m)...)
	}
	return s
}

func (d *decoder) growU64s(n int) []uint64 {
	var s []uint64
	for len(s) < n && d.err == nil {
		m := min(n-len(s), ioChunk/8)
		p := d.read(8 * m)
		for i := range m {
			s = append(s, binary.LittleEndian.Uint64(p[8*i:]))
		}
	}
	return s
}

// growRows reads n rows into r, a block at a time as they arrive.
func growRows[T float32 | uint32 | uint64](d *decoder, r *rows[T], n int) {
	for r.len() < n && d.err == nil {
		row := r.grow()
		switch row := any(row).(type) {
		case []float32:
			d.f32s(row)
		case []uint32:
			d.u32s(row)
		case []uint64:
			d.u64s(row)
		}
	}
}

// checksum reads the stored checksum and compares it with the bytes read.
func (d *decoder) checksum() error {
	want := d.crc
	got := d.u32()
	if d.err != nil {
		return d.err
	}
	if got != want {
		return fmt.Errorf("vector: index checksum %08x, want %08x: the stored index is corrupt; rebuild it", got, want)
	}
	return nil
}

// header is the common part of the stored form.
type header struct {
	kind  string
	dim   int
	nodes int
}

func (d *decoder) header() (header, error) {
	var h header
	m := d.read(len(magic))
	if d.err != nil {
		return h, d.err
	}
	if string(m) != magic {
		return h, fmt.Errorf("vector: stored data starts %q, not %q: it is not a vector index", m, magic)
	}
	if v := d.u16(); v != version {
		return h, fmt.Errorf("vector: index format version %d, this build reads %d: rebuild the index", v, version)
	}
	code := d.u8()
	if code >= 1 && int(code) <= len(kinds()) {
		h.kind = kinds()[code-1]
	} else {
		return h, fmt.Errorf("vector: unknown index kind code %d: the stored index is corrupt or newer than this build; rebuild it", code)
	}
	if r := d.u8(); r != 0 {
		return h, fmt.Errorf("vector: reserved header byte is %d, want 0: the stored index is corrupt or newer than this build; rebuild it", r)
	}
	dim, nodes := d.u32(), d.u32()
	if d.err != nil {
		return h, d.err
	}
	if dim < 1 || dim > MaxDim {
		return h, fmt.Errorf("vector: stored dimension %d out of range 1..%d: the stored index is corrupt; rebuild it", dim, MaxDim)
	}
	if nodes > MaxLen {
		return h, fmt.Errorf("vector: stored index claims %d vectors, more than %d: it is corrupt; rebuild it", nodes, MaxLen)
	}
	h.dim, h.nodes = int(dim), int(nodes)
	return h, nil
}

// Load reads an index of any kind written by WriteTo.
func Load(r io.Reader) (Index, error) {
	d := newDecoder(r)
	h, err := d.header()
	if err != nil {
		return nil, err
	}
	var x interface {
		Index
		readBody(*decoder, header) error
	}
	switch h.kind {
	case KindExact:
		x = NewExact(h.dim)
	case KindInt8:
		x = NewInt8(h.dim)
	case KindHNSWInt8:
		return nil, fmt.Errorf("vector: the stored index is a compact graph whose vectors are in a separate file: load it with LoadCompact")
	default:
		x = NewHNSW(Config{Dim: h.dim})
	}
	if err := x.readBody(d, h); err != nil {
		return nil, err
	}
	return x, nil
}

// readAs reads the header and checks it describes an index of the given
// kind and, when dim is not 0, dimension.
func readAs(d *decoder, kind string, dim int) (header, error) {
	h, err := d.header()
	if err != nil {
		return h, err
	}
	if h.kind != kind {
		return h, fmt.Errorf("vector: stored index is %q, not %q: load it with Load or as its own kind", h.kind, kind)
	}
	if dim != 0 && h.dim != dim {
		return h, fmt.Errorf("vector: stored index has dimension %d, want %d: the embedding model changed; rebuild the index", h.dim, dim)
	}
	return h, nil
}

// WriteTo writes the index in the stored form.
func (x *Exact) WriteTo(w io.Writer) (int64, error) { return x.flat.writeTo(w, KindExact) }

// WriteTo writes the index in the stored form.
func (x *Int8) WriteTo(w io.Writer) (int64, error) { return x.flat.writeTo(w, KindInt8) }

func (f *flat) writeTo(w io.Writer, kind string) (int64, error) {
	e := newEncoder(w)
	e.header(kind, f.dim, len(f.ids))
	e.u32s(f.ids)
	e.rows(&f.vecs)
	return e.finish()
}

// ReadFrom replaces the index with one written by WriteTo. On error the
// index is unchanged.
func (x *Exact) ReadFrom(r io.Reader) (int64, error) {
	d := newDecoder(r)
	h, err := readAs(d, KindExact, x.dim)
	if err == nil {
		y := NewExact(h.dim)
		if err = y.readBody(d, h); err == nil {
			*x = *y
		}
	}
	return d.n, err
}

// ReadFrom replaces the index with one written by WriteTo. On error the
// index is unchanged.
func (x *Int8) ReadFrom(r io.Reader) (int64, error) {
	d := newDecoder(r)
	h, err := readAs(d, KindInt8, x.dim)
	if err == nil {
		y := NewInt8(h.dim)
		if err = y.readBody(d, h); err == nil {
			*x = *y
		}
	}
	return d.n, err
}

func (x *Exact) readBody(d *decoder, h header) error { return x.flat.readBody(d, h) }

func (x *Int8) readBody(d *decoder, h header) error {
	if err := x.flat.readBody(d, h); err != nil {
		return err
	}
	for row := range h.nodes {
		x.codes.grow()
		x.scales = append(x.scales, 0)
		x.sums = append(x.sums, 0)
		x.encode(row)
	}
	return nil
}

func (f *flat) readBody(d *decoder, h header) error {
	f.ids = d.growU32s(h.nodes)
	growRows(d, &f.vecs, h.nodes)
	if err := d.checksum(); err != nil {
		return err
	}
	for i, id := range f.ids {
		if _, dup := f.pos[id]; dup {
			return fmt.Errorf("vector: stored index holds id %d twice: it is corrupt; rebuild it", id)
		}
		f.pos[id] = uint32(i)
	}
	return checkRows(&f.vecs)
}

// checkRows rejects non-finite components, which would poison every score.
func checkRows(r *rows[float32]) error {
	for _, b := range r.blocks {
		for i, v := range b {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return fmt.Errorf("vector: stored vector %d has a non-finite component: the stored index is corrupt; rebuild it", i/r.width)
			}
		}
	}
	return nil
}

// WriteTo writes the graph in the stored form, dead nodes included, so
// that loading it needs no rebuild.
func (h *HNSW) WriteTo(w io.Writer) (int64, error) {
	e := newEncoder(w)
	n := len(h.ids)
	e.header(h.Kind(), h.cfg.Dim, n)
	e.u32(uint32(h.cfg.M))
	e.u32(uint32(h.cfg.EfConstruction))
	e.u32(uint32(h.cfg.EfSearch))
	e.u64(h.cfg.Seed)
	e.u32(h.entry)
	e.u32(uint32(int32(h.top)))
	e.u32(uint32(len(h.upper)))
	e.u32s(h.ids)
	for _, l := range h.levels {
		e.u8(l)
	}
	for _, w := range h.dead[:(n+63)/64] {
		e.u64(w)
	}
	if h.store != nil {
		for range codesPad(n) {
			e.u8(0)
		}
		for _, b := range h.codes.blocks {
			e.u64s(b)
		}
		e.f32s(h.scales)
	} else {
		e.rows(&h.vecs)
	}
	for _, b := range h.links0.blocks {
		e.u32s(b)
	}
	e.u32s(h.upper)
	return e.finish()
}

// ReadFrom replaces the graph with one written by WriteTo, configuration
// included. On error the index is unchanged.
func (h *HNSW) ReadFrom(r io.Reader) (int64, error) {
	d := newDecoder(r)
	hd, err := readAs(d, h.Kind(), h.cfg.Dim)
	if err == nil {
		y := NewHNSW(Config{Dim: hd.dim})
		if h.store != nil {
			y = NewCompactHNSW(y.cfg, h.store)
		}
		if err = y.readBody(d, hd); err == nil {
			*h = *y
		}
	}
	return d.n, err
}

func (h *HNSW) readBody(d *decoder, hd header) error {
	cfg := Config{Dim: hd.dim, M: int(d.u32()), EfConstruction: int(d.u32()), EfSearch: int(d.u32()), Seed: d.u64()}
	entry, top, upperLen := d.u32(), int(int32(d.u32())), int(d.u32())
	if d.err != nil {
		return d.err
	}
	if err := cfg.validate(); err != nil {
		return fmt.Errorf("%w (in the stored header: %s)", err, corrupt)
	}
	n := hd.nodes
	switch {
	case top < -1 || top > maxLevel:
		return fmt.Errorf("vector: stored top level %d out of range -1..%d: %s", top, maxLevel, corrupt)
	case (n == 0) != (top == -1):
		return fmt.Errorf("vector: stored top level %d does not fit %d nodes: %s", top, n, corrupt)
	case n > 0 && int(entry) >= n:
		return fmt.Errorf("vector: stored entry node %d of %d: %s", entry, n, corrupt)
	case int64(upperLen) > int64(n)*int64(cfg.M+1)*maxLevel:
		return fmt.Errorf("vector: stored upper lists of %d words for %d nodes: %s", upperLen, n, corrupt)
	}
	// h is fresh (see Load and ReadFrom) but for the configuration.
	cfg.Rerank = h.cfg.Rerank
	h.cfg = cfg
	h.links0 = newRows[uint32](2*cfg.M + 1)
	h.entry, h.top = entry, top
	h.ids = d.growU32s(n)
	h.levels = d.growBytes(n)
	h.dead = d.growU64s((n + 63) / 64)
	if h.store != nil {
		for range codesPad(n) {
			if d.u8() != 0 && d.err == nil {
				return fmt.Errorf("vector: stored padding before the codes is not zero: %s", corrupt)
			}
		}
		h.readCodes(d, n)
	} else {
		growRows(d, &h.vecs, n)
	}
	if !viewRows(d, &h.links0, n) {
		growRows(d, &h.links0, n)
	}
	h.upper = d.growU32s(upperLen)
	if err := d.checksum(); err != nil {
		return err
	}
	return h.validate(upperLen)
}

// validate checks what the checksum cannot: that every level, link and id
// is one a search can follow without leaving the graph.
func (h *HNSW) validate(upperLen int) error {
	n := len(h.ids)
	h.upperAt = make([]uint32, n)
	off := 0
	for i, l := range h.levels {
		if int(l) > h.top {
			return fmt.Errorf("vector: stored node %d has level %d above the top %d: %s", i, l, h.top, corrupt)
		}
		h.upperAt[i] = uint32(off)
		off += int(l) * (h.cfg.M + 1)
	}
	if off != upperLen {
		return fmt.Errorf("vector: stored upper lists hold %d words, levels need %d: %s", upperLen, off, corrupt)
	}
	if n > 0 && int(h.levels[h.entry]) != h.top {
		return fmt.Errorf("vector: stored entry node %d has level %d, not the top %d: %s", h.entry, h.levels[h.entry], h.top, corrupt)
	}
	if n%64 != 0 && h.dead[n/64]>>(n%64) != 0 {
		return fmt.Errorf("vector: stored dead bits past the last node: %s", corrupt)
	}
	for _, w := range h.dead {
		h.nDead += bits.OnesCount64(w)
	}
	h.pos = make(map[uint32]uint32, n-h.nDead) // sized once: 1M inserts into a growing map cost 0.2 s
	for i, id := range h.ids {
		if h.isDead(uint32(i)) {
			continue
		}
		if _, dup := h.pos[id]; dup {
			return fmt.Errorf("vector: stored index holds live id %d twice: %s", id, corrupt)
		}
		h.pos[id] = uint32(i)
	}
	for i := range n {
		for layer := 0; layer <= int(h.levels[i]); layer++ {
			row := h.list(uint32(i), layer)
			if int(row[0]) > len(row)-1 {
				return fmt.Errorf("vector: stored node %d has %d links on layer %d, at most %d fit: %s", i, row[0], layer, len(row)-1, corrupt)
			}
			for _, nb := range row[1 : 1+row[0]] {
				if int(nb) >= n || int(h.levels[nb]) < layer {
					return fmt.Errorf("vector: stored node %d links to %d on layer %d, which is not there: %s", i, nb, layer, corrupt)
				}
			}
		}
	}
	if h.store != nil {
		return h.checkCodes()
	}
	return checkRows(&h.vecs)
}
