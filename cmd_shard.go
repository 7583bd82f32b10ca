package main

import (
	"context"
	"fmt"
	"io"

	"github.com/edgerag/edgerag/node/cmdline"
)

// runShard handles 'edgerag shard rollback NAME'.
func runShard(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "rollback" {
		return usageError("usage: edgerag shard rollback [--node URL] NAME")
	}
	fs := cmdline.NewFlags("shard rollback", "[--node URL] NAME", stderr)
	nf := cmdline.AddAPIFlags(fs, "http://127.0.0.1:8080", "the edge")
	if err := cmdline.Parse(fs, args[1:]); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageError("shard rollback needs one shard name")
	}
	res, err := nf.Client().RollbackShard(ctx, fs.Arg(0))
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "shard %s rolled back from version %d to %d\n", res.Shard, res.From, res.To)
	return nil
}
