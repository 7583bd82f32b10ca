package main

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
)

// cli runs the edgerag command line in process. A command aimed at a node
// with --node gets that node's admin token (credentials_test.go), as an
// operator's would, unless the test gives one.
func cli(t *testing.T, args ...string) (string, error) {
	t.Helper()
	if !slices.Contains(args, "--token") {
		if i := slices.Index(args, "--node"); i >= 0 && i+1 < len(args) {
			if tok := tokenOf(args[i+1]); tok != "" {
				args = append(slices.Clone(args[:i+2]), append([]string{"--token", tok}, args[i+2:]...)...)
			}
		}
	}
	var out, errb bytes.Buffer
	err := run(context.Background(), args, &out, &errb)
	return out.String() + errb.String(), err
}

// TestDocsShardsStatus: on a real node, docs list, get and delete see and
// change what ingest stored, shards and status show it, and sync now says
// what is wrong on a node without fleet sync.
func TestDocsShardsStatus(t *testing.T) {
	p := startNode(t, t.TempDir())
	if out, err := cli(t, "ingest", "--node", p.url, "scripts/sample"); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	out, err := cli(t, "docs", "list", "--node", p.url)
	if err != nil || strings.Count(out, ".md") != 5 || !strings.HasPrefix(out, "ID") || !strings.Contains(out, "pump-p100.md") {
		t.Fatalf("docs list: %v\n%s", err, out)
	}
	// Pages: --limit stops early; the API's pages are followed otherwise.
	if out, err := cli(t, "docs", "list", "--node", p.url, "--limit", "2", "--json"); err != nil || strings.Count(out, `"id"`) != 2 {
		t.Errorf("docs list --limit 2: %v\n%s", err, out)
	}
	out, err = cli(t, "docs", "get", "--node", p.url, "pump-p100.md")
	if err != nil || !strings.Contains(out, "title: Pump P-100 maintenance") || !strings.Contains(out, "--- chunk 0") || !strings.Contains(strings.ToLower(out), "reset") {
		t.Fatalf("docs get: %v\n%s", err, out)
	}
	if out, err := cli(t, "docs", "delete", "--node", p.url, "pump-p100.md"); err != nil || !strings.Contains(out, "deleted pump-p100.md from shard default") {
		t.Fatalf("docs delete: %v\n%s", err, out)
	}
	if _, err := cli(t, "docs", "get", "--node", p.url, "pump-p100.md"); err == nil || !strings.Contains(err.Error(), `no document "pump-p100.md"`) {
		t.Errorf("docs get after delete: %v", err)
	}
	if _, err := cli(t, "docs", "list", "--node", p.url, "--shard", "nope"); err == nil || !strings.Contains(err.Error(), `no shard "nope"`) {
		t.Errorf("docs list of a missing shard: %v", err)
	}
	if _, err := cli(t, "docs", "get", "--node", p.url); err == nil || !strings.Contains(err.Error(), "needs one document ID") {
		t.Errorf("docs get without an ID: %v", err)
	}

	out, err = cli(t, "shards", "--node", p.url)
	if err != nil || !strings.Contains(out, "SHARD") || !strings.Contains(out, "default") || !strings.Contains(out, "  4  ") {
		t.Errorf("shards: %v\n%s", err, out)
	}
	out, err = cli(t, "status", "--node", p.url)
	if err != nil || !strings.Contains(out, "child") || !strings.Contains(out, "ready edge") || !strings.Contains(out, "no central configured") || !strings.Contains(out, "default") {
		t.Errorf("status: %v\n%s", err, out)
	}
	if _, err := cli(t, "sync", "now", "--node", p.url); err == nil || !strings.Contains(err.Error(), "fleet sync is off") {
		t.Errorf("sync now without fleet sync: %v", err)
	}
}
