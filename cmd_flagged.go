package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/edgerag/edgerag/node/cliprint"
	"github.com/edgerag/edgerag/node/cmdline"
)

const flaggedSynopsis = "[list | release SHARD DOC | delete SHARD DOC] [--node URL] [--token T | --data DIR] [--json]"

// runFlagged lists the chunks a node's injection and poisoning screen
// flagged, and releases or deletes their documents (admin).
func runFlagged(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cmdline.NewFlags("flagged", flaggedSynopsis, stderr)
	nf := cmdline.AddAPIFlags(fs, "http://127.0.0.1:8080", "the node")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := cmdline.Parse(fs, args); err != nil {
		return err
	}
	sub := "list"
	if fs.NArg() > 0 {
		sub = fs.Arg(0)
	}
	c := nf.Client()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out := func(r any, err error, text func() string) error {
		return cmdline.Print(stdout, *asJSON, r, err, func() error { _, err := fmt.Fprintln(stdout, text()); return err })
	}
	switch sub {
	case "list":
		if fs.NArg() > 1 {
			return usageError("flagged list takes no arguments")
		}
		l, err := c.Flagged(ctx)
		return cmdline.Print(stdout, *asJSON, l, err, func() error { return cliprint.Flagged(stdout, l) })
	case "release", "delete":
		if fs.NArg() != 3 {
			return usageError(fmt.Sprintf("flagged %s needs SHARD and DOC, e.g. edgerag flagged %s default forum-post-17", sub, sub))
		}
		if sub == "release" {
			r, err := c.Release(ctx, fs.Arg(1), fs.Arg(2))
			return out(r, err, func() string {
				return fmt.Sprintf("released %d flagged chunks of %s in shard %s (shard version %d)", r.Released, r.DocumentID, r.Shard, r.ShardVersion)
			})
		}
		r, err := c.DeleteFlagged(ctx, fs.Arg(1), fs.Arg(2))
		return out(r, err, func() string {
			return fmt.Sprintf("deleted %s from shard %s (shard version %d)", r.ID, r.Shard, r.ShardVersion)
		})
	default:
		return usageError(fmt.Sprintf("flagged %q: use list, release or delete", sub))
	}
}
