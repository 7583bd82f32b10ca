package lexical

import "math"

// exhausted is the slot of a cursor past its last posting; no real slot
// reaches it because MaxSlots is far below.
const exhausted = math.MaxUint32

// cursor walks one term's postings in slot order: the frozen blocks first,
// then the tail appended since the last freeze, whose slots are all higher.
type cursor struct {
	fz         *frozen
	firstBlock int // the term's first block in fz
	b, end     int // block decoded now; one past the term's last block
	n, i       int // postings in the decoded block; position in it
	slots      [blockSize]uint32
	tfs        [blockSize]uint8
	inTail     bool
	tail       []posting
	ti         int
	doc, tf    uint32
	encNext    uint32 // freeze: the smallest slot the next encoded posting may have

	// Set by Search.
	w     float32 // query weight times k1+1
	ub    float32 // bound on what this term adds to any chunk's score
	orig  int     // position among the query's terms, for summing in query order
	bit   uint64
	maxTF uint8
	minLn uint32
}

// reset positions c on the first posting of term t.
func (c *cursor) reset(ix *Index, t uint32) {
	c.fz, c.encNext, c.inTail = ix.fz, 0, false
	c.tail = nil
	if int(t) < len(ix.tail) {
		c.tail = ix.tail[t]
	}
	first, nb, mtf, mln := ix.fz.term(t)
	c.firstBlock, c.end, c.maxTF, c.minLn = first, first+nb, mtf, mln
	if len(c.tail) > 0 {
		c.maxTF = max(c.maxTF, ix.tailMaxTF[t])
		c.minLn = min(c.minLn, ix.tailMinLen)
		if nb == 0 {
			c.minLn = ix.tailMinLen
		}
	}
	if nb > 0 {
		c.load(first)
		return
	}
	c.toTail(0)
}

func (c *cursor) load(b int) {
	c.b = b
	first := uint32(0)
	if b > c.firstBlock {
		first = c.fz.blockLast(b-1) + 1
	}
	c.n = c.fz.decodeBlock(b, first, &c.slots, &c.tfs)
	c.i = 0
	c.doc, c.tf = c.slots[0], uint32(c.tfs[0])
}

func (c *cursor) toTail(from int) {
	c.inTail, c.n, c.ti = true, 0, from
	if from < len(c.tail) {
		c.doc, c.tf = c.tail[from].slot(), c.tail[from].tf()
	} else {
		c.doc, c.tf = exhausted, 0
	}
}

// next moves to the following posting.
func (c *cursor) next() {
	if c.inTail {
		c.toTail(c.ti + 1)
		return
	}
	c.i++
	if c.i < c.n {
		c.doc, c.tf = c.slots[c.i], uint32(c.tfs[c.i])
		return
	}
	if c.b+1 < c.end {
		c.load(c.b + 1)
		return
	}
	c.toTail(0)
}

// seek moves to the first posting at or after slot target, skipping the
// blocks that end before it without decoding them.
func (c *cursor) seek(target uint32) {
	if c.doc >= target {
		return
	}
	if !c.inTail {
		if c.fz.blockLast(c.b) < target {
			lo, hi := c.b+1, c.end // first block whose last slot reaches target
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
				c.load(lo)
			}
		}
		if !c.inTail {
			for c.doc < target { // the block's last slot is ≥ target
				c.i++
				c.doc, c.tf = c.slots[c.i], uint32(c.tfs[c.i])
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
