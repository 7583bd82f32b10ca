package main

import (
	"context"
	"fmt"
	"io"

	"github.com/edgerag/edgerag/node/cmdline"
)

// runBackup handles 'edgerag backup FILE': a consistent copy of a running
// node's store, written to FILE only once it is complete.
func runBackup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cmdline.NewFlags("backup", "[--node URL] FILE", stderr)
	nf := cmdline.AddAPIFlags(fs, "http://127.0.0.1:8080", "the node")
	if err := cmdline.Parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageError("backup needs one FILE to write")
	}
	path := fs.Arg(0)
	n, err := cmdline.WriteFile(path, func(w io.Writer) (int64, error) { return nf.Client().Backup(ctx, w) })
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	fmt.Fprintf(stdout, "backup of %s written to %s (%d bytes); restore it with: edgerag restore --data NEWDIR %s\n", nf.URL, path, n, path)
	return nil
}
