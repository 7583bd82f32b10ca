package main

import (
	"context"
	"fmt"
	"io"

	"github.com/edgerag/edgerag/node/cliprint"
	"github.com/edgerag/edgerag/node/cmdline"
)

// runDocs handles 'edgerag docs list|get|delete'.
func runDocs(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, groupUsage["docs"])
		return usageError("docs needs a command: list, get or delete")
	}
	sub := args[0]
	synopsis := map[string]string{"list": "[--node URL] [--shard NAME] [--limit N] [--json]", "get": "[--node URL] [--shard NAME] [--json] ID", "delete": "[--node URL] [--shard NAME] ID"}[sub]
	if synopsis == "" {
		fmt.Fprint(stderr, groupUsage["docs"])
		return usageError(fmt.Sprintf("unknown docs command %q: use list, get or delete", sub))
	}
	fs := cmdline.NewFlags("docs "+sub, synopsis, stderr)
	nf := cmdline.AddAPIFlags(fs, "http://127.0.0.1:8080", "the node")
	shardName := fs.String("shard", "", "shard (default: the node's default shard)")
	var asJSON *bool
	var limit *int
	if sub != "delete" {
		asJSON = fs.Bool("json", false, "print JSON")
	}
	if sub == "list" {
		limit = fs.Int("limit", 0, "list at most this many (0: all)")
	}
	if err := cmdline.Parse(fs, args[1:]); err != nil {
		return err
	}
	c := nf.Client()
	switch sub {
	case "list":
		if fs.NArg() != 0 {
			return usageError(fmt.Sprintf("docs list takes no arguments, got %q", fs.Args()))
		}
		all, err := c.Documents(ctx, *shardName, *limit)
		return cmdline.Print(stdout, *asJSON, all, err, func() error { return cliprint.Documents(stdout, all) })
	case "get":
		if fs.NArg() != 1 {
			return usageError("docs get needs one document ID")
		}
		d, err := c.Document(ctx, fs.Arg(0), *shardName)
		return cmdline.Print(stdout, *asJSON, d, err, func() error { cliprint.Document(stdout, d); return nil })
	default: // delete
		if fs.NArg() != 1 {
			return usageError("docs delete needs one document ID")
		}
		res, err := c.Delete(ctx, *shardName, fs.Arg(0))
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "deleted %s from shard %s (now version %d)\n", res.ID, res.Shard, res.ShardVersion)
		return nil
	}
}
