package lexical

import (
	"encoding/binary"
	"fmt"
	"math"
	"runtime"
	"sync"
)

// Frozen postings. Once a shard has been loaded or has grown by enough new
// postings, its posting lists are encoded into one byte array that an Arena
// provides — a memory-mapped file on a node — so that they cost page cache,
// which the kernel can drop and read back, instead of Go heap:
//
//	header    16 bytes: "edgelex2", terms (u32), blocks (u32)
//	term dir  20 bytes a term id: first block (u32), blocks (u32), bound (10 bytes), 2 pad
//	block dir 20 bytes a block:   last slot (u32), data offset (u32), bound (10 bytes), postings (u8), pad
//	bound     length of point 1 (u32), length of point 2 (u32), tf of point 1 (u8), tf of point 2 (u8)
//	data      per block: slot gaps as uvarints, then one tf byte a posting
//
// A block holds blockSize postings (the last of a list fewer). Its last slot
// lets a cursor skip the block without decoding it, and its bound (see
// bound) caps the BM25 score any of its postings can reach, so whole blocks
// are passed over undecoded when they cannot change the top k. Blocks of
// 64 rather than 128 postings halve what a probe of a common term decodes
// and tighten the bounds, for 5 % more snapshot at a million chunks
// (204 MB against 194).
const (
	blockSize   = 64 // at most 255: a block's postings are counted in a byte
	headerSize  = 16
	termDirSize = 20
	blockDirSz  = 20
	boundSize   = 10
	frozenMagic = "edgelex2"
)

// bound is two (tf, length) points such that every posting it covers has
// a tf at most one point's and a length at least that point's: the highest
// tf with the shortest chunk holding it, and the rest's highest tf with
// their shortest chunk. A BM25 term score grows with tf and falls with
// length, so the larger of the two points' scores caps every covered
// posting's for any k1, b and average length. One point (highest tf,
// shortest chunk) was three to four times looser on common terms, whose
// blocks mix one long chunk with a high tf and many short ones with tf 1.
type bound struct {
	tf1, tf2   uint8
	len1, len2 uint32
}

func emptyBound() bound { return bound{len1: math.MaxUint32, len2: math.MaxUint32} }

// add widens b to cover a posting (or a point) with tf and length ln.
func (b *bound) add(tf uint8, ln uint32) {
	switch {
	case tf == 0:
	case tf > b.tf1:
		if b.tf1 > 0 { // the old first point now has the lower tf
			b.tf2, b.len2 = b.tf1, min(b.len2, b.len1)
		}
		b.tf1, b.len1 = tf, ln
	case tf == b.tf1:
		b.len1 = min(b.len1, ln)
	default:
		b.tf2, b.len2 = max(b.tf2, tf), min(b.len2, ln)
	}
}

func (b *bound) merge(o bound) {
	b.add(o.tf1, o.len1)
	b.add(o.tf2, o.len2)
}

// score is the most a posting under b adds, for a term of weight w
// (idf·(k1+1)) and the query's norm(len) = base + slope·len, computed as
// Search scores a posting so that equal inputs give equal floats.
func (b bound) score(w, base, slope float32) float32 {
	var s float32
	if b.tf1 > 0 {
		tf := float32(b.tf1)
		s = w * tf / (tf + base + slope*float32(b.len1))
	}
	if b.tf2 > 0 {
		tf := float32(b.tf2)
		s = max(s, w*tf/(tf+base+slope*float32(b.len2)))
	}
	return s
}

func (b bound) put(e []byte) {
	binary.LittleEndian.PutUint32(e, b.len1)
	binary.LittleEndian.PutUint32(e[4:], b.len2)
	e[8], e[9] = b.tf1, b.tf2
}

func getBound(e []byte) bound {
	return bound{len1: binary.LittleEndian.Uint32(e), len2: binary.LittleEndian.Uint32(e[4:]), tf1: e[8], tf2: e[9]}
}

// Arena provides the memory frozen postings are written into. Alloc returns
// size zeroed, writable bytes; the index calls Free when the bytes are no
// longer referenced. A node backs it with a memory-mapped file; the default
// allocates on the heap.
type Arena interface {
	Alloc(size int) ([]byte, error)
	Free(b []byte)
}

type heapArena struct{}

func (heapArena) Alloc(size int) ([]byte, error) { return make([]byte, size), nil }
func (heapArena) Free([]byte)                    {}

// frozen is one encoded set of posting lists covering slots [0, slots).
type frozen struct {
	terms, blocks int
	termDir       []byte
	blockDir      []byte
	data          []byte
	postings      int
	mem           *mapping
}

// mapping frees an arena allocation once, either when the index replaces
// it or, failing that, when the garbage collector finds it unreachable.
type mapping struct {
	once    sync.Once
	arena   Arena
	b       []byte
	release func() // instead of arena.Free, for a snapshot's mapping
}

func (m *mapping) free() {
	m.once.Do(func() {
		switch {
		case m.release != nil:
			m.release()
		case m.arena != nil:
			m.arena.Free(m.b)
		}
	})
}

func (f *frozen) term(t uint32) (firstBlock, nBlocks int, b bound) {
	if f == nil || int(t) >= f.terms {
		return 0, 0, emptyBound()
	}
	e := f.termDir[int(t)*termDirSize:]
	return int(binary.LittleEndian.Uint32(e)), int(binary.LittleEndian.Uint32(e[4:])), getBound(e[8:])
}

func (f *frozen) blockLast(b int) uint32 {
	return binary.LittleEndian.Uint32(f.blockDir[b*blockDirSz:])
}

// blockBound returns the bound of block b's postings.
func (f *frozen) blockBound(b int) bound { return getBound(f.blockDir[b*blockDirSz+8:]) }

// blockLen returns how many postings block b holds. It is stored, not
// implied by blockSize, so that a snapshot reads the same whatever block
// size the code that wrote it used.
func (f *frozen) blockLen(b int) int { return int(f.blockDir[b*blockDirSz+8+boundSize]) }

// blockData returns block b's slot gaps (uvarints, each from the slot after
// the previous posting) and its tfs. Blocks are stored end to end, so a
// block ends where the next begins.
func (f *frozen) blockData(b int) (gaps, tfs []byte) {
	off := binary.LittleEndian.Uint32(f.blockDir[b*blockDirSz+4:])
	end := uint32(len(f.data))
	if b+1 < f.blocks {
		end = binary.LittleEndian.Uint32(f.blockDir[(b+1)*blockDirSz+4:])
	}
	n := uint32(f.blockLen(b))
	return f.data[off : end-n], f.data[end-n : end]
}

// freeze encodes every posting list, frozen and tail, into a fresh arena
// allocation and drops the tail. Two passes: the first sizes the output so
// the encoding never holds a second copy on the heap.
func (ix *Index) freeze() error {
	ix.own() // the old postings' memory may be the snapshot the slot columns are in
	nTerms := max(len(ix.tail), 0)
	if ix.fz != nil {
		nTerms = max(nTerms, ix.fz.terms)
	}
	var c cursor
	blocks, dataLen := 0, 0
	var buf []byte
	for t := range nTerms {
		c.reset(ix, uint32(t), false)
		for {
			n, size := c.encodeNext(nil, ix.lens, &buf)
			if n == 0 {
				break
			}
			blocks++
			dataLen += size
		}
	}
	if uint64(dataLen) > math.MaxUint32 {
		return fmt.Errorf("postings of %d bytes exceed the 4 GiB a shard's index addresses; split the shard", dataLen)
	}
	size := headerSize + nTerms*termDirSize + blocks*blockDirSz + dataLen
	arena := ix.arena
	if arena == nil {
		arena = heapArena{}
	}
	mem, err := arena.Alloc(size)
	if err != nil {
		return fmt.Errorf("allocate %d bytes of postings: %w", size, err)
	}
	copy(mem, frozenMagic)
	binary.LittleEndian.PutUint32(mem[8:], uint32(nTerms))
	binary.LittleEndian.PutUint32(mem[12:], uint32(blocks))
	nf := &frozen{
		terms: nTerms, blocks: blocks,
		termDir:  mem[headerSize : headerSize+nTerms*termDirSize],
		blockDir: mem[headerSize+nTerms*termDirSize : headerSize+nTerms*termDirSize+blocks*blockDirSz],
		data:     mem[headerSize+nTerms*termDirSize+blocks*blockDirSz:],
		mem:      &mapping{arena: arena, b: mem},
	}
	b, off := 0, 0
	for t := range nTerms {
		c.reset(ix, uint32(t), false)
		first := b
		tb := emptyBound()
		for {
			e := nf.blockDir[b*blockDirSz:]
			n, size := c.encodeNext(e, ix.lens, &buf)
			if n == 0 {
				break
			}
			binary.LittleEndian.PutUint32(e[4:], uint32(off))
			copy(nf.data[off:], buf)
			off += size
			nf.postings += n
			tb.merge(getBound(e[8:]))
			b++
		}
		te := nf.termDir[t*termDirSize:]
		binary.LittleEndian.PutUint32(te, uint32(first))
		binary.LittleEndian.PutUint32(te[4:], uint32(b-first))
		tb.put(te[8:])
	}
	if old := ix.fz; old != nil {
		old.mem.free()
	}
	// The node drops a rebuilt index without closing it; the cleanup
	// returns its memory once nothing can reach it.
	runtime.AddCleanup(nf, func(m *mapping) { m.free() }, nf.mem)
	ix.fz = nf
	ix.frozenSlots = uint32(ix.slotCount())
	ix.tail, ix.tailMaxTF, ix.tailPostings = nil, nil, 0
	ix.tailMinLen = math.MaxUint32
	return nil
}

// encodeNext encodes the cursor's next up to blockSize postings into buf,
// fills the block directory entry e (when not nil) apart from its offset,
// and returns the postings taken and the bytes written.
func (c *cursor) encodeNext(e []byte, lens []uint32, buf *[]byte) (n, size int) {
	b := (*buf)[:0]
	var tfs [blockSize]uint8
	next := c.encNext
	bd := emptyBound()
	for n < blockSize && c.doc != exhausted {
		b = binary.AppendUvarint(b, uint64(c.doc-next))
		next = c.doc + 1
		tfs[n] = uint8(c.tf)
		bd.add(uint8(c.tf), lens[c.doc])
		c.encNext = next
		n++
		c.next()
	}
	b = append(b, tfs[:n]...)
	*buf = b
	if e != nil && n > 0 {
		binary.LittleEndian.PutUint32(e, next-1)
		bd.put(e[8:])
		e[8+boundSize] = uint8(n)
	}
	return n, len(b)
}
