package evalset

import (
	"math"
	"testing"
)

func TestSplitHoldOutArticles(t *testing.T) {
	var docs []Doc
	var qs []Query
	for a := range 10 {
		for p := range 3 {
			id := string(rune('a'+a)) + string(rune('0'+p))
			docs = append(docs, Doc{ID: id, Title: "article " + string(rune('a'+a)), Text: "x"})
			qs = append(qs, Query{ID: "q" + id, Text: "?", ContextID: id, Answers: []string{"x"}})
		}
	}
	qs = append(qs, Query{ID: "imp", Text: "?", ContextID: "a0", Answers: []string{}, Impossible: true})
	h := SplitHoldOut(docs, qs, nil, 7)
	if !h.QA || len(h.Indexed) != 15 {
		t.Fatalf("QA %v, %d indexed: want QA and 15 (5 whole articles)", h.QA, len(h.Indexed))
	}
	for _, d := range docs {
		if h.Indexed[d.ID] != h.Indexed[d.ID[:1]+"0"] {
			t.Errorf("article of %s split across the halves", d.ID)
		}
	}
	for _, q := range h.Answerable {
		if !h.Indexed[q.ContextID] {
			t.Errorf("answerable %s: context not indexed", q.ID)
		}
	}
	for _, q := range h.LeftOut {
		if h.Indexed[q.ContextID] {
			t.Errorf("left-out %s: context indexed", q.ID)
		}
	}
	if n := len(h.Answerable) + len(h.LeftOut) + len(h.Impossible); n != len(qs) {
		t.Errorf("%d questions placed, want %d", n, len(qs))
	}
	again := SplitHoldOut(docs, qs, nil, 7)
	for id := range h.Indexed {
		if !again.Indexed[id] {
			t.Fatal("same seed drew a different half")
		}
	}
}

func TestSplitHoldOutJudged(t *testing.T) {
	docs := []Doc{{ID: "1"}, {ID: "2"}, {ID: "3"}, {ID: "4"}, {ID: "5"}}
	qs := []Query{{ID: "a"}, {ID: "b"}, {ID: "c"}, {ID: "d"}, {ID: "unjudged"}}
	qrels := Qrels{"a": {"1": 1}, "b": {"2": 1, "3": 1}, "c": {"3": 1}, "d": {"4": 2}}
	h := SplitHoldOut(docs, qs, qrels, 1)
	if h.QA {
		t.Fatal("retrieval set taken for a QA set")
	}
	if !h.Indexed["5"] {
		t.Error("a document relevant to nothing must stay indexed")
	}
	for _, q := range h.Answerable {
		held := false
		for d := range qrels.Relevant(q.ID) {
			held = held || h.Indexed[d]
		}
		if !held {
			t.Errorf("answerable %s has no relevant document indexed", q.ID)
		}
	}
	for _, q := range h.LeftOut {
		for d := range qrels.Relevant(q.ID) {
			if h.Indexed[d] {
				t.Errorf("left-out %s has relevant %s indexed", q.ID, d)
			}
		}
	}
	if len(h.LeftOut) < 2 || len(h.Answerable)+len(h.LeftOut) != 4 {
		t.Errorf("%d answerable, %d left out: want the 4 judged questions, at least half left out", len(h.Answerable), len(h.LeftOut))
	}
}

func TestAUROC(t *testing.T) {
	tests := []struct {
		name     string
		pos, neg []float64
		want     float64
	}{
		{"perfect", []float64{0.9, 0.8}, []float64{0.1, 0.2}, 1},
		{"reversed", []float64{0.1}, []float64{0.9}, 0},
		{"all tied", []float64{0.5, 0.5}, []float64{0.5}, 0.5},
		{"one of four pairs wrong", []float64{0.9, 0.4}, []float64{0.5, 0.1}, 0.75},
		{"empty side", nil, []float64{0.1}, 0.5},
	}
	for _, tt := range tests {
		if got := AUROC(tt.pos, tt.neg); math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("%s: AUROC = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestSample(t *testing.T) {
	qs := []Query{{ID: "a"}, {ID: "b"}, {ID: "c"}, {ID: "d"}}
	got := Sample(qs, 2, 3)
	if len(got) != 2 {
		t.Fatalf("%d sampled, want 2", len(got))
	}
	if got[0].ID >= got[1].ID {
		t.Errorf("sample %v not in input order", got)
	}
	if len(Sample(qs, 0, 3)) != 4 || len(Sample(qs, 9, 3)) != 4 {
		t.Error("n <= 0 or n >= len must return all")
	}
}
