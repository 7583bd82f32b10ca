// Package evalrun runs the evaluation datasets (shared/eval layout) through
// real nodes and reports the figures 'edgerag eval' prints: retrieval on a
// scratch node (Retrieval), a modelled fleet of edges and central over QUIC
// (Fleet), the attack set (Attacks) and abstention (Abstain, over
// node/answereval).
//
// The eval command and the quality-bar tests import it; serving code does
// not.
package evalrun

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/edgerag/edgerag/models"
	"github.com/edgerag/edgerag/node"
	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/node/chunk"
	"github.com/edgerag/edgerag/node/evalset"
	"github.com/edgerag/edgerag/node/lexical"
)

// Report is the figures of one retrieval run.
type Report struct {
	Dataset       string  `json:"dataset"`
	Retrieval     string  `json:"retrieval"`
	Documents     int     `json:"documents"`
	Chunks        int     `json:"chunks"`
	Queries       int     `json:"queries"`
	NDCG10        float64 `json:"ndcg@10"`
	Recall10      float64 `json:"recall@10"`
	Recall100     float64 `json:"recall@100"`
	MRR10         float64 `json:"mrr@10"`
	P50MS         float64 `json:"p50_ms"`
	P99MS         float64 `json:"p99_ms"`
	IngestSeconds float64 `json:"ingest_s"`
	// EmbedModel and EmbedSeconds are set when dense vectors took part.
	EmbedModel   string  `json:"embed_model,omitempty"`
	EmbedSeconds float64 `json:"embed_s,omitempty"`
	K1           float64 `json:"bm25_k1"`
	B            float64 `json:"bm25_b"`
}

// Print writes the report for a person.
func (r Report) Print(w io.Writer) {
	fmt.Fprintf(w, "dataset    %s (%d documents, %d chunks, %d queries)\nretrieval  %s (k1=%.2f b=%.2f)\n",
		r.Dataset, r.Documents, r.Chunks, r.Queries, r.Retrieval, r.K1, r.B)
	if r.EmbedModel != "" {
		fmt.Fprintf(w, "embedding  %s (%.1f s)\n", r.EmbedModel, r.EmbedSeconds)
	}
	fmt.Fprintf(w, "nDCG@10    %.4f\nRecall@10  %.4f\nRecall@100 %.4f\nMRR@10     %.4f\nlatency    p50 %.3f ms, p99 %.3f ms\ningest     %.1f s\n",
		r.NDCG10, r.Recall10, r.Recall100, r.MRR10, r.P50MS, r.P99MS, r.IngestSeconds)
}

// Run is the ranking a run produced per query, in the order asked.
type Run struct {
	Rankings map[string][]evalset.Ranked
	Order    []string
}

func newRun(n int) Run {
	return Run{Rankings: make(map[string][]evalset.Ranked, n), Order: make([]string, 0, n)}
}

func (r *Run) add(qid string, ranked []evalset.Ranked) {
	r.Rankings[qid] = ranked
	r.Order = append(r.Order, qid)
}

// WriteTREC writes the run to path in the TREC run format.
func (r Run) WriteTREC(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	for _, qid := range r.Order {
		if err := evalset.WriteTREC(f, qid, r.Rankings[qid], "edgerag"); err != nil {
			f.Close()
			return fmt.Errorf("write run: %w", err)
		}
	}
	return f.Close()
}

// Options configure a retrieval run.
type Options struct {
	BM25     lexical.Params
	Chunking chunk.Options
	// Embedder, when set, embeds every chunk before the queries are asked,
	// so that the figures are those of hybrid retrieval.
	Embedder models.Embedder
	Limit    int       // ask only the first Limit queries (0: all)
	Progress io.Writer // embedding progress; nil: none
}

// Retrieval ingests a dataset into a scratch node and runs its queries
// through the node's own retrieval path.
func Retrieval(ctx context.Context, dir string, o Options) (Report, Run, error) {
	ds, err := evalset.Open(dir)
	if err != nil {
		return Report{}, Run{}, err
	}
	tmp, err := os.MkdirTemp("", "edgerag-eval-")
	if err != nil {
		return Report{}, Run{}, err
	}
	defer os.RemoveAll(tmp)
	n, err := node.New(node.Config{Name: "eval", DataDir: tmp, NoSync: true, BM25: o.BM25, Chunking: o.Chunking, Embedder: o.Embedder})
	if err != nil {
		return Report{}, Run{}, err
	}
	if err := n.Open(ctx); err != nil {
		return Report{}, Run{}, err
	}
	defer n.Close()

	rep := Report{Dataset: dir, K1: o.BM25.K1, B: o.BM25.B}
	start := time.Now()
	if err := ingestDocs(ctx, n, ds.Corpus, func(evalset.Doc) bool { return true }); err != nil {
		return Report{}, Run{}, fmt.Errorf("ingest %s: %w", dir, err)
	}
	rep.IngestSeconds = time.Since(start).Seconds()
	if o.Embedder != nil {
		start := time.Now()
		if err := waitEmbedded(ctx, n, o.Progress); err != nil {
			return Report{}, Run{}, err
		}
		rep.EmbedModel, rep.EmbedSeconds = o.Embedder.Model(), time.Since(start).Seconds()
	}

	queries := firstN(ds.Queries, o.Limit)
	run := newRun(len(queries))
	lat := make([]time.Duration, 0, len(queries))
	for i, q := range queries {
		if i%256 == 0 && ctx.Err() != nil {
			return Report{}, Run{}, ctx.Err()
		}
		t0 := time.Now()
		hits, err := n.SearchDocs(ctx, q.Text, 100)
		if err != nil {
			return Report{}, Run{}, fmt.Errorf("query %s: %w", q.ID, err)
		}
		lat = append(lat, time.Since(t0))
		r := make([]evalset.Ranked, len(hits))
		for j, h := range hits {
			r[j] = evalset.Ranked{DocID: h.DocID, Score: h.Score}
		}
		run.add(q.ID, r)
	}
	m := evalset.Score(run.Rankings, judged(ds, queries, o.Limit))
	slices.Sort(lat)
	st, _ := n.Status(ctx)
	rep.Retrieval, rep.Documents, rep.Chunks, rep.Queries = st.Retrieval, st.Documents, st.Chunks, m.Queries
	rep.NDCG10, rep.Recall10, rep.Recall100, rep.MRR10 = m.NDCG10, m.Recall10, m.Recall100, m.MRR10
	rep.P50MS, rep.P99MS = msf(evalset.Percentile(lat, 50)), msf(evalset.Percentile(lat, 99))
	return rep, run, nil
}

// firstN is the first n queries, or all when n is 0 or more than there are.
func firstN(qs []evalset.Query, n int) []evalset.Query {
	if n > 0 && n < len(qs) {
		return qs[:n]
	}
	return qs
}

// judged is the dataset's judgements of the queries asked: all of them
// unless a limit cut the queries short.
func judged(ds *evalset.Dataset, queries []evalset.Query, limit int) evalset.Qrels {
	if limit <= 0 {
		return ds.Qrels
	}
	qrels := make(evalset.Qrels, len(queries))
	for _, q := range queries {
		if r, ok := ds.Qrels[q.ID]; ok {
			qrels[q.ID] = r
		}
	}
	return qrels
}

// ingestDocs stores the documents of corpus that keep selects in n, in
// batches of 500. A document with an empty body keeps its title as body,
// so that a few corpora's empty documents stay findable by title.
func ingestDocs(ctx context.Context, n *node.Node, corpus func(func(evalset.Doc) error) error, keep func(evalset.Doc) bool) error {
	var batch []api.Document
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		_, err := n.Ingest(ctx, batch)
		batch = batch[:0]
		return err
	}
	err := corpus(func(d evalset.Doc) error {
		body := d.Text
		if body == "" {
			body = d.Title
		}
		if body == "" || !keep(d) {
			return nil
		}
		batch = append(batch, api.Document{ID: d.ID, Title: d.Title, Body: body})
		if len(batch) == 500 {
			return flush()
		}
		return nil
	})
	if err != nil {
		return err
	}
	return flush()
}

// waitEmbedded waits until the node's retrieval is hybrid, showing the
// embedding progress; an embedder that keeps failing ends the wait with its
// error after a minute without progress.
func waitEmbedded(ctx context.Context, n *node.Node, progress io.Writer) error {
	if progress == nil {
		progress = io.Discard
	}
	last, lastChange := -1, time.Now()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		st, err := n.Status(ctx)
		if err != nil {
			return err
		}
		e := st.Embedding
		if st.Retrieval == "hybrid" && e != nil && e.Pending == 0 {
			fmt.Fprintf(progress, "\rembedded %d chunks%20s\n", e.Embedded, "")
			return nil
		}
		if e != nil && e.Embedded != last {
			last, lastChange = e.Embedded, time.Now()
			fmt.Fprintf(progress, "\rembedding %d/%d chunks", e.Embedded, e.Embedded+e.Pending)
		}
		if time.Since(lastChange) > time.Minute {
			reason := "no embedding status"
			if e != nil {
				reason = e.Error
			}
			return fmt.Errorf("eval: embedding made no progress for a minute: %s", reason)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

func msf(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }

// WriteJSON writes v as one JSON object, as --json prints every report.
func WriteJSON(w io.Writer, v any) error { return json.NewEncoder(w).Encode(v) }
