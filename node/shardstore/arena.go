package shardstore

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/edgerag/edgerag/node/lexical"
)

// PostingsArena returns where the shards' frozen postings live: memory
// mapped from files under the store's directory, so that they are page
// cache the kernel can write back and drop under pressure rather than Go
// heap, which it cannot. Each allocation is its own file, removed from the
// directory as soon as it is mapped; the space returns when it is freed.
func (s *Store) PostingsArena() lexical.Arena {
	return fileArena{dir: filepath.Join(s.dir, "postings"), log: s.log}
}

type fileArena struct {
	dir string
	log interface{ Warn(string, ...any) }
}

func (a fileArena) Alloc(size int) ([]byte, error) {
	if size == 0 {
		return nil, nil
	}
	if err := os.MkdirAll(a.dir, 0o700); err != nil {
		return nil, fmt.Errorf("postings directory: %w", err)
	}
	f, err := os.CreateTemp(a.dir, "blocks-*")
	if err != nil {
		return nil, fmt.Errorf("postings file: %w", err)
	}
	defer f.Close()
	// Unlinked at once: a crash leaves nothing behind, and the mapping keeps
	// the blocks readable until freed.
	if err := os.Remove(f.Name()); err != nil {
		return nil, fmt.Errorf("postings file: %w", err)
	}
	if err := f.Truncate(int64(size)); err != nil {
		return nil, fmt.Errorf("postings file of %d bytes: %w", size, err)
	}
	b, err := mapFile(f, size)
	if err != nil {
		return nil, fmt.Errorf("map postings file of %d bytes: %w", size, err)
	}
	return b, nil
}

func (a fileArena) Free(b []byte) {
	if len(b) == 0 {
		return
	}
	if err := unmap(b); err != nil {
		a.log.Warn("unmap postings", "err", err)
	}
}
