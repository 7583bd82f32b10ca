package confidence

// DefaultModel returns the confidence model fitted on the development sets
// (cranfield and squad-v1.1-dev, hold-out construction with seed 1, BM25
// defaults, the embedded extractive answerer). Regenerate it with:
//
//	edgerag eval --abstain --rows-out cran.jsonl ../shared/eval/cranfield
//	edgerag eval --abstain --rows-out squad.jsonl ../shared/eval/squad-v1.1-dev
//	go run ./models/confidence/fitcal cran.jsonl squad.jsonl
//
// and paste the output here. BENCHMARKS.md has what it reaches on the
// development sets and on the sets it was not fitted on.
func DefaultModel() Model {
	return Model{
		Held: Calibration{Bias: -5.5148, Features: []Feature{
			{Signal: "passage_coverage", Weight: 6.3077},
			{Signal: "term_coverage", Weight: -1.7552},
			{Signal: "top_score_norm", Weight: 8.6249},
			{Signal: "margin", Weight: 2.0964},
			{Signal: "missing_rare", Weight: 0.1621},
			{Signal: "unseen_mass", Weight: -6.6310},
			{Signal: "phrase_coverage", Weight: 3.6732},
		}},
		Answer: Calibration{Bias: -5.4908, Features: []Feature{
			{Signal: "passage_coverage", Weight: 4.3886},
			{Signal: "term_coverage", Weight: -0.6029},
			{Signal: "top_score_norm", Weight: -1.6041},
			{Signal: "margin", Weight: 5.6639},
			{Signal: "missing_rare", Weight: 1.7860},
			{Signal: "unseen_mass", Weight: -2.8090},
			{Signal: "phrase_coverage", Weight: 2.6479},
			{Signal: "answer_idf_coverage", Weight: 2.7362},
		}},
	}
}
