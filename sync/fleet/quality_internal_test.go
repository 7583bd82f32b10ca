package fleet

import (
	"testing"

	"github.com/edgerag/edgerag/sync/rollout"
)

func TestCheckQuality(t *testing.T) {
	q := func(v uint64, probes, agreed, abstained int) rollout.Quality {
		return rollout.Quality{Version: v, Probes: probes, Agreed: agreed, Abstained: abstained}
	}
	for _, tc := range []struct {
		name string
		q    *rollout.CanaryQuality
		ok   bool
	}{
		{"none", nil, true},
		{"sound", &rollout.CanaryQuality{Previous: q(3, 10, 9, 1), Next: q(4, 10, 2, 7)}, true},
		{"for another version", &rollout.CanaryQuality{Previous: q(3, 10, 9, 1), Next: q(5, 10, 9, 1)}, false},
		{"more agreed than asked", &rollout.CanaryQuality{Previous: q(3, 10, 11, 0), Next: q(4, 10, 9, 1)}, false},
		{"negative", &rollout.CanaryQuality{Previous: q(3, 10, 9, 1), Next: q(4, -1, 0, 0)}, false},
		{"more abstained than asked", &rollout.CanaryQuality{Previous: q(3, 10, 9, 1), Next: q(4, 10, 0, 12)}, false},
	} {
		if err := checkQuality(tc.q, 4); (err == nil) != tc.ok {
			t.Errorf("%s: %v, want ok %v", tc.name, err, tc.ok)
		}
	}
}
