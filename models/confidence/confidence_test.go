package confidence

import (
	"math"
	"testing"
)

// strong is a retrieval where the top chunk matched every query term well and
// clearly beat the runner-up.
var strong = Retrieval{TopScore: 6, SecondScore: 2, MaxScore: 10, QueryTerms: 4, MatchedTerms: 4}

func logprobs(p float64, n int) []float64 {
	lp := make([]float64, n)
	for i := range lp {
		lp[i] = math.Log(p)
	}
	return lp
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

// strongCov adds the idf coverage signals of a passage that holds the whole
// question, phrase by phrase, and an answer that speaks to all of it.
var strongCov = func() Retrieval {
	r := strong
	r.PassageCoverage, r.HasPassageCoverage = 1, true
	r.PhraseCoverage, r.HasPhraseCoverage = 1, true
	r.AnswerCoverage, r.HasAnswerCoverage = 1, true
	return r
}()

// weak is a passage that holds a third of the question, none of it in
// phrases, with most of the question's weight in terms no chunk holds.
var weak = Retrieval{TopScore: 2, SecondScore: 1.9, MaxScore: 10, QueryTerms: 6, MatchedTerms: 2,
	PassageCoverage: 0.3, HasPassageCoverage: true, MissingRare: 1, UnseenMass: 0.6,
	PhraseCoverage: 0, HasPhraseCoverage: true, AnswerCoverage: 0.3, HasAnswerCoverage: true}

func TestScoreCases(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	m := DefaultModel()
	tests := []struct {
		name     string
		r        Retrieval
		ans      map[string]float64
		g        Generation
		min, max float64 // confidence bounds, inclusive
	}{
		{"passage holds the question", strongCov, nil, Generation{}, 0.7, 1},
		{"passage holds a third of it", weak, nil, Generation{}, 0, 0.1},
		{"tokens do not change the estimate", strongCov, nil, Generation{Has: true, Logprobs: logprobs(0.01, 40)}, 0.7, 1},
		{"no match", Retrieval{MaxScore: 10, QueryTerms: 3}, map[string]float64{SignalAnswerCoverage: 1},
			Generation{Has: true, Logprobs: logprobs(0.99, 10)}, 0, 0},
		{"zero retrieval", Retrieval{}, nil, Generation{}, 0, 0},
		{"negative dense is no match", Retrieval{DenseTop: -0.3, HasDense: true}, nil, Generation{}, 0, 0},
		{"NaN everywhere", Retrieval{TopScore: nan, SecondScore: nan, MaxScore: nan, DenseTop: nan, HasDense: true,
			PassageCoverage: nan, HasPassageCoverage: true},
			map[string]float64{SignalAnswerCoverage: nan}, Generation{Has: true, Logprobs: []float64{nan}}, 0, 0},
		{"Inf scores treated as absent", Retrieval{TopScore: inf, MaxScore: inf, QueryTerms: 2, MatchedTerms: 2},
			nil, Generation{}, 0, 0},
		{"coverage above one clamps", func() Retrieval { r := strongCov; r.PassageCoverage = 7; return r }(),
			nil, Generation{}, 0.7, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := Score(tt.r, tt.ans, tt.g, m)
			if math.IsNaN(res.Confidence) || res.Confidence < tt.min-1e-9 || res.Confidence > tt.max+1e-9 {
				t.Errorf("confidence %v, want in [%v,%v] (signals %v)", res.Confidence, tt.min, tt.max, res.Signals)
			}
			for name, v := range res.Signals {
				if math.IsNaN(v) || v < 0 || v > 1 {
					t.Errorf("signal %s = %v, want in [0,1]", name, v)
				}
			}
		})
	}
}

// TestCoverageRaisesConfidence: with everything else fixed, a passage that
// holds more of the question, or an answer that speaks to more of it, is
// more likely to support the answer.
func TestCoverageRaisesConfidence(t *testing.T) {
	m := DefaultModel()
	prev := -1.0
	for _, c := range []float64{0, 0.25, 0.5, 0.75, 1} {
		r := weak
		r.PassageCoverage, r.AnswerCoverage = c, c
		got := Score(r, nil, Generation{}, m).Confidence
		if !(got > prev) {
			t.Errorf("coverage %v: confidence %v, want above %v", c, got, prev)
		}
		prev = got
	}
}

func TestSignalsReported(t *testing.T) {
	r := Retrieval{TopScore: 4, SecondScore: 3, MaxScore: 8, QueryTerms: 4, MatchedTerms: 3, DenseTop: 0.7, HasDense: true}
	ans := map[string]float64{SignalAnswerCoverage: 0.5, "answer_sentences": 1.0 / 3}
	// Ten tokens: one at 0.05, nine at 0.9.
	g := Generation{Has: true, Logprobs: append([]float64{math.Log(0.05)}, logprobs(0.9, 9)...)}
	res := Score(r, ans, g, DefaultModel())
	want := map[string]float64{
		SignalTopScoreNorm:   0.5,
		SignalMargin:         0.25,
		SignalTermCoverage:   0.75,
		SignalDenseTop:       0.7,
		SignalAnswerCoverage: 0.5,
		"answer_sentences":   1.0 / 3,
		SignalTokMin:         0.05,
		SignalTokP10:         0.05 + 0.9*(0.9-0.05), // interpolated between 1st and 2nd of 10
		SignalTokP50:         0.9,
		SignalLowProbShare:   0.1,
	}
	for name, v := range want {
		got, ok := res.Signals[name]
		if !ok || !near(got, v) {
			t.Errorf("signal %s = %v (present %v), want %v", name, got, ok, v)
		}
	}
	if len(res.Signals) != len(want) {
		t.Errorf("signals %v, want exactly %v", res.Signals, want)
	}
}

func TestMarginSignal(t *testing.T) {
	tie := Retrieval{TopScore: 5, SecondScore: 5, MaxScore: 10, QueryTerms: 2, MatchedTerms: 2}
	lone := tie
	lone.SecondScore = 0
	m := DefaultModel()
	if got := Score(tie, nil, Generation{}, m).Signals[SignalMargin]; got != 0 {
		t.Errorf("tie margin = %v, want 0", got)
	}
	if got := Score(lone, nil, Generation{}, m).Signals[SignalMargin]; got != 1 {
		t.Errorf("lone hit margin = %v, want 1", got)
	}
}

func TestGenerationSignalsLengthNeutral(t *testing.T) {
	m := DefaultModel()
	for _, p := range []float64{0.3, 0.8, 0.97} {
		short := Score(strong, nil, Generation{Has: true, Logprobs: logprobs(p, 5)}, m)
		long := Score(strong, nil, Generation{Has: true, Logprobs: logprobs(p, 5000)}, m)
		for _, name := range []string{SignalTokP10, SignalTokP50, SignalLowProbShare} {
			if !near(short.Signals[name], long.Signals[name]) {
				t.Errorf("p=%v %s: short %v, long %v: want equal", p, name, short.Signals[name], long.Signals[name])
			}
		}
	}
}

func TestLogprobEdgeValues(t *testing.T) {
	tests := []struct {
		name     string
		lp       []float64
		wantMin  float64
		wantTok  bool
		wantLowS float64
	}{
		{"-Inf is probability zero", []float64{math.Inf(-1), 0}, 0, true, 0.5},
		{"positive logprob clamps to one", []float64{0.3}, 1, true, 0},
		{"NaN and +Inf skipped", []float64{math.NaN(), math.Inf(1), math.Log(0.5)}, 0.5, true, 0},
		{"only unusable tokens", []float64{math.NaN()}, 0, false, 0},
		{"no tokens", nil, 0, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := Score(strong, nil, Generation{Has: true, Logprobs: tt.lp}, DefaultModel())
			got, ok := res.Signals[SignalTokMin]
			if ok != tt.wantTok || (ok && !near(got, tt.wantMin)) {
				t.Errorf("tok_min = %v (present %v), want %v (present %v)", got, ok, tt.wantMin, tt.wantTok)
			}
			if ok && !near(res.Signals[SignalLowProbShare], tt.wantLowS) {
				t.Errorf("low_prob_share = %v, want %v", res.Signals[SignalLowProbShare], tt.wantLowS)
			}
		})
	}
}

func TestQuantile(t *testing.T) {
	tests := []struct {
		vals []float64
		q    float64
		want float64
	}{
		{[]float64{0.4}, 0.1, 0.4},
		{[]float64{0, 1}, 0.5, 0.5},
		{[]float64{0, 0.5, 1}, 0.5, 0.5},
		{[]float64{0, 0.5, 1}, 1, 1},
		{[]float64{0, 0.5, 1}, 0, 0},
	}
	for _, tt := range tests {
		if got := quantile(tt.vals, tt.q); !near(got, tt.want) {
			t.Errorf("quantile(%v, %v) = %v, want %v", tt.vals, tt.q, got, tt.want)
		}
	}
}

func TestClamp01(t *testing.T) {
	tests := []struct{ in, want float64 }{
		{math.NaN(), 0}, {-1, 0}, {0.3, 0.3}, {2, 1}, {math.Inf(1), 1}, {math.Inf(-1), 0},
	}
	for _, tt := range tests {
		if got := clamp01(tt.in); got != tt.want {
			t.Errorf("clamp01(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func BenchmarkScore(b *testing.B) {
	g := Generation{Has: true, Logprobs: logprobs(0.8, 200)}
	ans := map[string]float64{SignalAnswerCoverage: 0.9}
	m := DefaultModel()
	b.ReportAllocs()
	for b.Loop() {
		Score(strongCov, ans, g, m)
	}
}
