package vector

import (
	"fmt"
	"math"
	"slices"
)

// HNSW is a hierarchical navigable small world graph (Malkov & Yashunin,
// 2016): every vector is a node on layer 0, and a geometrically shrinking
// random subset also on layers 1, 2, ...; a search descends greedily
// through the sparse upper layers to a good starting point and then runs a
// best-first search of width ef on layer 0. Neighbours are chosen with the
// paper's heuristic (its Algorithm 4): a candidate is linked only if it is
// closer to the new node than to every neighbour already chosen, which
// keeps links pointing in diverse directions and clustered data navigable.
//
// Deleting marks a node dead: searches still walk through it, so the graph
// stays connected, but never return it. Replacing an id's vector adds a new
// node and kills the old one. Dead nodes cost memory and some speed; rebuild
// the index when Dead() grows past about a fifth of Len().
type HNSW struct {
	cfg Config

	vecs rows[float32] // empty in a compact graph (see hnsw_compact.go)
	// A compact graph holds 7-bit codes of the vectors instead and keeps
	// the float32 vectors in store, read only to rerank.
	codes  rows[uint64]
	scales []float32
	sums   []int32
	store  VectorStore
	vbuf   []float32    // Add's normalised vector, compact only
	wbuf   []byte       // and its stored bytes
	links0 rows[uint32] // per node: a count, then up to 2M layer-0 neighbours
	// Upper layers are rare (1 node in M reaches layer 1), so their lists
	// share one slice: a node of level L > 0 owns L lists of a count and M
	// neighbours each, for layers 1..L, starting at upperAt[node].
	upper   []uint32
	upperAt []uint32
	levels  []uint8
	ids     []uint32 // node → id
	dead    []uint64 // bit set per dead node
	pos     map[uint32]uint32
	nDead   int
	entry   uint32
	top     int // level of entry, -1 while empty

	mapping *mapping // the file codes and links0 point into, if loaded mapped

	pool  pool[hnswScratch]
	build hnswScratch // Add's own; Add is never concurrent with anything
	sel   []Hit       // neighbours chosen for the node being inserted
	cands []Hit       // a full list and its new link, while shrinking it
	kept  []Hit       // what the heuristic keeps of cands
}

// maxLevel caps node levels. With M=16 a node reaches level 6 with odds of
// one in 16.7 million; the cap matters only for tiny M.
const maxLevel = 16

// NewHNSW returns an empty graph index; zero fields of cfg take defaults.
// It panics on a configuration New would reject: a configuration is
// constant, so a wrong one is a programming error.
func NewHNSW(cfg Config) *HNSW {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		panic(err)
	}
	return &HNSW{
		cfg:    cfg,
		vecs:   newRows[float32](cfg.Dim),
		links0: newRows[uint32](2*cfg.M + 1),
		pos:    make(map[uint32]uint32),
		top:    -1,
		pool:   newPool[hnswScratch](),
	}
}

// Config returns the configuration the index was built with.
func (h *HNSW) Config() Config { return h.cfg }

// SetEfSearch changes the search width, for example after loading an index
// built elsewhere. Like Add it must not run concurrently with Search.
func (h *HNSW) SetEfSearch(ef int) error {
	if ef < 1 || ef > maxEf {
		return fmt.Errorf("vector: EfSearch=%d out of range: use 1..%d", ef, maxEf)
	}
	h.cfg.EfSearch = ef
	return nil
}

// Len returns the number of live vectors.
func (h *HNSW) Len() int { return len(h.ids) - h.nDead }

// Dead returns the number of deleted or replaced nodes still in the graph.
func (h *HNSW) Dead() int { return h.nDead }

// Dim returns the dimension of the vectors.
func (h *HNSW) Dim() int { return h.cfg.Dim }

// Kind returns KindHNSW, or KindHNSWInt8 for a compact graph.
func (h *HNSW) Kind() string {
	if h.store != nil {
		return KindHNSWInt8
	}
	return KindHNSW
}

func (h *HNSW) isDead(node uint32) bool { return h.dead[node>>6]&(1<<(node&63)) != 0 }

func (h *HNSW) kill(node uint32) {
	h.dead[node>>6] |= 1 << (node & 63)
	h.nDead++
}

// Delete removes id from search results.
func (h *HNSW) Delete(id uint32) {
	node, ok := h.pos[id]
	if !ok {
		return
	}
	delete(h.pos, id)
	h.kill(node)
}

// Remap renames the live ids: f returns the new id of each, or false to
// delete it. A node's caller may number its ids afresh on every start (the
// node's dense manager does); a graph saved under the old numbers is
// renamed instead of rebuilt. Two ids renamed to one keep the later node.
// Like Add it must not run concurrently with anything.
func (h *HNSW) Remap(f func(id uint32) (uint32, bool)) {
	clear(h.pos)
	for node, id := range h.ids {
		if h.isDead(uint32(node)) {
			continue
		}
		nid, ok := f(id)
		if !ok {
			h.kill(uint32(node))
			continue
		}
		if old, dup := h.pos[nid]; dup {
			h.kill(old)
		}
		h.ids[node] = nid
		h.pos[nid] = uint32(node)
	}
}

// list returns node's link list on a layer: a count, then the neighbours.
func (h *HNSW) list(node uint32, layer int) []uint32 {
	if layer == 0 {
		return h.links0.at(int(node))
	}
	w := h.cfg.M + 1
	off := int(h.upperAt[node]) + (layer-1)*w
	return h.upper[off : off+w : off+w]
}

// levelOf draws a node's level from the exponential distribution of the
// paper (normalisation 1/ln M), hashing the seed and the node number so that
// the graph does not depend on anything but the insert order.
func (h *HNSW) levelOf(node int) int {
	u := splitmix64(h.cfg.Seed ^ (uint64(node)+1)*0x9E3779B97F4A7C15)
	f := (float64(u>>11) + 1) / (1 << 53) // uniform in (0, 1]
	return min(int(-math.Log(f)/math.Log(float64(h.cfg.M))), maxLevel)
}

func splitmix64(x uint64) uint64 {
	x += 0x9E3779B97F4A7C15
	x = (x ^ x>>30) * 0xBF58476D1CE4E5B9
	x = (x ^ x>>27) * 0x94D049BB133111EB
	return x ^ x>>31
}

// Add stores v, normalised, under id and links it into the graph. Building
// 100k clustered vectors of 384 dimensions takes 50 s on one core (0.5 ms
// an insert); uniform random ones twice that. The graph holds about 1.7 KB
// a vector, of which 1.5 KB is the vector itself.
func (h *HNSW) Add(id uint32, v []float32) error {
	norm, err := checkVector(v, h.cfg.Dim)
	if err != nil {
		return err
	}
	if len(h.ids) >= MaxLen {
		return fmt.Errorf("vector: index is full at %d nodes: rebuild it without dead nodes or split the shard", MaxLen)
	}
	node := uint32(len(h.ids))
	if h.store != nil {
		// Store first: a failed write must leave the index as it was.
		if err := h.addCompact(node, v, norm); err != nil {
			return err
		}
	} else {
		scaleInto(h.vecs.grow(), v, norm)
	}
	if old, ok := h.pos[id]; ok {
		h.kill(old)
	}
	h.links0.grow()
	h.ids = append(h.ids, id)
	if int(node>>6) >= len(h.dead) {
		h.dead = append(h.dead, 0)
	}
	level := h.levelOf(int(node))
	h.levels = append(h.levels, uint8(level))
	h.upperAt = append(h.upperAt, uint32(len(h.upper)))
	h.upper = append(h.upper, make([]uint32, level*(h.cfg.M+1))...)
	h.pos[id] = node
	h.insert(node, level)
	return nil
}

// insert links node into every layer up to its level (the paper's
// Algorithm 1).
func (h *HNSW) insert(node uint32, level int) {
	if h.top < 0 {
		h.entry, h.top = node, level
		return
	}
	s := &h.build
	h.nodeQuery(s, node)
	ep := h.entry
	eps := h.sim(s, ep)
	for l := h.top; l > level; l-- {
		ep, eps = h.greedy(s, ep, eps, l)
	}
	for l := min(level, h.top); l >= 0; l-- {
		s.reset(len(h.ids))
		// Dead nodes are walked through but not linked to: links to them
		// would waste slots on nodes no search returns.
		h.searchLayer(s, ep, eps, h.cfg.EfConstruction, l, true)
		if len(s.res) == 0 {
			continue // everything reachable is dead; keep descending from ep
		}
		sortBest(s.res)
		h.sel = h.heuristic(s.res, h.cfg.M, h.sel[:0])
		row := h.list(node, l)
		row[0] = uint32(len(h.sel))
		for i, c := range h.sel {
			row[1+i] = c.ID
		}
		for _, c := range h.sel {
			h.link(c.ID, node, l, c.Score)
		}
		ep, eps = s.res[0].ID, s.res[0].Score
	}
	if level > h.top {
		h.entry, h.top = node, level
	}
}

// heuristic appends to out at most m of cands (sorted best first by Score,
// the similarity to the node being linked) following the paper's Algorithm
// 4 without its optional extensions: a candidate is kept only if it is more
// similar to the node than to every candidate kept before it.
func (h *HNSW) heuristic(cands []Hit, m int, out []Hit) []Hit {
	for _, c := range cands {
		if len(out) >= m {
			break
		}
		keep := true
		for _, o := range out {
			if h.pair(c.ID, o.ID) > c.Score {
				keep = false
				break
			}
		}
		if keep {
			out = append(out, c)
		}
	}
	return out
}

// link adds node to e's list on a layer; sim is their similarity. A full
// list is re-chosen with the heuristic from its members and node.
func (h *HNSW) link(e, node uint32, layer int, sim float32) {
	row := h.list(e, layer)
	n := int(row[0])
	if n < len(row)-1 {
		row[1+n] = node
		row[0]++
		return
	}
	for _, nb := range row[1 : 1+n] {
		h.build.sink ^= h.touch(nb)
	}
	c := h.cands[:0]
	for _, nb := range row[1 : 1+n] {
		c = append(c, Hit{ID: nb, Score: h.pair(e, nb)})
	}
	c = append(c, Hit{ID: node, Score: sim})
	slices.SortFunc(c, func(a, b Hit) int {
		switch {
		case worse(b, a):
			return -1
		case worse(a, b):
			return 1
		}
		return 0
	})
	h.kept = h.heuristic(c, len(row)-1, h.kept[:0])
	row[0] = uint32(len(h.kept))
	for i, k := range h.kept {
		row[1+i] = k.ID
	}
	h.cands = c
}
