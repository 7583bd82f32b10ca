package main

import (
	"context"
	"fmt"
	"io"

	"github.com/edgerag/edgerag/models"
	"github.com/edgerag/edgerag/models/ollama"
	"github.com/edgerag/edgerag/node/cmdline"
	"github.com/edgerag/edgerag/node/evalrun"
)

func runEval(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cmdline.NewFlags("eval", "[flags] DIR", stderr)
	var c evalrun.Config
	c.AddFlags(fs)
	if err := cmdline.Parse(fs, args); err != nil {
		return err
	}
	if c.Attacks != "" {
		return c.Run(ctx, "", fs.Args(), nil, stdout, stderr)
	}
	if fs.NArg() != 1 {
		return usageError("eval needs one dataset directory (corpus.jsonl, queries.jsonl, qrels.tsv), e.g. ../shared/eval/cranfield")
	}
	var emb models.Embedder
	if c.EmbedModel != "" && !c.Abstain && c.Fleet == 0 {
		o, err := ollama.New(ollama.Config{Host: c.OllamaHost, EmbedModel: c.EmbedModel})
		if err != nil {
			return usageError(err.Error())
		}
		if err := o.Check(ctx, nil); err != nil {
			return fmt.Errorf("eval --embed-model: %w", err)
		}
		emb = o.Embedder()
	}
	return c.Run(ctx, fs.Arg(0), nil, emb, stdout, stderr)
}
