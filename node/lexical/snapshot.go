package lexical

import (
	"bufio"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"slices"
	"unsafe"

	"github.com/edgerag/edgerag/node/shard"
)

// A snapshot is an index written whole so that a restart can open it instead
// of rebuilding it from every stored term vector. Every section is laid out
// as the index holds it in memory, so opening maps the file and reads almost
// none of it: the slot columns and the postings are used in place, the
// document table is turned into a map only when a write or a lookup by
// document id first needs it. At a million chunks, decoding the slot table
// and the documents onto the heap took 0.45 s of CPU and ~50 MB at every
// start; mapping them takes neither.
//
//	header   80 bytes: "edgesnp3", then u64 each: version, live, total
//	         length, slots, documents, terms, postings offset, stamp,
//	         names length
//	ids      16 bytes a slot: chunk id
//	pos      u32 a slot: position in its document
//	lens     u32 a slot: length
//	owner    u32 a slot: document number + 1, 0 for a removed slot
//	df       u32 a term
//	docs     16 bytes a document: first slot, slots, name offset, name
//	         length (u32 each); a document's slots are consecutive
//	names    the document ids, end to end
//	postings at the offset (a multiple of 8): the frozen layout
//
// Integers are little-endian; on a big-endian machine the columns are
// decoded onto the heap instead of used in place. "edgesnp2" snapshots held
// the edgelex1 postings, whose blocks had a one-point bound; SnapshotVersion
// refuses them, so the node rebuilds the index once from the store and
// writes the new layout at its next close.
const (
	snapMagic      = "edgesnp3"
	snapHeaderSize = 80
	snapDocSize    = 16
)

// ErrSnapshot reports a snapshot that cannot be used; the caller rebuilds.
var ErrSnapshot = errors.New("unusable index snapshot")

// WriteSnapshot freezes the index and writes it to w, recording version,
// the store's version of the shard it reflects, and stamp, anything else
// the caller checks before trusting it (the shard's update time, say).
// Documents are numbered afresh in slot order, leaving out removed ones.
func (ix *Index) WriteSnapshot(w io.Writer, version, stamp uint64) error {
	if err := ix.Freeze(); err != nil {
		return err
	}
	var fzMem []byte
	if ix.fz != nil {
		fzMem = ix.fz.mem.b
	}
	type doc struct {
		id string
		r  docRange
	}
	docs := make([]doc, 0, ix.docCount)
	for id, r := range ix.docMap() {
		docs = append(docs, doc{id, r})
	}
	slices.SortFunc(docs, func(a, b doc) int { return cmp.Compare(a.r.first, b.r.first) })
	nSlots := ix.slotCount()
	owner := make([]uint32, nSlots)
	table := make([]byte, 0, snapDocSize*len(docs))
	var names []byte
	for k, d := range docs {
		for i := range d.r.n {
			owner[d.r.first+i] = uint32(k) + 1
		}
		table = binary.LittleEndian.AppendUint32(table, d.r.first)
		table = binary.LittleEndian.AppendUint32(table, d.r.n)
		table = binary.LittleEndian.AppendUint32(table, uint32(len(names)))
		table = binary.LittleEndian.AppendUint32(table, uint32(len(d.id)))
		names = append(names, d.id...)
	}
	if uint64(len(names)) > math.MaxUint32 {
		return fmt.Errorf("write index snapshot: %d bytes of document ids exceed 4 GiB", len(names))
	}
	off := uint64(snapHeaderSize + nSlots*(16+12) + 4*len(ix.df) + len(table) + len(names))
	pad := (8 - off%8) % 8
	off += pad
	h := make([]byte, snapHeaderSize)
	copy(h, snapMagic)
	for i, v := range []uint64{version, uint64(ix.live), ix.totalLen, uint64(nSlots), uint64(len(docs)), uint64(len(ix.df)), off, stamp, uint64(len(names))} {
		binary.LittleEndian.PutUint64(h[8+8*i:], v)
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	bw.Write(h)
	for _, id := range ix.ids {
		bw.Write(id[:])
	}
	var b4 [4]byte
	for _, col := range [][]uint32{ix.pos, ix.lens, owner, ix.df} {
		for _, v := range col {
			binary.LittleEndian.PutUint32(b4[:], v)
			bw.Write(b4[:])
		}
	}
	bw.Write(table)
	bw.Write(names)
	bw.Write(make([]byte, pad))
	if _, err := bw.Write(fzMem); err != nil {
		return fmt.Errorf("write index snapshot: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write index snapshot: %w", err)
	}
	return nil
}

// SnapshotVersion returns the version and stamp a snapshot was written with.
func SnapshotVersion(b []byte) (version, stamp uint64, err error) {
	if len(b) < snapHeaderSize || string(b[:8]) != snapMagic {
		return 0, 0, fmt.Errorf("%w: bad header", ErrSnapshot)
	}
	return binary.LittleEndian.Uint64(b[8:]), binary.LittleEndian.Uint64(b[64:]), nil
}

// snapDocs is the document table of the snapshot an index was opened from,
// used in place until the index first changes (see own).
type snapDocs struct {
	table []byte // snapDocSize bytes a document
	names []byte
}

func (d *snapDocs) len() uint32 { return uint32(len(d.table) / snapDocSize) }

func (d *snapDocs) get(num uint32) (r docRange, name string) {
	e := d.table[num*snapDocSize:]
	r = docRange{first: binary.LittleEndian.Uint32(e), n: binary.LittleEndian.Uint32(e[4:]), num: num}
	o, l := binary.LittleEndian.Uint32(e[8:]), binary.LittleEndian.Uint32(e[12:])
	return r, string(d.names[o : o+l])
}

// OpenSnapshot returns the index a snapshot in b holds. Its slot columns,
// documents and postings are used in place, so b must stay valid and
// unchanged until release is called, which the index does when it replaces
// them (copying what it still needs onto the heap first) or becomes
// unreachable. New postings go to arena (the heap when nil).
func OpenSnapshot(b []byte, arena Arena, release func()) (*Index, error) {
	if _, _, err := SnapshotVersion(b); err != nil {
		return nil, err
	}
	var hv [9]uint64
	for i := range hv {
		hv[i] = binary.LittleEndian.Uint64(b[8+8*i:])
	}
	live, totalLen, nSlots, nDocs, nTerms, off, namesLen := hv[1], hv[2], hv[3], hv[4], hv[5], hv[6], hv[8]
	bad := func(what string) (*Index, error) { return nil, fmt.Errorf("%w: %s", ErrSnapshot, what) }
	if nSlots > MaxSlots || nTerms > math.MaxUint32 || nDocs > nSlots || live > nSlots || namesLen > math.MaxUint32 {
		return bad("counts out of range")
	}
	idsAt := uint64(snapHeaderSize)
	posAt := idsAt + 16*nSlots
	lensAt := posAt + 4*nSlots
	ownerAt := lensAt + 4*nSlots
	dfAt := ownerAt + 4*nSlots
	docsAt := dfAt + 4*nTerms
	namesAt := docsAt + snapDocSize*nDocs
	if off > uint64(len(b)) || namesAt+namesLen > off {
		return bad("sections overlap")
	}
	ix := &Index{
		df:   make([]uint32, nTerms),
		live: int(live), dead: int(nSlots - live), totalLen: totalLen, docCount: int(nDocs),
		arena: arena, tailMinLen: math.MaxUint32, frozenSlots: uint32(nSlots),
		snap: &snapDocs{table: b[docsAt:namesAt], names: b[namesAt : namesAt+namesLen]},
	}
	ix.ids = unsafe.Slice((*shard.ChunkID)(unsafe.Pointer(unsafe.SliceData(b[idsAt:]))), nSlots)
	ix.pos, ix.lens, ix.owner = u32Column(b[posAt:lensAt]), u32Column(b[lensAt:ownerAt]), u32Column(b[ownerAt:dfAt])
	// The quantised lengths are derived, not stored: a byte a slot, built
	// in one sequential pass (about a millisecond at a million chunks).
	ix.qlens = make([]uint8, nSlots)
	for i, n := range ix.lens {
		ix.qlens[i] = quantLen(n)
	}
	dfb := b[dfAt:docsAt]
	for i := range ix.df {
		ix.df[i] = binary.LittleEndian.Uint32(dfb[4*i:])
	}
	// The document table is checked whole (16 bytes a document); the owner
	// column is not read, and a damaged entry there names no document
	// (see name) rather than a wrong one's bytes out of range.
	var seen uint64
	next := uint32(0)
	for k := range uint32(nDocs) {
		e := ix.snap.table[k*snapDocSize:]
		first, n := binary.LittleEndian.Uint32(e), binary.LittleEndian.Uint32(e[4:])
		o, l := binary.LittleEndian.Uint32(e[8:]), binary.LittleEndian.Uint32(e[12:])
		if first < next || uint64(first)+uint64(n) > nSlots || uint64(o)+uint64(l) > namesLen {
			return bad("document table")
		}
		next = first + n
		seen += uint64(n)
	}
	if seen != live {
		return bad("live count")
	}
	if off < uint64(len(b)) {
		fz, err := parseFrozen(b[off:], uint32(nSlots))
		if err != nil {
			return nil, err
		}
		fz.mem = &mapping{b: b[off:], release: release}
		runtime.AddCleanup(fz, func(m *mapping) { m.free() }, fz.mem)
		ix.fz = fz
	} else {
		// Nothing keeps b mapped: copy what the index uses of it first.
		ix.own()
		if release != nil {
			release()
		}
	}
	return ix, nil
}

// littleEndian: the snapshot's columns can be used in place.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// u32Column returns b's little-endian u32s as a slice: b itself when the
// machine's byte order and b's alignment allow, else a decoded copy.
func u32Column(b []byte) []uint32 {
	n := len(b) / 4
	if n == 0 {
		return nil
	}
	p := unsafe.Pointer(unsafe.SliceData(b))
	if littleEndian && uintptr(p)%4 == 0 {
		return unsafe.Slice((*uint32)(p), n)
	}
	out := make([]uint32, n)
	for i := range out {
		out[i] = binary.LittleEndian.Uint32(b[4*i:])
	}
	return out
}

// parseFrozen checks a frozen layout's directories against its size and
// slot count, so that a damaged file is refused at open rather than
// misread at query time.
func parseFrozen(mem []byte, slots uint32) (*frozen, error) {
	if len(mem) < headerSize || string(mem[:8]) != frozenMagic {
		return nil, fmt.Errorf("%w: postings header", ErrSnapshot)
	}
	terms := int(binary.LittleEndian.Uint32(mem[8:]))
	blocks := int(binary.LittleEndian.Uint32(mem[12:]))
	dirs := headerSize + terms*termDirSize + blocks*blockDirSz
	if dirs > len(mem) {
		return nil, fmt.Errorf("%w: postings directories", ErrSnapshot)
	}
	f := &frozen{
		terms: terms, blocks: blocks,
		termDir:  mem[headerSize : headerSize+terms*termDirSize],
		blockDir: mem[headerSize+terms*termDirSize : dirs],
		data:     mem[dirs:],
	}
	for b := range blocks {
		off := uint64(binary.LittleEndian.Uint32(f.blockDir[b*blockDirSz+4:]))
		end := uint64(len(f.data))
		if b+1 < blocks {
			end = uint64(binary.LittleEndian.Uint32(f.blockDir[(b+1)*blockDirSz+4:]))
		}
		n := f.blockLen(b)
		// A block is at least one byte a gap and one a tf, and ends
		// where the next begins.
		if n == 0 || off+uint64(2*n) > end || end > uint64(len(f.data)) || f.blockLast(b) >= slots {
			return nil, fmt.Errorf("%w: postings block %d", ErrSnapshot, b)
		}
		f.postings += n
	}
	for t := range terms {
		first, nb, _ := f.term(uint32(t))
		if first+nb > blocks || nb < 0 {
			return nil, fmt.Errorf("%w: term %d", ErrSnapshot, t)
		}
	}
	return f, nil
}
