// Package confidence turns what a node measured about one answer — how well
// retrieval matched, how much of the question the answer covers, how sure the
// model was of its tokens — into a single confidence in [0,1], and returns
// every measurement by name so logs and peers can see why.
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
}

// Generation carries the natural-log probability of each generated token,
// when the model backend reports them (Has).
type Generation struct {
	Logprobs []float64
	Has      bool
}

// Weights sets how much each signal counts in the weighted mean. Only the
// ratios matter: weights are renormalised over the signals actually present,
// so a node without a model or without vectors is not penalised for lacking
// them. A zero, negative or NaN weight drops the signal from the mean (it is
// still reported).
type Weights struct {
	TopScoreNorm, Margin, TermCoverage, AnswerCoverage, DenseTop float64
	TokP10, TokP50, TokMin, LowProbShare                         float64
	HeldMass                                                     float64
	// LowProb is the token probability below which a token counts as low
	// for low_prob_share; outside (0,1) the default 0.1 is used.
	LowProb float64
}

// DefaultLowProb is the token probability below which a token counts as a
// guess: at p<0.1 the model considered at least one alternative far likelier
// in aggregate, which in grounded answers usually marks an invented detail.
const DefaultLowProb = 0.1

// DefaultWeights returns weights tuned by hand for BM25 over small shards.
// Retrieval signals dominate because an answer cannot be better than the
// text it was grounded in; generation signals refine it when a model runs.
func DefaultWeights() Weights {
	return Weights{
		TopScoreNorm:   0.25,
		Margin:         0.10,
		TermCoverage:   0.20,
		AnswerCoverage: 0.20,
		DenseTop:       0.15,
		TokP10:         0.15,
		TokP50:         0.10,
		TokMin:         0, // reported only: the minimum over n tokens falls as n grows, so it would penalise long answers
		LowProbShare:   0.15,
		HeldMass:       0.6,
		LowProb:        DefaultLowProb,
	}
}

// Result is a confidence with the signals it was computed from. Signals hold
// the measurements as they are (low_prob_share is the share of low tokens, so
// higher is worse); Score inverts such signals itself before averaging.
type Result struct {
	Confidence float64
	Signals    map[string]float64
}

// Score combines the signals into a confidence in [0,1].
//
// answerSignals are the answerer's own measurements (models.Answer.Signals);
// all of them are passed through into Result.Signals, and those Weights
// names are averaged in. Generation signals (tok_*) are computed from g when
// g.Has; otherwise any the answerer reported are used instead, so a backend
// that summarises its own logprobs still counts.
//
// When retrieval found nothing (no BM25 score and no dense hit) the
// confidence is 0 whatever else says: an answer with no grounding is not one
// this node should stand behind, however fluent the model was.
//
// NaN, ±Inf and out-of-range inputs never reach the result: they are treated
// as absent or clamped into range, as each signal's comment says.
func Score(r Retrieval, answerSignals map[string]float64, g Generation, w Weights) Result {
	// answer_coverage, the one answer signal weighted by default, is the
	// share of the question's terms the answer itself contains: retrieval can
	// match well while the chosen sentences skip half the question, and such
	// an answer probably answers a different one.
	sig := make(map[string]float64, len(answerSignals)+9)
	for name, v := range answerSignals {
		if v, ok := unit(v); ok {
			sig[name] = v
		}
	}

	top := nonNeg(r.TopScore)
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
	dense, hasDense := 0.0, false
	if r.HasDense {
		if v, ok := finite(r.DenseTop); ok {
			dense, hasDense = clamp01(v), true
			sig[SignalDenseTop] = dense
		}
	}

	// held_mass: the other signals only see the chunks this node holds, so
	// a question about something held elsewhere can still match a local
	// chunk on its common words and look fine. The fleet's term statistics
	// show which of the question's rare words this node has never seen.
	if r.HasHeldMass {
		if v, ok := unit(r.HeldMass); ok {
			sig[SignalHeldMass] = v
		}
	}

	if g.Has {
		addGeneration(sig, g.Logprobs, lowProb(w.LowProb))
	}

	if top <= 0 && (!hasDense || dense <= 0) {
		return Result{Confidence: 0, Signals: sig}
	}

	// Every term is oriented so that higher means more confident.
	terms := [...]struct {
		name   string
		weight float64
		invert bool
	}{
		{SignalTopScoreNorm, w.TopScoreNorm, false},
		{SignalMargin, w.Margin, false},
		{SignalTermCoverage, w.TermCoverage, false},
		{SignalAnswerCoverage, w.AnswerCoverage, false},
		{SignalDenseTop, w.DenseTop, false},
		{SignalTokP10, w.TokP10, false},
		{SignalTokP50, w.TokP50, false},
		{SignalTokMin, w.TokMin, false},
		{SignalLowProbShare, w.LowProbShare, true},
		{SignalHeldMass, w.HeldMass, false},
	}
	var sum, wsum float64
	for _, t := range terms {
		v, ok := sig[t.name]
		wt, wok := finite(t.weight)
		if !ok || !wok || wt <= 0 {
			continue
		}
		if t.invert {
			v = 1 - v
		}
		sum += wt * v
		wsum += wt
	}
	if wsum == 0 {
		return Result{Confidence: 0, Signals: sig}
	}
	return Result{Confidence: clamp01(sum / wsum), Signals: sig}
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

func lowProb(p float64) float64 {
	if !(p > 0 && p < 1) { // also catches NaN
		return DefaultLowProb
	}
	return p
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
