package lexical

import "slices"

// QueryTerm is one analysed query term as the index scores it.
type QueryTerm struct {
	ID uint32
	// Weight is the term's idf times its count in the query. The caller
	// computes it from the statistics of every shard being searched, so
	// that scores from different shards are comparable.
	Weight float32
	// Bit is the term's position in Hit.Matched (0–63); terms past the 64th
	// share bit 63.
	Bit uint8
}

// Hit is one scored chunk.
type Hit struct {
	Slot    uint32
	Score   float32
	Matched uint64 // bit i is set when the query term with Bit i occurs in the chunk
}

// Scratch holds the per-query buffers of Search. Reusing one across queries
// keeps the query path free of allocations; the pool below does that for
// callers that do not keep their own.
type Scratch struct {
	curs    []cursor
	order   []*cursor
	prefix  []float32
	bprefix []float32
	tfs     []uint32
	heap    []Hit
}

// Filter says whether a chunk may be retrieved. Search asks it before
// scoring a chunk, so a chunk it refuses never enters the ranking, and
// never counts against k. It must be cheap: it is called once for every
// chunk that could make the top k.
type Filter func(slot uint32) bool

// ScratchPool keeps scratch buffers between queries. Unlike sync.Pool it is
// not emptied by garbage collection: a buffer for a 100k-chunk shard is
// 400 KB, and reallocating it after every GC cycle showed up as latency.
type ScratchPool struct{ free chan *Scratch }

// NewScratchPool keeps at most n idle buffers.
func NewScratchPool(n int) *ScratchPool { return &ScratchPool{free: make(chan *Scratch, n)} }

// Get returns an idle buffer or a new one.
func (p *ScratchPool) Get() *Scratch {
	select {
	case s := <-p.free:
		return s
	default:
		return new(Scratch)
	}
}

// Put returns a buffer for reuse, or drops it when enough are idle.
func (p *ScratchPool) Put(s *Scratch) {
	select {
	case p.free <- s:
	default:
	}
}

// Search appends to out the k best live chunks for the query terms, best
// first, ties broken by slot so results are deterministic.
func (ix *Index) Search(terms []QueryTerm, k int, p Params, sc *Scratch, out []Hit) []Hit {
	return ix.SearchFiltered(terms, k, p, nil, sc, out)
}

// SearchFiltered is Search over the chunks allow accepts (all when nil).
//
// It scores document at a time with MaxScore over block bounds: query terms
// are ordered by the most they can add to a score, and the terms whose
// bounds together cannot lift a chunk into the current top k only confirm
// chunks the other terms found, by skipping to them. Once the top k is
// full, each step first bounds the range of slots over which every list's
// current block stays the same by the sum of those blocks' bounds; when
// that cannot beat the k-th score, every list moves past the range without
// decoding a block, and a chunk that survives is bounded again from its
// terms' tfs before its length is read. Every chunk that enters the top k
// is scored exactly as exhaustive scoring would, summing the terms in query
// order, so pruning changes the work and never the result.
//
// It is long because it is the inner loop of every query: the cursors, the
// bounds and the top-k heap stay local to one function instead of passing
// between helpers for every posting.
func (ix *Index) SearchFiltered(terms []QueryTerm, k int, p Params, allow Filter, sc *Scratch, out []Hit) []Hit {
	if k <= 0 || ix.live == 0 || len(terms) == 0 {
		return out
	}
	avg := float64(ix.totalLen) / float64(ix.live)
	if avg <= 0 {
		avg = 1
	}
	k1 := float32(p.K1)
	// norm(len) = k1·(1−b+b·len/avg) is split into a constant and a slope so
	// scoring a posting is one multiply-add and a division.
	base := float32(p.K1 * (1 - p.B))
	slope := float32(p.K1 * p.B / avg)
	if cap(sc.curs) < len(terms) {
		sc.curs = make([]cursor, len(terms))
		sc.tfs = make([]uint32, len(terms))
		sc.bprefix = make([]float32, len(terms)+1)
	}
	curs, order := sc.curs[:0], sc.order[:0]
	for _, qt := range terms {
		if !(qt.Weight > 0) || int(qt.ID) >= len(ix.df) {
			continue
		}
		curs = curs[:len(curs)+1]
		c := &curs[len(curs)-1]
		c.reset(ix, qt.ID, true)
		if c.doc == exhausted {
			curs = curs[:len(curs)-1]
			continue
		}
		c.w = qt.Weight * (k1 + 1)
		c.orig = len(curs) - 1
		c.bit = uint64(1) << min(qt.Bit, 63)
		c.ub = c.termBound.score(c.w, base, slope)
		c.tailUB = c.tailBound.score(c.w, base, slope)
	}
	if len(curs) == 0 {
		return out
	}
	for i := range curs {
		order = append(order, &curs[i])
	}
	slices.SortFunc(order, func(a, b *cursor) int { return cmpFloat(a.ub, b.ub) })
	prefix := append(sc.prefix[:0], 0)
	for _, c := range order {
		prefix = append(prefix, prefix[len(prefix)-1]+c.ub)
	}
	// bprefix[i] bounds what order[:i] add within the current range, from
	// their blocks' bounds; it is filled once the top k is full.
	bprefix := sc.bprefix[:len(order)+1]
	copy(bprefix, prefix)
	tfs := sc.tfs[:len(curs)] // the chunk's tf of each query term, 0 when absent
	clear(tfs)
	h := sc.heap[:0]
	lens, qlens := ix.lens, ix.qlens
	removed := ix.dead > 0
	// A chunk whose bound is at most the k-th score cannot enter: a tie
	// loses to the kept hit's lower slot. The margin covers float32
	// rounding between bounds summed in one order and scores in another.
	const margin = 1 + 1e-4
	theta := float32(-1)
	ess := 0 // order[:ess] are the non-essential terms
	// Once the top k is full, [d, rangeEnd] is a range of slots in which no
	// list leaves its current block, and bprefix bounds what the
	// non-essential lists add within it. It is recomputed past its end and
	// whenever theta rises.
	inRange, rangeEnd := false, uint32(0)
	// tfMin, when not 0, is the least tf a posting of the one essential
	// list must have in its current block to lift a chunk into the top k:
	// the postings below it are stepped over without becoming candidates.
	tfMin := uint32(0)
	for {
		d := uint32(exhausted)
		for _, c := range order[ess:] {
			d = min(d, c.doc)
		}
		if d == exhausted {
			break
		}
		full := len(h) == k
		if full && (!inRange || d > rangeEnd) {
			e := uint32(exhausted)
			for _, c := range order {
				if c.doc < d {
					c.skip(d) // a non-essential list, behind
				}
				e = min(e, c.blockEnd())
			}
			var ub float32
			for i, c := range order {
				if i <= ess {
					bprefix[i] = ub
				}
				if c.doc <= e {
					ub += c.blockUB(base, slope)
				}
			}
			if ub*margin <= theta {
				if e == exhausted {
					break
				}
				for _, c := range order[ess:] {
					c.skip(e + 1)
				}
				inRange = false
				continue
			}
			inRange, rangeEnd = true, e
			tfMin = 0
			if x := order[ess]; ess == len(order)-1 && !x.inTail {
				tfMin = x.tfFloor(bprefix[ess], theta/margin, base, slope)
			}
		}
		moved := false
		for _, c := range order[ess:] {
			if c.doc == d && !c.decoded {
				c.decode()
				moved = moved || c.doc != d
			}
		}
		if moved {
			continue
		}
		if x := order[ess]; tfMin > 0 && x.doc == d && x.tf < tfMin {
			x.skipBelow(tfMin, rangeEnd)
			continue
		}
		// A bound from the quantised length first: the exact length is
		// read only for a chunk that can still enter.
		q := slope * float32(unquantLen(qlens[d]))
		var sum float32
		for _, c := range order[ess:] {
			if c.doc == d {
				tf := float32(c.tf)
				sum += c.w * tf / (tf + base + q)
			}
		}
		// owner is read only when some slot was removed: it is a random
		// access into 4 MB at a million chunks, a fifth of the query's CPU.
		if (full && (sum+bprefix[ess])*margin <= theta) || (removed && ix.owner[d] == 0) || (allow != nil && !allow(d)) {
			for _, c := range order[ess:] {
				if c.doc == d {
					c.next()
				}
			}
			continue
		}
		var mask uint64
		for _, c := range order[ess:] {
			if c.doc == d {
				tfs[c.orig] = c.tf
				mask |= c.bit
				c.next()
			}
		}
		pruned := false
		for i := ess - 1; i >= 0; i-- {
			if full && (sum+bprefix[i+1])*margin <= theta {
				pruned = true
				break
			}
			c := order[i]
			c.seek(d)
			if c.doc == d {
				tf := float32(c.tf)
				sum += c.w * tf / (tf + base + q)
				tfs[c.orig] = c.tf
				mask |= c.bit
			}
		}
		if pruned || (full && sum*margin <= theta) {
			clear(tfs)
			continue
		}
		// Summed in query order, as exhaustive scoring sums, so that the
		// score is the same float.
		ln := slope * float32(lens[d])
		var score float32
		for i, tf := range tfs {
			if tf > 0 {
				x := float32(tf)
				score += curs[i].w * x / (x + base + ln)
				tfs[i] = 0
			}
		}
		hit := Hit{Slot: d, Score: score, Matched: mask}
		switch {
		case len(h) < k:
			h = append(h, hit)
			up(h, len(h)-1)
		case better(hit, h[0]):
			h[0] = hit
			down(h, 0)
		default:
			continue
		}
		inRange = false
		if len(h) == k {
			theta = h[0].Score
			for ess < len(order) && prefix[ess+1]*margin <= theta {
				ess++
			}
			if ess == len(order) {
				break
			}
		}
	}
	for i := range curs {
		// Let go of the postings: a pooled scratch must not keep a
		// replaced index's memory reachable.
		curs[i].fz, curs[i].tail = nil, nil
	}
	sc.curs, sc.order, sc.prefix, sc.heap = curs, order[:0], prefix, h
	start := len(out)
	out = append(out, h...)
	slices.SortFunc(out[start:], func(a, b Hit) int {
		if better(a, b) {
			return -1
		}
		if better(b, a) {
			return 1
		}
		return 0
	})
	return out
}

func cmpFloat(a, b float32) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// better orders hits: higher score first, then lower slot.
func better(a, b Hit) bool {
	if a.Score != b.Score {
		return a.Score > b.Score
	}
	return a.Slot < b.Slot
}

// up and down keep h a min-heap under better, so h[0] is the weakest of the
// k hits kept and a new hit replaces it when it is better.
func up(h []Hit, i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !better(h[p], h[i]) {
			break
		}
		h[p], h[i] = h[i], h[p]
		i = p
	}
}

func down(h []Hit, i int) {
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		m := l
		if r := l + 1; r < len(h) && better(h[l], h[r]) {
			m = r
		}
		if !better(h[i], h[m]) {
			return
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}
