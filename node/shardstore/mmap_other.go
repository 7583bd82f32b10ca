//go:build !unix

package shardstore

import (
	"io"
	"os"
)

// Without mmap the postings stay on the heap.
func mapFile(_ *os.File, size int) ([]byte, error) { return make([]byte, size), nil }

func unmap([]byte) error { return nil }

func mapReadOnly(f *os.File, size int) ([]byte, error) {
	b := make([]byte, size)
	_, err := io.ReadFull(f, b)
	return b, err
}
