package vector

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"unsafe"
)

// LoadCompactMapped loads the compact graph stored (by WriteTo) in data, with
// store holding its vectors, as LoadCompact does, but uses data in place
// instead of copying it: the codes and the layer-0 links, nearly all of the
// graph. data is meant to be a private mapping of the graph's file (see
// node/mapfile), whose pages the kernel reads in as the graph is walked and
// may drop again under memory pressure, so that they count as page cache
// rather than as the process's anonymous memory; links the graph changes
// later, as vectors are added, are then copied into the process page by
// page and never written back. Loading checks the checksum and every link,
// which touches each page once, but allocates and copies only the small
// per-node arrays. release is called with data once the graph is garbage
// (nil: nothing to release); on an error the caller still owns data.
func LoadCompactMapped(data []byte, release func([]byte), store VectorStore, cfg Config) (*HNSW, error) {
	h, err := loadCompactBytes(data, store, cfg)
	if err != nil {
		return nil, err
	}
	h.mapping = &mapping{data}
	if release != nil {
		runtime.AddCleanup(h.mapping, release, data)
	}
	return h, nil
}

// mapping owns the file pages a loaded graph points into. Only the graph
// refers to it, so it becomes garbage with the graph, and not before: a
// ReadFrom that copies another graph's fields copies this pointer too.
type mapping struct{ data []byte }

// loadCompactBytes reads a stored compact graph from memory, pointing the
// codes and layer-0 links into data where its layout allows (a
// little-endian machine, aligned sections) and copying them where not.
// data must stay unchanged for the graph's life.
func loadCompactBytes(data []byte, store VectorStore, cfg Config) (*HNSW, error) {
	d := newDecoder(nil)
	d.mem = data
	hd, err := readAs(d, KindHNSWInt8, cfg.Dim)
	if err != nil {
		return nil, err
	}
	h := NewCompactHNSW(Config{Dim: hd.dim, Rerank: cfg.Rerank}, store)
	if err := h.readBody(d, hd); err != nil {
		return nil, err
	}
	if d.n != int64(len(data)) {
		return nil, fmt.Errorf("vector: %d bytes follow the stored graph: %s", int64(len(data))-d.n, corrupt)
	}
	if err := h.checkStore(); err != nil {
		return nil, err
	}
	return h, nil
}

// littleEndian is whether this machine stores integers as the stored form
// does, so that the form's bytes can be used in place.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// viewRows points r at the next n rows of the decoder's memory instead of
// copying them, and reports whether it could: it needs a decoder over
// memory, a little-endian machine and rows that start aligned for T.
func viewRows[T uint32 | uint64](d *decoder, r *rows[T], n int) bool {
	var zero T
	size := int64(unsafe.Sizeof(zero))
	if d.mem == nil || d.err != nil || !littleEndian || n == 0 {
		return false
	}
	total := int64(n) * int64(r.width) * size
	if total > int64(len(d.mem))-d.n {
		return false // the copying path reports the truncation
	}
	if uintptr(unsafe.Pointer(&d.mem[d.n]))%uintptr(size) != 0 {
		return false
	}
	p := d.view(int(total))
	all := unsafe.Slice((*T)(unsafe.Pointer(&p[0])), n*r.width)
	for i := 0; i < n; i += blockRows {
		end := min(i+blockRows, n) * r.width
		// Capped at its length, so that growing the last block moves it
		// to the heap instead of writing past the section.
		r.blocks = append(r.blocks, all[i*r.width:end:end])
	}
	r.n = n
	return true
}
