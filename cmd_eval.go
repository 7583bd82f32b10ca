package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/edgerag/edgerag/models"
	"github.com/edgerag/edgerag/models/ollama"
	"github.com/edgerag/edgerag/node"
	"github.com/edgerag/edgerag/node/answereval"
	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/node/chunk"
	"github.com/edgerag/edgerag/node/evalset"
	"github.com/edgerag/edgerag/node/lexical"
	"github.com/edgerag/edgerag/node/route"
	"github.com/edgerag/edgerag/node/trust/attackeval"
)

// evalReport is what 'edgerag eval' prints; --json emits it as one object.
type evalReport struct {
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

func runEval(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("eval", "[flags] DIR", stderr)
	asJSON := fs.Bool("json", false, "print the figures as one JSON object")
	runOut := fs.String("run-out", "", "write the ranking as a TREC run to this file")
	limit := fs.Int("limit", 0, "evaluate only the first N queries (0: all)")
	fleet := fs.Int("fleet", 0, "model a fleet: central with the whole dataset and N edges holding one partition each, over QUIC")
	escalateBelow := fs.Float64("escalate-below", route.DefaultThresholds().MinConfidence, "with --fleet: edges ask central below this confidence")
	seed := fs.Uint64("seed", 1, "with --fleet: seed of the query-to-edge assignment; with --abstain: of the indexed half")
	abstain := fs.Bool("abstain", false, "index half of the collection (drawn with --seed), ask about both halves, report abstention and answer support")
	perSide := fs.Int("per-side", 0, "with --abstain: ask at most N questions of each side (0: all)")
	rowsOut := fs.String("rows-out", "", "with --abstain: write each question's signals and label as JSON lines (calibration input)")
	minConf := fs.Float64("min-confidence", 0, "with --abstain: the node's abstention threshold (0: the default)")
	var chunking chunk.Options
	fs.IntVar(&chunking.MaxTokens, "chunk-tokens", chunk.DefaultMaxTokens, "token budget of a chunk (words)")
	var p lexical.Params
	fs.Float64Var(&p.K1, "bm25-k1", lexical.DefaultParams().K1, "BM25 k1")
	fs.Float64Var(&p.B, "bm25-b", lexical.DefaultParams().B, "BM25 b")
	host := fs.String("ollama", "", "Ollama server for --embed-model (default http://127.0.0.1:11434)")
	embedModel := fs.String("embed-model", "", "evaluate hybrid retrieval: embed every chunk with this Ollama model first")
	attacks := fs.String("attacks", "", "score the attack set in this directory (e.g. node/trust/testdata/attacks); the dataset directories given measure the screen's false positives")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *attacks != "" {
		return runAttackEval(ctx, *attacks, fs.Args(), *asJSON, stdout)
	}
	if fs.NArg() != 1 {
		return usageError{"eval needs one dataset directory (corpus.jsonl, queries.jsonl, qrels.tsv), e.g. ../shared/eval/cranfield"}
	}
	// Both kinds of evaluation end the same way: an optional TREC run,
	// then the figures as JSON or for a person.
	report := func(rep any, runs map[string][]evalset.Ranked, order []string, print func()) error {
		if *runOut != "" {
			if err := writeRun(*runOut, runs, order); err != nil {
				return err
			}
		}
		if *asJSON {
			return json.NewEncoder(stdout).Encode(rep)
		}
		print()
		return nil
	}
	if *abstain {
		return runAbstainEval(ctx, fs.Arg(0), answereval.Options{Seed: *seed, PerSide: *perSide, BM25: p, Chunking: chunking, MinConfidence: *minConf}, *rowsOut, *asJSON, stdout)
	}
	if *fleet > 0 {
		rep, runs, order, err := fleetEval(ctx, fs.Arg(0), *fleet, p, *escalateBelow, *limit, *seed)
		if err != nil {
			return err
		}
		return report(rep, runs, order, func() { printFleet(stdout, rep) })
	}
	var emb models.Embedder
	if *embedModel != "" {
		c, err := ollama.New(ollama.Config{Host: *host, EmbedModel: *embedModel})
		if err != nil {
			return usageError{err.Error()}
		}
		if err := c.Check(ctx, nil); err != nil {
			return fmt.Errorf("eval --embed-model: %w", err)
		}
		emb = c.Embedder()
	}
	rep, runs, order, err := evaluate(ctx, fs.Arg(0), p, chunking, emb, *limit, stderr)
	if err != nil {
		return err
	}
	return report(rep, runs, order, func() {
		fmt.Fprintf(stdout, "dataset    %s (%d documents, %d chunks, %d queries)\nretrieval  %s (k1=%.2f b=%.2f)\n",
			rep.Dataset, rep.Documents, rep.Chunks, rep.Queries, rep.Retrieval, rep.K1, rep.B)
		if rep.EmbedModel != "" {
			fmt.Fprintf(stdout, "embedding  %s (%.1f s)\n", rep.EmbedModel, rep.EmbedSeconds)
		}
		fmt.Fprintf(stdout, "nDCG@10    %.4f\nRecall@10  %.4f\nRecall@100 %.4f\nMRR@10     %.4f\nlatency    p50 %.3f ms, p99 %.3f ms\ningest     %.1f s\n",
			rep.NDCG10, rep.Recall10, rep.Recall100, rep.MRR10, rep.P50MS, rep.P99MS, rep.IngestSeconds)
	})
}

// evaluate ingests a dataset into a scratch node and runs its queries
// through the node's own retrieval path.
// With an embedder, it first waits until every chunk has a vector, so that
// the figures are those of hybrid retrieval.
func evaluate(ctx context.Context, dir string, p lexical.Params, chunking chunk.Options, emb models.Embedder, limit int, progress io.Writer) (evalReport, map[string][]evalset.Ranked, []string, error) {
	ds, err := evalset.Open(dir)
	if err != nil {
		return evalReport{}, nil, nil, err
	}
	tmp, err := os.MkdirTemp("", "edgerag-eval-")
	if err != nil {
		return evalReport{}, nil, nil, err
	}
	defer os.RemoveAll(tmp)
	n, err := node.New(node.Config{Name: "eval", DataDir: tmp, NoSync: true, BM25: p, Chunking: chunking, Embedder: emb})
	if err != nil {
		return evalReport{}, nil, nil, err
	}
	if err := n.Open(ctx); err != nil {
		return evalReport{}, nil, nil, err
	}
	defer n.Close()

	start := time.Now()
	var batch []api.Document
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		_, err := n.Ingest(ctx, batch)
		batch = batch[:0]
		return err
	}
	err = ds.Corpus(func(d evalset.Doc) error {
		body := d.Text
		if body == "" {
			body = d.Title // a few corpora have empty documents; keep them findable by title
		}
		if body == "" {
			return nil
		}
		batch = append(batch, api.Document{ID: d.ID, Title: d.Title, Body: body})
		if len(batch) == 500 {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return evalReport{}, nil, nil, fmt.Errorf("ingest %s: %w", dir, err)
	}
	ingest := time.Since(start)
	var embedded time.Duration
	if emb != nil {
		start := time.Now()
		if err := waitEmbedded(ctx, n, progress); err != nil {
			return evalReport{}, nil, nil, err
		}
		embedded = time.Since(start)
	}

	queries := ds.Queries
	if limit > 0 && limit < len(queries) {
		queries = queries[:limit]
	}
	runs := make(map[string][]evalset.Ranked, len(queries))
	order := make([]string, 0, len(queries))
	lat := make([]time.Duration, 0, len(queries))
	for i, q := range queries {
		if i%256 == 0 && ctx.Err() != nil {
			return evalReport{}, nil, nil, ctx.Err()
		}
		t0 := time.Now()
		hits, err := n.SearchDocs(ctx, q.Text, 100)
		if err != nil {
			return evalReport{}, nil, nil, fmt.Errorf("query %s: %w", q.ID, err)
		}
		lat = append(lat, time.Since(t0))
		r := make([]evalset.Ranked, len(hits))
		for j, h := range hits {
			r[j] = evalset.Ranked{DocID: h.DocID, Score: h.Score}
		}
		runs[q.ID] = r
		order = append(order, q.ID)
	}
	qrels := ds.Qrels
	if limit > 0 {
		qrels = make(evalset.Qrels, len(queries))
		for _, q := range queries {
			if r, ok := ds.Qrels[q.ID]; ok {
				qrels[q.ID] = r
			}
		}
	}
	m := evalset.Score(runs, qrels)
	slices.Sort(lat)
	st, _ := n.Status(ctx)
	return evalReport{
		Dataset: dir, Retrieval: st.Retrieval, Documents: st.Documents, Chunks: st.Chunks, Queries: m.Queries,
		NDCG10: m.NDCG10, Recall10: m.Recall10, Recall100: m.Recall100, MRR10: m.MRR10,
		P50MS: msf(evalset.Percentile(lat, 50)), P99MS: msf(evalset.Percentile(lat, 99)),
		IngestSeconds: ingest.Seconds(), K1: p.K1, B: p.B,
		EmbedModel: embedModelOf(emb), EmbedSeconds: embedded.Seconds(),
	}, runs, order, nil
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

func embedModelOf(emb models.Embedder) string {
	if emb == nil {
		return ""
	}
	return emb.Model()
}

func msf(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }

func writeRun(path string, runs map[string][]evalset.Ranked, order []string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	for _, qid := range order {
		if err := evalset.WriteTREC(f, qid, runs[qid], "edgerag"); err != nil {
			f.Close()
			return fmt.Errorf("write run: %w", err)
		}
	}
	return f.Close()
}

// runAttackEval scores an attack set on scratch nodes (node/trust/attackeval).
func runAttackEval(ctx context.Context, dir string, corpora []string, asJSON bool, stdout io.Writer) error {
	full, err := attackeval.Run(ctx, dir, corpora, func(ctx context.Context, screening bool) (attackeval.Target, func(), error) {
		tmp, err := os.MkdirTemp("", "edgerag-attacks-")
		if err != nil {
			return nil, nil, err
		}
		n, err := node.New(node.Config{Name: "eval", DataDir: tmp, NoSync: true, DisableScreening: !screening})
		if err == nil {
			err = n.Open(ctx)
		}
		if err != nil {
			os.RemoveAll(tmp)
			return nil, nil, err
		}
		return n, func() { n.Close(); os.RemoveAll(tmp) }, nil
	})
	if err != nil {
		return err
	}
	if asJSON {
		return json.NewEncoder(stdout).Encode(full)
	}
	return attackeval.Print(stdout, full)
}
