package shardstore

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/edgerag/edgerag/node/shard"
)

// errClosed is returned by every use of a store that is closed, or whose
// database could not be reopened (see reopen).
var errClosed = errors.New("the shard store is closed")

// Open opens or creates the store in opts.Dir.
//
// On a disk with less than the reserve free, the store opens read-only and
// says so (ReadOnly); RunGC reopens it for writing once space returns.
// Badger writes through memory maps of sparse files, so any read-write open
// (a new write-ahead log, the flush of the one a stop left behind) faults
// with SIGBUS on a disk with no block left; a read-only open writes nothing.
func Open(opts Options) (*Store, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Dir == "" {
		return nil, errors.New("open shard store: no data directory given (use --data DIR)")
	}
	s := &Store{log: log, dir: opts.Dir, noSync: opts.NoSync, reserve: opts.Reserve,
		refs: make(map[shard.ChunkID]int32), kick: make(chan struct{}, 1)}
	if s.reserve <= 0 {
		s.reserve = DefaultReserve
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil && !errors.Is(err, syscall.EROFS) {
		return nil, fmt.Errorf("open shard store: %w", err)
	}
	exists := storeExists(opts.Dir)
	free, need, spaceErr := s.Space()
	readOnly := false
	switch {
	case spaceErr == nil && free < need && !exists:
		return nil, fmt.Errorf("create shard store: %w", &SpaceError{Dir: opts.Dir, Free: free, Reserve: need, Need: need - free})
	case spaceErr == nil && free < need:
		log.Warn("the disk is full: opening the store read-only; writes are refused until space is freed, then the store reopens for writing by itself",
			"dir", opts.Dir, "free_mb", free>>20, "reserve_mb", need>>20)
		readOnly = true
		s.roFull.Store(true)
	case exists && !writable(opts.Dir):
		log.Warn("the data directory is not writable: opening the store read-only", "dir", opts.Dir)
		readOnly = true
	}
	db, err := s.openDB(readOnly)
	if err != nil && !readOnly && exists && errors.Is(s.diskErr(err), ErrDiskFull) {
		log.Warn("the store cannot be opened for writing: opening it read-only", "dir", opts.Dir, "err", err)
		readOnly = true
		s.roFull.Store(!errors.Is(err, syscall.EROFS))
		db, err = s.openDB(true)
	}
	if err != nil {
		return nil, fmt.Errorf("open shard store in %s: %w", opts.Dir, s.diskErr(err))
	}
	s.db = db
	s.readOnly.Store(readOnly)
	return s, nil
}

// openDB opens the Badger database. Read-only, Badger refuses a
// write-ahead log longer than its last whole entry (what a kill or a stop
// that could not flush leaves); a read-write open would trim it, but also
// map a new log, which faults on a full disk. So the log is trimmed here, at
// the offset Badger reported, which is all its read-write open would do to
// it: trimming takes no block, it only returns some.
func (s *Store) openDB(readOnly bool) (*badger.DB, error) {
	for range 8 { // one trim per write-ahead log; Badger keeps at most three
		db, err := badger.Open(badgerOptions(s.dir, !s.noSync, readOnly, s.log))
		if err == nil || !readOnly {
			return db, err
		}
		path, end, ok := truncateNeeded(s.dir, err)
		if !ok {
			return nil, err
		}
		s.log.Warn("trimming the unwritten tail of a write-ahead log so the store opens read-only", "file", path, "bytes", end)
		if terr := os.Truncate(path, end); terr != nil {
			return nil, fmt.Errorf("%w (trimming %s: %w)", err, path, terr)
		}
	}
	return nil, errors.New("the store's write-ahead logs still need trimming after 8 trims")
}

// truncateMsg is how Badger v4 reports a memtable log that needs trimming
// (ErrTruncateNeeded, wrapped as text, so errors.Is cannot find it).
var truncateMsg = regexp.MustCompile(`while opening fid: (\d+) .*end offset: (\d+) < size: (\d+)`)

// truncateNeeded finds, in a read-only open's error, the write-ahead log to
// trim and where its last whole entry ends. It checks the file still has the
// size Badger saw, so it never trims a file it misread.
func truncateNeeded(dir string, err error) (path string, end int64, ok bool) {
	if !errors.Is(err, badger.ErrTruncateNeeded) && !truncateMsg.MatchString(err.Error()) {
		return "", 0, false
	}
	m := truncateMsg.FindStringSubmatch(err.Error())
	if m == nil {
		return "", 0, false
	}
	fid, _ := strconv.Atoi(m[1])
	end, _ = strconv.ParseInt(m[2], 10, 64)
	size, _ := strconv.ParseInt(m[3], 10, 64)
	path = filepath.Join(dir, fmt.Sprintf("%05d.mem", fid))
	fi, serr := os.Stat(path)
	if serr != nil || fi.Size() != size || end >= size || end < 0 {
		return "", 0, false
	}
	return path, end, true
}

// storeExists reports whether dir holds a Badger database: a new, empty
// store cannot be opened read-only.
func storeExists(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, "MANIFEST"))
	return err == nil
}

// writable reports whether a file can be created in dir (a read-only
// mount cannot).
func writable(dir string) bool {
	f, err := os.CreateTemp(dir, ".probe-*")
	if err != nil {
		return false
	}
	_ = f.Close()
	_ = os.Remove(f.Name())
	return true
}

// flushNeed is the free space a read-write close needs: Badger flushes
// every memtable into a table file through a memory map.
func (s *Store) flushNeed() int64 { return min(s.reserve, 2*memTableSize+8<<20) }

// Close flushes and closes the database. On a disk without room for the
// flush it leaves the write-ahead log for the next start instead (it is
// already durable): the flush would fault rather than fail.
func (s *Store) Close() error {
	s.drain(5*time.Second, false)
	defer s.dbMu.Unlock()
	if s.db == nil {
		return nil
	}
	db := s.db
	s.db = nil
	if !s.readOnly.Load() {
		if free, _, err := s.Space(); err == nil && free < s.flushNeed() {
			s.log.Warn("the disk is full: closing without flushing the write-ahead log, which the next start reads back",
				"dir", s.dir, "free_mb", free>>20)
			return nil
		}
	}
	if err := db.Close(); err != nil {
		return fmt.Errorf("close shard store: %w", err)
	}
	return nil
}

// drain takes dbMu for writing once the reads in flight are done, holding
// new reads back at the gate meanwhile. It does not queue on the lock: a
// waiting writer blocks new readers, and a read that reads again inside its
// callback would wait for itself. For the same reason it opens the gate
// after limit: then it gives up (returning false) when giveUp is set, else
// it goes on waiting for the lock while reads come and go.
func (s *Store) drain(limit time.Duration, giveUp bool) bool {
	gate := make(chan struct{})
	s.gate.Store(&gate)
	open := func() {
		if s.gate.CompareAndSwap(&gate, nil) {
			close(gate)
		}
	}
	defer open()
	deadline := time.Now().Add(limit)
	for !s.dbMu.TryLock() {
		if time.Now().After(deadline) {
			if giveUp {
				return false
			}
			open()
		}
		time.Sleep(time.Millisecond)
	}
	return true
}

// use returns the database, which stays open (no reopen swaps it) until
// done is called.
func (s *Store) use() (db *badger.DB, done func(), err error) {
	if g := s.gate.Load(); g != nil {
		<-*g // a reopen is draining the reads in flight
	}
	s.dbMu.RLock()
	if s.db == nil {
		s.dbMu.RUnlock()
		return nil, nil, errClosed
	}
	return s.db, s.dbMu.RUnlock, nil
}

func (s *Store) view(fn func(*badger.Txn) error) error {
	db, done, err := s.use()
	if err != nil {
		return err
	}
	defer done()
	return db.View(fn)
}

func (s *Store) update(fn func(*badger.Txn) error) error {
	db, done, err := s.use()
	if err != nil {
		return err
	}
	defer done()
	return db.Update(fn)
}

// begin starts a read-write transaction; end discards it if it was not
// committed and releases the database.
func (s *Store) begin() (txn *badger.Txn, end func(), err error) {
	db, done, err := s.use()
	if err != nil {
		return nil, nil, err
	}
	txn = db.NewTransaction(true)
	return txn, func() { txn.Discard(); done() }, nil
}

func (s *Store) batch() (wb *badger.WriteBatch, end func(), err error) {
	db, done, err := s.use()
	if err != nil {
		return nil, nil, err
	}
	wb = db.NewWriteBatch()
	return wb, func() { wb.Cancel(); done() }, nil
}

// reopen makes a store that opened read-only writable once its disk has
// the reserve free and takes files again. It swaps the database when no
// read is in flight: new reads wait at the gate while those in flight
// finish, and if they do not within a second (a read that reads again from
// inside its callback waits at the gate for itself) it opens the gate and
// gives up for now, returning false.
func (s *Store) reopen() bool {
	if !s.readOnly.Load() {
		return true
	}
	if free, need, err := s.Space(); err != nil || free < need || !writable(s.dir) {
		return false
	}
	if !s.drain(time.Second, true) {
		return false
	}
	defer s.dbMu.Unlock()
	if s.db == nil {
		return false // closed
	}
	if err := s.db.Close(); err != nil {
		s.log.Warn("closing the read-only store to reopen it", "err", err)
	}
	db, err := s.openDB(false)
	if err != nil {
		s.log.Warn("the store could not be reopened for writing; staying read-only", "dir", s.dir, "err", err)
		if db, err = s.openDB(true); err != nil {
			s.log.Error("the store could not be reopened at all; restart the node", "dir", s.dir, "err", err)
			s.db = nil
			return false
		}
		s.db = db
		return false
	}
	s.db = db
	s.readOnly.Store(false)
	s.roFull.Store(false)
	s.log.Info("space is back: the store is writable again", "dir", s.dir)
	return true
}

// nudge asks the maintenance loop to try reopening now rather than at its
// next tick: a refused write is the moment someone may just have freed
// space.
func (s *Store) nudge() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}
