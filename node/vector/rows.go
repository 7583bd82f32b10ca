package vector

import "slices"

// blockShift sets how many rows share one allocation (1<<blockShift). Rows
// live in blocks rather than one slice for two reasons: growing a 150 MB
// slice would copy it and for a moment need twice the memory, which a 1 GB
// device cannot spare; and a loader can allocate block by block as bytes
// arrive, so a forged row count in a file costs at most one block.
const (
	blockShift = 10
	blockRows  = 1 << blockShift
	blockMask  = blockRows - 1
)

// rows is a growable table of fixed-width rows of T.
type rows[T any] struct {
	width  int
	blocks [][]T // every block but the last holds exactly blockRows rows
	n      int
}

func newRows[T any](width int) rows[T] { return rows[T]{width: width} }

func (r *rows[T]) len() int { return r.n }

// at returns row i; it is only valid until the next grow or shrink.
func (r *rows[T]) at(i int) []T {
	b := r.blocks[i>>blockShift]
	off := (i & blockMask) * r.width
	return b[off : off+r.width : off+r.width]
}

// grow appends a zeroed row and returns it.
func (r *rows[T]) grow() []T {
	if r.n&blockMask == 0 {
		// The first block starts small so a shard of ten vectors does not
		// hold a full block; later blocks are needed whole.
		c := r.width * blockRows
		if len(r.blocks) == 0 {
			c = r.width * 8
		}
		r.blocks = append(r.blocks, make([]T, 0, c))
	}
	last := &r.blocks[len(r.blocks)-1]
	b := slices.Grow(*last, r.width)
	b = b[:len(b)+r.width]
	clear(b[len(b)-r.width:])
	*last = b
	r.n++
	return r.at(r.n - 1)
}

// shrink drops the last row, releasing its block when it empties.
func (r *rows[T]) shrink() {
	r.n--
	last := len(r.blocks) - 1
	r.blocks[last] = r.blocks[last][:len(r.blocks[last])-r.width]
	if len(r.blocks[last]) == 0 && last > 0 {
		r.blocks[last] = nil
		r.blocks = r.blocks[:last]
	}
}
