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

func TestScoreCases(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	tests := []struct {
		name     string
		r        Retrieval
		ans      map[string]float64
		g        Generation
		w        Weights
		min, max float64 // confidence bounds, inclusive
	}{
		{"strong retrieval", strong, map[string]float64{SignalAnswerCoverage: 1}, Generation{}, DefaultWeights(), 0.75, 1},
		{"strong retrieval and confident model", strong, map[string]float64{SignalAnswerCoverage: 1},
			Generation{Has: true, Logprobs: logprobs(0.95, 40)}, DefaultWeights(), 0.8, 1},
		{"no match", Retrieval{MaxScore: 10, QueryTerms: 3}, map[string]float64{SignalAnswerCoverage: 1},
			Generation{Has: true, Logprobs: logprobs(0.99, 10)}, DefaultWeights(), 0, 0},
		{"zero retrieval", Retrieval{}, nil, Generation{}, DefaultWeights(), 0, 0},
		{"dense hit without lexical match", Retrieval{MaxScore: 10, QueryTerms: 3, DenseTop: 0.8, HasDense: true},
			nil, Generation{}, DefaultWeights(), 0.1, 0.5},
		{"negative dense is no match", Retrieval{DenseTop: -0.3, HasDense: true}, nil, Generation{}, DefaultWeights(), 0, 0},
		{"all weights zero", strong, nil, Generation{}, Weights{}, 0, 0},
		{"NaN everywhere", Retrieval{TopScore: nan, SecondScore: nan, MaxScore: nan, DenseTop: nan, HasDense: true},
			map[string]float64{SignalAnswerCoverage: nan}, Generation{Has: true, Logprobs: []float64{nan}},
			Weights{TopScoreNorm: nan}, 0, 0},
		{"Inf scores treated as absent", Retrieval{TopScore: inf, MaxScore: inf, QueryTerms: 2, MatchedTerms: 2},
			nil, Generation{}, DefaultWeights(), 0, 0},
		{"negative second score clamps", Retrieval{TopScore: 5, SecondScore: -3, MaxScore: 10, QueryTerms: 2, MatchedTerms: 2},
			nil, Generation{}, DefaultWeights(), 0.6, 1},
		{"top above max clamps", Retrieval{TopScore: 50, MaxScore: 10, QueryTerms: 1, MatchedTerms: 1},
			nil, Generation{}, DefaultWeights(), 1, 1},
		{"matched above query terms clamps", Retrieval{TopScore: 10, MaxScore: 10, QueryTerms: 1, MatchedTerms: 7},
			nil, Generation{}, DefaultWeights(), 1, 1},
		{"out-of-range answer signal clamps", strong, map[string]float64{SignalAnswerCoverage: 7},
			Generation{}, DefaultWeights(), 0.75, 1},
		{"negative weight ignored", strong, nil, Generation{}, Weights{TopScoreNorm: 1, Margin: -5}, 0.6, 0.6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := Score(tt.r, tt.ans, tt.g, tt.w)
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

func TestSignalsReported(t *testing.T) {
	r := Retrieval{TopScore: 4, SecondScore: 3, MaxScore: 8, QueryTerms: 4, MatchedTerms: 3, DenseTop: 0.7, HasDense: true}
	ans := map[string]float64{SignalAnswerCoverage: 0.5, "answer_sentences": 1.0 / 3}
	// Ten tokens: one at 0.05, nine at 0.9.
	g := Generation{Has: true, Logprobs: append([]float64{math.Log(0.05)}, logprobs(0.9, 9)...)}
	res := Score(r, ans, g, DefaultWeights())
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

func TestMarginTieLowerThanClearWinner(t *testing.T) {
	tie := Retrieval{TopScore: 5, SecondScore: 5, MaxScore: 10, QueryTerms: 2, MatchedTerms: 2}
	clear := tie
	clear.SecondScore = 1
	lone := tie
	lone.SecondScore = 0
	w := DefaultWeights()
	ct, cc, cl := Score(tie, nil, Generation{}, w), Score(clear, nil, Generation{}, w), Score(lone, nil, Generation{}, w)
	if ct.Signals[SignalMargin] != 0 {
		t.Errorf("tie margin = %v, want 0", ct.Signals[SignalMargin])
	}
	if cl.Signals[SignalMargin] != 1 {
		t.Errorf("lone hit margin = %v, want 1", cl.Signals[SignalMargin])
	}
	if !(ct.Confidence < cc.Confidence && cc.Confidence < cl.Confidence) {
		t.Errorf("confidence tie %v, clear %v, lone %v: want increasing", ct.Confidence, cc.Confidence, cl.Confidence)
	}
}

func TestGenerationLengthNeutral(t *testing.T) {
	w := DefaultWeights()
	for _, p := range []float64{0.3, 0.8, 0.97} {
		short := Score(strong, nil, Generation{Has: true, Logprobs: logprobs(p, 5)}, w)
		long := Score(strong, nil, Generation{Has: true, Logprobs: logprobs(p, 500)}, w)
		if !near(short.Confidence, long.Confidence) {
			t.Errorf("p=%v: short %v, long %v: want equal", p, short.Confidence, long.Confidence)
		}
	}
	// Longer than the stack buffer must behave the same.
	huge := Score(strong, nil, Generation{Has: true, Logprobs: logprobs(0.8, 5000)}, w)
	short := Score(strong, nil, Generation{Has: true, Logprobs: logprobs(0.8, 3)}, w)
	if !near(huge.Confidence, short.Confidence) {
		t.Errorf("5000 tokens %v, 3 tokens %v: want equal", huge.Confidence, short.Confidence)
	}
}

func TestLowProbabilityTokensLowerScore(t *testing.T) {
	w := DefaultWeights()
	base := logprobs(0.9, 20)
	clean := Score(strong, nil, Generation{Has: true, Logprobs: base}, w)
	prev := clean.Confidence
	for _, bad := range []int{1, 4, 10} {
		lp := append([]float64(nil), base...)
		for i := range bad {
			lp[i] = math.Log(0.02)
		}
		res := Score(strong, nil, Generation{Has: true, Logprobs: lp}, w)
		if !(res.Confidence < prev) {
			t.Errorf("%d low tokens: confidence %v, want below %v", bad, res.Confidence, prev)
		}
		prev = res.Confidence
	}
}

func TestLowProbThreshold(t *testing.T) {
	g := Generation{Has: true, Logprobs: []float64{math.Log(0.15), math.Log(0.9)}}
	tests := []struct {
		name string
		low  float64
		want float64
	}{
		{"default", 0, 0},
		{"raised", 0.2, 0.5},
		{"out of range falls back to default", 2, 0},
		{"NaN falls back to default", math.NaN(), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := DefaultWeights()
			w.LowProb = tt.low
			if got := Score(strong, nil, g, w).Signals[SignalLowProbShare]; got != tt.want {
				t.Errorf("low_prob_share = %v, want %v", got, tt.want)
			}
		})
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
			res := Score(strong, nil, Generation{Has: true, Logprobs: tt.lp}, DefaultWeights())
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

func TestWeightsRenormaliseWithoutGeneration(t *testing.T) {
	w := DefaultWeights()
	ans := map[string]float64{SignalAnswerCoverage: 0.8}
	res := Score(strong, ans, Generation{}, w)
	// strong: top 0.6, margin 2/3, coverage 1; no dense, no tokens.
	want := (w.TopScoreNorm*0.6 + w.Margin*(2.0/3) + w.TermCoverage*1 + w.AnswerCoverage*0.8) /
		(w.TopScoreNorm + w.Margin + w.TermCoverage + w.AnswerCoverage)
	if !near(res.Confidence, want) {
		t.Errorf("confidence %v, want %v", res.Confidence, want)
	}
	// Has=false ignores logprobs even if some were passed.
	res2 := Score(strong, ans, Generation{Logprobs: logprobs(0.01, 5)}, w)
	if !near(res2.Confidence, want) {
		t.Errorf("Has=false: confidence %v, want %v", res2.Confidence, want)
	}
}

func TestAnswererTokenSignals(t *testing.T) {
	w := DefaultWeights()
	// Without g, token signals the answerer reported are averaged in.
	ans := map[string]float64{SignalTokP10: 0.1, SignalTokP50: 0.2, SignalLowProbShare: 0.9}
	withAns := Score(strong, ans, Generation{}, w)
	without := Score(strong, nil, Generation{}, w)
	if !(withAns.Confidence < without.Confidence) {
		t.Errorf("answerer's poor token signals: %v, want below %v", withAns.Confidence, without.Confidence)
	}
	// With g, computed signals take precedence over the answerer's.
	withG := Score(strong, ans, Generation{Has: true, Logprobs: logprobs(0.95, 10)}, w)
	if !near(withG.Signals[SignalTokP50], 0.95) || withG.Signals[SignalLowProbShare] != 0 {
		t.Errorf("signals %v: want computed tok_p50 0.95 and low_prob_share 0", withG.Signals)
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
	w := DefaultWeights()
	b.ReportAllocs()
	for b.Loop() {
		Score(strong, ans, g, w)
	}
}
