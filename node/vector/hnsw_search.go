package vector

import "math"

// hnswScratch is the per-search state of the graph walk.
type hnswScratch struct {
	// seen[node] == epoch marks node visited in the current search. Bumping
	// the epoch clears every mark at once; only when it wraps does the
	// slice need zeroing, once every 65535 searches.
	seen  []uint16
	epoch uint16
	cand  []Hit    // nodes to expand, scores negated so the best is on top
	res   []Hit    // the best ef nodes found, worst on top
	fresh []uint32 // unvisited neighbours of the node being expanded
	sink  uint32   // keeps touch's loads from being optimised away

	// The query: q for a float graph; for a compact one its codes (spread
	// into even and odd for the portable kernel), their sum and scale.
	q             []float32
	qw, even, odd []uint64
	qsum          int32
	qscale        float32
	raw           []byte    // a stored vector's bytes, while reranking
	vec           []float32 // and its value
	top           []Hit     // the reranked best
}

// lineFloats is the float32s in a 64-byte cache line, the line size of the
// amd64 and arm cores a node runs on.
const lineFloats = 16

// touch reads one word of each cache line of v. A graph search is bound by
// memory latency, not arithmetic: each neighbour's vector is 1.5 KB
// somewhere in a 150 MB table. Touching all fresh neighbours first lets the
// CPU fetch their lines in parallel instead of one vector at a time while
// computing dot products; it halved search time (310 → 165 µs at 100k).
// On amd64 HNSW.touch issues PREFETCHT0 instead, which does not hold up
// the core while the lines arrive.
func touch(v []float32) uint32 {
	var x uint32
	for j := 0; j < len(v); j += lineFloats {
		x ^= math.Float32bits(v[j])
	}
	return x
}

// reset starts a search over a graph of n nodes.
func (s *hnswScratch) reset(n int) {
	if len(s.seen) < n {
		// Slack so that a growing index does not reallocate per insert.
		s.seen = make([]uint16, n+n/4+64)
		s.epoch = 0
	}
	s.epoch++
	if s.epoch == 0 {
		clear(s.seen)
		s.epoch = 1
	}
	s.cand, s.res = s.cand[:0], s.res[:0]
}

// greedy walks one upper layer from ep to a node no neighbour of which is
// more similar to q (the paper's search with ef = 1, without bookkeeping).
func (h *HNSW) greedy(s *hnswScratch, ep uint32, eps float32, layer int) (uint32, float32) {
	for changed := true; changed; {
		changed = false
		row := h.list(ep, layer)
		for _, nb := range row[1 : 1+row[0]] {
			s.sink ^= h.touch(nb)
		}
		for _, nb := range row[1 : 1+row[0]] {
			if sc := h.sim(s, nb); sc > eps {
				ep, eps, changed = nb, sc, true
			}
		}
	}
	return ep, eps
}

// searchLayer runs the best-first search of the paper's Algorithm 2 on one
// layer from ep (with similarity eps to q), leaving in s.res a heap of the
// ef most similar nodes found. With skipDead, dead nodes are expanded, so
// the walk can pass through them, but never enter s.res.
func (h *HNSW) searchLayer(s *hnswScratch, ep uint32, eps float32, ef, layer int, skipDead bool) {
	s.seen[ep] = s.epoch
	cand := push(s.cand, Hit{ID: ep, Score: -eps})
	res := s.res
	if !skipDead || !h.isDead(ep) {
		res = push(res, Hit{ID: ep, Score: eps})
	}
	for len(cand) > 0 {
		var c Hit
		c, cand = pop(cand)
		// The best unexpanded node is worse than the worst kept: nothing
		// reachable through it can improve the result.
		if len(res) >= ef && -c.Score < res[0].Score {
			break
		}
		row := h.list(c.ID, layer)
		fresh := s.fresh[:0]
		for _, nb := range row[1 : 1+row[0]] {
			if s.seen[nb] == s.epoch {
				continue
			}
			s.seen[nb] = s.epoch
			fresh = append(fresh, nb)
			s.sink ^= h.touch(nb)
		}
		s.fresh = fresh
		for _, nb := range fresh {
			sc := h.sim(s, nb)
			if len(res) < ef || sc > res[0].Score {
				cand = push(cand, Hit{ID: nb, Score: -sc})
				if !skipDead || !h.isDead(nb) {
					res = offer(res, ef, Hit{ID: nb, Score: sc})
				}
			}
		}
	}
	s.cand, s.res = cand, res
}

// Search appends the k best live hits for q to dst; see Index. Recall
// rises and speed falls with Config.EfSearch.
func (h *HNSW) Search(q []float32, k int, dst []Hit) ([]Hit, error) {
	if err := checkQuery(q, h.cfg.Dim); err != nil {
		return dst, err
	}
	k = min(k, h.Len())
	if k <= 0 {
		return dst, nil
	}
	s := h.pool.get()
	defer h.pool.put(s)
	s.reset(len(h.ids))
	h.setQuery(s, q)
	ep := h.entry
	eps := h.sim(s, ep)
	for l := h.top; l > 0; l-- {
		ep, eps = h.greedy(s, ep, eps, l)
	}
	h.searchLayer(s, ep, eps, max(h.cfg.EfSearch, k), 0, true)
	if h.store != nil {
		return h.rerank(s, q, k, dst)
	}
	// Select under the ids the caller knows, so ties break by id as the
	// other kinds do.
	dst, out := topIn(dst, k)
	for _, r := range s.res {
		out = offer(out, k, Hit{ID: h.ids[r.ID], Score: r.Score})
	}
	sortBest(out)
	return dst[:len(dst)+len(out)], nil
}
