package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"

	"github.com/edgerag/edgerag/node"
	"github.com/edgerag/edgerag/node/agent"
	"github.com/edgerag/edgerag/node/config"
	"github.com/edgerag/edgerag/sync/fleet"
)

// runPublish handles 'edgerag publish --shard NAME': central cuts a version.
func runPublish(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("publish", "--shard NAME [--node URL] [--min-version N] | --config FILE [--node URL] | --models NAME,... [--node URL] | --collect [--keep N] [--node URL]", stderr)
	nf := newAPIFlags(fs, "http://127.0.0.1:9090", "central")
	shardName := fs.String("shard", "", "shard to publish")
	minVersion := fs.Uint64("min-version", 0, "lowest version edges may roll back to (0: no floor)")
	configFile := fs.String("config", "", "publish this fleet config (TOML, in the node configuration file's layout, with only the settings that change at run time: "+strings.Join(node.TunableNames(), ", ")+")")
	modelNames := fs.String("models", "", "publish this set of models from central's Ollama (comma-separated, e.g. all-minilm,qwen2.5:0.5b): edges with --sync-models fetch them and switch to them; a new version only when the set changed")
	collect := fs.Bool("collect", false, "delete the shard versions no edge can still need (run on the replica that publishes): all but the --keep newest, the ones edges run and a staged rollout's, and the records only they list")
	keep := fs.Int("keep", fleet.DefaultKeepVersions, "with --collect: newest versions kept per shard")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	given := 0
	for _, v := range []string{*shardName, *configFile, *modelNames} {
		if v != "" {
			given++
		}
	}
	if *collect {
		given++
	}
	if given != 1 {
		return usageError{"publish needs one of --shard NAME, --config FILE, --models NAME,... or --collect"}
	}
	if *collect {
		if *keep < 1 {
			return usageError{fmt.Sprintf("--keep %d: keep at least the latest version (1 or more)", *keep)}
		}
		var res fleet.Collected
		if err := nf.client().Call(ctx, http.MethodPost, "/v1/publish", map[string]any{"collect": true, "keep": *keep}, &res); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "collected %d old shard versions and %d records; %d versions kept\n", res.Manifests, res.Records, len(res.Kept))
		return nil
	}
	if *modelNames != "" {
		var names []string
		for _, n := range strings.Split(*modelNames, ",") {
			if n = strings.TrimSpace(n); n != "" {
				names = append(names, n)
			}
		}
		var res fleet.PublishedModels
		if err := nf.client().Call(ctx, http.MethodPost, "/v1/publish", map[string]any{"models": names}, &res); err != nil {
			return err
		}
		if res.Unchanged {
			fmt.Fprintf(stdout, "models unchanged since version %d: nothing published\n", res.Version)
			return nil
		}
		fmt.Fprintf(stdout, "published model manifest version %d: %s\n", res.Version, strings.Join(res.Models, ", "))
		return nil
	}
	if *configFile != "" {
		settings, err := readFleetConfig(*configFile)
		if err != nil {
			return err
		}
		var res fleet.PublishedConfig
		if err := nf.client().Call(ctx, http.MethodPost, "/v1/publish", map[string]any{"config": settings}, &res); err != nil {
			return err
		}
		if res.Unchanged {
			fmt.Fprintf(stdout, "fleet config unchanged since version %d: nothing published\n", res.Version)
			return nil
		}
		fmt.Fprintf(stdout, "published fleet config version %d: %d settings\n", res.Version, len(res.Settings))
		return nil
	}
	var res fleet.Published
	err := nf.client().Call(ctx, http.MethodPost, "/v1/publish", map[string]any{"shard": *shardName, "min_version": *minVersion}, &res)
	if err != nil {
		return err
	}
	if res.Unchanged {
		fmt.Fprintf(stdout, "shard %s unchanged since version %d: nothing published\n", res.Shard, res.Version)
		return nil
	}
	fmt.Fprintf(stdout, "published shard %s version %d: %d chunks (%d new), %d bytes\n", res.Shard, res.Version, res.Chunks, res.NewChunks, res.Bytes)
	return nil
}

// readFleetConfig reads a fleet config file: TOML in the layout of the
// node's configuration file ('edgerag config default'), holding only the
// settings that can change at run time. Every problem is reported with its
// line.
func readFleetConfig(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read the fleet config: %w", err)
	}
	fs := flag.NewFlagSet("fleet-config", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var t node.Tunables
	fs.Float64Var(&t.EscalateBelow, "escalate-below", 0, "")
	fs.Float64Var(&t.MinConfidence, "min-confidence", 0, "")
	fs.DurationVar(&t.QueryTimeout, "query-timeout", 0, "")
	fs.DurationVar(&t.CentralCooldown, "central-cooldown", 0, "")
	if missing := slices.DeleteFunc(node.TunableNames(), func(n string) bool { return fs.Lookup(n) != nil }); len(missing) > 0 {
		return nil, fmt.Errorf("fleet config: settings %v have no key (a bug)", missing)
	}
	s, err := config.NewSchema(fs, configTables)
	if err != nil {
		return nil, err
	}
	settings, err := config.Parse(path, data, s)
	if err != nil {
		return nil, fmt.Errorf("fleet config (only %v can change at run time):\n%w", node.TunableNames(), err)
	}
	out := map[string]string{}
	var errs []error
	for _, st := range settings {
		if err := agent.CheckSetting(st.Key, st.Values[0]); err != nil {
			errs = append(errs, config.Error{File: path, Line: st.Line, Msg: err.Error()})
			continue
		}
		out[st.Key] = st.Values[0]
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("fleet config:\n%w", errors.Join(errs...))
	}
	return out, nil
}
