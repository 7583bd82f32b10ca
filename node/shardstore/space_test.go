package shardstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgerag/edgerag/node/shard"
)

// TestPostingsKeepTheReserve: postings files and index snapshots share the
// disk with the database, so on a disk below the reserve they are refused
// with ErrDiskFull (the index keeps its postings on the heap, the old
// snapshot stays whole), never written into space Badger needs.
func TestPostingsKeepTheReserve(t *testing.T) {
	s := open(t, t.TempDir())
	defer s.Close()
	old := []byte("the snapshot before the disk filled")
	if err := s.WriteIndexSnapshot("a", func(w io.Writer) error { _, err := w.Write(old); return err }); err != nil {
		t.Fatal(err)
	}
	b, err := s.PostingsArena().Alloc(1 << 20)
	if err != nil {
		t.Fatalf("postings with room: %v", err)
	}
	s.PostingsArena().Free(b)

	s.reserve = 1 << 62 // more than any disk has: the disk is "full"
	if _, err := s.PostingsArena().Alloc(1 << 20); !errors.Is(err, ErrDiskFull) {
		t.Errorf("postings on a full disk: %v, want ErrDiskFull", err)
	}
	err = s.WriteIndexSnapshot("a", func(w io.Writer) error { _, err := w.Write([]byte("new")); return err })
	if !errors.Is(err, ErrDiskFull) {
		t.Errorf("snapshot on a full disk: %v, want ErrDiskFull", err)
	}
	got, release, err := s.OpenIndexSnapshot("a")
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	if !bytes.Equal(got, old) {
		t.Errorf("snapshot after a refused write: %q, want the old one %q", got, old)
	}
	left, _ := filepath.Glob(filepath.Join(s.dir, "postings", "snap-*"))
	if len(left) != 0 {
		t.Errorf("a refused snapshot left files behind: %v", left)
	}
}

func TestTruncateNeeded(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "00003.mem"), make([]byte, 4096), 0o600); err != nil {
		t.Fatal(err)
	}
	msg := func(fid, end, size int) error {
		return fmt.Errorf("while opening memtables error: while opening fid: %d error: while updating skiplist error: end offset: %d < size: %d error: Log truncate required to run DB. This might result in data loss", fid, end, size)
	}
	for _, c := range []struct {
		name string
		err  error
		end  int64
		ok   bool
	}{
		{"badger's report", msg(3, 1000, 4096), 1000, true},
		{"size changed since", msg(3, 1000, 8192), 0, false},
		{"no such file", msg(4, 1000, 4096), 0, false},
		{"end past size", msg(3, 5000, 4096), 0, false},
		{"another error", errors.New("manifest damaged"), 0, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			path, end, ok := truncateNeeded(dir, c.err)
			if ok != c.ok || end != c.end || (ok && path != filepath.Join(dir, "00003.mem")) {
				t.Errorf("truncateNeeded = %q %d %v, want %d %v", path, end, ok, c.end, c.ok)
			}
		})
	}
}

// TestReopenUnderReads turns a read-only store writable while readers keep
// reading: no read fails or sees a closed database, and writes work after.
func TestReopenUnderReads(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	ctx := context.Background()
	w := Write{Shard: "s", Puts: []DocWrite{docWrite("d1", "alpha text", "beta text")}, Now: time.Unix(2, 0)}
	if _, err := s.Apply(ctx, w); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// As Open does on a full disk.
	s = &Store{dir: dir, noSync: true, log: s.log, reserve: 1 << 20, refs: map[shard.ChunkID]int32{}, kick: make(chan struct{}, 1)}
	db, err := s.openDB(true)
	if err != nil {
		t.Fatal(err)
	}
	s.db = db
	s.readOnly.Store(true)
	s.roFull.Store(true)
	defer s.Close()

	ids := []shard.ChunkID{shard.HashText("alpha text")}
	if _, err := s.Apply(ctx, Write{Shard: "s", Puts: []DocWrite{docWrite("d2", "gamma")}, Now: time.Unix(3, 0)}); !errors.Is(err, ErrDiskFull) {
		t.Fatalf("write to a read-only store: %v, want ErrDiskFull", err)
	}
	var stop atomic.Bool
	var reads atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				txt, err := s.Texts(ids)
				if err != nil || txt[0] != "alpha text" {
					errs <- fmt.Errorf("read during reopen: %q %v", txt, err)
					return
				}
				reads.Add(1)
			}
		}()
	}
	time.Sleep(20 * time.Millisecond)
	reopened := false
	for i := 0; i < 20 && !reopened; i++ {
		reopened = s.reopen()
	}
	time.Sleep(20 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if !reopened || s.ReadOnly() {
		t.Fatalf("the store did not become writable (reopened %v, read-only %v)", reopened, s.ReadOnly())
	}
	if _, err := s.Apply(ctx, Write{Shard: "s", Puts: []DocWrite{docWrite("d2", "gamma")}, Now: time.Unix(3, 0)}); err != nil {
		t.Fatalf("write after the reopen: %v", err)
	}
	if l := load(t, s); len(l.docs) != 2 {
		t.Errorf("documents after the reopen: %d, want 2", len(l.docs))
	}
	t.Logf("%d reads during the reopen", reads.Load())
}
