package main

import (
	"context"
	"encoding/json"
	"io"
	"os"

	"github.com/edgerag/edgerag/node/answereval"
)

// runAbstainEval is 'edgerag eval --abstain': the hold-out construction of
// node/answereval, which measures abstention and answer support.
func runAbstainEval(ctx context.Context, dir string, o answereval.Options, rowsOut string, asJSON bool, stdout io.Writer) error {
	if rowsOut != "" {
		f, err := os.Create(rowsOut)
		if err != nil {
			return err
		}
		defer f.Close()
		o.Rows = f
	}
	rep, err := answereval.Run(ctx, dir, o)
	if err != nil {
		return err
	}
	if asJSON {
		return json.NewEncoder(stdout).Encode(rep)
	}
	rep.Print(stdout)
	return nil
}
