package main

import (
	"context"
	"io"
	"time"

	"github.com/edgerag/edgerag/node/cliprint"
	"github.com/edgerag/edgerag/node/cmdline"
	"github.com/edgerag/edgerag/node/statuspage"
)

// runStatus handles 'edgerag status': the status page, in a terminal.
func runStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cmdline.NewFlags("status", "[--node URL] [--json]", stderr)
	nf := cmdline.AddAPIFlags(fs, "http://127.0.0.1:8080", "the node")
	asJSON := fs.Bool("json", false, "print /v1/status as JSON")
	if err := cmdline.ParseNoArgs(fs, args); err != nil {
		return err
	}
	st, err := nf.Client().Status(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		return cliprint.JSON(stdout, st)
	}
	return statuspage.WriteText(stdout, st, time.Now())
}
