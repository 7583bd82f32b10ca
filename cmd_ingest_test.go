package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/edgerag/edgerag/node/api"
)

// ingestSink is a node's ingest endpoint that records what it is sent.
func ingestSink(t *testing.T) (string, func() []api.Document) {
	var mu sync.Mutex
	var got []api.Document
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req api.IngestRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			t.Errorf("decode: %v", err)
		}
		mu.Lock()
		got = append(got, req.Documents...)
		mu.Unlock()
		resp := api.IngestResponse{}
		for _, d := range req.Documents {
			resp.Documents = append(resp.Documents, api.IngestedDocument{ID: d.ID, Chunks: 1})
		}
		api.WriteJSON(w, http.StatusOK, resp)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, func() []api.Document { mu.Lock(); defer mu.Unlock(); return append([]api.Document(nil), got...) }
}

// TestIngestRefusesUnknownFormat: a file whose name does not say its
// format (a key, a binary) is refused with a message naming --format, and
// taken with --format; in a directory it is skipped.
func TestIngestRefusesUnknownFormat(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{"sync.pub": "edgerag-sync-v1 abc", "NOTES": "reset the pump", "a.md": "# Pump\n\nreset"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	url, got := ingestSink(t)
	for _, name := range []string{"sync.pub", "NOTES"} {
		var out, errb bytes.Buffer
		err := run(context.Background(), []string{"ingest", "--node", url, filepath.Join(dir, name)}, &out, &errb)
		if err == nil || !strings.Contains(err.Error(), "--format") || !strings.Contains(err.Error(), name) {
			t.Errorf("ingest %s: %v", name, err)
		}
	}
	if len(got()) != 0 {
		t.Fatalf("sent %+v", got())
	}
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"ingest", "--node", url, "--format", "text", filepath.Join(dir, "NOTES")}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	if d := got(); len(d) != 1 || d[0].ID != "NOTES" || d[0].Format != "text" {
		t.Errorf("--format text: sent %+v", d)
	}
	if err := run(context.Background(), []string{"ingest", "--node", url, dir}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	if d := got(); len(d) != 2 || d[1].ID != "a.md" || d[1].Format != "markdown" {
		t.Errorf("directory: sent %+v, want only a.md", d)
	}
	if err := run(context.Background(), []string{"ingest", "--format", "pdf", dir}, &out, &errb); err == nil || !strings.Contains(err.Error(), "use text, markdown, html or jsonl") {
		t.Errorf("--format pdf: %v", err)
	}
}

// TestIngestProgressOffTerminal: off a terminal a short ingest prints no
// progress bar (it used to print it twice), only the summary on stdout.
func TestIngestProgressOffTerminal(t *testing.T) {
	url, _ := ingestSink(t)
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"ingest", "--node", url, "scripts/sample"}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	if errb.Len() != 0 || !strings.HasPrefix(out.String(), "ingested 5 documents") {
		t.Errorf("stdout %q, stderr %q", out.String(), errb.String())
	}
}
