// Command fitcal fits the confidence model (models/confidence
// DefaultModel) to the rows that 'edgerag eval --abstain --rows-out' writes,
// and prints it as Go source.
//
// Fit only on development sets (cranfield, squad-v1.1-dev):
//
//	edgerag eval --abstain --min-confidence 1e-9 --rows-out cran.jsonl ../shared/eval/cranfield
//	edgerag eval --abstain --min-confidence 1e-9 --rows-out squad.jsonl ../shared/eval/squad-v1.1-dev
//	go run ./models/confidence/fitcal cran.jsonl squad.jsonl
//
// Model.Held is fitted on every question of the construction, labelled by
// whether its evidence was indexed; Model.Answer on the answerable ones,
// labelled by whether the answer was supported (held a gold answer, or cited
// a relevant document). Rows are pooled as they come: a set counts by its
// number of questions.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/edgerag/edgerag/models/confidence"
)

type row struct {
	Class     string             `json:"class"`
	Supported bool               `json:"supported"`
	Signals   map[string]float64 `json:"signals"`
}

func main() {
	lambda := flag.Float64("lambda", 1, "L2 penalty on the weights")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: fitcal [-lambda L] ROWS.jsonl ...")
		os.Exit(2)
	}
	var held, answer []confidence.Sample
	for _, path := range flag.Args() {
		rows, err := read(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, "fitcal:", err)
			os.Exit(1)
		}
		for _, r := range rows {
			switch r.Class {
			case "answerable":
				held = append(held, confidence.Sample{Signals: r.Signals, Supported: true})
				answer = append(answer, confidence.Sample{Signals: r.Signals, Supported: r.Supported})
			case "left_out":
				held = append(held, confidence.Sample{Signals: r.Signals, Supported: false})
			}
		}
	}
	h, err := confidence.Fit(held, confidence.HeldSignals(), *lambda)
	if err == nil {
		var a confidence.Calibration
		a, err = confidence.Fit(answer, confidence.AnswerSignals(), *lambda)
		if err == nil {
			fmt.Printf("Model{\n\tHeld: %s,\n\tAnswer: %s,\n}\n", goSource(h), goSource(a))
			return
		}
	}
	fmt.Fprintln(os.Stderr, "fitcal:", err)
	os.Exit(1)
}

func goSource(c confidence.Calibration) string {
	s := fmt.Sprintf("Calibration{Bias: %.4f, Features: []Feature{\n", c.Bias)
	for _, f := range c.Features {
		s += fmt.Sprintf("\t\t{Signal: %q, Weight: %.4f},\n", f.Signal, f.Weight)
	}
	return s + "\t}}"
}

func read(path string) ([]row, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var rows []row
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var r row
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		rows = append(rows, r)
	}
	return rows, sc.Err()
}
