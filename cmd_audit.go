package main

import (
	"context"
	"encoding/json"
	"io"
	"time"

	"github.com/edgerag/edgerag/node/auth"
	"github.com/edgerag/edgerag/node/cliprint"
	"github.com/edgerag/edgerag/node/cmdline"
)

// runAudit prints the node's audit log (admin).
func runAudit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cmdline.NewFlags("audit", "[flags]", stderr)
	nf := cmdline.AddAPIFlags(fs, "http://127.0.0.1:8080", "the node")
	limit := fs.Int("n", 100, "how many of the newest events to print")
	after := fs.Uint64("after", 0, "print events after this seq number instead")
	asJSON := fs.Bool("json", false, "print JSON, one event a line")
	if err := cmdline.Parse(fs, args); err != nil {
		return err
	}
	c := nf.Client()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var resp struct {
		Events []auth.Event `json:"events"`
	}
	if err := c.Audit(ctx, *limit, *after, &resp); err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	for _, e := range resp.Events {
		if *asJSON {
			if err := enc.Encode(e); err != nil {
				return err
			}
			continue
		}
		cliprint.AuditEvent(stdout, e)
	}
	return nil
}
