package fleet

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/edgerag/edgerag/sync/probes"
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

// TestRunProbesLeavesOutFailures: a probe the node fails to answer is not
// counted; answered ones count as agreed or abstained by central's
// documents.
func TestRunProbesLeavesOutFailures(t *testing.T) {
	answers := map[string]struct {
		docs      []string
		abstained bool
		err       error
	}{
		"agrees":   {docs: []string{"d1"}},
		"differs":  {docs: []string{"x"}},
		"abstains": {abstained: true},
		"busy":     {err: errors.New("overloaded")},
	}
	s := &Syncer{log: slog.New(slog.DiscardHandler), cfg: SyncerConfig{
		AnswerProbe: func(_ context.Context, _, q string) ([]string, bool, error) {
			a := answers[q]
			return a.docs, a.abstained, a.err
		}}}
	var set probes.Set
	for _, q := range []string{"agrees", "differs", "abstains", "busy"} {
		p, err := probes.New(q, []string{"d1"}, probes.FromOperator, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		set.Probes = append(set.Probes, p)
	}
	got := s.runProbes(context.Background(), "m", 7, set)
	want := rollout.Quality{Version: 7, Probes: 3, Agreed: 1, Abstained: 1}
	if got != want {
		t.Errorf("figures %+v, want %+v", got, want)
	}
}
