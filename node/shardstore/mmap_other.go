//go:build !unix

package shardstore

import "os"

// Without mmap the postings stay on the heap.
func mapFile(_ *os.File, size int) ([]byte, error) { return make([]byte, size), nil }

func unmap([]byte) error { return nil }
