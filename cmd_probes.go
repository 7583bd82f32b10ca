package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/edgerag/edgerag/node/agent"
	"github.com/edgerag/edgerag/node/cliprint"
	"github.com/edgerag/edgerag/node/cmdline"
)

const probesUsage = `usage: edgerag probes add --shard NAME QUESTION | list [--shard NAME] [--json] | remove --shard NAME ID|QUESTION  (on central: --node URL)`

// runProbes manages central's probe sets, the questions canaries answer
// before a staged rollout goes on (admin).
func runProbes(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{probesUsage}
	}
	sub := args[0]
	fs := newFlags("probes "+sub, "--shard NAME [--node URL] [--json] [QUESTION|ID]", stderr)
	nf := cmdline.AddAPIFlags(fs, "http://127.0.0.1:9090", "central")
	shardName := fs.String("shard", "", "the shard whose probe set to change or list")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	c := nf.Client()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	text := strings.Join(fs.Args(), " ")
	if sub != "list" && (*shardName == "" || text == "") {
		return usageError{probesUsage}
	}
	switch sub {
	case "add":
		var r agent.AddedProbe
		err := c.Call(ctx, http.MethodPost, "/v1/probes", agent.AddProbeRequest{Shard: *shardName, Question: text}, &r)
		return cmdline.Print(stdout, *asJSON, r, err, func() error {
			_, err := fmt.Fprintf(stdout, "probe %s added to shard %s (%d probes); central's answer cites %s\n", r.Probe.ID, *shardName, r.Probes, strings.Join(r.Probe.Docs, ", "))
			return err
		})
	case "list":
		var r agent.ProbeSets
		path := "/v1/probes"
		if *shardName != "" {
			path += "?shard=" + url.QueryEscape(*shardName)
		}
		err := c.Call(ctx, http.MethodGet, path, nil, &r)
		return cmdline.Print(stdout, *asJSON, r, err, func() error { return cliprint.Probes(stdout, r.Sets) })
	case "remove":
		var r map[string]any
		err := c.Call(ctx, http.MethodDelete, "/v1/probes/"+url.PathEscape(*shardName)+"/"+url.PathEscape(text), nil, &r)
		return cmdline.Print(stdout, *asJSON, r, err, func() error {
			_, err := fmt.Fprintf(stdout, "probe removed from shard %s (%v left)\n", *shardName, r["probes"])
			return err
		})
	}
	return usageError{probesUsage}
}
