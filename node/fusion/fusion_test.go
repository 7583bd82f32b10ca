package fusion

import (
	"math"
	"slices"
	"strings"
	"testing"
)

func keys[K comparable](fs []Fused[K]) []K {
	out := make([]K, len(fs))
	for i, f := range fs {
		out[i] = f.Key
	}
	return out
}

func TestRRF(t *testing.T) {
	tests := []struct {
		name    string
		lists   [][]string
		weights []float64
		k       float64
		n       int
		want    []string
	}{
		{
			name:  "first in both lists wins",
			lists: [][]string{{"a", "b", "c"}, {"a", "c", "b"}},
			k:     60, want: []string{"a", "b", "c"}, // b and c tie; b has the better best rank in list 0
		},
		{
			name:  "agreement beats one list's top hit",
			lists: [][]string{{"x", "a", "b"}, {"y", "a", "b"}},
			k:     60, want: []string{"a", "b", "x", "y"},
		},
		{
			name:    "weights shift the order",
			lists:   [][]string{{"lex", "both"}, {"dense", "both"}},
			weights: []float64{1, 3},
			k:       60, want: []string{"both", "dense", "lex"},
		},
		{
			name:    "a zero weight ignores a list",
			lists:   [][]string{{"lex", "both"}, {"dense", "both"}},
			weights: []float64{0, 1},
			k:       60, want: []string{"dense", "both", "lex"},
		},
		{
			name:  "missing from one list still ranks",
			lists: [][]string{{"a", "b"}, {"c"}},
			k:     60, want: []string{"a", "c", "b"},
		},
		{
			name:  "small k lets one list's top hit beat agreement",
			lists: [][]string{{"x", "p", "a"}, {"y", "r", "a"}},
			k:     0, want: []string{"x", "y", "a", "p", "r"},
		},
		{
			name:  "large k rewards agreement",
			lists: [][]string{{"x", "p", "a"}, {"y", "r", "a"}},
			k:     60, want: []string{"a", "x", "y", "p", "r"},
		},
		{
			name:  "repeats within a list count once at the best rank",
			lists: [][]string{{"a", "a", "a", "b"}, {"b"}},
			k:     60, want: []string{"b", "a"},
		},
		{
			name:  "n cuts",
			lists: [][]string{{"a", "b", "c", "d"}},
			k:     60, n: 2, want: []string{"a", "b"},
		},
		{
			name:  "empty",
			lists: [][]string{nil, {}},
			k:     60, want: []string{},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := RRF(tc.lists, tc.weights, tc.k, tc.n)
			if !slices.Equal(keys(got), tc.want) {
				t.Fatalf("RRF = %v, want %v", keys(got), tc.want)
			}
			for i := 1; i < len(got); i++ {
				if got[i].Score > got[i-1].Score {
					t.Errorf("not best first at %d: %v", i, got)
				}
			}
		})
	}
}

func TestRRFScoresAndRanks(t *testing.T) {
	got := RRF([][]uint64{{7, 8}, {8}}, []float64{2}, 10, 0)
	want := []Fused[uint64]{
		{Key: 8, Score: 2.0/12 + 1.0/11, Ranks: []int{2, 1}},
		{Key: 7, Score: 2.0 / 11, Ranks: []int{1, 0}},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i := range want {
		if got[i].Key != want[i].Key || math.Abs(got[i].Score-want[i].Score) > 1e-12 || !slices.Equal(got[i].Ranks, want[i].Ranks) {
			t.Errorf("item %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestRRFDeterministicTies(t *testing.T) {
	// Every item scores the same; the order must not depend on map order.
	lists := [][]string{{"d", "c"}, {"b", "a"}}
	first := keys(RRF(lists, nil, 60, 0))
	if !slices.Equal(first, []string{"d", "b", "c", "a"}) {
		t.Fatalf("ties broken as %v; want best rank, then lower list", first)
	}
	for range 50 {
		if got := keys(RRF(lists, nil, 60, 0)); !slices.Equal(got, first) {
			t.Fatalf("order changed between runs: %v then %v", first, got)
		}
	}
}

func TestHybrid(t *testing.T) {
	got := Hybrid([]string{"l1", "both"}, []string{"both", "d2"}, DefaultWeights(), 0)
	if !slices.Equal(keys(got), []string{"both", "l1", "d2"}) || !slices.Equal(got[0].Ranks, []int{2, 1}) {
		t.Fatalf("Hybrid = %+v", got)
	}
}

func TestWeightsValidate(t *testing.T) {
	if err := DefaultWeights().Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	tests := []struct {
		name string
		w    Weights
		want string
	}{
		{"negative lexical", Weights{Lexical: -1, Dense: 1, K: 60}, "lexical weight"},
		{"NaN dense", Weights{Lexical: 1, Dense: math.NaN(), K: 60}, "dense weight"},
		{"infinite k", Weights{Lexical: 1, Dense: 1, K: math.Inf(1)}, "k = +Inf"},
		{"negative k", Weights{Lexical: 1, Dense: 1, K: -5}, "k = -5"},
		{"both zero", Weights{K: 60}, "both 0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.w.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate = %v, want an error saying %q", err, tc.want)
			}
		})
	}
	for _, ok := range []Weights{{Lexical: 1, K: 0}, {Dense: 0.5, K: 10}} {
		if err := ok.Validate(); err != nil {
			t.Errorf("%+v: %v", ok, err)
		}
	}
}
