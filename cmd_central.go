package main

import (
	"context"
	"io"
)

// runCentral runs the central node: the same daemon holding the full index,
// listening for escalations on QUIC.
func runCentral(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runNode(ctx, "central", args, stdout, stderr)
}
