// Package mapfile maps files into memory, the one place the node does: the
// index arena and snapshots (node/shardstore) and the compact dense graphs
// (node/dense). Where the platform has no mmap, each function reads or
// allocates instead, so callers work alike, with the data on the heap.
package mapfile

import (
	"fmt"
	"math"
	"os"
)

// Shared maps size bytes of f read-write; writes go to the file.
func Shared(f *os.File, size int) ([]byte, error) { return shared(f, size) }

// ReadOnly maps size bytes of f for reading.
func ReadOnly(f *os.File, size int) ([]byte, error) { return readOnly(f, size) }

// Private maps size bytes of f copy-on-write: the caller may change the
// pages, the file never sees it.
func Private(f *os.File, size int) ([]byte, error) { return private(f, size) }

// Unmap releases a mapping made by this package.
func Unmap(b []byte) error { return unmap(b) }

// OpenPrivate maps the whole file at path copy-on-write (see Private); the
// file itself is closed again, the mapping outlives it. Release it with
// Unmap.
func OpenPrivate(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Size() > math.MaxInt || fi.Size() <= 0 {
		return nil, fmt.Errorf("%s has %d bytes, which this machine cannot map", path, fi.Size())
	}
	b, err := private(f, int(fi.Size()))
	if err != nil {
		return nil, fmt.Errorf("map %s: %w", path, err)
	}
	return b, nil
}
