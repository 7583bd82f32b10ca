package evalrun

import (
	"context"
	"os"
	"slices"

	"github.com/edgerag/edgerag/models/confidence"
	"github.com/edgerag/edgerag/node"
	"github.com/edgerag/edgerag/node/answereval"
	"github.com/edgerag/edgerag/node/evalset"
	"github.com/edgerag/edgerag/node/lexical"
	"github.com/edgerag/edgerag/node/nodetest"
	"github.com/edgerag/edgerag/node/route"
	"github.com/edgerag/edgerag/node/trust/attackeval"
	"github.com/edgerag/edgerag/sync/pki"
)

// Attacks scores the attack set in dir on scratch nodes, with and without
// the injection screen; the dataset directories in corpora measure the
// screen's false positives (node/trust/attackeval).
func Attacks(ctx context.Context, dir string, corpora []string) (attackeval.Full, error) {
	return attackeval.Run(ctx, dir, corpora, func(ctx context.Context, screening bool) (attackeval.Target, func(), error) {
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
}

// Abstain is the hold-out construction of node/answereval, which measures
// abstention and answer support; with rowsPath, each question's signals
// and label go to that file as JSON lines (the calibration's input).
func Abstain(ctx context.Context, dir string, o answereval.Options, rowsPath string) (answereval.Report, error) {
	if rowsPath != "" {
		f, err := os.Create(rowsPath)
		if err != nil {
			return answereval.Report{}, err
		}
		defer f.Close()
		o.Rows = f
	}
	return answereval.Run(ctx, dir, o)
}

// AbstainEdge is the abstention construction asked of an edge: central
// holds the whole collection, the edge the indexed half (with central's
// term statistics, as fleet sync gives them), on loopback over real QUIC.
// Its warm-up questions escalate as users' would, so that the edge
// recalibrates from central's answers before it is measured (unless
// noRecal). escalateBelow is the edge's escalation threshold.
func AbstainEdge(escalateBelow float64, noRecal bool, recal confidence.OnlineOptions, bm25 lexical.Params, minConf float64) func(context.Context, string, []evalset.Doc) (*node.Node, func(), error) {
	return func(ctx context.Context, tmp string, all []evalset.Doc) (*node.Node, func(), error) {
		f, err := nodetest.NewFleet(tmp)
		if err != nil {
			return nil, nil, err
		}
		fail := func(err error) (*node.Node, func(), error) { f.Close(); return nil, nil, err }
		routing := route.DefaultThresholds()
		routing.MinConfidence = escalateBelow
		cfg, err := f.Config("central", pki.RoleCentral)
		if err != nil {
			return fail(err)
		}
		cfg.BM25, cfg.MinConfidence = bm25, minConf
		central, err := f.Start(ctx, cfg)
		if err != nil {
			return fail(err)
		}
		if err := ingestDocs(ctx, central.Node(), each(slices.Values(all)), func(evalset.Doc) bool { return true }); err != nil {
			return fail(err)
		}
		ecfg, err := f.Edge("edge-0", central)
		if err != nil {
			return fail(err)
		}
		ecfg.BM25, ecfg.MinConfidence, ecfg.Routing = bm25, minConf, routing
		ecfg.NoRecalibration, ecfg.Recalibration = noRecal, recal
		edge, err := f.Start(ctx, ecfg)
		if err != nil {
			return fail(err)
		}
		edge.Node().SetFleetStats(central.Node().TermStats())
		return edge.Node(), f.Close, nil
	}
}
