package fleet_test

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/edgerag/edgerag/node"
	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/node/nodetest"
	"github.com/edgerag/edgerag/sync/probes"
)

// readJSONL decodes every line of a shared eval file into fn's argument.
func readJSONL(b *testing.B, path string, fn func(map[string]string)) {
	b.Helper()
	f, err := os.Open(path)
	if err != nil {
		b.Skipf("eval data not found (%v): the benchmark needs ../shared/eval", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]string
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			fn(m)
		}
	}
}

// BenchmarkCanaryProbeRun: one canary's run of a full probe set
// (probes.MaxPerShard questions of cranfield) on a shard of cranfield's
// 1,400 documents, answered extractively as an edge without a model does:
// what a canary adds to a rollout, twice (before and after applying).
func BenchmarkCanaryProbeRun(b *testing.B) {
	ctx := context.Background()
	dir := filepath.Join("..", "..", "..", "shared", "eval", "cranfield")
	var docs []api.Document
	readJSONL(b, filepath.Join(dir, "corpus.jsonl"), func(m map[string]string) {
		if m["text"] != "" {
			docs = append(docs, api.Document{ID: "c" + m["id"], Shard: shardName, Title: m["title"], Body: m["text"]})
		}
	})
	var questions []string
	readJSONL(b, filepath.Join(dir, "queries.jsonl"), func(m map[string]string) {
		if len(questions) < probes.MaxPerShard {
			questions = append(questions, m["text"])
		}
	})
	n := nodetest.OpenNode(b, node.Config{Name: "canary", DataDir: b.TempDir()})
	for i := 0; i < len(docs); i += 500 {
		if _, err := n.Ingest(ctx, docs[i:min(i+500, len(docs))]); err != nil {
			b.Fatal(err)
		}
	}
	set := probes.Set{Shard: shardName}
	for _, q := range questions {
		d, abstained, err := n.AnswerProbe(ctx, shardName, q)
		if err != nil {
			b.Fatal(err)
		}
		if p, err := probes.New(q, d, probes.FromOperator, time.Now()); err == nil && !abstained {
			set, _ = probes.Add(set, p, 0)
		}
	}
	b.ResetTimer()
	var t probes.Tally
	for b.Loop() {
		t = probes.Tally{}
		for _, p := range set.Probes {
			d, abstained, err := n.AnswerProbe(ctx, shardName, p.Question)
			if err != nil {
				b.Fatal(err)
			}
			t.Add(p, d, abstained)
		}
	}
	b.ReportMetric(float64(len(set.Probes)), "probes")
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N*max(len(set.Probes), 1)), "ms/probe")
	b.ReportMetric(float64(t.Agreed)/float64(max(t.Probes, 1)), "agreement")
}
