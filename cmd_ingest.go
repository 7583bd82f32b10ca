package main

import (
	"context"
	"fmt"
	"io"
	"slices"

	"github.com/edgerag/edgerag/node/cmdline"
	"github.com/edgerag/edgerag/node/ingestfiles"
)

func runIngest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cmdline.NewFlags("ingest", "[flags] PATH...", stderr)
	nf := cmdline.AddAPIFlags(fs, "http://127.0.0.1:8080", "the node")
	var o ingestfiles.Options
	o.AddFlags(fs)
	if err := cmdline.Parse(fs, args); err != nil {
		return err
	}
	if o.Format != "" && !slices.Contains(ingestfiles.Formats, o.Format) {
		return usageError(fmt.Sprintf("--format %q: use text, markdown, html or jsonl", o.Format))
	}
	if fs.NArg() == 0 {
		return usageError("ingest needs at least one file or directory (.txt, .md, .html, or .jsonl with {\"id\",\"title\",\"text\"} lines)")
	}
	client := nf.Client()
	res, err := ingestfiles.Send(ctx, client, fs.Args(), o, stderr)
	if err != nil {
		return err
	}
	if o.Async {
		fmt.Fprintf(stdout, "queued %d documents in %d jobs on %s\n", res.Docs, len(res.Jobs), nf.URL)
		return ingestfiles.WaitJobs(ctx, client, res.Jobs, res.Docs, stderr, o.Quiet)
	}
	fmt.Fprintf(stdout, "ingested %d documents (%d chunks) into %s\n", res.Docs, res.Chunks, nf.URL)
	return nil
}
