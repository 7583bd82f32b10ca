package confidence

// DefaultModel returns the confidence model fitted on the development sets
// (cranfield and squad-v1.1-dev, hold-out construction with seed 1, BM25
// defaults, the embedded extractive answerer). Regenerate it with:
//
//	edgerag eval --abstain --min-confidence 1e-9 --rows-out cran.jsonl ../shared/eval/cranfield
//	edgerag eval --abstain --min-confidence 1e-9 --rows-out squad.jsonl ../shared/eval/squad-v1.1-dev
//	go run ./models/confidence/fitcal cran.jsonl squad.jsonl
//
// The near-zero threshold keeps the node from abstaining on low confidence
// while the rows are made, so that the labels do not depend on the model
// being replaced.
//
// and paste the output here. BENCHMARKS.md has what it reaches on the
// development sets and on the sets it was not fitted on.
func DefaultModel() Model {
	return Model{
		Held: Calibration{Bias: -7.3602, Features: []Feature{
			{Signal: "passage_coverage", Weight: 7.4562},
			{Signal: "term_coverage", Weight: -1.0822},
			{Signal: "top_score_norm", Weight: 7.0602},
			{Signal: "margin", Weight: 1.9059},
			{Signal: "missing_rare", Weight: 1.5978},
			{Signal: "unseen_mass", Weight: -5.3105},
			{Signal: "phrase_coverage", Weight: 3.3293},
		}},
		Answer: Calibration{Bias: -4.0116, Features: []Feature{
			{Signal: "passage_coverage", Weight: 2.9307},
			{Signal: "term_coverage", Weight: 0.4907},
			{Signal: "top_score_norm", Weight: -2.6890},
			{Signal: "margin", Weight: 4.7783},
			{Signal: "missing_rare", Weight: 1.6661},
			{Signal: "unseen_mass", Weight: 0.3141},
			{Signal: "phrase_coverage", Weight: 2.3051},
			{Signal: "answer_idf_coverage", Weight: 1.7938},
		}},
	}
}
