package evalset

import (
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestPartition(t *testing.T) {
	docs := []Doc{
		{ID: "a1", Title: "A"}, {ID: "a2", Title: "A"}, {ID: "a3", Title: "A"},
		{ID: "b1", Title: "B"},
		{ID: "c1"}, {ID: "c2"}, // untitled docs do not group with each other
		{ID: "d1", Title: "D"},
	}
	queries := []Query{{ID: "q3", Text: "?", ContextID: "d1"}}
	qrels := Qrels{
		"q1": {"b1": 1, "c1": 2}, // relevant together: b1+c1
		"q2": {"c2": 0, "a1": 0}, // judged irrelevant: no merge
		"q3": {"c2": 1, "zz": 1}, // context d1 joins c2; zz is not in docs
		"q4": {"nowhere": 1},     // unknown docs are ignored
	}
	// Groups: {a1,a2,a3}, then two of size 2 ordered by smallest id:
	// {b1,c1} before {c2,d1}.
	tests := []struct {
		n    int
		want map[string]int
	}{
		{1, map[string]int{"a1": 0, "a2": 0, "a3": 0, "b1": 0, "c1": 0, "c2": 0, "d1": 0}},
		{2, map[string]int{"a1": 0, "a2": 0, "a3": 0, "b1": 1, "c1": 1, "c2": 1, "d1": 1}},
		{3, map[string]int{"a1": 0, "a2": 0, "a3": 0, "b1": 1, "c1": 1, "c2": 2, "d1": 2}},
		{5, map[string]int{"a1": 0, "a2": 0, "a3": 0, "b1": 1, "c1": 1, "c2": 2, "d1": 2}}, // 3,4 stay empty
	}
	for _, tt := range tests {
		got, err := Partition(docs, queries, qrels, tt.n)
		if err != nil {
			t.Fatal(err)
		}
		if !maps.Equal(got, tt.want) {
			t.Errorf("n=%d: got %v, want %v", tt.n, got, tt.want)
		}
		reversed := slices.Clone(docs)
		slices.Reverse(reversed)
		if again, _ := Partition(reversed, queries, qrels, tt.n); !maps.Equal(again, got) {
			t.Errorf("n=%d: input order changed the result: %v vs %v", tt.n, again, got)
		}
	}

	if _, err := Partition(docs, queries, qrels, 0); err == nil || !strings.Contains(err.Error(), "at least 1") {
		t.Errorf("n=0: err = %v, want a count error", err)
	}
	dup := append(slices.Clone(docs), Doc{ID: "b1"})
	if _, err := Partition(dup, nil, nil, 2); err == nil || !strings.Contains(err.Error(), `"b1" appears twice`) {
		t.Errorf("duplicate ids: err = %v", err)
	}
}

func TestHomePartition(t *testing.T) {
	assign := map[string]int{"x": 2, "y": 1, "z": 1, "w": 0}
	qrels := Qrels{
		"mass": {"x": 3, "y": 1, "z": 1},  // 3 on partition 2 beats 2 on 1
		"tie":  {"x": 1, "w": 1, "y": -2}, // tie between 2 and 0: lowest wins
		"nope": {"x": 0, "unknown": 4},    // nothing relevant and assigned
		"ctx":  {"x": 0},
	}
	tests := []struct {
		q      Query
		want   int
		wantOK bool
	}{
		{Query{ID: "mass"}, 2, true},
		{Query{ID: "tie"}, 0, true},
		{Query{ID: "nope"}, 0, false},
		{Query{ID: "ctx", ContextID: "y"}, 1, true}, // unanswerable: go where its paragraph is
		{Query{ID: "ctx", ContextID: "gone"}, 0, false},
		{Query{ID: "unjudged"}, 0, false},
	}
	for _, tt := range tests {
		got, ok := HomePartition(tt.q, qrels, assign)
		if ok != tt.wantOK || (ok && got != tt.want) {
			t.Errorf("HomePartition(%+v) = %d, %v; want %d, %v", tt.q, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestPartitionSQuAD(t *testing.T) {
	dir := filepath.Join(evalRoot(), "squad-v1.1-dev")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("dataset not available (%v); the fleet split is checked only on the shared SQuAD data", err)
	}
	ds, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	var docs []Doc
	if err := ds.Corpus(func(d Doc) error { docs = append(docs, d); return nil }); err != nil {
		t.Fatal(err)
	}
	const n = 4
	assign, err := Partition(docs, ds.Queries, ds.Qrels, n)
	if err != nil {
		t.Fatal(err)
	}
	if len(assign) != len(docs) {
		t.Fatalf("assigned %d of %d docs", len(assign), len(docs))
	}

	sizes := make([]int, n)
	for _, p := range assign {
		sizes[p]++
	}
	perTitle := map[string]int{}
	for _, d := range docs {
		perTitle[d.Title]++
	}
	largest := slices.Max(slices.Collect(maps.Values(perTitle)))
	if spread := slices.Max(sizes) - slices.Min(sizes); spread > largest {
		t.Errorf("partition sizes %v differ by %d, more than the largest article (%d docs)", sizes, spread, largest)
	}
	t.Logf("partition sizes %v, largest article %d docs", sizes, largest)

	for _, q := range ds.Queries {
		parts := map[int]bool{}
		for id := range ds.Qrels.Relevant(q.ID) {
			parts[assign[id]] = true
		}
		if len(parts) != 1 {
			t.Fatalf("query %s: relevant docs spread over partitions %v", q.ID, parts)
		}
		home, ok := HomePartition(q, ds.Qrels, assign)
		if !ok || !parts[home] {
			t.Fatalf("query %s: home partition %d, %v; relevant docs are in %v", q.ID, home, ok, parts)
		}
	}
	titlePart := map[string]int{}
	for _, d := range docs {
		if p, seen := titlePart[d.Title]; seen && p != assign[d.ID] {
			t.Fatalf("article %q split between partitions %d and %d", d.Title, p, assign[d.ID])
		}
		titlePart[d.Title] = assign[d.ID]
	}

	shuffled := slices.Clone(docs)
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	again, err := Partition(shuffled, ds.Queries, ds.Qrels, n)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(again, assign) {
		t.Error("the same dataset partitioned differently on a second run with docs in another order")
	}
}
