package main

import (
	"context"
	"fmt"
	"io"

	"github.com/edgerag/edgerag/node/cliprint"
	"github.com/edgerag/edgerag/node/cmdline"
)

// runModels handles 'edgerag models rollback' (an edge) and 'edgerag models
// history' (central), the model manifest's counterparts of 'shard
// rollback' and 'sync status'.
func runModels(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const usage = "usage: edgerag models rollback [--node URL] | edgerag models history [--node URL] [--json]"
	if len(args) == 0 {
		return usageError(usage)
	}
	switch args[0] {
	case "rollback":
		fs := cmdline.NewFlags("models rollback", "[--node URL]", stderr)
		nf := cmdline.AddAPIFlags(fs, "http://127.0.0.1:8080", "the edge")
		if err := cmdline.ParseNoArgs(fs, args[1:]); err != nil {
			return err
		}
		res, err := nf.Client().RollbackModels(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "models rolled back from manifest version %d to %d\n", res.From, res.To)
		return nil
	case "history":
		fs := cmdline.NewFlags("models history", "[--node URL] [--json]", stderr)
		nf := cmdline.AddAPIFlags(fs, "http://127.0.0.1:9090", "central")
		asJSON := fs.Bool("json", false, "print the history as JSON")
		if err := cmdline.Parse(fs, args[1:]); err != nil {
			return err
		}
		raw, err := nf.Client().ModelsHistory(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			_, err := stdout.Write(append(raw, '\n'))
			return err
		}
		return cliprint.ModelsHistory(stdout, raw)
	}
	return usageError(usage)
}
