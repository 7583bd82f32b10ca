//go:build unix

package vector

import (
	"os"
	"syscall"
)

// mapPrivate maps f copy-on-write: the graph may change the pages, the
// file never sees it.
func mapPrivate(f *os.File, size int) ([]byte, error) {
	return syscall.Mmap(int(f.Fd()), 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE)
}

func unmap(b []byte) error { return syscall.Munmap(b) }
