package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/edgerag/edgerag/node/cmdline"
	"github.com/edgerag/edgerag/node/shardstore"
)

// runRestore handles 'edgerag restore --data DIR FILE': a backup loaded into
// a new data directory, which a node is then started on.
func runRestore(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cmdline.NewFlags("restore", "--data DIR FILE", stderr)
	dir := fs.String("data", "", "new data directory to create (must not exist or be empty)")
	if err := cmdline.Parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 || *dir == "" {
		return usageError("restore needs --data DIR and one backup FILE")
	}
	f, err := os.Open(fs.Arg(0))
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer f.Close()
	if err := shardstore.Restore(*dir, f, nil); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "restored %s into %s; start the node with: edgerag serve --data %s\n(the API tokens of the backed-up node work on it: the backup carries them, hashed)\n", fs.Arg(0), *dir, *dir)
	return nil
}
