//go:build !unix

package vector

import (
	"io"
	"os"
)

// mapPrivate reads f where there is no mmap.
func mapPrivate(f *os.File, size int) ([]byte, error) {
	b := make([]byte, size)
	_, err := io.ReadFull(f, b)
	return b, err
}

func unmap([]byte) error { return nil }
