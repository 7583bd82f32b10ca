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
//	header    16 bytes: "edgelex1", terms (u32), blocks (u32)
//	term dir  16 bytes a term id: first block (u32), blocks (u32), max tf (u8), 3 pad, min length (u32)
//	block dir 16 bytes a block:   last slot (u32), data offset (u32), min length (u32), max tf (u8), postings (u8), 2 pad
//	data      per block: slot gaps as uvarints, then one tf byte a posting
//
// A block holds blockSize postings (the last of a list fewer). Its last slot
// lets a cursor skip the block without decoding it, and its max tf and min
// length bound the BM25 score any of its postings can reach, so whole blocks
// of a common term are never scored when they cannot change the top k.
const (
	blockSize   = 128
	headerSize  = 16
	termDirSize = 16
	blockDirSz  = 16
	frozenMagic = "edgelex1"
)

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

func (f *frozen) term(t uint32) (firstBlock, nBlocks int, maxTF uint8, minLen uint32) {
	if f == nil || int(t) >= f.terms {
		return 0, 0, 0, 0
	}
	e := f.termDir[int(t)*termDirSize:]
	return int(binary.LittleEndian.Uint32(e)), int(binary.LittleEndian.Uint32(e[4:])), e[8], binary.LittleEndian.Uint32(e[12:])
}

func (f *frozen) blockLast(b int) uint32 {
	return binary.LittleEndian.Uint32(f.blockDir[b*blockDirSz:])
}

// blockBound returns the max tf and min length of block b.
func (f *frozen) blockBound(b int) (uint8, uint32) {
	e := f.blockDir[b*blockDirSz:]
	return e[12], binary.LittleEndian.Uint32(e[8:])
}

// decodeBlock fills slots and tfs with block b's postings and returns how
// many there are. first is the smallest slot the block can hold.
func (f *frozen) decodeBlock(b int, first uint32, slots *[blockSize]uint32, tfs *[blockSize]uint8) int {
	e := f.blockDir[b*blockDirSz:]
	off := binary.LittleEndian.Uint32(e[4:])
	n := int(e[13])
	if n == 0 {
		n = blockSize
	}
	d := f.data[off:]
	next := first
	for i := range n {
		// Gaps are written by encode below; a short or overlong varint
		// would mean the arena was corrupted under us.
		v, w := binary.Uvarint(d)
		if w <= 0 {
			panic(fmt.Sprintf("lexical: corrupt postings block %d", b))
		}
		d = d[w:]
		next += uint32(v)
		slots[i] = next
		next++
	}
	copy(tfs[:n], d[:n])
	return n
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
		c.reset(ix, uint32(t))
		for {
			n, size := c.encodeNext(nil, ix.lens, &buf)
			if n == 0 {
				break
			}
			blocks++
			dataLen += size
		}
	}
	if dataLen > math.MaxUint32 {
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
		c.reset(ix, uint32(t))
		first := b
		var tmax uint8
		tmin := uint32(math.MaxUint32)
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
			tmax = max(tmax, e[12])
			tmin = min(tmin, binary.LittleEndian.Uint32(e[8:]))
			b++
		}
		te := nf.termDir[t*termDirSize:]
		binary.LittleEndian.PutUint32(te, uint32(first))
		binary.LittleEndian.PutUint32(te[4:], uint32(b-first))
		te[8] = tmax
		binary.LittleEndian.PutUint32(te[12:], tmin)
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
	var maxTF uint8
	minLen := uint32(math.MaxUint32)
	for n < blockSize && c.doc != exhausted {
		b = binary.AppendUvarint(b, uint64(c.doc-next))
		next = c.doc + 1
		tfs[n] = uint8(c.tf)
		maxTF = max(maxTF, uint8(c.tf))
		minLen = min(minLen, lens[c.doc])
		c.encNext = next
		n++
		c.next()
	}
	b = append(b, tfs[:n]...)
	*buf = b
	if e != nil && n > 0 {
		binary.LittleEndian.PutUint32(e, next-1)
		binary.LittleEndian.PutUint32(e[8:], minLen)
		e[12] = maxTF
		e[13] = uint8(n % blockSize) // 0 means a full block
	}
	return n, len(b)
}
