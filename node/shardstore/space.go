package shardstore

import (
	"errors"
	"fmt"
	"syscall"
)

// ErrDiskFull reports a write refused because the disk holding the store is
// (nearly) full or read-only. Nothing of the write was stored.
var ErrDiskFull = errors.New("not enough free disk space for the store")

// DefaultReserve is the free space a store keeps: a memtable flush, the
// compactions it triggers and a new write-ahead log file fit in it.
const DefaultReserve = 64 << 20

// SpaceError says how much space there is and what the store needs.
type SpaceError struct {
	Dir                 string
	Free, Reserve, Need int64
	ReadOnly            bool // the file system refuses writes
	// Reopening: the store opened read-only on the full disk and becomes
	// writable by itself a few seconds after space is freed.
	Reopening bool
	Err       error
}

func (e *SpaceError) Error() string {
	if e.ReadOnly {
		return fmt.Sprintf("the store in %s is read-only (%v): remount the file system read-write, or move --data to a writable disk", e.Dir, e.Err)
	}
	if e.Reopening {
		return fmt.Sprintf("the disk holding %s was full when the node started, so its store is open read-only; it has %s free and the store needs %s: free at least %s on that disk by deleting other files there, and the store becomes writable again by itself within seconds (no restart)",
			e.Dir, mb(e.Free), mb(e.Reserve), mb(max(e.Need, e.Reserve-e.Free)))
	}
	return fmt.Sprintf("the disk holding %s has %s free and the store keeps %s in reserve so that it cannot crash mid-write; this write needs about %s more: free space on that disk (delete other files there, or documents or shards you no longer need) and retry",
		e.Dir, mb(e.Free), mb(e.Reserve), mb(e.Need))
}

func (e *SpaceError) Is(target error) bool { return target == ErrDiskFull }

func (e *SpaceError) Unwrap() error { return e.Err }

func mb(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }

// Space returns the free bytes on the store's disk and the bytes the store
// wants free before it accepts a write (the reserve). Badger writes its
// write-ahead and value logs through memory maps of sparse files: a page the
// disk has no block for kills the process with SIGBUS instead of returning
// an error. A write claims about its own size of those pages, so the write
// plus a reserve for the flushes and compactions it triggers (regular file
// writes, which fail with ENOSPC rather than crash) must be free before it.
func (s *Store) Space() (free, need int64, err error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(s.dir, &st); err != nil {
		return 0, 0, fmt.Errorf("free space of %s: %w", s.dir, err)
	}
	return int64(st.Bavail) * int64(st.Bsize), s.reserve, nil
}

// checkSpace refuses a write of about n bytes when the disk cannot take it
// with the reserve left over. It is checked on every write, so a node whose
// disk filled up accepts writes again by itself once space is freed.
func (s *Store) checkSpace(n int64) error {
	// Badger writes each value twice (log, then table) before compaction
	// reclaims one copy.
	return s.room(2 * n)
}

// room refuses to take n more bytes of the disk when that would leave less
// than the reserve free, for Badger's writes and the postings files beside
// the database alike: whatever eats the reserve turns Badger's next flush
// into a crash.
func (s *Store) room(n int64) error {
	if s.readOnly.Load() {
		s.nudge()
		if s.roFull.Load() {
			free, need, _ := s.Space()
			return &SpaceError{Dir: s.dir, Free: free, Reserve: need, Need: max(0, need+n-free), Reopening: true}
		}
		return &SpaceError{Dir: s.dir, ReadOnly: true, Err: errors.New("opened read-only")}
	}
	free, need, err := s.Space()
	if err != nil {
		return err
	}
	if free < need+n {
		return &SpaceError{Dir: s.dir, Free: free, Reserve: need, Need: need + n - free}
	}
	return nil
}

// diskErr turns the file system's "full" and "read-only" errors from Badger
// into ErrDiskFull, so callers answer 507 rather than 500.
func (s *Store) diskErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		free, need, _ := s.Space()
		return &SpaceError{Dir: s.dir, Free: free, Reserve: need, Err: err}
	case errors.Is(err, syscall.EROFS):
		return &SpaceError{Dir: s.dir, ReadOnly: true, Err: err}
	}
	return err
}

// ReadOnly reports whether the store is open read-only because its disk
// was full or not writable at start; it becomes writable by itself (RunGC)
// once the disk has room again.
func (s *Store) ReadOnly() bool { return s.readOnly.Load() }

// ReadOnlyFull reports whether the store is read-only because its disk was
// full (rather than not writable).
func (s *Store) ReadOnlyFull() bool { return s.readOnly.Load() && s.roFull.Load() }
