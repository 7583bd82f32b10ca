package shardstore

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"

	"github.com/edgerag/edgerag/node/lexical"
	"github.com/edgerag/edgerag/node/mapfile"
)

// PostingsArena returns where the shards' frozen postings live: memory
// mapped from files under the store's directory, so that they are page
// cache the kernel can write back and drop under pressure rather than Go
// heap, which it cannot. Each allocation is its own file, removed from the
// directory as soon as it is mapped; the space returns when it is freed.
func (s *Store) PostingsArena() lexical.Arena {
	return fileArena{dir: filepath.Join(s.dir, "postings"), s: s}
}

// fileArena allocates under the store's free-space check: postings share
// the disk with the database and must leave it its reserve. A refused
// allocation leaves the postings in the index's heap tail, and the next
// freeze tries again.
type fileArena struct {
	dir string
	s   *Store
}

func (a fileArena) Alloc(size int) ([]byte, error) {
	if size == 0 {
		return nil, nil
	}
	if err := a.s.room(int64(size)); err != nil {
		return nil, fmt.Errorf("postings file of %d bytes: %w", size, err)
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
	if err := allocate(f, int64(size)); err != nil {
		return nil, fmt.Errorf("postings file of %d bytes: %w", size, a.s.diskErr(err))
	}
	b, err := mapfile.Shared(f, size)
	if err != nil {
		return nil, fmt.Errorf("map postings file of %d bytes: %w", size, err)
	}
	return b, nil
}

func (a fileArena) Free(b []byte) {
	if len(b) == 0 {
		return
	}
	if err := mapfile.Unmap(b); err != nil {
		a.s.log.Warn("unmap postings", "err", err)
	}
}

// snapshotPath names a shard's index snapshot; hex keeps any shard name a
// valid file name.
func (s *Store) snapshotPath(shardName string) string {
	return filepath.Join(s.dir, "postings", hex.EncodeToString([]byte(shardName))+".snap")
}

// WriteIndexSnapshot replaces a shard's index snapshot with what write
// produces, atomically: a crash leaves the old file or the new one.
//
// The snapshot must leave the database its reserve: it is refused on a disk
// below it, and abandoned (the old file kept) when the disk falls below half
// of it while writing; it is written again at the next save.
func (s *Store) WriteIndexSnapshot(shardName string, write func(io.Writer) error) error {
	if err := s.room(0); err != nil {
		return fmt.Errorf("index snapshot of shard %q: %w", shardName, err)
	}
	path := s.snapshotPath(shardName)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("index snapshot: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), "snap-*")
	if err != nil {
		return fmt.Errorf("index snapshot: %w", err)
	}
	defer os.Remove(f.Name()) // fails harmlessly once renamed
	err = write(&roomWriter{f: f, s: s})
	if err == nil && !s.noSync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("index snapshot of shard %q: %w", shardName, s.diskErr(err))
	}
	return nil
}

// roomWriter writes a snapshot file, checking the disk's free space every
// few megabytes so that a large snapshot cannot eat the reserve.
type roomWriter struct {
	f       *os.File
	s       *Store
	pending int
}

func (w *roomWriter) Write(p []byte) (int, error) {
	if w.pending += len(p); w.pending >= 4<<20 {
		w.pending = 0
		if free, need, err := w.s.Space(); err == nil && free < need/2 {
			return 0, &SpaceError{Dir: w.s.dir, Free: free, Reserve: need, Need: need - free}
		}
	}
	return w.f.Write(p)
}

// OpenIndexSnapshot maps a shard's index snapshot read-only. release unmaps
// it; ErrNotFound means there is none.
func (s *Store) OpenIndexSnapshot(shardName string) (b []byte, release func(), err error) {
	f, err := os.Open(s.snapshotPath(shardName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("index snapshot of shard %q: %w", shardName, ErrNotFound)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("index snapshot: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("index snapshot: %w", err)
	}
	if fi.Size() == 0 || fi.Size() > math.MaxInt32*8 {
		return nil, nil, fmt.Errorf("index snapshot of shard %q: size %d: %w", shardName, fi.Size(), ErrNotFound)
	}
	b, err = mapfile.ReadOnly(f, int(fi.Size()))
	if err != nil {
		return nil, nil, fmt.Errorf("map index snapshot: %w", err)
	}
	return b, func() {
		if err := mapfile.Unmap(b); err != nil {
			s.log.Warn("unmap index snapshot", "err", err)
		}
	}, nil
}

// RemoveIndexSnapshot deletes a shard's index snapshot, if any.
func (s *Store) RemoveIndexSnapshot(shardName string) {
	if err := os.Remove(s.snapshotPath(shardName)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.log.Warn("remove index snapshot", "shard", shardName, "err", err)
	}
}
