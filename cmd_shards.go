package main

import (
	"context"
	"fmt"
	"io"

	"github.com/edgerag/edgerag/node/cliprint"
	"github.com/edgerag/edgerag/node/cmdline"
)

// runShards handles 'edgerag shards': the shards a node holds, with their
// versions and, on an edge that follows fleet sync, the sync state.
func runShards(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("shards", "[--node URL] [--json]", stderr)
	nf := cmdline.AddAPIFlags(fs, "http://127.0.0.1:8080", "the node")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usageError{fmt.Sprintf("shards takes no arguments, got %q", fs.Args())}
	}
	st, err := nf.Client().Status(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		return cliprint.JSON(stdout, st.Shards)
	}
	return cliprint.Shards(stdout, st)
}
