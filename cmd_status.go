package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/edgerag/edgerag/node/statuspage"
)

// runStatus handles 'edgerag status': the status page, in a terminal.
func runStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("status", "[--node URL] [--json]", stderr)
	nodeURL := fs.String("node", "http://127.0.0.1:8080", "URL of the node's HTTP API")
	asJSON := fs.Bool("json", false, "print /v1/status as JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usageError{fmt.Sprintf("status takes no arguments, got %q", fs.Args())}
	}
	st, err := nodeClient(*nodeURL).Status(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(stdout, st)
	}
	return statuspage.WriteText(stdout, st, time.Now())
}
