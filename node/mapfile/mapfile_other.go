//go:build !unix

package mapfile

import (
	"io"
	"os"
)

// Without mmap a shared mapping is fresh heap memory (the arena's
// postings stay on the heap) and the others read the file.
func shared(_ *os.File, size int) ([]byte, error) { return make([]byte, size), nil }

func readOnly(f *os.File, size int) ([]byte, error) { return read(f, size) }

func private(f *os.File, size int) ([]byte, error) { return read(f, size) }

func read(f *os.File, size int) ([]byte, error) {
	b := make([]byte, size)
	_, err := io.ReadFull(f, b)
	return b, err
}

func unmap([]byte) error { return nil }
