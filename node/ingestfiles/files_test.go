package ingestfiles

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgerag/edgerag/node/api"
)

func TestFormatOf(t *testing.T) {
	for name, want := range map[string]string{"a.md": "markdown", "B.MARKDOWN": "markdown", "x.htm": "html", "x.html": "html",
		"n.txt": "text", "c.jsonl": "jsonl", "sync.pub": "", "NOTES": "", "a.json": ""} {
		if got := FormatOf(name); got != want {
			t.Errorf("FormatOf(%q) = %q, want %q", name, got, want)
		}
	}
}

// TestReadPath: a directory yields its known files (hidden ones and
// unknown formats skipped) with their titles; a JSONL corpus a document a
// line, a title-only line with the title as body.
func TestReadPath(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"pump.md":        "intro\n# Pump P100\n\nreset it",
		"notes.txt":      "grease the valve",
		".hidden.md":     "# no",
		"key.pub":        "secret",
		"c/corpus.jsonl": `{"id":"d1","title":"T","text":"body"}` + "\n\n" + `{"id":"d2","title":"only title","text":" "}` + "\n",
	} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got := map[string]api.Document{}
	err := ReadPath(context.Background(), dir, "", func(d api.Document, _ int64) error { got[d.ID] = d; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 {
		t.Fatalf("read %d documents, want 4: %+v", len(got), got)
	}
	if d := got["pump.md"]; d.Title != "Pump P100" || d.Format != "markdown" || !strings.HasPrefix(d.Source, "file://") {
		t.Errorf("pump.md: %+v", d)
	}
	if d := got["notes.txt"]; d.Title != "notes" || d.Format != "text" {
		t.Errorf("notes.txt: %+v", d)
	}
	if d := got["d2"]; d.Body != "only title" {
		t.Errorf("title-only line: %+v", d)
	}
	if err := ReadPath(context.Background(), filepath.Join(dir, "key.pub"), "", nil); err == nil || !strings.Contains(err.Error(), "--format") {
		t.Errorf("a file named without a format: %v", err)
	}
}
