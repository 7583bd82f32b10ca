package main

import (
	"context"
	"fmt"
	"io"

	"github.com/edgerag/edgerag/models"
	"github.com/edgerag/edgerag/models/ollama"
	"github.com/edgerag/edgerag/node/answereval"
	"github.com/edgerag/edgerag/node/chunk"
	"github.com/edgerag/edgerag/node/evalrun"
	"github.com/edgerag/edgerag/node/lexical"
	"github.com/edgerag/edgerag/node/route"
	"github.com/edgerag/edgerag/node/trust/attackeval"
)

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
		full, err := evalrun.Attacks(ctx, *attacks, fs.Args())
		if err != nil || *asJSON {
			return report(full, err, evalrun.Run{}, "", *asJSON, stdout, nil)
		}
		return attackeval.Print(stdout, full)
	}
	if fs.NArg() != 1 {
		return usageError{"eval needs one dataset directory (corpus.jsonl, queries.jsonl, qrels.tsv), e.g. ../shared/eval/cranfield"}
	}
	dir := fs.Arg(0)
	if *abstain {
		rep, err := evalrun.Abstain(ctx, dir, answereval.Options{Seed: *seed, PerSide: *perSide, BM25: p, Chunking: chunking, MinConfidence: *minConf}, *rowsOut)
		return report(rep, err, evalrun.Run{}, "", *asJSON, stdout, rep.Print)
	}
	if *fleet > 0 {
		rep, run, err := evalrun.Fleet(ctx, dir, evalrun.FleetOptions{Edges: *fleet, BM25: p, EscalateBelow: *escalateBelow, Limit: *limit, Seed: *seed})
		return report(rep, err, run, *runOut, *asJSON, stdout, rep.Print)
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
	rep, run, err := evalrun.Retrieval(ctx, dir, evalrun.Options{BM25: p, Chunking: chunking, Embedder: emb, Limit: *limit, Progress: stderr})
	return report(rep, err, run, *runOut, *asJSON, stdout, rep.Print)
}

// report ends every kind of evaluation the same way: an optional TREC run,
// then the figures as JSON or for a person.
func report(rep any, err error, run evalrun.Run, runOut string, asJSON bool, stdout io.Writer, print func(io.Writer)) error {
	if err != nil {
		return err
	}
	if runOut != "" {
		if err := run.WriteTREC(runOut); err != nil {
			return err
		}
	}
	if asJSON {
		return evalrun.WriteJSON(stdout, rep)
	}
	print(stdout)
	return nil
}
