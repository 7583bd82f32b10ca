package evalrun

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/edgerag/edgerag/models"
	"github.com/edgerag/edgerag/models/confidence"
	"github.com/edgerag/edgerag/node/answereval"
	"github.com/edgerag/edgerag/node/chunk"
	"github.com/edgerag/edgerag/node/lexical"
	"github.com/edgerag/edgerag/node/route"
	"github.com/edgerag/edgerag/node/trust/attackeval"
)

// Config is what 'edgerag eval' runs: which evaluation, tuned how, and how
// its figures are written. AddFlags binds it to the command's flags.
type Config struct {
	JSON          bool    // the figures as one JSON object
	RunOut        string  // write the ranking as a TREC run to this file
	Limit         int     // ask only the first Limit queries (0: all)
	Fleet         int     // edges of a modelled fleet (0: one scratch node)
	EscalateBelow float64 // with Fleet
	Seed          uint64  // with Fleet and Abstain
	Warmup        float64 // with Fleet
	NoRecalibrate bool    // with Fleet
	FromModel     bool    // with Fleet: recalibration starts from the model as fitted, not the prior
	Recalibration confidence.OnlineOptions
	Abstain       bool
	PerSide       int     // with Abstain
	AbstainEdge   bool    // with Abstain
	RowsOut       string  // with Abstain
	MinConfidence float64 // with Abstain
	Chunking      chunk.Options
	BM25          lexical.Params
	OllamaHost    string
	EmbedModel    string
	Attacks       string // directory of the attack set
}

// AddFlags registers c's flags on fs, with their defaults.
func (c *Config) AddFlags(fs *flag.FlagSet) {
	fs.BoolVar(&c.JSON, "json", false, "print the figures as one JSON object")
	fs.StringVar(&c.RunOut, "run-out", "", "write the ranking as a TREC run to this file")
	fs.IntVar(&c.Limit, "limit", 0, "evaluate only the first N queries (0: all)")
	fs.IntVar(&c.Fleet, "fleet", 0, "model a fleet: central with the whole dataset and N edges holding one partition each, over QUIC")
	fs.Float64Var(&c.EscalateBelow, "escalate-below", route.DefaultThresholds().MinConfidence, "with --fleet: edges ask central below this confidence")
	fs.Uint64Var(&c.Seed, "seed", 1, "with --fleet: seed of the query-to-edge assignment; with --abstain: of the indexed half")
	fs.Float64Var(&c.Warmup, "warmup", 0.5, "with --fleet: share of the questions (drawn with --seed) asked first and not scored, whose escalations teach the edges")
	fs.BoolVar(&c.NoRecalibrate, "no-recalibrate", false, "with --fleet: edges keep the confidence as fitted (the baseline for the recalibrated run)")
	d := confidence.DefaultOnlineOptions()
	fs.IntVar(&c.Recalibration.Window, "recal-window", d.Window, "with --fleet: labelled escalations each edge's recalibration keeps")
	fs.Float64Var(&c.Recalibration.Step, "recal-step", d.Step, "with --fleet: largest move of the recalibration's scale or offset per label")
	fs.Float64Var(&c.Recalibration.Prior, "recal-prior", d.Prior, "with --fleet: weight, in labels, of the recalibration's pull toward its start")
	fs.BoolVar(&c.FromModel, "recal-from-model", false, "with --fleet: edges start from, and are pulled toward, the model as fitted instead of the fleet prior")
	fs.BoolVar(&c.Abstain, "abstain", false, "index half of the collection (drawn with --seed), ask about both halves, report abstention and answer support")
	fs.BoolVar(&c.AbstainEdge, "abstain-edge", false, "with --abstain: ask an edge whose central holds the whole collection; --warmup of the questions escalate first (unscored) so the edge recalibrates")
	fs.IntVar(&c.PerSide, "per-side", 0, "with --abstain: ask at most N questions of each side (0: all)")
	fs.StringVar(&c.RowsOut, "rows-out", "", "with --abstain: write each question's signals and label as JSON lines (calibration input)")
	fs.Float64Var(&c.MinConfidence, "min-confidence", 0, "with --abstain: the node's abstention threshold (0: the default)")
	fs.IntVar(&c.Chunking.MaxTokens, "chunk-tokens", chunk.DefaultMaxTokens, "token budget of a chunk (words)")
	fs.Float64Var(&c.BM25.K1, "bm25-k1", lexical.DefaultParams().K1, "BM25 k1")
	fs.Float64Var(&c.BM25.B, "bm25-b", lexical.DefaultParams().B, "BM25 b")
	fs.StringVar(&c.OllamaHost, "ollama", "", "Ollama server for --embed-model (default http://127.0.0.1:11434)")
	fs.StringVar(&c.EmbedModel, "embed-model", "", "evaluate hybrid retrieval: embed every chunk with this Ollama model first")
	fs.StringVar(&c.Attacks, "attacks", "", "score the attack set in this directory (e.g. node/trust/testdata/attacks); the dataset directories given measure the screen's false positives")
}

// Run runs the evaluation c names on the dataset in dir (or, with Attacks,
// the attack set against the corpora) and writes its figures to stdout;
// emb, when set, embeds every chunk first. Embedding progress goes to
// stderr.
func (c Config) Run(ctx context.Context, dir string, corpora []string, emb models.Embedder, stdout, stderr io.Writer) error {
	if c.FromModel {
		c.Recalibration.Start = confidence.NewOnline()
	}
	if !(c.Warmup >= 0 && c.Warmup < 1) {
		return fmt.Errorf("--warmup %v: want the share of questions asked first, at least 0 and below 1", c.Warmup)
	}
	switch {
	case c.Attacks != "":
		full, err := Attacks(ctx, c.Attacks, corpora)
		if err != nil || c.JSON {
			return c.write(full, err, Run{}, stdout, nil)
		}
		return attackeval.Print(stdout, full)
	case c.Abstain:
		o := answereval.Options{Seed: c.Seed, PerSide: c.PerSide, BM25: c.BM25, Chunking: c.Chunking, MinConfidence: c.MinConfidence}
		if c.AbstainEdge {
			o.Edge, o.Warmup = AbstainEdge(c.EscalateBelow, c.NoRecalibrate, c.Recalibration, c.BM25, c.MinConfidence), c.Warmup
		}
		rep, err := Abstain(ctx, dir, o, c.RowsOut)
		return c.write(rep, err, Run{}, stdout, rep.Print)
	case c.Fleet > 0:
		rep, run, err := Fleet(ctx, dir, FleetOptions{Edges: c.Fleet, BM25: c.BM25, EscalateBelow: c.EscalateBelow, Limit: c.Limit, Seed: c.Seed,
			Warmup: c.Warmup, NoRecalibration: c.NoRecalibrate, Recalibration: c.Recalibration})
		return c.write(rep, err, run, stdout, rep.Print)
	}
	rep, run, err := Retrieval(ctx, dir, Options{BM25: c.BM25, Chunking: c.Chunking, Embedder: emb, Limit: c.Limit, Progress: stderr})
	return c.write(rep, err, run, stdout, rep.Print)
}

// write ends every kind of evaluation the same way: an optional TREC run
// (not for the attack set and abstention, which rank nothing), then the
// figures as JSON or for a person.
func (c Config) write(rep any, err error, run Run, stdout io.Writer, print func(io.Writer)) error {
	if err != nil {
		return err
	}
	if c.RunOut != "" && run.Rankings != nil {
		if err := run.WriteTREC(c.RunOut); err != nil {
			return err
		}
	}
	if c.JSON {
		return WriteJSON(stdout, rep)
	}
	print(stdout)
	return nil
}
