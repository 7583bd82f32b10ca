// Command edgerag runs a retrieval-augmented question-answering node on an
// edge device, and the tools around it: ingest, query, eval.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/edgerag/edgerag/node/agent"
	"github.com/edgerag/edgerag/node/api"
)

// Set by the linker (see the Makefile).
var (
	version = "dev"
	commit  = "none"
	date    = "unknown"
)

const usage = `edgerag: retrieval-augmented question answering on edge devices

Usage: edgerag <command> [flags]

Commands:
  serve     run a node: local HTTP API over the shards in --data
  central   run the central node: the full index, answering escalations over QUIC
  ca        ca init|fingerprint: the fleet's certificate authority
  cert      cert issue|enroll-token|revoke|list: node certificates, enrollment tokens, revocation
  enroll    a new device joins the fleet with a one-time token: its own key, a short-lived certificate
  ingest    send files, directories or JSONL corpora to a running node
  query     ask a running node a question
  eval      measure retrieval quality on a dataset (shared/eval layout)
  publish   central: cut a signed version of a shard (--shard), the fleet config (--config) or the model set (--models)
  status    the node's status page, in the terminal
  shards    the shards a node holds, with versions and sync state
  docs      docs list|get|delete: the documents of a shard
  backup    backup FILE: a consistent copy of a running node's store
  restore   restore --data DIR FILE: a backup into a new data directory
  shard     shard rollback: return a synced shard to its previous version
  sync      sync keygen: central's signing key; sync now: sync at once; sync status: progress per shard; sync promote|halt: a staged rollout
  fleet     list the members of a node's gossip pool
  keys      keys generate|list|rotate: the gossip keyring
  token     token create|list|revoke: API tokens of a node (admin)
  audit     print a node's audit log (admin)
  flagged   flagged list|release|delete: chunks the injection screen flagged (admin)
  config    check a configuration file, or print the default one
  version   print the version

Run 'edgerag <command> -h' for the flags of a command.
`

// usageError is an error in how the command was called; main prints the
// command's usage after it.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "edgerag:", err)
		}
		var ue usageError
		var ce agent.ConfigError
		if errors.As(err, &ue) || errors.As(err, &ce) || errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return usageError{"no command given"}
	}
	cmd, rest := args[0], args[1:]
	// Help that was asked for is the answer, not an error: it goes to
	// stdout and exits 0, for every command and subcommand.
	if u, ok := groupUsage[cmd]; ok && len(rest) > 0 && isHelpFlag(rest[0]) {
		fmt.Fprint(stdout, u)
		return nil
	}
	help := wantsHelp(rest)
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
	case "serve":
		return runServe(ctx, rest, stdout, stderr)
	case "central":
		return runCentral(ctx, rest, stdout, stderr)
	case "ca":
		return runCA(ctx, rest, stdout, stderr)
	case "cert":
		return runCert(ctx, rest, stdout, stderr)
	case "enroll":
		return runEnroll(ctx, rest, stdout, stderr)
	case "ingest":
		return runIngest(ctx, rest, stdout, stderr)
	case "query":
		return runQuery(ctx, rest, stdout, stderr)
	case "eval":
		return runEval(ctx, rest, stdout, stderr)
	case "publish":
		return runPublish(ctx, rest, stdout, stderr)
	case "shard":
		return runShard(ctx, rest, stdout, stderr)
	case "sync":
		return runSync(ctx, rest, stdout, stderr)
	case "fleet":
		return runFleet(ctx, rest, stdout, stderr)
	case "status":
		return runStatus(ctx, rest, stdout, stderr)
	case "shards":
		return runShards(ctx, rest, stdout, stderr)
	case "docs":
		return runDocs(ctx, rest, stdout, stderr)
	case "backup":
		return runBackup(ctx, rest, stdout, stderr)
	case "restore":
		return runRestore(ctx, rest, stdout, stderr)
	case "keys":
		return runKeys(ctx, rest, stdout, stderr)
	case "config":
		return runConfig(ctx, rest, stdout, stderr)
	case "token":
		return runToken(ctx, rest, stdout, stderr)
	case "audit":
		return runAudit(ctx, rest, stdout, stderr)
	case "flagged":
		return runFlagged(ctx, rest, stdout, stderr)
	case "version", "-version", "--version":
		fmt.Fprintf(stdout, "edgerag %s (commit %s, built %s)\n", version, commit, date)
		return nil
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return usageError{fmt.Sprintf("unknown command %q", cmd)}
	}
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
  enroll-token NAME [--role R] [--ttl 10m] [--node URL]         a one-time token for 'edgerag enroll' (central, admin)
  revoke NAME [--node URL]                                      refuse NAME's certificates fleet-wide (central, admin)
  list [--node URL] [--json]                                    issued certificates, expiry, revocations, pending tokens
`,
	"shard": `Usage: edgerag shard rollback [--node URL] NAME

  rollback  return the synced shard NAME to its previous version
`,
	"sync": `Usage: edgerag sync <command>

Commands:
  keygen --out DIR                                  central's signing key (sync.key) and its public half (sync.pub)
  now [--node URL]                                  an edge asks central for new versions at once
  status [--node URL] [--json]                      an edge's progress per shard, or central's view of the fleet
  promote|halt --shard NAME [--node URL] [--reason TEXT]   a staged rollout, by hand
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

// isHelpFlag reports whether a is a request for help.
func isHelpFlag(a string) bool { return a == "-h" || a == "-help" || a == "--help" }

// wantsHelp reports whether the command line asks for help before any "--".
func wantsHelp(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		if isHelpFlag(a) {
			return true
		}
	}
	return false
}

// newFlags returns a flag set that reports errors instead of exiting, with a
// usage line naming the command.
func newFlags(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: edgerag %s %s\n\nFlags:\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args allowing flags after positional arguments
// ("edgerag eval DIR --json"), which the flag package alone stops at. A lone
// "--" still ends the flags.
func parseFlags(fs *flag.FlagSet, args []string) error {
	var flags, positional []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			positional = append(positional, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			positional = append(positional, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		f := fs.Lookup(name)
		if f == nil {
			continue // Parse reports it
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			continue
		}
		if i+1 < len(args) {
			i++
			flags = append(flags, args[i])
		}
	}
	return fs.Parse(append(append(flags, "--"), positional...))
}

// nodeClient is the client every command reaches a node's HTTP API with.
func nodeClient(url string, hc *http.Client) *api.Client { return api.NewClient(url, hc) }
