package ollama

import (
	"slices"
	"testing"
)

func TestValidateCitations(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		n       int
		clean   string
		cited   []int
		invalid int
	}{
		{"no marks", "Plain answer.", 3, "Plain answer.", nil, 0},
		{"all valid", "A [1] and B [3].", 3, "A [1] and B [3].", []int{1, 3}, 0},
		{"repeated and unordered", "B [2]. A [1]. B again [2].", 2, "B [2]. A [1]. B again [2].", []int{1, 2}, 0},
		{"out of range before a full stop", "See this [4].", 3, "See this.", nil, 1},
		{"zero is not a passage", "Zero [0] here.", 3, "Zero here.", nil, 1},
		{"adjacent marks, one bad", "Fact [1][7].", 2, "Fact [1].", []int{1}, 1},
		{"list with a bad number", "Fact [1, 9, 2].", 2, "Fact [1, 2].", []int{1, 2}, 1},
		{"list all bad", "Fact [8,9].", 2, "Fact.", nil, 2},
		{"list all valid kept as written", "Fact [1,2].", 2, "Fact [1,2].", []int{1, 2}, 0},
		{"no passages", "Claim [1].", 0, "Claim.", nil, 1},
		{"bad mark at the start", "[5] Starts here [1].", 1, "Starts here [1].", []int{1}, 1},
		{"bad mark at a line start", "One [1].\n[5] Two.", 1, "One [1].\nTwo.", []int{1}, 1},
		{"bad mark between words keeps them apart", "left [9]right", 1, "left right", nil, 1},
		{"bad mark glued to words", "left[9]right", 1, "left right", nil, 1},
		{"bad mark before a comma", "Paris [9], France", 1, "Paris, France", nil, 1},
		{"huge number", "x [99999999999999999999999].", 5, "x.", nil, 1},
		{"spaces inside brackets", "x [ 2 ].", 2, "x [ 2 ].", []int{2}, 0},
		{"not citations", "array[i] and [a] and [1a] and [-1]", 1, "array[i] and [a] and [1a] and [-1]", nil, 0},
		{"multibyte text around marks", "Grüße [2] — ok [7]", 2, "Grüße [2] — ok", []int{2}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clean, cited, invalid := ValidateCitations(tt.text, tt.n)
			if clean != tt.clean || !slices.Equal(cited, tt.cited) || invalid != tt.invalid {
				t.Errorf("ValidateCitations(%q, %d) = %q, %v, %d; want %q, %v, %d",
					tt.text, tt.n, clean, cited, invalid, tt.clean, tt.cited, tt.invalid)
			}
		})
	}
}

func FuzzValidateCitations(f *testing.F) {
	f.Add("A [1] b [9], c [2, 8].", 3)
	f.Add("[0][1]\n [4] x", 2)
	f.Fuzz(func(t *testing.T, text string, n int) {
		n %= 50
		clean, cited, _ := ValidateCitations(text, n)
		again, cited2, invalid2 := ValidateCitations(clean, n)
		if again != clean || invalid2 != 0 || !slices.Equal(cited, cited2) {
			t.Fatalf("not idempotent: %q -> %q (%v) -> %q (%v, %d invalid)", text, clean, cited, again, cited2, invalid2)
		}
		for i, k := range cited {
			if k < 1 || k > n || (i > 0 && cited[i-1] >= k) {
				t.Fatalf("cited %v is not ascending and within 1..%d", cited, n)
			}
		}
	})
}
