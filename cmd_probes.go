package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/edgerag/edgerag/node/agent"
	"github.com/edgerag/edgerag/node/cliprint"
	"github.com/edgerag/edgerag/node/cmdline"
)

// runProbes manages central's probe sets, the questions canaries answer
// before a staged rollout goes on (admin).
func runProbes(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError(strings.TrimSpace(groupUsage["probes"]))
	}
	sub := args[0]
	fs := cmdline.NewFlags("probes "+sub, "--shard NAME [--node URL] [--json] [QUESTION|ID]", stderr)
	nf := cmdline.AddAPIFlags(fs, "http://127.0.0.1:9090", "central")
	shardName := fs.String("shard", "", "the shard whose probe set to change or list")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := cmdline.Parse(fs, args[1:]); err != nil {
		return err
	}
	c := nf.Client()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	text := strings.Join(fs.Args(), " ")
	if sub != "list" && (*shardName == "" || text == "") {
		return usageError(strings.TrimSpace(groupUsage["probes"]))
	}
	switch sub {
	case "add":
		var r agent.AddedProbe
		err := c.AddProbe(ctx, agent.AddProbeRequest{Shard: *shardName, Question: text}, &r)
		return cmdline.Print(stdout, *asJSON, r, err, func() error {
			_, err := fmt.Fprintf(stdout, "probe %s added to shard %s (%d probes); central's answer cites %s\n", r.Probe.ID, *shardName, r.Probes, strings.Join(r.Probe.Docs, ", "))
			return err
		})
	case "list":
		var r agent.ProbeSets
		err := c.Probes(ctx, *shardName, &r)
		return cmdline.Print(stdout, *asJSON, r, err, func() error { return cliprint.Probes(stdout, r.Sets) })
	case "remove":
		var r map[string]any
		err := c.RemoveProbe(ctx, *shardName, text, &r)
		return cmdline.Print(stdout, *asJSON, r, err, func() error {
			_, err := fmt.Fprintf(stdout, "probe removed from shard %s (%v left)\n", *shardName, r["probes"])
			return err
		})
	}
	return usageError(strings.TrimSpace(groupUsage["probes"]))
}
