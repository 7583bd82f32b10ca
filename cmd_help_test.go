package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestHelp: --help (and -h) of every command and subcommand prints the
// usage to stdout, nothing to stderr, and succeeds; the usage line names
// the positional arguments.
func TestHelp(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string // in the first line
	}{
		{[]string{"serve"}, "--data DIR"}, {[]string{"central"}, "--data DIR"},
		{[]string{"ca"}, "ca init --dir DIR"}, {[]string{"ca", "init"}, "--dir DIR --fleet NAME"},
		{[]string{"cert"}, "cert issue"}, {[]string{"cert", "issue"}, "--name NODE"},
		{[]string{"ingest"}, "PATH..."}, {[]string{"query"}, `"question"`}, {[]string{"eval"}, "DIR"},
		{[]string{"publish"}, "--shard NAME"}, {[]string{"fleet"}, "--node URL"},
		{[]string{"shard"}, "rollback [--node URL] NAME"}, {[]string{"shard", "rollback"}, "NAME"},
		{[]string{"sync"}, "sync <command>"}, {[]string{"sync", "keygen"}, "--out DIR"},
		{[]string{"sync", "status"}, "--node URL"}, {[]string{"sync", "promote"}, "--shard NAME"}, {[]string{"sync", "halt"}, "--shard NAME"},
		{[]string{"keys"}, "keys <command>"}, {[]string{"keys", "generate"}, "--out FILE"},
		{[]string{"keys", "list"}, "--node URL"}, {[]string{"keys", "rotate"}, "--overlap"},
		{[]string{"config"}, "config <command>"}, {[]string{"config", "check"}, "FILE"},
		{[]string{"config", "default"}, "--central"}, {[]string{"config", "doc"}, "config doc"},
		{[]string{"status"}, "--node URL"}, {[]string{"shards"}, "--node URL"}, {[]string{"sync", "now"}, "--node URL"},
		{[]string{"docs"}, "docs <command>"}, {[]string{"docs", "list"}, "--shard NAME"},
		{[]string{"docs", "get"}, "ID"}, {[]string{"docs", "delete"}, "ID"},
		{[]string{"backup"}, "FILE"}, {[]string{"restore"}, "--data DIR FILE"},
		{[]string{"flagged"}, "release SHARD DOC"},
		{[]string{"probes"}, "probes <command>"}, {[]string{"probes", "add"}, "--shard NAME"},
	} {
		for _, h := range []string{"--help", "-h"} {
			var out, errb bytes.Buffer
			args := append(append([]string{}, c.args...), h)
			err := run(context.Background(), args, &out, &errb)
			first, _, _ := strings.Cut(out.String(), "\n")
			if err != nil || errb.Len() > 0 || !strings.HasPrefix(first, "Usage: edgerag ") || !strings.Contains(first, c.want) {
				t.Errorf("edgerag %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out.String(), errb.String())
			}
		}
	}
	// Flags before the help flag do not matter; an unknown one is still
	// an error, on stderr.
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"query", "--node", "http://x", "--help"}, &out, &errb); err != nil || !strings.Contains(out.String(), "Usage:") {
		t.Errorf("query --node X --help: %v %s", err, out.String())
	}
	out.Reset()
	if err := run(context.Background(), []string{"query", "--nope"}, &out, &errb); err == nil || !strings.Contains(errb.String(), "Usage:") {
		t.Errorf("query --nope: %v, stderr %q", err, errb.String())
	}
}

// TestCentralHelpShowsCentralFlags: central's help lists its own flags,
// not the edge's escalation flags.
func TestCentralHelpShowsCentralFlags(t *testing.T) {
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"central", "--help"}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"-sync-key", "-quic", "-publish-models", "-data"} {
		if !strings.Contains(out.String(), "  "+f+" ") {
			t.Errorf("central --help lacks %s", f)
		}
	}
	for _, f := range []string{"-central ", "-central-name", "-escalate-below", "-central-cooldown", "-sync-pub", "-sync-poll"} {
		if strings.Contains(out.String(), "  "+f) {
			t.Errorf("central --help lists the edge's %s", f)
		}
	}
	out.Reset()
	if err := run(context.Background(), []string{"serve", "--help"}, &out, &errb); err != nil || !strings.Contains(out.String(), "-escalate-below") {
		t.Errorf("serve --help lacks -escalate-below: %v", err)
	}
}
