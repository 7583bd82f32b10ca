package node_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/edgerag/edgerag/node"
	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/node/shard"
)

// A chunk filter in the context keeps refused documents out of retrieval
// altogether: they are not returned, and the k places go to allowed ones.
func TestChunkFilterKeepsDocumentsOutOfSearch(t *testing.T) {
	ctx := context.Background()
	n := newNode(t, t.TempDir())
	var docs []api.Document
	for i := range 6 {
		docs = append(docs, api.Document{ID: fmt.Sprintf("d%d", i), Body: strings.Repeat("valve gasket ", 6-i) + fmt.Sprintf("filler text number %d", i)})
	}
	if _, err := n.Ingest(ctx, docs); err != nil {
		t.Fatal(err)
	}
	all, err := n.Search(ctx, "valve gasket", "", 3)
	if err != nil || len(all.Hits) != 3 || all.Hits[0].DocID != "d0" {
		t.Fatalf("unfiltered: %+v %v", all.Hits, err)
	}
	var asked []string
	allow := func(sh, doc string, _ shard.ChunkID) bool {
		asked = append(asked, sh+"/"+doc)
		return doc != "d0" && doc != "d2"
	}
	got, err := n.Search(node.WithChunkFilter(ctx, allow), "valve gasket", "", 3)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, h := range got.Hits {
		ids = append(ids, h.DocID)
	}
	if strings.Join(ids, " ") != "d1 d3 d4" {
		t.Errorf("filtered hits %v, want d1 d3 d4 (d0 and d2 refused)", ids)
	}
	if len(asked) == 0 || !strings.HasPrefix(asked[0], "default/") {
		t.Errorf("filter called with %v, want shard/doc pairs", asked)
	}
	// Query, built on Search, honours it too.
	q, err := n.Query(node.WithChunkFilter(ctx, allow), api.QueryRequest{Question: "valve gasket"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range q.Citations {
		if c.DocumentID == "d0" || c.DocumentID == "d2" {
			t.Errorf("refused document cited: %+v", c)
		}
	}
}
