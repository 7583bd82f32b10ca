package rollout

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

func edges(n int) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf("edge-%d", i))
	}
	return out
}

func TestCanaries(t *testing.T) {
	for _, c := range []struct {
		n     int
		share float64
		want  int
	}{{0, 0.1, 0}, {1, 0.1, 1}, {10, 0.1, 1}, {10, 0.25, 3}, {100, 0.05, 5}, {3, 1, 3}} {
		got, err := Canaries(edges(c.n), c.share)
		if err != nil || len(got) != c.want || !slices.IsSorted(got) {
			t.Errorf("%d edges, share %v: %v %v; want %d sorted", c.n, c.share, got, err, c.want)
		}
	}
	a, _ := Canaries(edges(50), 0.1)
	b, _ := Canaries(append(edges(50), "edge-0", "edge-1"), 0.1) // duplicates change nothing
	if !slices.Equal(a, b) {
		t.Errorf("canaries not deterministic: %v vs %v", a, b)
	}
	for _, bad := range []float64{0, -1, 1.5} {
		if _, err := Canaries(edges(3), bad); err == nil {
			t.Errorf("share %v accepted", bad)
		}
	}
}

func TestAdvance(t *testing.T) {
	st, err := Start("m", 4, 5, edges(10), 0.2)
	if err != nil || st.Stage != StageCanary || len(st.Canaries) != 2 {
		t.Fatalf("start: %+v %v", st, err)
	}
	c0, c1 := st.Canaries[0], st.Canaries[1]
	other := ""
	for _, e := range edges(10) {
		if e != c0 && e != c1 {
			other = e
			break
		}
	}
	if st.Allowed(c0) != 5 || st.Allowed(other) != 4 {
		t.Fatalf("canary may take %d, other %d", st.Allowed(c0), st.Allowed(other))
	}
	cases := []struct {
		name    string
		reports map[string]Report
		stage   string
		changed bool
	}{
		{"no reports", nil, StageCanary, false},
		{"one canary healthy", map[string]Report{c0: {Version: 5, Healthy: true}}, StageCanary, false},
		{"one canary still on the old version", map[string]Report{c0: {Version: 5, Healthy: true}, c1: {Version: 4, Healthy: true}}, StageCanary, false},
		{"all canaries healthy", map[string]Report{c0: {Version: 5, Healthy: true}, c1: {Version: 5, Healthy: true}}, StagePromoted, true},
		{"a canary failed", map[string]Report{c0: {Version: 5, Healthy: true}, c1: {Version: 5, Error: "hash mismatch"}}, StageHalted, true},
		{"an old failure does not count", map[string]Report{c1: {Version: 3, Error: "old"}}, StageCanary, false},
		{"non-canary failure does not count", map[string]Report{other: {Version: 5, Error: "x"}}, StageCanary, false},
	}
	for _, c := range cases {
		got, changed := st.Advance(c.reports)
		if got.Stage != c.stage || changed != c.changed {
			t.Errorf("%s: stage %s changed %v, want %s %v", c.name, got.Stage, changed, c.stage, c.changed)
		}
		if c.stage == StageHalted && (!strings.Contains(got.Reason, "hash mismatch") || got.Allowed(other) != 4) {
			t.Errorf("%s: reason %q, other may take %d", c.name, got.Reason, got.Allowed(other))
		}
		if c.stage == StagePromoted && got.Allowed(other) != 5 {
			t.Errorf("%s: promoted but others may take %d", c.name, got.Allowed(other))
		}
	}
	if _, err := st.Promote(); err != nil {
		t.Error(err)
	}
	h, _ := st.Halt("looks wrong")
	if _, err := h.Halt("again"); err == nil {
		t.Error("halting a halted rollout succeeded")
	}
	if p, _ := Start("m", 0, 1, nil, 0.1); p.Stage != StagePromoted {
		t.Errorf("a rollout with no known edges: %+v", p)
	}
	if _, err := Start("m", 5, 5, edges(2), 0.5); err == nil {
		t.Error("a rollout to the same version started")
	}
}
