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
		Held: Calibration{Bias: -6.0201, Features: []Feature{
			{Signal: "passage_coverage", Weight: 7.1824},
			{Signal: "term_coverage", Weight: -2.3204},
			{Signal: "top_score_norm", Weight: 8.8228},
			{Signal: "margin", Weight: 1.9632},
			{Signal: "missing_rare", Weight: 0.6889},
			{Signal: "unseen_mass", Weight: -6.2117},
			{Signal: "phrase_coverage", Weight: 3.6224},
		}},
		Answer: Calibration{Bias: -4.2012, Features: []Feature{
			{Signal: "passage_coverage", Weight: 4.6887},
			{Signal: "term_coverage", Weight: -1.5074},
			{Signal: "top_score_norm", Weight: -1.6635},
			{Signal: "margin", Weight: 5.1744},
			{Signal: "missing_rare", Weight: 1.8309},
			{Signal: "unseen_mass", Weight: -2.1444},
			{Signal: "phrase_coverage", Weight: 2.3220},
			{Signal: "answer_idf_coverage", Weight: 1.9312},
		}},
	}
}
