package vector

import "fmt"

// flat holds vectors densely for the scanning kinds: row i is the vector of
// ids[i]. Deleting moves the last row into the hole, so a scan never meets a
// gap and needs no tombstones.
type flat struct {
	dim  int
	vecs rows[float32]
	ids  []uint32
	pos  map[uint32]uint32 // id → row
}

func newFlat(dim int) flat {
	if err := (Config{Dim: dim}).withDefaults().validate(); err != nil {
		panic(err)
	}
	return flat{dim: dim, vecs: newRows[float32](dim), pos: make(map[uint32]uint32)}
}

// add stores v under id, in place when id is present, and returns its row.
func (f *flat) add(id uint32, v []float32) (int, error) {
	norm, err := checkVector(v, f.dim)
	if err != nil {
		return 0, err
	}
	i, ok := f.pos[id]
	var row []float32
	if ok {
		row = f.vecs.at(int(i))
	} else {
		if f.vecs.len() >= MaxLen {
			return 0, fmt.Errorf("vector: index is full at %d vectors: split the shard", MaxLen)
		}
		i = uint32(f.vecs.len())
		row = f.vecs.grow()
		f.ids = append(f.ids, id)
		f.pos[id] = i
	}
	scaleInto(row, v, norm)
	return int(i), nil
}

// remove deletes id's row by moving the last row into it. It returns the
// hole and the row that moved there (equal when id's row was the last), so
// that parallel per-row data can follow; ok is false when id is absent.
func (f *flat) remove(id uint32) (hole, last int, ok bool) {
	i, ok := f.pos[id]
	if !ok {
		return 0, 0, false
	}
	hole, last = int(i), f.vecs.len()-1
	delete(f.pos, id)
	if hole != last {
		copy(f.vecs.at(hole), f.vecs.at(last))
		moved := f.ids[last]
		f.ids[hole] = moved
		f.pos[moved] = uint32(hole)
	}
	f.ids = f.ids[:last]
	f.vecs.shrink()
	return hole, last, true
}

// Exact scans every vector for each query. It is the fastest kind for small
// shards and the reference the approximate kinds are measured against.
type Exact struct {
	flat
}

// NewExact returns an empty exact index for vectors of dimension dim. It
// panics when dim is outside 1..MaxDim; New returns an error instead.
func NewExact(dim int) *Exact { return &Exact{newFlat(dim)} }

// Add stores v, normalised, under id.
func (x *Exact) Add(id uint32, v []float32) error {
	_, err := x.add(id, v)
	return err
}

// Delete removes id.
func (x *Exact) Delete(id uint32) { x.remove(id) }

// Len returns the number of vectors.
func (x *Exact) Len() int { return len(x.ids) }

// Dim returns the dimension of the vectors.
func (x *Exact) Dim() int { return x.dim }

// Kind returns KindExact.
func (x *Exact) Kind() string { return KindExact }

// Search appends the k best hits for q to dst; see Index.
func (x *Exact) Search(q []float32, k int, dst []Hit) ([]Hit, error) {
	if err := checkQuery(q, x.dim); err != nil {
		return dst, err
	}
	k = min(k, len(x.ids))
	if k <= 0 {
		return dst, nil
	}
	dst, h := topIn(dst, k)
	row := 0
	for _, b := range x.vecs.blocks {
		m := len(b) / x.dim
		for i, id := range x.ids[row : row+m] {
			c := Hit{ID: id, Score: dot(q, b[i*x.dim:(i+1)*x.dim])}
			if len(h) < k || !worse(c, h[0]) {
				h = offer(h, k, c)
			}
		}
		row += m
	}
	sortBest(h)
	return dst[:len(dst)+len(h)], nil
}
