package node_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/edgerag/edgerag/node"
	"github.com/edgerag/edgerag/node/api"
)

func search(t *testing.T, n *node.Node, q string) []string {
	t.Helper()
	r, err := n.Search(context.Background(), q, "", 5)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, h := range r.Hits {
		ids = append(ids, h.DocID)
	}
	return ids
}

// A restart opens the snapshot Close wrote; one that no longer matches the
// store (here: an older snapshot put back, as after a kill -9 that skipped
// Close) is ignored and the index rebuilt, so no write is ever lost.
func TestIndexSnapshotOnlyWhenCurrent(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	snap := filepath.Join(dir, "postings", "64656661756c74.snap") // hex("default")
	n := newNode(t, dir)
	if _, err := n.Ingest(ctx, manuals); err != nil {
		t.Fatal(err)
	}
	must(t, n.Close())
	v1, err := os.ReadFile(snap)
	if err != nil {
		t.Fatalf("Close wrote no snapshot: %v", err)
	}

	n2 := newNode(t, dir)
	if got := search(t, n2, "hydraulic oil litres"); len(got) == 0 || got[0] != "press" {
		t.Fatalf("from the snapshot: %v", got)
	}
	// Writes after opening a snapshot work: chunk references are counted
	// on the first write.
	if _, err := n2.Ingest(ctx, []api.Document{{ID: "crane", Body: "The gantry crane lifts twelve tonnes."}}); err != nil {
		t.Fatal(err)
	}
	if _, err := n2.Delete(ctx, "", "page"); err != nil {
		t.Fatal(err)
	}
	must(t, n2.Close())
	must(t, os.WriteFile(snap, v1, 0o600)) // stale: version 1, store at 3

	n3 := newNode(t, dir)
	if got := search(t, n3, "gantry crane tonnes"); len(got) == 0 || got[0] != "crane" {
		t.Errorf("a stale snapshot was used: the later document is missing (%v)", got)
	}
	if got := search(t, n3, "conveyor pull-cord"); len(got) != 0 {
		t.Errorf("a stale snapshot was used: the deleted document is found (%v)", got)
	}
	must(t, n3.Close())
	must(t, os.WriteFile(snap, []byte("edgesnp1 but damaged"), 0o600))
	n4 := newNode(t, dir)
	if got := search(t, n4, "gantry crane tonnes"); len(got) == 0 || got[0] != "crane" {
		t.Errorf("after a damaged snapshot: %v", got)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
