package main

import (
	"context"
	"io"
	"time"

	"github.com/edgerag/edgerag/node/cliprint"
	"github.com/edgerag/edgerag/node/cmdline"
	"github.com/edgerag/edgerag/node/membership"
)

// runFleet lists the members of the gossip pool as one node sees them.
func runFleet(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cmdline.NewFlags("fleet", "[--node URL] [--json]", stderr)
	nf := cmdline.AddAPIFlags(fs, "http://127.0.0.1:8080", "the node")
	asJSON := fs.Bool("json", false, "print the members as JSON")
	timeout := fs.Duration("timeout", 10*time.Second, "give up after this long")
	if err := cmdline.ParseNoArgs(fs, args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	var f membership.Fleet
	if err := nf.Client().Fleet(ctx, &f); err != nil {
		return err
	}
	if *asJSON {
		return cliprint.JSON(stdout, f)
	}
	cliprint.Members(stdout, f, time.Now())
	return nil
}
