package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/edgerag/edgerag/models/openai"
	"github.com/edgerag/edgerag/node/agent"
	"github.com/edgerag/edgerag/node/cmdline"
	"github.com/edgerag/edgerag/node/testhooks"
	"github.com/edgerag/edgerag/sync/objstore"
)

// nodeOptions are what 'edgerag serve' and 'edgerag central' parse: the
// agent's Config (its flags are node/agent's, Config.AddFlags), and the
// flags of the process around it.
type nodeOptions struct {
	cfg         agent.Config
	parsed      func(given map[string]bool) // fills cfg's lists once parsed
	logLevel    string
	logFormat   string
	readyFile   string
	memoryLimit string
	configFile  string // read by cmdline.ParseWithConfig through the flag set
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runNode(ctx, "edge", args, stdout, stderr)
}

// nodeFlagSet returns the flag set of serve (role "edge") or central, bound
// to the options it fills. 'edgerag config' reads the keys from it.
func nodeFlagSet(role string, stderr io.Writer) (*flag.FlagSet, *nodeOptions) {
	o := &nodeOptions{cfg: agent.Config{Role: role, Version: version}}
	fs := cmdline.NewFlags(cmdName(role), "--data DIR [--http ADDR]", stderr)
	o.parsed = o.cfg.AddFlags(fs)
	cmdline.CheckedStringVar(fs, &o.logLevel, "log-level", "info", cmdline.CheckLogLevel, "log level: debug, info, warn or error")
	cmdline.CheckedStringVar(fs, &o.logFormat, "log-format", "text", cmdline.CheckLogFormat, "log format: text or json")
	fs.StringVar(&o.readyFile, "ready-file", "", "write the API's URL to this file once the node is ready (for scripts and tests)")
	fs.StringVar(&o.memoryLimit, "memory-limit", "", "soft limit on the Go heap, e.g. 96MiB (default: $GOMEMLIMIT, else none); the GC works harder near it")
	fs.StringVar(&o.configFile, cmdline.ConfigFlag, "", "configuration file (TOML; see 'edgerag config default'); also $EDGERAG_CONFIG")
	return fs, o
}

func cmdName(role string) string {
	if role == "central" {
		return "central"
	}
	return "serve"
}

// nodeConfig parses the command line, the environment and the
// configuration file of serve or central into the agent's Config.
func nodeConfig(role string, args []string, stderr io.Writer) (*nodeOptions, error) {
	fs, o := nodeFlagSet(role, stderr)
	given, err := cmdline.ParseWithConfig(fs, args, agent.ConfigTables())
	if err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, usageError(fmt.Sprintf("%s takes no arguments, got %q", fs.Name(), fs.Args()))
	}
	o.parsed(given)
	c := &o.cfg
	// Secrets and endpoints come from the environment, never flags.
	c.LLM.APIKey = os.Getenv(openai.KeyEnv)
	if c.Sync.Store.URL != "" {
		c.Sync.Store = objstore.FromEnv(c.Sync.Store.URL, os.Getenv)
	}
	c.Sync.Hook, c.Sync.OnVerified = testhooks.Sync()
	if c.Logger, err = cmdline.NewLogger(stderr, o.logLevel, o.logFormat); err != nil {
		return nil, usageError(err.Error())
	}
	return o, nil
}

// runNode runs serve or central: the agent until a signal, then a graceful
// shutdown that a second signal cuts short (cmdline.Serve).
func runNode(ctx context.Context, role string, args []string, stdout, stderr io.Writer) error {
	o, err := nodeConfig(role, args, stderr)
	if err != nil {
		return err
	}
	if err := cmdline.SetMemoryLimit(o.memoryLimit); err != nil {
		return usageError(err.Error())
	}
	a, err := agent.New(o.cfg)
	if err != nil {
		return err
	}
	if err := a.Start(ctx); err != nil {
		return err
	}
	return cmdline.Serve(ctx, a, o.readyFile, o.cfg.Logger)
}
