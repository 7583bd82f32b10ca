package main

import (
	"context"
	"io"

	"github.com/edgerag/edgerag/node/cliprint"
	"github.com/edgerag/edgerag/node/cmdline"
)

// runShards handles 'edgerag shards': the shards a node holds, with their
// versions and, on an edge that follows fleet sync, the sync state.
func runShards(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cmdline.NewFlags("shards", "[--node URL] [--json]", stderr)
	nf := cmdline.AddAPIFlags(fs, "http://127.0.0.1:8080", "the node")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := cmdline.ParseNoArgs(fs, args); err != nil {
		return err
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
