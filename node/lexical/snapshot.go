package lexical

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"

	"github.com/edgerag/edgerag/node/shard"
)

// A snapshot is an index written whole so that a restart can open it instead
// of rebuilding it from every stored term vector. Its postings section is
// the frozen block layout itself, so opening maps it and reads none of it:
//
//	header   72 bytes: "edgesnp1", then u64 each: version, live, total
//	         length, slots, documents, terms, postings offset, stamp
//	slots    24 bytes a slot: chunk id (16), position (u32), length (u32)
//	df       u32 a term
//	docs     per document: id length, id, slot count, slots (uvarints)
//	postings at the offset (a multiple of 8): the frozen layout
//
// Removed slots are kept (posting lists still name them) without their
// document.
const (
	snapMagic      = "edgesnp1"
	snapHeaderSize = 72
	snapSlotSize   = 24
)

// ErrSnapshot reports a snapshot that cannot be used; the caller rebuilds.
var ErrSnapshot = errors.New("unusable index snapshot")

// WriteSnapshot freezes the index and writes it to w, recording version,
// the store's version of the shard it reflects, and stamp, anything else
// the caller checks before trusting it (the shard's update time, say).
func (ix *Index) WriteSnapshot(w io.Writer, version, stamp uint64) error {
	if err := ix.Freeze(); err != nil {
		return err
	}
	var fzMem []byte
	if ix.fz != nil {
		fzMem = ix.fz.mem.b
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	var docs []byte
	for id, r := range ix.docs {
		docs = binary.AppendUvarint(docs, uint64(len(id)))
		docs = append(docs, id...)
		docs = binary.AppendUvarint(docs, uint64(r.n))
		for i := range r.n {
			docs = binary.AppendUvarint(docs, uint64(r.first+i))
		}
	}
	nSlots := ix.slotCount()
	off := uint64(snapHeaderSize + nSlots*snapSlotSize + len(docs) + 4*len(ix.df))
	pad := (8 - off%8) % 8
	off += pad
	h := make([]byte, snapHeaderSize)
	copy(h, snapMagic)
	for i, v := range []uint64{version, uint64(ix.live), ix.totalLen, uint64(nSlots), uint64(len(ix.docs)), uint64(len(ix.df)), off, stamp} {
		binary.LittleEndian.PutUint64(h[8+8*i:], v)
	}
	bw.Write(h)
	var rec [snapSlotSize]byte
	for i := range nSlots {
		copy(rec[:], ix.ids[i][:])
		binary.LittleEndian.PutUint32(rec[16:], ix.pos[i])
		binary.LittleEndian.PutUint32(rec[20:], ix.lens[i])
		bw.Write(rec[:])
	}
	var b4 [4]byte
	for _, d := range ix.df {
		binary.LittleEndian.PutUint32(b4[:], d)
		bw.Write(b4[:])
	}
	bw.Write(docs)
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

// OpenSnapshot returns the index a snapshot in b holds. The slot table and
// documents are decoded onto the heap; the postings are used in place, so b
// must stay valid and unchanged until release is called, which the index
// does when it replaces them or becomes unreachable. New postings go to
// arena (the heap when nil).
func OpenSnapshot(b []byte, arena Arena, release func()) (*Index, error) {
	if _, _, err := SnapshotVersion(b); err != nil {
		return nil, err
	}
	var hv [7]uint64
	for i := range hv {
		hv[i] = binary.LittleEndian.Uint64(b[8+8*i:])
	}
	live, totalLen, nSlots, nDocs, nTerms, off := hv[1], hv[2], hv[3], hv[4], hv[5], hv[6]
	bad := func(what string) (*Index, error) { return nil, fmt.Errorf("%w: %s", ErrSnapshot, what) }
	if nSlots > MaxSlots || nTerms > math.MaxUint32 || nDocs > nSlots || live > nSlots {
		return bad("counts out of range")
	}
	slotsEnd := snapHeaderSize + nSlots*snapSlotSize
	if off > uint64(len(b)) || slotsEnd+4*nTerms > off {
		return bad("sections overlap")
	}
	ix := &Index{
		ids: make([]shard.ChunkID, nSlots), pos: make([]uint32, nSlots), lens: make([]uint32, nSlots),
		owner: make([]uint32, nSlots), names: make([]string, 0, nDocs),
		docs: make(map[string]docRange, nDocs), df: make([]uint32, nTerms),
		live: int(live), dead: int(nSlots - live), totalLen: totalLen,
		arena: arena, tailMinLen: math.MaxUint32, frozenSlots: uint32(nSlots),
	}
	for i := range ix.ids {
		r := b[snapHeaderSize+i*snapSlotSize:]
		copy(ix.ids[i][:], r[:len(shard.ChunkID{})])
		ix.pos[i] = binary.LittleEndian.Uint32(r[16:])
		ix.lens[i] = binary.LittleEndian.Uint32(r[20:])
	}
	dfb := b[slotsEnd : slotsEnd+4*nTerms]
	for i := range ix.df {
		ix.df[i] = binary.LittleEndian.Uint32(dfb[4*i:])
	}
	d := b[slotsEnd+4*nTerms : off] // then padding, which is never read
	next := func() uint64 {
		v, n := binary.Uvarint(d)
		if n <= 0 {
			d = nil
			return math.MaxUint64
		}
		d = d[n:]
		return v
	}
	seen := 0
	for range nDocs {
		l := next()
		if l > uint64(len(d)) {
			return bad("document table")
		}
		id := string(d[:l])
		d = d[l:]
		n := next()
		if n > nSlots {
			return bad("document table")
		}
		// A document's slots are consecutive (Add appends them together).
		r := docRange{n: uint32(n), num: uint32(len(ix.names))}
		for j := range n {
			s := next()
			if j == 0 {
				r.first = uint32(s)
			}
			if s >= nSlots || s != uint64(r.first)+j || ix.owner[s] != 0 {
				return bad("document table")
			}
			ix.owner[s] = r.num + 1
		}
		if _, dup := ix.docs[id]; dup {
			return bad("document table")
		}
		ix.names = append(ix.names, id)
		seen += int(n)
		ix.docs[id] = r
	}
	if uint64(seen) != live {
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
	} else if release != nil {
		release()
	}
	return ix, nil
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
	prevOff := uint32(0)
	for b := range blocks {
		e := f.blockDir[b*blockDirSz:]
		off := binary.LittleEndian.Uint32(e[4:])
		n := int(e[13])
		if n == 0 {
			n = blockSize
		}
		// A block is at least one byte a gap and one a tf.
		if off < prevOff || uint64(off)+uint64(2*n) > uint64(len(f.data)) || f.blockLast(b) >= slots {
			return nil, fmt.Errorf("%w: postings block %d", ErrSnapshot, b)
		}
		prevOff = off
		f.postings += n
	}
	for t := range terms {
		first, nb, _, _ := f.term(uint32(t))
		if first+nb > blocks || nb < 0 {
			return nil, fmt.Errorf("%w: term %d", ErrSnapshot, t)
		}
	}
	return f, nil
}
