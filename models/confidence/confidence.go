// Package confidence turns what a node measured about one answer into a
// single confidence: the estimated probability that the answer is supported
// by the passages it cites. It is the same computation on every route (local
// extractive, local generative, a peer's, central's), so one threshold means
// the same wherever the answer came from. Model holds the calibrated
// logistic model (DefaultModel, fitted by ./fitcal on the development sets);
// every measurement is returned by name so logs and peers can see why.
//
// It is part of the pure core: no I/O, no clocks, no globals. Any package may
// import it; it imports only the standard library.
package confidence

import (
	"math"
	"slices"
)

// Signal names. They appear in responses and logs, so they never change
// meaning.
const (
	SignalTopScoreNorm   = "top_score_norm"
	SignalMargin         = "margin"
	SignalTermCoverage   = "term_coverage"
	SignalAnswerCoverage = "answer_coverage"
	SignalDenseTop       = "dense_top"
	SignalTokP10         = "tok_p10"
	SignalTokP50         = "tok_p50"
	SignalTokMin         = "tok_min"
	SignalLowProbShare   = "low_prob_share"
	SignalHeldMass       = "held_mass"
	// SignalPassageCoverage is the largest share of the question's idf
	// mass that one of the best passages holds.
	SignalPassageCoverage = "passage_coverage"
	// SignalAnswerIDFCoverage is the share of the question's idf mass the
	// answer text itself holds, measured the same way on every route.
	SignalAnswerIDFCoverage = "answer_idf_coverage"
	// SignalMissingRare is the idf of the rarest question term the best
	// passage lacks, over the idf of a term no chunk holds.
	SignalMissingRare = "missing_rare"
	// SignalUnseenMass is the share of the question's idf mass in terms no
	// chunk searched holds.
	SignalUnseenMass = "unseen_mass"
	// SignalPhraseCoverage is the largest share of the question's adjacent
	// term pairs one passage holds side by side.
	SignalPhraseCoverage = "phrase_coverage"
)

// Retrieval describes how well the best retrieved chunks matched the query.
// Zero values mean "absent": a zero TopScore means nothing matched.
type Retrieval struct {
	TopScore, SecondScore float64 // BM25 of the best and second-best chunk (0 if absent)
	// MaxScore is the BM25 upper bound for this query, Σ idf(t)·(k1+1) over
	// the query terms, so TopScore/MaxScore lies in [0,1].
	MaxScore float64
	// QueryTerms counts distinct analysed query terms; MatchedTerms counts
	// how many of them occur in the top chunk.
	QueryTerms, MatchedTerms int
	DenseTop                 float64 // cosine of the best dense hit, valid when HasDense
	HasDense                 bool
	// HeldMass is the share of the question's idf mass, over the terms the
	// whole fleet knows, that this node holds at all; valid when HasHeldMass
	// (the node has the fleet's term statistics).
	HeldMass    float64
	HasHeldMass bool
	// PassageCoverage is the largest share of the question's idf mass that
	// one of the best passages holds; a term no passage searched holds
	// weighs as the rarest there is. Valid when HasPassageCoverage.
	PassageCoverage    float64
	HasPassageCoverage bool
	// AnswerCoverage is the share of the question's idf mass (same
	// weights) whose terms occur in the answer text, whoever wrote it.
	// Valid when HasAnswerCoverage.
	AnswerCoverage    float64
	HasAnswerCoverage bool
	// MissingRare and UnseenMass go with PassageCoverage (valid with it):
	// the idf of the rarest question term the best passage lacks over that
	// of a term no chunk holds, and the share of the question's idf mass in
	// terms no chunk holds.
	MissingRare, UnseenMass float64
	// PhraseCoverage is the largest share of the question's adjacent term
	// pairs that one passage holds side by side; valid when
	// HasPhraseCoverage (questions of two terms or more).
	PhraseCoverage    float64
	HasPhraseCoverage bool
}

// Generation carries the natural-log probability of each generated token,
// when the model backend reports them (Has).
type Generation struct {
	Logprobs []float64
	Has      bool
}

// DefaultLowProb is the token probability below which a token counts as a
// guess: at p<0.1 the model considered at least one alternative far likelier
// in aggregate, which in grounded answers usually marks an invented detail.
const DefaultLowProb = 0.1

// Result is a confidence with the signals it was computed from. Signals hold
// the measurements as they are (low_prob_share is the share of low tokens, so
// higher is worse); Score inverts such signals itself before averaging.
type Result struct {
	Confidence float64
	Signals    map[string]float64
}

// Score measures every signal and turns them into a confidence: the
// estimated probability that the answer is supported by the passages it
// cites (m.Probability over the signals; DefaultModel is fitted on the
// development sets).
//
// answerSignals are the answerer's own measurements (models.Answer.Signals);
// they are passed through into Result.Signals, and count only if m weighs
// them. Generation signals (tok_*) are computed from g when g.Has and
// reported; DefaultModel does not weigh them, since no real generation model
// was available to calibrate them on.
//
// When retrieval found nothing (no BM25 score and no dense hit) the
// confidence is 0 whatever else says: an answer with no grounding is not one
// this node should stand behind, however fluent the model was.
//
// NaN, ±Inf and out-of-range inputs never reach the result: they are treated
// as absent or clamped into range, as each signal's comment says.
func Score(r Retrieval, answerSignals map[string]float64, g Generation, m Model) Result {
	sig := make(map[string]float64, len(answerSignals)+14)
	for name, v := range answerSignals {
		if v, ok := unit(v); ok {
			sig[name] = v
		}
	}
	top, dense, hasDense := retrievalSignals(sig, r)
	if g.Has {
		addGeneration(sig, g.Logprobs, DefaultLowProb)
	}
	if top <= 0 && (!hasDense || dense <= 0) {
		return Result{Confidence: 0, Signals: sig}
	}
	return Result{Confidence: m.Probability(sig), Signals: sig}
}

// retrievalSignals adds the signals measured from r to sig and returns the
// inputs of the "nothing retrieved" test.
func retrievalSignals(sig map[string]float64, r Retrieval) (top, dense float64, hasDense bool) {
	top = nonNeg(r.TopScore)
	second := nonNeg(r.SecondScore)

	// top_score_norm: raw BM25 is not comparable across queries (it grows
	// with the number and rarity of query terms), so it is divided by the
	// query's own upper bound. One occurrence of every term in an
	// average-length chunk already scores about 1/(k1+1) ≈ 0.45, so values
	// above 0.5 mean a strong match.
	if mx := nonNeg(r.MaxScore); mx > 0 {
		sig[SignalTopScoreNorm] = clamp01(top / mx)
	}

	// margin: how far the best chunk stands above the runner-up, relative to
	// the best. A tie means retrieval could not tell two chunks apart, which
	// often means the query is ambiguous or matched only common words; a
	// lone hit (no second) is maximally decisive.
	if top > 0 {
		sig[SignalMargin] = clamp01((top - second) / top)
	}

	// term_coverage: share of the question's terms present in the top
	// chunk. BM25 can score high on one rare term repeated; this catches the
	// question's other terms being absent.
	if r.QueryTerms > 0 {
		sig[SignalTermCoverage] = clamp01(float64(r.MatchedTerms) / float64(r.QueryTerms))
	}

	// dense_top: cosine similarity of the best vector hit, which catches
	// paraphrases BM25 misses. Negative cosines mean unrelated and clamp to 0.
	if r.HasDense {
		if v, ok := finite(r.DenseTop); ok {
			dense, hasDense = clamp01(v), true
			sig[SignalDenseTop] = dense
		}
	}

	// held_mass: the share of the question's idf mass, over the terms the
	// fleet knows, that this node holds at all. Reported for operators; the
	// passage coverage below already counts the terms this node lacks as
	// unmatched, weighted by the fleet's idf.
	if r.HasHeldMass {
		if v, ok := unit(r.HeldMass); ok {
			sig[SignalHeldMass] = v
		}
	}

	// passage_coverage, missing_rare, unseen_mass: how much of the
	// question, weighted by rarity, the best passage holds. A question about
	// something this node never saw is mostly terms no chunk holds, which
	// weigh as the rarest there are.
	if r.HasPassageCoverage {
		for name, v := range map[string]float64{SignalPassageCoverage: r.PassageCoverage,
			SignalMissingRare: r.MissingRare, SignalUnseenMass: r.UnseenMass} {
			if v, ok := unit(v); ok {
				sig[name] = v
			}
		}
	}
	if r.HasPhraseCoverage {
		if v, ok := unit(r.PhraseCoverage); ok {
			sig[SignalPhraseCoverage] = v
		}
	}
	if r.HasAnswerCoverage {
		if v, ok := unit(r.AnswerCoverage); ok {
			sig[SignalAnswerIDFCoverage] = v
		}
	}
	return top, dense, hasDense
}

// addGeneration records the token-probability signals. All of them are
// quantiles or shares of per-token probabilities, never sums of logprobs:
// a sum falls with every token, so it would rate a long careful answer below
// a terse one that is no more certain per token.
//
//   - tok_p10: the probability the least sure tenth of tokens reach; the
//     answer's weak spots, robust to a single odd token.
//   - tok_p50: the median token probability; the model's overall ease.
//   - tok_min: the least likely token; reported for diagnosis but unweighted
//     by default, since the minimum of more tokens is lower by chance.
//   - low_prob_share: share of tokens below the low-probability threshold;
//     counts guesses relative to length, so it is length-neutral.
//
// NaN and +Inf logprobs carry no information and are skipped; -Inf is a
// token the model gave probability 0, and positive logprobs are rounding
// noise above probability 1, so both are clamped.
func addGeneration(sig map[string]float64, logprobs []float64, low float64) {
	// A stack buffer keeps typical answers free of heap allocation; longer
	// ones spill to the heap through append.
	var buf [512]float64
	ps := buf[:0]
	for _, lp := range logprobs {
		if math.IsNaN(lp) || math.IsInf(lp, 1) {
			continue
		}
		ps = append(ps, clamp01(math.Exp(lp)))
	}
	if len(ps) == 0 {
		return
	}
	slices.Sort(ps)
	lowN := 0
	for _, p := range ps {
		if p < low {
			lowN++
		}
	}
	sig[SignalTokP10] = quantile(ps, 0.10)
	sig[SignalTokP50] = quantile(ps, 0.50)
	sig[SignalTokMin] = ps[0]
	sig[SignalLowProbShare] = float64(lowN) / float64(len(ps))
}

// quantile returns the q-quantile of sorted values, interpolating linearly
// between neighbours so the result moves smoothly as tokens are added.
func quantile(sorted []float64, q float64) float64 {
	pos := q * float64(len(sorted)-1)
	i := int(pos)
	if i >= len(sorted)-1 {
		return sorted[len(sorted)-1]
	}
	frac := pos - float64(i)
	return sorted[i] + frac*(sorted[i+1]-sorted[i])
}

// finite reports v and whether it is a usable number.
func finite(v float64) (float64, bool) {
	return v, !math.IsNaN(v) && !math.IsInf(v, 0)
}

// unit clamps a signal into [0,1], rejecting NaN. ±Inf clamp to the bound
// they point at, since they still say "as high/low as it gets".
func unit(v float64) (float64, bool) {
	if math.IsNaN(v) {
		return 0, false
	}
	return clamp01(v), true
}

// nonNeg turns scores that cannot be trusted (NaN, Inf, negative) into 0,
// i.e. "absent": a score of +Inf is a bug upstream, not a perfect match.
func nonNeg(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return 0
	}
	return v
}

func clamp01(v float64) float64 {
	switch {
	case math.IsNaN(v):
		return 0
	case v < 0:
		return 0
	case v > 1:
		return 1
	}
	return v
}
