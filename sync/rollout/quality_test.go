package rollout

import (
	"strings"
	"testing"
)

func TestGate(t *testing.T) {
	q := func(v uint64, probes, agreed, abstained int) Quality {
		return Quality{Version: v, Probes: probes, Agreed: agreed, Abstained: abstained}
	}
	for _, tc := range []struct {
		name    string
		q       CanaryQuality
		m       Margins
		verdict string
		says    []string
	}{
		{"same figures", CanaryQuality{q(3, 20, 18, 1), q(4, 20, 18, 1)}, Margins{}, GatePass, []string{"agreement 0.90 → 0.90", "versions 3 → 4"}},
		{"better", CanaryQuality{q(3, 20, 15, 3), q(4, 20, 19, 0)}, Margins{}, GatePass, nil},
		{"agreement down by the margin exactly", CanaryQuality{q(3, 20, 18, 1), q(4, 20, 17, 1)}, Margins{}, GatePass, nil},
		{"agreement down beyond the margin", CanaryQuality{q(3, 20, 18, 1), q(4, 20, 12, 1)}, Margins{}, GateFail, []string{"agreement fell", "0.90 → 0.60"}},
		{"abstention up beyond the margin", CanaryQuality{q(3, 20, 18, 1), q(4, 20, 18, 6)}, Margins{}, GateFail, []string{"abstention rose", "0.05 → 0.30"}},
		{"a wider margin lets it through", CanaryQuality{q(3, 20, 18, 1), q(4, 20, 12, 1)}, Margins{Agreement: 0.5}, GatePass, nil},
		{"too few probes", CanaryQuality{q(3, 3, 3, 0), q(4, 3, 0, 3)}, Margins{}, GateWait, []string{"at least 5"}},
		{"no probes at all", CanaryQuality{}, Margins{}, GateWait, nil},
	} {
		v, why := Gate(tc.q, tc.m)
		if v != tc.verdict {
			t.Errorf("%s: verdict %s (%s), want %s", tc.name, v, why, tc.verdict)
		}
		for _, s := range tc.says {
			if !strings.Contains(why, s) {
				t.Errorf("%s: reason %q lacks %q", tc.name, why, s)
			}
		}
	}
}

func TestGateCanariesHaltsABadVersion(t *testing.T) {
	st, err := Start("manuals", 3, 4, []string{"e1", "e2", "e3", "e4"}, 0.5)
	if err != nil || len(st.Canaries) != 2 {
		t.Fatalf("start: %+v %v", st, err)
	}
	good := CanaryQuality{Previous: Quality{Version: 3, Probes: 10, Agreed: 9}, Next: Quality{Version: 4, Probes: 10, Agreed: 9}}
	bad := CanaryQuality{Previous: Quality{Version: 3, Probes: 10, Agreed: 9}, Next: Quality{Version: 4, Probes: 10, Agreed: 2, Abstained: 7}}
	stale := CanaryQuality{Previous: Quality{Version: 2, Probes: 10, Agreed: 9}, Next: Quality{Version: 3, Probes: 10, Agreed: 0}}
	c0, c1 := st.Canaries[0], st.Canaries[1]

	if next, halted := st.GateCanaries(map[string]CanaryQuality{c0: good, c1: stale}, Margins{}); halted || next.Stage != StageCanary {
		t.Errorf("figures for an older version halted the rollout: %+v", next)
	}
	if st.Passed(map[string]CanaryQuality{c0: good}, Margins{}) {
		t.Error("passed with one canary's figures missing")
	}
	if !st.Passed(map[string]CanaryQuality{c0: good, c1: good}, Margins{}) {
		t.Error("both canaries within the margins, yet not passed")
	}
	next, halted := st.GateCanaries(map[string]CanaryQuality{c0: good, c1: bad}, Margins{})
	if !halted || next.Stage != StageHalted || !strings.Contains(next.Reason, c1) || !strings.Contains(next.Reason, "0.90 → 0.20") {
		t.Fatalf("a canary answering worse did not halt it with its figures: %+v", next)
	}
	if next.Allowed("e-other") != 3 {
		t.Errorf("after the halt a non-canary may take %d; want 3", next.Allowed("e-other"))
	}
	if again, changed := next.GateCanaries(map[string]CanaryQuality{c1: bad}, Margins{}); changed || again.Stage != StageHalted {
		t.Errorf("gating a halted rollout changed it: %+v", again)
	}
}
