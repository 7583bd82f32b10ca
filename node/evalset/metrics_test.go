package evalset

import (
	"bytes"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestRankingMetrics(t *testing.T) {
	graded := map[string]int{"a": 3, "b": 2, "c": 0, "d": 1}
	idealABD := 3 + 2/math.Log2(3) + 1/math.Log2(4)
	tests := []struct {
		name             string
		ranking          []Ranked
		rel              map[string]int
		k                int
		ndcg, recall, rr float64
	}{
		{
			name:    "graded gains with a miss in between",
			ranking: []Ranked{{"a", 1}, {"x", 0.9}, {"b", 0.8}},
			rel:     graded, k: 10,
			ndcg: (3 + 2/math.Log2(4)) / idealABD, recall: 2.0 / 3, rr: 1,
		},
		{
			name:    "cut-off excludes later hits",
			ranking: []Ranked{{"x", 3}, {"a", 2}, {"b", 1}},
			rel:     graded, k: 2,
			ndcg: (3 / math.Log2(3)) / (3 + 2/math.Log2(3)), recall: 1.0 / 3, rr: 0.5,
		},
		{
			name:    "tied scores rank by doc id, not input order",
			ranking: []Ranked{{"b", 1}, {"a", 1}},
			rel:     map[string]int{"b": 1}, k: 10,
			ndcg: 1 / math.Log2(3), recall: 1, rr: 0.5,
		},
		{
			name:    "judged-not-relevant doc gains nothing",
			ranking: []Ranked{{"c", 5}, {"d", 4}},
			rel:     graded, k: 10,
			ndcg: (1 / math.Log2(3)) / idealABD, recall: 1.0 / 3, rr: 0.5,
		},
		{
			name:    "a doc listed twice is recalled once",
			ranking: []Ranked{{"d", 2}, {"d", 2}},
			rel:     map[string]int{"d": 1, "e": 1}, k: 10,
			ndcg: (1 + 1/math.Log2(3)) / (1 + 1/math.Log2(3)), recall: 0.5, rr: 1,
		},
		{name: "nothing relevant", ranking: []Ranked{{"a", 1}}, rel: map[string]int{"a": 0}, k: 10},
		{name: "empty ranking", rel: graded, k: 10},
		{name: "k of zero sees nothing", ranking: []Ranked{{"a", 1}}, rel: graded, k: 0},
	}
	const eps = 1e-12
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := slices.Clone(tt.ranking)
			if got := NDCG(tt.ranking, tt.rel, tt.k); math.Abs(got-tt.ndcg) > eps {
				t.Errorf("NDCG = %v, want %v", got, tt.ndcg)
			}
			if got := Recall(tt.ranking, tt.rel, tt.k); math.Abs(got-tt.recall) > eps {
				t.Errorf("Recall = %v, want %v", got, tt.recall)
			}
			if got := RR(tt.ranking, tt.rel, tt.k); math.Abs(got-tt.rr) > eps {
				t.Errorf("RR = %v, want %v", got, tt.rr)
			}
			if !slices.Equal(before, tt.ranking) {
				t.Errorf("metrics reordered the caller's slice: %v", tt.ranking)
			}
		})
	}
}

func TestScore(t *testing.T) {
	qrels := Qrels{
		"q1": {"a": 1},
		"q2": {"b": 1},         // no run: scores 0
		"q3": {"c": 0},         // nothing relevant: not scored
		"q4": {"d": 2, "e": 1}, // second hit at rank 2
	}
	runs := map[string][]Ranked{
		"q1": {{"a", 0.5}},
		"q3": {{"c", 1}},
		"q4": {{"x", 3}, {"d", 2}, {"e", 1}},
		"q9": {{"a", 1}}, // unjudged: ignored
	}
	m := Score(runs, qrels)
	if m.Queries != 3 {
		t.Fatalf("Queries = %d, want 3 (judged with a relevant doc)", m.Queries)
	}
	q4ndcg := (2/math.Log2(3) + 1/math.Log2(4)) / (2 + 1/math.Log2(3))
	want := Metrics{
		NDCG10: (1 + 0 + q4ndcg) / 3, Recall10: 2.0 / 3, Recall100: 2.0 / 3, MRR10: (1 + 0 + 0.5) / 3,
		Recall1: 1.0 / 3, Recall5: 2.0 / 3, Queries: 3,
	}
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"NDCG10", m.NDCG10, want.NDCG10}, {"Recall1", m.Recall1, want.Recall1},
		{"Recall5", m.Recall5, want.Recall5}, {"Recall10", m.Recall10, want.Recall10},
		{"Recall100", m.Recall100, want.Recall100}, {"MRR10", m.MRR10, want.MRR10},
	} {
		if math.Abs(c.got-c.want) > 1e-12 {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if empty := Score(runs, Qrels{}); empty != (Metrics{}) {
		t.Errorf("Score with no judgments = %+v, want zero", empty)
	}
}

func TestWriteTREC(t *testing.T) {
	var buf bytes.Buffer
	ranking := []Ranked{{"d2", 0.5}, {"d10", 1.5}, {"d1", 0.5}, {"d3", 1e-7}}
	if err := WriteTREC(&buf, "q7", ranking, "bm25"); err != nil {
		t.Fatal(err)
	}
	want := "q7 Q0 d10 1 1.5 bm25\n" +
		"q7 Q0 d1 2 0.5 bm25\n" + // tie with d2 broken by doc id
		"q7 Q0 d2 3 0.5 bm25\n" +
		"q7 Q0 d3 4 1e-07 bm25\n"
	if buf.String() != want {
		t.Errorf("got\n%swant\n%s", buf.String(), want)
	}
	if buf.Reset(); WriteTREC(&buf, "q", nil, "t") != nil || buf.Len() != 0 {
		t.Errorf("empty ranking should write nothing and succeed")
	}

	bad := []struct {
		name, qid, tag string
		ranking        []Ranked
		wantErr        string
	}{
		{"space in qid", "q 1", "t", nil, "query id \"q 1\" contains white space"},
		{"empty tag", "q", "", nil, "run tag is empty"},
		{"tab in doc id", "q", "t", []Ranked{{"d\t1", 1}}, "doc id"},
		{"NaN score", "q", "t", []Ranked{{"d", math.NaN()}}, "not a finite number"},
		{"infinite score", "q", "t", []Ranked{{"d", math.Inf(1)}}, "not a finite number"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := WriteTREC(&out, tt.qid, tt.ranking, tt.tag)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
			}
			if out.Len() != 0 {
				t.Errorf("wrote %q despite the error", out.String())
			}
		})
	}
}

func TestPercentile(t *testing.T) {
	ms := func(ns ...int) []time.Duration {
		out := make([]time.Duration, len(ns))
		for i, n := range ns {
			out[i] = time.Duration(n) * time.Millisecond
		}
		return out
	}
	ten := ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
	twenty := ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20)
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"median of ten is the 5th", ten, 50, 5 * time.Millisecond},
		{"p90 of ten is the 9th", ten, 90, 9 * time.Millisecond},
		{"p95 of ten rounds up to the max", ten, 95, 10 * time.Millisecond},
		{"p11 of ten is the 2nd", ten, 11, 2 * time.Millisecond},
		{"p95 of twenty is the 19th, not the 20th", twenty, 95, 19 * time.Millisecond},
		{"p0 is the minimum", ten, 0, 1 * time.Millisecond},
		{"p100 is the maximum", ten, 100, 10 * time.Millisecond},
		{"above 100 clamps", ten, 250, 10 * time.Millisecond},
		{"NaN is the minimum", ten, math.NaN(), 1 * time.Millisecond},
		{"single sample", ms(7), 99, 7 * time.Millisecond},
		{"no samples", nil, 50, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Percentile(tt.sorted, tt.p); got != tt.want {
				t.Errorf("Percentile(p=%v) = %v, want %v", tt.p, got, tt.want)
			}
		})
	}
}
