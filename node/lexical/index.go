package lexical

import (
	"fmt"
	"math"
	"slices"
	"sync"

	"github.com/edgerag/edgerag/node/shard"
)

// MaxSlots bounds the chunks one shard's index can address: a posting packs
// the slot into 24 bits and the term frequency into the other 8.
const MaxSlots = 1 << 24

// maxTF caps a term frequency at what fits in a posting. BM25 saturates long
// before 255 occurrences, so the cap does not change rankings.
const maxTF = 255

// TermFreq is one term of a chunk's term vector.
type TermFreq struct {
	Term uint32
	TF   uint32
}

// Chunk is what the index needs to know about one chunk.
type Chunk struct {
	ID       shard.ChunkID
	Position int
	Length   uint32     // analysed terms in the chunk, title included
	Terms    []TermFreq // distinct terms, any order
}

// Slot describes an indexed chunk.
type Slot struct {
	DocID    string
	ID       shard.ChunkID
	Position int
	Length   uint32
	dead     bool
}

// posting packs a slot (high 24 bits) and a term frequency (low 8 bits) so
// that a posting list costs 4 bytes an entry: at 100k chunks of ~60 distinct
// terms that is the difference between 24 MB and 48 MB on a 1 GB device.
type posting uint32

func (p posting) slot() uint32 { return uint32(p) >> 8 }
func (p posting) tf() uint32   { return uint32(p) & 0xff }

// Index holds one shard's postings. It is not safe for concurrent use: the
// node guards it with a read-write lock, searching under the read lock.
//
// Postings live in two parts: frozen blocks (see blocks.go) for the slots
// below frozenSlots, in memory the Arena provides, and a tail of plain
// lists on the heap for the slots added since. The tail is frozen into a
// new set of blocks when it grows past a share of the frozen part, so the
// heap holds a bounded slice of the postings however large the shard.
//
// The slot table is a set of parallel arrays rather than a slice of Slot:
// at a million chunks a Slot with its own document-id string costs 48 bytes
// a slot and a pointer the collector scans, these 28 and none. A document's
// chunks take consecutive slots (Add appends them together), so a document
// is a range, not a list.
type Index struct {
	ids      []shard.ChunkID     // slot → chunk id
	pos      []uint32            // slot → position in its document
	lens     []uint32            // slot → length
	qlens    []uint8             // slot → length quantised (see quantLen), on the heap
	owner    []uint32            // slot → its document's number + 1; 0 once removed
	names    []string            // document number → id ("" once removed)
	docs     map[string]docRange // document id → its live slots; see docMap
	docCount int                 // live documents
	// snap, while set, is the document table of the snapshot the index was
	// opened from, and ids, pos, lens and owner are that snapshot's memory
	// (read-only): see own. docs is built from it on first use.
	snap     *snapDocs
	docsOnce sync.Once
	df       []uint32 // term id → live chunks containing it
	live     int      // live slots
	dead     int      // slots removed but still in posting lists
	totalLen uint64   // sum of live slot lengths

	arena        Arena
	fz           *frozen
	frozenSlots  uint32
	tail         [][]posting // term id → postings of slots ≥ frozenSlots, ascending
	tailMaxTF    []uint8     // term id → highest tf in its tail
	tailMinLen   uint32      // shortest chunk in the tail
	tailPostings int
}

// docRange is a document's slots, first to first+n-1, and its number.
type docRange struct{ first, n, num uint32 }

func (r docRange) slots() []uint32 {
	out := make([]uint32, r.n)
	for i := range out {
		out[i] = r.first + uint32(i)
	}
	return out
}

// Tail sizes that trigger a freeze: at least minTail postings, so small
// shards do not re-encode on every batch, at most maxTail (32 MB of heap),
// and otherwise a quarter of the frozen postings, so re-encoding costs a
// constant factor of the ingest.
const (
	minTail = 1 << 20
	maxTail = 8 << 20
)

// New returns an empty index.
func New() *Index { return &Index{docs: make(map[string]docRange), tailMinLen: math.MaxUint32} }

// SetArena makes the index put its frozen postings in memory from a; call
// it before adding chunks. Without it they go on the heap.
func (ix *Index) SetArena(a Arena) { ix.arena = a }

// Postings returns how many postings are frozen and how many wait in the
// heap tail.
func (ix *Index) Postings() (frozen, tail int) {
	if ix.fz != nil {
		frozen = ix.fz.postings
	}
	return frozen, ix.tailPostings
}

// Live returns the number of chunks that can be found.
func (ix *Index) Live() int { return ix.live }

// Docs returns the number of documents that have chunks in the index.
func (ix *Index) Docs() int { return ix.docCount }

// Dead returns the number of removed chunks still taking space; the node
// rebuilds the index when they pile up.
func (ix *Index) Dead() int { return ix.dead }

// TotalLen returns the summed length of the live chunks.
func (ix *Index) TotalLen() uint64 { return ix.totalLen }

// DF returns how many live chunks contain term.
func (ix *Index) DF(term uint32) uint32 {
	if int(term) < len(ix.df) {
		return ix.df[term]
	}
	return 0
}

// Slot returns the description of slot i.
func (ix *Index) Slot(i uint32) Slot {
	s := Slot{ID: ix.ids[i], Position: int(ix.pos[i]), Length: ix.lens[i], dead: ix.owner[i] == 0}
	if !s.dead {
		s.DocID = ix.name(ix.owner[i] - 1)
	}
	return s
}

// name returns the id of document number num ("" for none).
func (ix *Index) name(num uint32) string {
	if ix.snap != nil {
		if num >= ix.snap.len() {
			return ""
		}
		_, id := ix.snap.get(num)
		return id
	}
	if int(num) >= len(ix.names) {
		return ""
	}
	return ix.names[num]
}

// docMap returns the document map, building it from the snapshot's table
// the first time. Searches, which hold only the node's read lock, may get
// here together; the Once makes that safe.
func (ix *Index) docMap() map[string]docRange {
	ix.docsOnce.Do(func() {
		if ix.snap == nil {
			return
		}
		ix.docs = make(map[string]docRange, ix.snap.len())
		for k := range ix.snap.len() {
			r, id := ix.snap.get(k)
			ix.docs[id] = r
		}
	})
	return ix.docs
}

// own moves what the index uses of its snapshot's memory onto the heap,
// before the index first changes: the snapshot is mapped read-only, and is
// unmapped when a freeze replaces its postings.
func (ix *Index) own() {
	if ix.snap == nil {
		return
	}
	ix.docMap()
	ix.names = make([]string, ix.snap.len())
	for k := range ix.names {
		_, ix.names[k] = ix.snap.get(uint32(k))
	}
	ix.ids, ix.pos = slices.Clone(ix.ids), slices.Clone(ix.pos)
	ix.lens, ix.owner = slices.Clone(ix.lens), slices.Clone(ix.owner)
	ix.snap = nil
}

// slotCount is the number of slots, live or removed.
func (ix *Index) slotCount() int { return len(ix.ids) }

// removed reports whether slot i was removed.
func (ix *Index) removed(i uint32) bool { return ix.owner[i] == 0 }

// HasDoc reports whether the document has chunks in the index.
func (ix *Index) HasDoc(docID string) bool { _, ok := ix.docMap()[docID]; return ok }

// DocIDs calls fn for every document id, in no particular order.
func (ix *Index) DocIDs(fn func(string)) {
	for id := range ix.docMap() {
		fn(id)
	}
}

// Add indexes the chunks of a document. The document must not be in the index
// already: replace it with Remove first.
func (ix *Index) Add(docID string, chunks []Chunk) error {
	ix.own()
	if _, ok := ix.docs[docID]; ok {
		return fmt.Errorf("index add %q: document already indexed", docID)
	}
	if ix.slotCount()+len(chunks) > MaxSlots {
		return fmt.Errorf("index add %q: shard would exceed %d chunks; split it into more shards", docID, MaxSlots)
	}
	if uint64(len(ix.names)) >= math.MaxUint32-1 {
		return fmt.Errorf("index add %q: too many documents added since the last rebuild", docID)
	}
	r := docRange{first: uint32(ix.slotCount()), n: uint32(len(chunks)), num: uint32(len(ix.names))}
	ix.names = append(ix.names, docID)
	for _, c := range chunks {
		s := uint32(ix.slotCount())
		ix.ids = append(ix.ids, c.ID)
		ix.pos = append(ix.pos, uint32(c.Position))
		ix.owner = append(ix.owner, r.num+1)
		ix.lens = append(ix.lens, c.Length)
		ix.qlens = append(ix.qlens, quantLen(c.Length))
		for _, tf := range c.Terms {
			ix.grow(tf.Term)
			f := tf.TF
			if f > maxTF {
				f = maxTF
			}
			if f == 0 {
				continue
			}
			ix.tail[tf.Term] = append(ix.tail[tf.Term], posting(s<<8|f))
			ix.tailMaxTF[tf.Term] = max(ix.tailMaxTF[tf.Term], uint8(f))
			ix.tailPostings++
			ix.df[tf.Term]++
		}
		ix.tailMinLen = min(ix.tailMinLen, c.Length)
		ix.totalLen += uint64(c.Length)
		ix.live++
	}
	ix.docs[docID] = r
	ix.docCount++
	frozen := 0
	if ix.fz != nil {
		frozen = ix.fz.postings
	}
	if ix.tailPostings >= min(max(minTail, frozen/4), maxTail) {
		// A failed freeze leaves the tail as it was: searches stay right
		// and the next Add or Compact tries again.
		_ = ix.freeze()
	}
	return nil
}

// DocSlots returns the slots of a document's chunks, in document order.
func (ix *Index) DocSlots(docID string) []uint32 {
	r, ok := ix.docMap()[docID]
	if !ok {
		return nil
	}
	return r.slots()
}

// EachLive calls fn for every chunk that can be found, in slot order.
func (ix *Index) EachLive(fn func(slot uint32, s Slot) bool) {
	for i := range uint32(ix.slotCount()) {
		if !ix.removed(i) && !fn(i, ix.Slot(i)) {
			return
		}
	}
}

// Remove takes a document out of the index and returns the slots its chunks
// had. terms must be the term vectors it was added with (the store keeps
// them), so document frequencies stay exact. Its postings stay in place,
// skipped at search time, until a rebuild.
func (ix *Index) Remove(docID string, chunks []Chunk) []uint32 {
	ix.own()
	r, ok := ix.docs[docID]
	if !ok {
		return nil
	}
	delete(ix.docs, docID)
	ix.docCount--
	ix.names[r.num] = ""
	slots := r.slots()
	for _, s := range slots {
		ix.owner[s] = 0
		ix.totalLen -= uint64(ix.lens[s])
		ix.live--
		ix.dead++
	}
	for _, c := range chunks {
		for _, tf := range c.Terms {
			if int(tf.Term) < len(ix.df) && ix.df[tf.Term] > 0 && tf.TF > 0 {
				ix.df[tf.Term]--
			}
		}
	}
	return slots
}

func (ix *Index) grow(term uint32) {
	if int(term) < len(ix.df) {
		if int(term) >= len(ix.tail) {
			ix.growTail(len(ix.df))
		}
		return
	}
	n := int(term) + 1
	if n < 2*len(ix.df) {
		n = 2 * len(ix.df)
	}
	df := make([]uint32, n)
	copy(df, ix.df)
	ix.df = df
	ix.growTail(n)
}

// growTail sizes the tail for n terms; after a freeze it starts empty.
func (ix *Index) growTail(n int) {
	t := make([][]posting, n)
	copy(t, ix.tail)
	ix.tail = t
	m := make([]uint8, n)
	copy(m, ix.tailMaxTF)
	ix.tailMaxTF = m
}

// Params are the BM25 parameters.
type Params struct {
	K1 float64 // term-frequency saturation; 0.9 by default
	B  float64 // length normalisation; 0.4 by default
}

// DefaultParams are the values of the reference runs in shared/eval (and of
// Anserini's BM25 baseline), which suit short passages.
func DefaultParams() Params { return Params{K1: 0.9, B: 0.4} }

// Validate reports parameters outside BM25's meaningful range.
func (p Params) Validate() error {
	if !(p.K1 >= 0 && p.K1 <= 10) {
		return fmt.Errorf("bm25 k1 = %v: must be between 0 and 10 (1.2 is Lucene's default, 0.9 ours)", p.K1)
	}
	if !(p.B >= 0 && p.B <= 1) {
		return fmt.Errorf("bm25 b = %v: must be between 0 and 1", p.B)
	}
	return nil
}

// IDF is Lucene's BM25 idf: log(1 + (N - df + 0.5) / (df + 0.5)). Unlike the
// classic Robertson idf it never goes negative for very common terms.
func IDF(n, df uint64) float64 {
	return math.Log(1 + (float64(n)-float64(df)+0.5)/(float64(df)+0.5))
}

// Compact freezes every posting list into blocks (see Freeze) and trims the
// slot tables to size. If the arena cannot provide the memory the postings
// stay where they are; Freeze reports why.
func (ix *Index) Compact() {
	_ = ix.Freeze()
	ix.ids = slices.Clip(ix.ids)
	ix.pos = slices.Clip(ix.pos)
	ix.lens = slices.Clip(ix.lens)
	ix.qlens = slices.Clip(ix.qlens)
	ix.owner = slices.Clip(ix.owner)
	ix.names = slices.Clip(ix.names)
}

// Freeze encodes the heap tail, with the postings frozen before, into one
// new set of blocks in the arena's memory.
func (ix *Index) Freeze() error {
	if ix.tailPostings == 0 {
		return nil
	}
	return ix.freeze()
}
