//go:build !unix

package shardstore

import "io/fs"

// allocated is the file's length where the allocated size is not known.
func allocated(fi fs.FileInfo) int64 { return fi.Size() }
