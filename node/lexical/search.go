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
	acc     []float32
	touched []uint32
	heap    []Hit
}

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
	return ix.SearchFilter(terms, k, p, sc, out, nil)
}

// SearchFilter is Search over the chunks keep accepts (all when keep is
// nil): a chunk keep refuses never competes for the k places, so access
// control can run before ranking rather than trimming a ranked list.
func (ix *Index) SearchFilter(terms []QueryTerm, k int, p Params, sc *Scratch, out []Hit, keep func(slot uint32) bool) []Hit {
	if k <= 0 || ix.live == 0 || len(terms) == 0 {
		return out
	}
	if n := len(ix.slots); len(sc.acc) < n {
		sc.acc = make([]float32, n+n/4)
	}
	avg := float64(ix.totalLen) / float64(ix.live)
	if avg <= 0 {
		avg = 1
	}
	k1 := float32(p.K1)
	// norm(len) = k1·(1−b+b·len/avg) is split into a constant and a slope so
	// the inner loop is one multiply-add per posting.
	base := float32(p.K1 * (1 - p.B))
	slope := float32(p.K1 * p.B / avg)
	acc, lens, touched := sc.acc, ix.lens, sc.touched[:0]
	for _, qt := range terms {
		if int(qt.ID) >= len(ix.postings) || !(qt.Weight > 0) {
			continue // a weight of 0 would leave a touched slot looking untouched
		}
		w := qt.Weight * (k1 + 1)
		for _, po := range ix.postings[qt.ID] {
			s := po.slot()
			tf := float32(po.tf())
			if acc[s] == 0 {
				touched = append(touched, s)
			}
			acc[s] += w * tf / (tf + base + slope*float32(lens[s]))
		}
	}
	h := sc.heap[:0]
	for _, s := range touched {
		hit := Hit{Slot: s, Score: acc[s]}
		acc[s] = 0
		if ix.slots[s].dead || (keep != nil && !keep(s)) {
			continue
		}
		switch {
		case len(h) < k:
			h = append(h, hit)
			up(h, len(h)-1)
		case better(hit, h[0]):
			h[0] = hit
			down(h, 0)
		}
	}
	sc.touched, sc.heap = touched, h
	start := len(out)
	out = append(out, h...)
	res := out[start:]
	// Which query terms each hit contains is needed only for the few hits
	// returned, so it is looked up here rather than tracked per posting.
	for i := range res {
		for _, qt := range terms {
			if ix.contains(qt.ID, res[i].Slot) {
				res[i].Matched |= uint64(1) << min(qt.Bit, 63)
			}
		}
	}
	slices.SortFunc(res, func(a, b Hit) int {
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

// contains reports whether slot s has term, by binary search: posting
// lists are in slot order because slots are only ever appended.
func (ix *Index) contains(term, s uint32) bool {
	if int(term) >= len(ix.postings) {
		return false
	}
	p := ix.postings[term]
	i, _ := slices.BinarySearchFunc(p, s, func(po posting, s uint32) int { return int(po.slot()) - int(s) })
	return i < len(p) && p[i].slot() == s
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
