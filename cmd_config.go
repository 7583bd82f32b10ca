package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/edgerag/edgerag/node/agent"
	"github.com/edgerag/edgerag/node/cmdline"
	"github.com/edgerag/edgerag/node/config"
)

// machineDefaults are flags whose default depends on the machine; the
// documentation names the rule instead of this machine's value.
var machineDefaults = map[string]string{"name": "<host name, else the role>"}

// nodeFlags returns the flag set of 'edgerag serve' (role "edge") or
// 'edgerag central', as runNode parses it.
func nodeFlags(role string) *flag.FlagSet {
	fs, _ := nodeFlagSet(role, io.Discard)
	return fs
}

const configUsage = `Usage: edgerag config <command>

Commands:
  check [--central] FILE   validate FILE: every error with its line; exit status 1 if any
  default [--central]      print a configuration file with every key at its default
  doc                      print the Markdown reference of every key (docs/config.md)
`

// runConfig handles 'edgerag config'.
func runConfig(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, configUsage)
		return usageError("config needs a command: check, default or doc")
	}
	sub := args[0]
	synopsis := map[string]string{"check": "[--central] FILE", "default": "[--central]"}[sub]
	fs := cmdline.NewFlags("config "+sub, synopsis, stderr)
	central := fs.Bool("central", false, "use the flags and defaults of 'edgerag central'")
	if err := cmdline.Parse(fs, args[1:]); err != nil {
		return err
	}
	role := "edge"
	if *central {
		role = "central"
	}
	nfs := nodeFlags(role)
	docSchema, err := cmdline.DocSchema(nfs, agent.ConfigTables(), machineDefaults)
	if err != nil {
		return err
	}
	switch sub {
	case "check":
		if fs.NArg() != 1 {
			return usageError("usage: edgerag config check [--central] FILE")
		}
		n, err := cmdline.CheckConfig(fs.Arg(0), nfs, agent.ConfigTables())
		if ce := (cmdline.ConfigError{}); errors.As(err, &ce) {
			fmt.Fprintln(stdout, ce.Err)
			return errors.New("the configuration has errors")
		} else if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: ok, %d keys set\n", fs.Arg(0), n)
		return nil
	case "default":
		_, err := stdout.Write(config.Default(docSchema, cmdline.ConfigHeader))
		return err
	case "doc":
		_, err := stdout.Write(config.Markdown(docSchema, cmdline.ConfigDocHeader))
		return err
	}
	fmt.Fprint(stderr, configUsage)
	return usageError(fmt.Sprintf("unknown config command %q", sub))
}
