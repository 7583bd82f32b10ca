package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/edgerag/edgerag/node"
	"github.com/edgerag/edgerag/node/agent"
	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/node/cliprint"
	"github.com/edgerag/edgerag/node/cmdline"
	"github.com/edgerag/edgerag/sync/fleet"
)

// runPublish handles 'edgerag publish --shard NAME': central cuts a version.
func runPublish(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cmdline.NewFlags("publish", "--shard NAME [--node URL] [--min-version N] | --config FILE [--node URL] | --models NAME,... [--node URL] | --collect [--keep N] [--node URL]", stderr)
	nf := cmdline.AddAPIFlags(fs, "http://127.0.0.1:9090", "central")
	shardName := fs.String("shard", "", "shard to publish")
	minVersion := fs.Uint64("min-version", 0, "lowest version edges may roll back to (0: no floor)")
	configFile := fs.String("config", "", "publish this fleet config (TOML, in the node configuration file's layout, with only the settings that change at run time: "+strings.Join(node.TunableNames(), ", ")+")")
	modelNames := fs.String("models", "", "publish this set of models from central's Ollama (comma-separated, e.g. all-minilm,qwen2.5:0.5b): edges with --sync-models fetch them and switch to them; a new version only when the set changed")
	collect := fs.Bool("collect", false, "delete the shard versions no edge can still need (run on the replica that publishes): all but the --keep newest, the ones edges run and a staged rollout's, and the records only they list")
	keep := fs.Int("keep", fleet.DefaultKeepVersions, "with --collect: newest versions kept per shard")
	if err := cmdline.Parse(fs, args); err != nil {
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
		return usageError("publish needs one of --shard NAME, --config FILE, --models NAME,... or --collect")
	}
	if *collect {
		if *keep < 1 {
			return usageError(fmt.Sprintf("--keep %d: keep at least the latest version (1 or more)", *keep))
		}
		var res fleet.Collected
		if err := nf.Client().Publish(ctx, api.PublishRequest{Collect: true, Keep: *keep}, &res); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "collected %d old shard versions and %d records; %d versions kept\n", res.Manifests, res.Records, len(res.Kept))
		return nil
	}
	c := nf.Client()
	switch {
	case *modelNames != "":
		var res fleet.PublishedModels
		err := c.Publish(ctx, api.PublishRequest{Models: cmdline.SplitList(*modelNames)}, &res)
		return cmdline.Print(stdout, false, res, err, func() error { cliprint.PublishedModels(stdout, res); return nil })
	case *configFile != "":
		settings, err := readFleetConfig(*configFile)
		if err != nil {
			return err
		}
		var res fleet.PublishedConfig
		err = c.Publish(ctx, api.PublishRequest{Config: settings}, &res)
		return cmdline.Print(stdout, false, res, err, func() error { cliprint.PublishedConfig(stdout, res); return nil })
	}
	var res fleet.Published
	err := c.Publish(ctx, api.PublishRequest{Shard: *shardName, MinVersion: *minVersion}, &res)
	return cmdline.Print(stdout, false, res, err, func() error { cliprint.Published(stdout, res); return nil })
}

// readFleetConfig reads a fleet config file in the layout of the node's
// configuration file, checked as the agent applies it.
func readFleetConfig(path string) (map[string]string, error) {
	return cmdline.ReadFleetConfig(path, agent.ConfigTables(), agent.CheckSetting)
}
