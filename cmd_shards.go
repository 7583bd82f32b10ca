package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

// runShards handles 'edgerag shards': the shards a node holds, with their
// versions and, on an edge that follows fleet sync, the sync state.
func runShards(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("shards", "[--node URL] [--json]", stderr)
	nf := newAPIFlags(fs, "http://127.0.0.1:8080", "the node")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usageError{fmt.Sprintf("shards takes no arguments, got %q", fs.Args())}
	}
	st, err := nf.client().Status(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(stdout, st.Shards)
	}
	syncState := map[string]string{}
	for _, s := range st.Sync {
		v := s.State
		if s.Previous > 0 {
			v += fmt.Sprintf(" (rollback: %d)", s.Previous)
		}
		if s.LastError != "" {
			v += ": " + s.LastError
		}
		syncState[s.Shard] = v
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SHARD\tVERSION\tDOCUMENTS\tCHUNKS\tUPDATED\tSYNC")
	for _, s := range st.Shards {
		sync := syncState[s.Name]
		if sync == "" {
			sync = "-"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%s\n", s.Name, s.Version, s.Documents, s.Chunks, s.UpdatedAt.UTC().Format(time.DateTime), sync)
	}
	if len(st.Shards) == 0 {
		fmt.Fprintln(tw, "(none: edgerag ingest adds documents)")
	}
	return tw.Flush()
}
