package shardstore

import (
	"errors"
	"os"
	"syscall"
)

// allocate gives f size bytes with their disk blocks taken now. A sparse
// file (Truncate) gets its blocks when its mapping is first written, and a
// disk that has none left then kills the process with SIGBUS; fallocate
// fails with ENOSPC instead.
func allocate(f *os.File, size int64) error {
	err := syscall.Fallocate(int(f.Fd()), 0, 0, size)
	if errors.Is(err, syscall.EOPNOTSUPP) || errors.Is(err, syscall.ENOSYS) {
		return f.Truncate(size) // the file system cannot; the reserve check still holds
	}
	return err
}
