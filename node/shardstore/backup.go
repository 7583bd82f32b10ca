package shardstore

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
)

// backupMagic starts every backup, so that restore refuses another file
// before Badger's loader reads lengths out of it.
const backupMagic = "edgerag store backup v1\n"

// Backup writes a consistent copy of the database to w: backupMagic, then
// Badger's backup format, every live key as of one read timestamp, so
// writes during the backup are either wholly in it or not at all.
func (s *Store) Backup(w io.Writer) (int64, error) {
	cw := &countingWriter{w: w}
	if _, err := io.WriteString(cw, backupMagic); err != nil {
		return cw.n, fmt.Errorf("back up the store: %w", err)
	}
	db, done, err := s.use()
	if err != nil {
		return 0, err
	}
	defer done()
	if _, err := db.Backup(cw, 0); err != nil {
		return cw.n, fmt.Errorf("back up the store: %w", err)
	}
	return cw.n, nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// Restore creates a store in dir from a backup. dir must not hold a store
// already: restoring over one would merge two histories.
func Restore(dir string, r io.Reader, log *slog.Logger) (err error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	head := make([]byte, len(backupMagic))
	if _, err := io.ReadFull(r, head); err != nil || string(head) != backupMagic {
		return errors.New("restore: the file is not an edgerag backup (edgerag backup FILE writes one)")
	}
	entries, err := os.ReadDir(dir)
	switch {
	case err == nil && len(entries) > 0:
		return fmt.Errorf("restore into %s: the directory is not empty; restore into a new one and start the node on it", dir)
	case err != nil && !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("restore into %s: %w", dir, err)
	}
	s, err := Open(Options{Dir: dir, Logger: log})
	if err != nil {
		return err
	}
	defer func() {
		// Badger's loader panics on some damaged input rather than
		// failing; a damaged backup is an error like any other.
		if p := recover(); p != nil {
			err = fmt.Errorf("restore into %s: the backup is damaged (%v); remove %s and restore an intact copy", dir, p, dir)
		}
		if cerr := s.Close(); err == nil {
			err = cerr
		}
	}()
	db, done, err := s.use()
	if err != nil {
		return err
	}
	defer done()
	if err := db.Load(r, 256); err != nil {
		return fmt.Errorf("restore into %s: the backup is damaged or cut short: %w; remove %s and restore an intact copy", dir, err, dir)
	}
	return nil
}
