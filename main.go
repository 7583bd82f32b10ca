// Command edgerag runs a retrieval-augmented question-answering node on an
// edge device, and the tools around it: ingest, query, eval.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/edgerag/edgerag/node/agent"
	"github.com/edgerag/edgerag/node/cmdline"
)

// Set by the linker (see the Makefile).
var (
	version = "dev"
	commit  = "none"
	date    = "unknown"
)

// runFunc is how every command runs: its arguments after the command's
// name, and where its output and diagnostics go.
type runFunc func(ctx context.Context, args []string, stdout, stderr io.Writer) error

// commands are edgerag's commands, in the order the usage lists them. A new
// command is one line here and a cmd_<name>.go.
func commands() []struct {
	name, summary string
	run           runFunc
} {
	return []struct {
		name, summary string
		run           runFunc
	}{
		{"serve", "run a node: local HTTP API over the shards in --data", runServe},
		{"central", "run the central node: the full index, answering escalations over QUIC", runCentral},
		{"ca", "ca init|fingerprint: the fleet's certificate authority", runCA},
		{"cert", "cert issue|enroll-token|revoke|list: node certificates, enrollment tokens, revocation", runCert},
		{"enroll", "a new device joins the fleet with a one-time token: its own key, a short-lived certificate", runEnroll},
		{"ingest", "send files, directories or JSONL corpora to a running node", runIngest},
		{"query", "ask a running node a question", runQuery},
		{"eval", "measure retrieval quality on a dataset (shared/eval layout)", runEval},
		{"publish", "central: cut a signed version of a shard (--shard), the fleet config (--config) or the model set (--models)", runPublish},
		{"status", "the node's status page, in the terminal", runStatus},
		{"shards", "the shards a node holds, with versions and sync state", runShards},
		{"docs", "docs list|get|delete: the documents of a shard", runDocs},
		{"backup", "backup FILE: a consistent copy of a running node's store", runBackup},
		{"restore", "restore --data DIR FILE: a backup into a new data directory", runRestore},
		{"shard", "shard rollback: return a synced shard to its previous version", runShard},
		{"models", "models rollback: an edge's models back to the previous manifest; models history: central's model manifests", runModels},
		{"probes", "probes add|list|remove: central's probe sets, which gate staged rollouts on answer quality (admin)", runProbes},
		{"sync", "sync keygen: central's signing key; sync now: sync at once; sync status: progress per shard; sync promote|halt: a staged rollout", runSync},
		{"fleet", "list the members of a node's gossip pool", runFleet},
		{"keys", "keys generate|list|rotate: the gossip keyring", runKeys},
		{"token", "token create|list|revoke: API tokens of a node (admin)", runToken},
		{"audit", "print a node's audit log (admin)", runAudit},
		{"flagged", "flagged list|release|delete: chunks the injection screen flagged (admin)", runFlagged},
		{"config", "check a configuration file, or print the default one", runConfig},
		{"version", "print the version", runVersion},
	}
}

// usage is what 'edgerag help' prints: every command with its summary.
func usage() string {
	var b strings.Builder
	b.WriteString("edgerag: retrieval-augmented question answering on edge devices\n\nUsage: edgerag <command> [flags]\n\nCommands:\n")
	for _, c := range commands() {
		fmt.Fprintf(&b, "  %-9s %s\n", c.name, c.summary)
	}
	b.WriteString("\nRun 'edgerag <command> -h' for the flags of a command.\n")
	return b.String()
}

func runVersion(_ context.Context, _ []string, stdout, _ io.Writer) error {
	fmt.Fprintf(stdout, "edgerag %s (commit %s, built %s)\n", version, commit, date)
	return nil
}

// usageError is an error in how the command was called: main prints the
// command's usage after it and exits with status 2.
func usageError(msg string) error { return cmdline.UsageError{Msg: msg} }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "edgerag:", err)
		}
		var ue cmdline.UsageError
		var ce agent.ConfigError
		var fe cmdline.ConfigError
		if errors.As(err, &ue) || errors.As(err, &ce) || errors.As(err, &fe) || errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage())
		return usageError("no command given")
	}
	cmd, rest := args[0], args[1:]
	// Help that was asked for is the answer, not an error: it goes to
	// stdout and exits 0, for every command and subcommand.
	if u, ok := groupUsage[cmd]; ok && len(rest) > 0 && cmdline.IsHelp(rest[0]) {
		fmt.Fprint(stdout, u)
		return nil
	}
	help := cmdline.WantsHelp(rest)
	if help {
		stderr = stdout
	}
	err := dispatch(ctx, cmd, rest, stdout, stderr)
	if help && errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return err
}

func dispatch(ctx context.Context, cmd string, rest []string, stdout, stderr io.Writer) error {
	switch cmd {
	case "-version", "--version":
		cmd = "version"
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage())
		return nil
	}
	for _, c := range commands() {
		if c.name == cmd {
			return c.run(ctx, rest, stdout, stderr)
		}
	}
	fmt.Fprint(stderr, usage())
	return usageError(fmt.Sprintf("unknown command %q", cmd))
}

// groupUsage is what 'edgerag CMD --help' prints for the commands made of
// subcommands: each subcommand with its arguments.
var groupUsage = map[string]string{
	"ca": `Usage: edgerag ca init --dir DIR --fleet NAME | fingerprint --dir DIR

  init         create the fleet's certificate authority in DIR (ca.crt, ca.key)
  fingerprint  print the CA certificate's fingerprint, for 'edgerag enroll --ca-fingerprint'
`,
	"cert": `Usage: edgerag cert issue|enroll-token|revoke|list

  issue --ca DIR --out DIR --name NODE [--role R] [--valid D]   a certificate and key made by hand from the CA
  enroll-token NAME [--role R] [--ttl 10m] [--groups a,b] [--node URL]   a one-time token for 'edgerag enroll' (central, admin)
  revoke NAME [--node URL]                                      refuse NAME's certificates fleet-wide (central, admin)
  list [--node URL] [--json]                                    issued certificates, expiry, revocations, pending tokens
`,
	"shard": `Usage: edgerag shard rollback [--node URL] NAME

  rollback  return the synced shard NAME to its previous version
`,
	"models": `Usage: edgerag models rollback|history

  rollback [--node URL]           return an edge to the model manifest it applied before the current one
  history [--node URL] [--json]   central's model manifests, newest first, their staged rollout and each edge's last report
`,
	"sync": `Usage: edgerag sync <command>

Commands:
  keygen --out DIR                                  central's signing key (sync.key) and its public half (sync.pub)
  now [--node URL]                                  an edge asks central for new versions at once
  status [--node URL] [--json]                      an edge's progress per shard, or central's view of the fleet
  promote|halt --shard NAME|--models [--node URL] [--reason TEXT]   a staged rollout (of a shard or the model manifest), by hand
`,
	"probes": `Usage: edgerag probes <command>

Commands:
  add --shard NAME [--node URL] QUESTION        central answers QUESTION from the shard; its answer becomes a trusted probe
  list [--shard NAME] [--node URL] [--json]     the probe sets canaries answer before a staged rollout goes on
  remove --shard NAME [--node URL] ID|QUESTION  drop a probe
`,
	"keys": `Usage: edgerag keys <command>

Commands:
  generate [--out FILE]                                 a new gossip key, printed or as a keyring file
  list [--node URL]                                     the keys every member holds
  rotate [--node URL] [--overlap DURATION] [--key KEY]  replace the primary key on every member
`,
	"config": configUsage,
	"docs": `Usage: edgerag docs <command>

Commands:
  list [--node URL] [--shard NAME] [--limit N] [--json]   the documents of a shard, by id
  get [--node URL] [--shard NAME] [--json] ID             a document: title, source, metadata and its chunks
  delete [--node URL] [--shard NAME] ID                   remove a document and its chunks
`,
}
