package evalset

import (
	"math"
	"testing"
)

// The expected values were produced by score.py's normalize_answer and
// f1_score (with PUNCT = set(string.punctuation), see scorepy_test.go).
func TestQAScore(t *testing.T) {
	tests := []struct {
		pred   string
		gold   []string
		norm   string // NormalizeAnswer(pred)
		em, f1 float64
	}{
		{"Denver Broncos", []string{"Denver Broncos"}, "denver broncos", 1, 1},
		{"the Denver Broncos!", []string{"Denver Broncos"}, "denver broncos", 1, 1},
		{"Broncos", []string{"Denver Broncos"}, "broncos", 0, 2.0 / 3},
		{"", []string{}, "", 1, 1},                 // unanswerable, no answer given: right
		{"", []string{"France"}, "", 0, 0},         // answerable, no answer given: wrong
		{"France", []string{}, "france", 0, 0},     // unanswerable, answer given: wrong
		{"a an the", []string{"France"}, "", 0, 0}, // normalises to no answer
		{"Santa Clara", []string{"Santa Clara, California", "Levi's Stadium"}, "santa clara", 0, 0.8},
		{"theory of the universe", []string{"Theory of universe"}, "theory of universe", 1, 1},
		{"1,000", []string{"1000"}, "1000", 1, 1},
		{"the\u2013end", []string{"\u2013end"}, "\u2013end", 1, 1}, // en dash is not ASCII punctuation
		{"ab_the", []string{"abthe"}, "abthe", 1, 1},
		{"the the cat cat", []string{"cat"}, "cat cat", 0, 2.0 / 3},
		{"paris", []string{"", "  ", "Paris"}, "paris", 1, 1},
		{"", []string{"the"}, "", 1, 1}, // a gold that normalises away means no answer
		{"Caf\u00e9 au lait", []string{"cafe au lait"}, "caf\u00e9 au lait", 0, 2.0 / 3},
		{"th\u00e9 party", []string{"the party"}, "th\u00e9 party", 0, 2.0 / 3},
		{"New\u00a0York", []string{"new york"}, "new york", 1, 1},
		{"\x1cfoo\x1dbar", []string{"foo bar"}, "foo bar", 1, 1},
		{"3rd the2", []string{"3rd the2"}, "3rd the2", 1, 1},
		{"A", []string{"a"}, "", 1, 1},
	}
	for _, tt := range tests {
		if got := NormalizeAnswer(tt.pred); got != tt.norm {
			t.Errorf("NormalizeAnswer(%q) = %q, want %q", tt.pred, got, tt.norm)
		}
		em, f1 := QAScore(tt.pred, tt.gold)
		if em != tt.em || math.Abs(f1-tt.f1) > 1e-9 {
			t.Errorf("QAScore(%q, %q) = (%v, %v), want (%v, %v)", tt.pred, tt.gold, em, f1, tt.em, tt.f1)
		}
	}
}

func TestScoreQA(t *testing.T) {
	queries := []Query{
		{ID: "r", Text: "retrieval only"}, // no answers: never scored
		{ID: "a", Text: "?", Answers: []string{"Paris"}},
		{ID: "b", Text: "?", Answers: []string{"red fox"}},
		{ID: "c", Text: "?", Answers: []string{}, Impossible: true},
	}
	preds := map[string]string{"r": "x", "a": "paris", "b": "fox"}
	got := ScoreQA(queries, preds, false)
	want := QAMetrics{ExactMatch: 0.5, F1: (1 + 2.0/3) / 2, Questions: 2}
	if got.Questions != want.Questions || got.Missing != 0 || got.ExactMatch != want.ExactMatch || math.Abs(got.F1-want.F1) > 1e-12 {
		t.Errorf("only predicted: got %+v, want %+v", got, want)
	}
	// With all, the missing prediction for the unanswerable "c" is a correct
	// "no answer".
	got = ScoreQA(queries, preds, true)
	want = QAMetrics{ExactMatch: 2.0 / 3, F1: (1 + 2.0/3 + 1) / 3, Questions: 3, Missing: 1}
	if got.Questions != want.Questions || got.Missing != want.Missing || math.Abs(got.ExactMatch-want.ExactMatch) > 1e-12 || math.Abs(got.F1-want.F1) > 1e-12 {
		t.Errorf("all: got %+v, want %+v", got, want)
	}
	if z := ScoreQA(nil, nil, true); z != (QAMetrics{}) {
		t.Errorf("no questions: got %+v, want zero", z)
	}
}

func TestContainsAnswer(t *testing.T) {
	const text = "The Broncos defeated the Panthers 24\u201310 at Levi's Stadium."
	tests := []struct {
		answers []string
		want    bool
	}{
		{[]string{"Levi's Stadium"}, true},
		{[]string{"levis stadium"}, true},
		{[]string{"the Panthers"}, true},
		{[]string{"Bronco"}, false}, // whole tokens only
		{[]string{"Carolina", "Broncos defeated"}, true},
		{[]string{"the"}, false}, // normalises to nothing
		{nil, false},
	}
	for _, tt := range tests {
		if got := ContainsAnswer(text, tt.answers); got != tt.want {
			t.Errorf("ContainsAnswer(%q) = %v, want %v", tt.answers, got, tt.want)
		}
	}
}
