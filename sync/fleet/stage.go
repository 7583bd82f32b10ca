package fleet

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/edgerag/edgerag/sync/manifest"
)

// stageLog holds the chunk records of a version being fetched, one append
// per verified record: hash (16 bytes), length (4 bytes, big-endian),
// record. Appends are plain writes, not fsyncs, so staging a record costs
// microseconds, and a killed process loses at most the record it was
// writing (the kernel keeps the rest); a torn or corrupt tail is cut off
// when the log is reopened, since every entry is checked against its hash.
// The log is fsynced before the version is applied and deleted after.
//
// Badger would fsync every commit; one commit per record is too slow, and
// one per batch would lose a whole verified batch to a kill.
type stageLog struct {
	f    *os.File
	path string
	size int64
	at   map[manifest.Hash]int64 // offset of each record's length field
}

const stageHeader = 16 + 4

// openStage opens or creates the log of a shard in dir, keeping every
// intact entry.
func openStage(dir, shardName string) (*stageLog, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("staging directory: %w", err)
	}
	path := filepath.Join(dir, shardName+".stage")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open staging log: %w", err)
	}
	l := &stageLog{f: f, path: path, at: make(map[manifest.Hash]int64)}
	if err := l.scan(); err != nil {
		f.Close()
		return nil, err
	}
	return l, nil
}

func (l *stageLog) scan() error {
	r := bufio.NewReaderSize(io.NewSectionReader(l.f, 0, 1<<62), 256<<10)
	var off int64
	var hdr [stageHeader]byte
	var buf []byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			break // end, or a torn header
		}
		n := binary.BigEndian.Uint32(hdr[16:])
		if n == 0 || n > manifest.MaxChunkSize {
			break
		}
		if cap(buf) < int(n) {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		if _, err := io.ReadFull(r, buf); err != nil {
			break
		}
		var h manifest.Hash
		copy(h[:], hdr[:16])
		if manifest.HashOf(buf) != h {
			break
		}
		l.at[h] = off + 16
		off += stageHeader + int64(n)
	}
	// Whatever follows the last intact entry was being written when the
	// process died.
	if err := l.f.Truncate(off); err != nil {
		return fmt.Errorf("trim staging log: %w", err)
	}
	l.size = off
	return nil
}

func (l *stageLog) has(h manifest.Hash) bool { _, ok := l.at[h]; return ok }

func (l *stageLog) len() int { return len(l.at) }

// append stores a verified record.
func (l *stageLog) append(h manifest.Hash, rec []byte) error {
	if l.has(h) {
		return nil
	}
	b := make([]byte, 0, stageHeader+len(rec))
	b = append(b, h[:]...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(rec)))
	b = append(b, rec...)
	if _, err := l.f.WriteAt(b, l.size); err != nil {
		return fmt.Errorf("write staging log: %w", err)
	}
	l.at[h] = l.size + 16
	l.size += int64(len(b))
	return nil
}

// get reads a staged record.
func (l *stageLog) get(h manifest.Hash) ([]byte, error) {
	off, ok := l.at[h]
	if !ok {
		return nil, fmt.Errorf("chunk %s is not staged", h)
	}
	var nb [4]byte
	if _, err := l.f.ReadAt(nb[:], off); err != nil {
		return nil, fmt.Errorf("read staging log: %w", err)
	}
	rec := make([]byte, binary.BigEndian.Uint32(nb[:]))
	if _, err := l.f.ReadAt(rec, off+4); err != nil {
		return nil, fmt.Errorf("read staging log: %w", err)
	}
	return rec, nil
}

func (l *stageLog) sync() error {
	if err := l.f.Sync(); err != nil {
		return fmt.Errorf("sync staging log: %w", err)
	}
	return nil
}

func (l *stageLog) close() error { return l.f.Close() }

// remove closes and deletes the log.
func (l *stageLog) remove() error {
	err := l.f.Close()
	if rerr := os.Remove(l.path); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
		err = errors.Join(err, rerr)
	}
	return err
}
