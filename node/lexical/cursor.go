package lexical

import (
	"encoding/binary"
	"fmt"
	"math"
)

// exhausted is the slot of a cursor past its last posting; no real slot
// reaches it because MaxSlots is far below.
const exhausted = math.MaxUint32

// cursor walks one term's postings in slot order: the frozen blocks first,
// then the tail appended since the last freeze, whose slots are all higher.
//
// A cursor Search uses is lazy: moving onto a new block does not decode it.
// Until decode is called, doc is only a lower bound on the next posting's
// slot (which lies in block b), so that a block whose bound cannot lift any
// chunk into the top k is passed over without reading its postings.
type cursor struct {
	fz         *frozen
	firstBlock int // the term's first block in fz
	b, end     int // block positioned on now; one past the term's last block
	n, i       int // postings in the decoded block; position in it
	decoded    bool
	lazy       bool
	gaps       []byte // the decoded block's slot gaps not yet read
	tfb        []byte // its tfs, one byte a posting
	nextSlot   uint32 // the smallest slot the next posting in the block can have
	inTail     bool
	tail       []posting
	ti         int
	doc, tf    uint32
	encNext    uint32 // freeze: the smallest slot the next encoded posting may have
	termBound  bound  // every posting of the term, frozen and tail
	tailBound  bound  // the tail's postings

	// Set by Search.
	w        float32 // query weight times k1+1
	ub       float32 // bound on what this term adds to any chunk's score
	tailUB   float32 // ... any chunk in the tail
	bub      float32 // ... any chunk in block bubBlock
	bubBlock int
	orig     int // position among the query's terms, for summing in query order
	bit      uint64
}

// reset positions c on the first posting of term t; a lazy cursor stays
// before it, on the term's first block undecoded.
func (c *cursor) reset(ix *Index, t uint32, lazy bool) {
	c.fz, c.encNext, c.inTail, c.lazy = ix.fz, 0, false, lazy
	c.tail = nil
	if int(t) < len(ix.tail) {
		c.tail = ix.tail[t]
	}
	first, nb, tb := ix.fz.term(t)
	c.firstBlock, c.end, c.termBound = first, first+nb, tb
	c.tailBound = emptyBound()
	if len(c.tail) > 0 {
		c.tailBound.add(ix.tailMaxTF[t], ix.tailMinLen)
		c.termBound.merge(c.tailBound)
	}
	c.bubBlock = -1
	if nb > 0 {
		c.enter(first, 0)
		return
	}
	c.toTail(0)
}

// enter positions c on block b with doc as the lower bound of its next
// posting, decoding the block unless the cursor is lazy.
func (c *cursor) enter(b int, doc uint32) {
	c.b, c.decoded, c.doc = b, false, doc
	if !c.lazy {
		c.decode()
	}
}

// decode starts reading block b's postings and moves to the first at or
// after doc. Gaps are read one posting at a time as the cursor moves, so a
// probe that stops early in a block pays only for the postings before it.
func (c *cursor) decode() {
	if c.decoded || c.inTail {
		return
	}
	c.nextSlot = 0
	if c.b > c.firstBlock {
		c.nextSlot = c.fz.blockLast(c.b-1) + 1
	}
	c.gaps, c.tfb = c.fz.blockData(c.b)
	c.n, c.i, c.decoded = len(c.tfb), 0, true
	target := c.doc
	c.step()
	for c.doc < target { // the block's last slot is ≥ doc
		c.i++
		c.step()
	}
}

// step reads the gap of posting i of the decoded block.
func (c *cursor) step() {
	g := c.gaps
	var v uint64
	if len(g) > 0 && g[0] < 0x80 {
		v, c.gaps = uint64(g[0]), g[1:]
	} else {
		var w int
		// Gaps are written by encodeNext; a short or overlong varint
		// would mean the arena was corrupted under us.
		if v, w = binary.Uvarint(g); w <= 0 {
			panic(fmt.Sprintf("lexical: corrupt postings block %d", c.b))
		}
		c.gaps = g[w:]
	}
	c.doc = c.nextSlot + uint32(v)
	c.nextSlot = c.doc + 1
	c.tf = uint32(c.tfb[c.i])
}

func (c *cursor) toTail(from int) {
	c.inTail, c.decoded, c.n, c.ti = true, true, 0, from
	if from < len(c.tail) {
		c.doc, c.tf = c.tail[from].slot(), c.tail[from].tf()
	} else {
		c.doc, c.tf = exhausted, 0
	}
}

// next moves past the current posting; c must be decoded.
func (c *cursor) next() {
	if c.inTail {
		c.toTail(c.ti + 1)
		return
	}
	c.i++
	if c.i < c.n {
		c.step()
		return
	}
	if c.b+1 < c.end {
		c.enter(c.b+1, c.nextSlot)
		return
	}
	c.toTail(0)
}

// skip moves to the first posting at or after slot target, passing over the
// blocks that end before it without decoding them. A lazy cursor that lands
// on a block it has not decoded leaves it undecoded.
func (c *cursor) skip(target uint32) {
	if c.doc >= target {
		return
	}
	if !c.inTail {
		if c.fz.blockLast(c.b) < target {
			// The first block whose last slot reaches target, galloping
			// from the current one: targets are mostly a few blocks ahead,
			// and a binary search over all of a common term's blocks read
			// a dozen far-apart directory entries each time.
			lo, hi := c.b+1, c.b+1
			for step := 1; hi < c.end && c.fz.blockLast(hi) < target; step *= 2 {
				lo = hi + 1
				hi += step
			}
			hi = min(hi, c.end)
			for lo < hi {
				m := int(uint(lo+hi) >> 1)
				if c.fz.blockLast(m) < target {
					lo = m + 1
				} else {
					hi = m
				}
			}
			if lo == c.end {
				c.toTail(0)
			} else {
				c.enter(lo, max(target, c.fz.blockLast(lo-1)+1))
				return
			}
		}
		if !c.inTail {
			if !c.decoded {
				c.doc = target
				return
			}
			for c.doc < target { // the block's last slot is ≥ target
				c.i++
				c.step()
			}
			return
		}
	}
	lo, hi := c.ti, len(c.tail)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if c.tail[m].slot() < target {
			lo = m + 1
		} else {
			hi = m
		}
	}
	c.toTail(lo)
}

// seek moves to the first posting at or after target and decodes it.
func (c *cursor) seek(target uint32) {
	c.skip(target)
	c.decode()
}

// blockEnd is the last slot the current block can hold: the postings
// before the next block all lie at or below it.
func (c *cursor) blockEnd() uint32 {
	if c.inTail {
		return exhausted
	}
	return c.fz.blockLast(c.b)
}

// blockUB bounds what the term adds to any chunk from the cursor's next
// posting up to blockEnd, for a query with norm(len) = base + slope·len.
func (c *cursor) blockUB(base, slope float32) float32 {
	switch {
	case c.doc == exhausted:
		return 0
	case c.inTail:
		return c.tailUB
	case c.bubBlock != c.b:
		c.bub, c.bubBlock = c.fz.blockBound(c.b).score(c.w, base, slope), c.b
	}
	return c.bub
}

// tfFloor returns the least tf with which a posting in the current block
// can give a chunk a score above theta when the other lists add at most
// rest, or 0 when that is every tf the block has.
func (c *cursor) tfFloor(rest, theta, base, slope float32) uint32 {
	b := c.fz.blockBound(c.b)
	ln := slope * float32(min(b.len1, b.len2))
	for t := uint32(1); t <= uint32(b.tf1); t++ {
		tf := float32(t)
		if c.w*tf/(tf+base+ln)+rest > theta {
			if t == 1 {
				return 0
			}
			return t
		}
	}
	return 0
}

// skipBelow moves a decoded cursor to its next posting with a tf of at
// least floor or a slot past limit (the end of the range floor holds for),
// or onto the next block, undecoded, when the rest of this one has neither.
func (c *cursor) skipBelow(floor, limit uint32) {
	for {
		c.i++
		if c.i == c.n {
			if c.b+1 < c.end {
				c.enter(c.b+1, c.nextSlot)
			} else {
				c.toTail(0)
			}
			return
		}
		c.step()
		if c.tf >= floor || c.doc > limit {
			return
		}
	}
}
