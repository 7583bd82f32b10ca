package route

import (
	"math"
	"testing"
)

// TestCoverage: the share of a question's weight a node's terms hold.
func TestCoverage(t *testing.T) {
	cases := []struct {
		w    []float64
		held []bool
		want float64
	}{
		{nil, nil, 0},
		{[]float64{1, 3}, []bool{true, false}, 0.25},
		{[]float64{1, 3}, []bool{true, true}, 1},
		{[]float64{0, 2}, []bool{true, false}, 0},
		{[]float64{2, 2}, []bool{true}, 0.5}, // short held: the rest not held
	}
	for _, c := range cases {
		if got := Coverage(c.w, c.held); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("Coverage(%v, %v) = %v; want %v", c.w, c.held, got, c.want)
		}
	}
}
