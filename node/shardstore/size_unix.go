//go:build unix

package shardstore

import (
	"io/fs"
	"syscall"
)

// allocated is the disk space a file takes: Badger preallocates files
// sparsely, so their length overstates it.
func allocated(fi fs.FileInfo) int64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int64(st.Blocks) * 512
	}
	return fi.Size()
}
