package main

import (
	"context"
	"io"
	"strings"
	"time"

	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/node/cliprint"
	"github.com/edgerag/edgerag/node/cmdline"
)

func runQuery(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cmdline.NewFlags("query", `[flags] "question"`, stderr)
	nf := cmdline.AddAPIFlags(fs, "http://127.0.0.1:8080", "the node")
	k := fs.Int("k", 5, "passages to retrieve")
	shardName := fs.String("shard", "", "ask only this shard")
	asJSON := fs.Bool("json", false, "print the whole response as JSON")
	timeout := fs.Duration("timeout", 30*time.Second, "give up after this long")
	if err := cmdline.Parse(fs, args); err != nil {
		return err
	}
	q := strings.TrimSpace(strings.Join(fs.Args(), " "))
	if q == "" {
		return usageError(`query needs a question, e.g. edgerag query "how do I reset the pump?"`)
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	resp, err := nf.Client().Query(ctx, api.QueryRequest{Question: q, K: *k, Shard: *shardName})
	if err != nil {
		return err
	}
	if *asJSON {
		return cliprint.JSON(stdout, resp)
	}
	cliprint.Answer(stdout, resp)
	return nil
}
