package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// runBackup handles 'edgerag backup FILE': a consistent copy of a running
// node's store, written to FILE only once it is complete.
func runBackup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("backup", "[--node URL] FILE", stderr)
	nf := newAPIFlags(fs, "http://127.0.0.1:8080", "the node")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageError{"backup needs one FILE to write"}
	}
	path := fs.Arg(0)
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".partial-*")
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	n, err := nf.client().Backup(ctx, tmp)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	fmt.Fprintf(stdout, "backup of %s written to %s (%d bytes); restore it with: edgerag restore --data NEWDIR %s\n", nf.url, path, n, path)
	return nil
}
