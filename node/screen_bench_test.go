package node_test

import (
	"context"
	"os"
	"testing"

	"github.com/edgerag/edgerag/node"
	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/node/evalset"
)

// BenchmarkIngestScreen ingests cranfield into a fresh node with the
// injection and poisoning screen and without, alternating, so both see the
// same machine: chunks/s is the figure.
func BenchmarkIngestScreen(b *testing.B) {
	dir := "../../shared/eval/cranfield"
	if _, err := os.Stat(dir); err != nil {
		b.Skipf("no development corpus at %s: %v", dir, err)
	}
	ds, err := evalset.Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	var docs []api.Document
	if err := ds.Corpus(func(d evalset.Doc) error {
		if d.Text != "" {
			docs = append(docs, api.Document{ID: d.ID, Title: d.Title, Body: d.Text})
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	for _, screen := range []bool{true, false} {
		name := "screen"
		if !screen {
			name = "none"
		}
		b.Run(name, func(b *testing.B) {
			chunks := 0
			for b.Loop() {
				b.StopTimer()
				n, err := node.New(node.Config{DataDir: b.TempDir(), NoSync: true, DisableScreening: !screen})
				if err != nil {
					b.Fatal(err)
				}
				if err := n.Open(context.Background()); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				for i := 0; i < len(docs); i += 500 {
					resp, err := n.Ingest(context.Background(), docs[i:min(i+500, len(docs))])
					if err != nil {
						b.Fatal(err)
					}
					for _, d := range resp.Documents {
						chunks += d.Chunks
					}
				}
				b.StopTimer()
				n.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(chunks)/b.Elapsed().Seconds(), "chunks/s")
		})
	}
}
