package node_test

import (
	"context"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/edgerag/edgerag/node"
	"github.com/edgerag/edgerag/node/shardstore"
)

// syncDocs is a synced shard version: documents of three chunks each.
func syncDocs(n int) []node.SyncDoc {
	topics := []string{"pump seal", "hydraulic oil", "conveyor belt", "boiler valve", "fan bearing"}
	out := make([]node.SyncDoc, n)
	for i := range out {
		d := node.SyncDoc{ID: fmt.Sprintf("doc-%03d", i), Title: fmt.Sprintf("Manual %d for the %s", i, topics[i%len(topics)]), Source: fmt.Sprintf("file:///m/%d.md", i)}
		for j := range 3 {
			d.Chunks = append(d.Chunks, node.SyncChunk{Position: j, Heading: fmt.Sprintf("Step %d", j),
				Text: fmt.Sprintf("Check the %s of unit %d every %d hours and replace worn parts of section %d.", topics[(i+j)%len(topics)], i, 100*(j+1), j)})
		}
		out[i] = d
	}
	return out
}

func applyVersion(t *testing.T, n *node.Node, v uint64, docs []node.SyncDoc) {
	t.Helper()
	ctx := context.Background()
	err := n.StageVersion(ctx, "manuals", v, func(yield func(node.SyncDoc) error) error {
		for _, d := range docs {
			if err := yield(d); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.ActivateVersion(ctx, "manuals", v, nil, nil); err != nil {
		t.Fatal(err)
	}
}

// Applying a version copies the analysed form of documents the applied
// version holds unchanged and analyses only the others; queries then score
// exactly as on a node that analysed the whole version.
func TestStageVersionAnalysesOnlyChangedDocs(t *testing.T) {
	v1 := syncDocs(40)
	v2 := slices.Clone(v1)
	clone := func(i int) *node.SyncDoc {
		d := v2[i]
		d.Chunks = slices.Clone(d.Chunks)
		d.Metadata = maps.Clone(d.Metadata)
		v2[i] = d
		return &v2[i]
	}
	clone(3).Chunks[1].Text = "Check the pump seal for leaks after every restart."
	clone(7).Title = "Manual 7 for the conveyor belt, revised"
	clone(11).Chunks[2].Heading = "Final step"
	clone(15).Metadata = map[string]string{"site": "north"}
	clone(19).Source = "file:///m/19-new.md"
	d := clone(23) // a chunk more
	d.Chunks = append(d.Chunks, node.SyncChunk{Position: 3, Heading: "Step 3", Text: "Log the fan bearing temperature."})
	v2 = slices.Delete(v2, 30, 31) // one document gone
	v2 = append(v2, node.SyncDoc{ID: "doc-new", Title: "Boiler valve manual", Chunks: []node.SyncChunk{{Text: "Open the boiler valve slowly."}}})
	const changed = 7 // 3, 7, 11, 15, 19, 23 and doc-new

	edge := newNode(t, t.TempDir())
	applyVersion(t, edge, 1, v1)
	if a, c := edge.StagedDocs(); a != 40 || c != 0 {
		t.Fatalf("first version: analysed %d, copied %d documents; want 40 analysed, none copied", a, c)
	}
	applyVersion(t, edge, 2, v2)
	a, c := edge.StagedDocs()
	if a-40 != changed || c != uint64(len(v2)-changed) {
		t.Fatalf("second version: analysed %d, copied %d documents; want %d analysed (new or changed), %d copied", a-40, c, changed, len(v2)-changed)
	}

	fresh := newNode(t, t.TempDir())
	applyVersion(t, fresh, 1, v2)
	if a, c := fresh.StagedDocs(); a != uint64(len(v2)) || c != 0 {
		t.Fatalf("fresh node: analysed %d, copied %d; want all %d analysed", a, c, len(v2))
	}
	ctx := context.Background()
	for _, q := range []string{"pump seal leaks", "conveyor belt revised", "boiler valve", "replace worn parts hours", "fan bearing temperature", "final step"} {
		got, err := edge.Search(ctx, q, "manuals", 20)
		if err != nil {
			t.Fatal(err)
		}
		want, err := fresh.Search(ctx, q, "manuals", 20)
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Hits) == 0 || len(got.Hits) != len(want.Hits) || got.MaxScore != want.MaxScore {
			t.Fatalf("%q: %d hits (max score %v) after a delta apply, %d (max score %v) after a full analysis", q, len(got.Hits), got.MaxScore, len(want.Hits), want.MaxScore)
		}
		for i := range got.Hits {
			g, w := got.Hits[i], want.Hits[i]
			if g.DocID != w.DocID || g.ChunkID != w.ChunkID || g.Position != w.Position || g.Score != w.Score {
				t.Errorf("%q hit %d: %s/%d %s score %v after a delta apply, %s/%d %s score %v after a full analysis", q, i, g.DocID, g.Position, g.ChunkID, g.Score, w.DocID, w.Position, w.ChunkID, w.Score)
			}
		}
	}
	// Every stored record, chunk texts included, is the one a full
	// analysis stores (but for the time it was stored).
	records := func(n *node.Node, keyspace string) map[string]shardstore.DocSnapshot {
		out := make(map[string]shardstore.DocSnapshot)
		_, err := n.Snapshot(ctx, keyspace, func(d shardstore.DocSnapshot) error {
			d.Meta.IngestedAt = time.Time{}
			out[d.Meta.ID] = d
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	got, want := records(edge, "manuals@2"), records(fresh, "manuals@1")
	if len(got) != len(v2) || !reflect.DeepEqual(got, want) {
		t.Errorf("stored documents differ from a full analysis's:\n%+v\n%+v", got, want)
	}
}
