package evalrun

import (
	"context"
	"os"

	"github.com/edgerag/edgerag/node"
	"github.com/edgerag/edgerag/node/answereval"
	"github.com/edgerag/edgerag/node/trust/attackeval"
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
