package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgerag/edgerag/node/auth"
)

// TestBackupRestore: a backup of a running node, restored into a new data
// directory, serves the same documents and answers; restore refuses a
// directory that holds a store, and a file that is not a backup.
func TestBackupRestore(t *testing.T) {
	p := startNode(t, t.TempDir())
	if out, err := cli(t, "ingest", "--node", p.url, "--quiet", "scripts/sample"); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	file := filepath.Join(t.TempDir(), "node.backup")
	if out, err := cli(t, "backup", "--node", p.url, file); err != nil || !strings.Contains(out, "written to "+file) {
		t.Fatalf("backup: %v %s", err, out)
	}
	before, err := cli(t, "docs", "list", "--node", p.url)
	if err != nil {
		t.Fatal(err)
	}
	answer, err := cli(t, "query", "--node", p.url, "How do I reset the pump after a fault?")
	if err != nil {
		t.Fatal(err)
	}

	restored := filepath.Join(t.TempDir(), "restored")
	if out, err := cli(t, "restore", "--data", restored, file); err != nil || !strings.Contains(out, "edgerag serve --data "+restored) {
		t.Fatalf("restore: %v %s", err, out)
	}
	// The backup carries the node's API tokens (stored hashed), so the
	// operator's admin token of the old node is the restored node's too:
	// put it where commands given --data look for it.
	if err := os.WriteFile(filepath.Join(restored, auth.TokenFile), []byte(tokenOf(p.url)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	q := startNode(t, restored)
	if after, err := cli(t, "docs", "list", "--node", q.url); err != nil || after != before {
		t.Errorf("documents after restore: %v\n%s\nwant\n%s", err, after, before)
	}
	got, err := cli(t, "query", "--node", q.url, "How do I reset the pump after a fault?")
	first := func(s string) string { l, _, _ := strings.Cut(s, "\n"); return l }
	if err != nil || first(got) != first(answer) {
		t.Errorf("answer after restore: %v\n%s\nwant\n%s", err, got, answer)
	}

	if _, err := cli(t, "restore", "--data", restored, file); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("restore over a store: %v", err)
	}
	junk := filepath.Join(t.TempDir(), "junk")
	if err := os.WriteFile(junk, []byte("not a backup"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := cli(t, "restore", "--data", filepath.Join(t.TempDir(), "x"), junk); err == nil || !strings.Contains(err.Error(), "backup") {
		t.Errorf("restore of junk: %v", err)
	}
}

// TestRestoreDamaged: a backup cut short is refused with an error, not a
// crash.
func TestRestoreDamaged(t *testing.T) {
	p := startNode(t, t.TempDir())
	if out, err := cli(t, "ingest", "--node", p.url, "--quiet", "scripts/sample"); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	file := filepath.Join(t.TempDir(), "node.backup")
	if out, err := cli(t, "backup", "--node", p.url, file); err != nil {
		t.Fatalf("backup: %v %s", err, out)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, cut := range []int{len(b) / 2, len(b) - 3} {
		short := filepath.Join(t.TempDir(), "short")
		if err := os.WriteFile(short, b[:cut], 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := cli(t, "restore", "--data", filepath.Join(t.TempDir(), "x"), short); err == nil || !strings.Contains(err.Error(), "damaged") {
			t.Errorf("restore of %d of %d bytes: %v", cut, len(b), err)
		}
	}
}
