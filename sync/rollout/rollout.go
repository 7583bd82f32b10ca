// Package rollout is the pure policy of a staged rollout of a shard version:
// which edges are canaries, which version each edge may take, and when the
// rollout is promoted to every edge or halted. It does no I/O; central's
// fleet-sync publisher (sync/fleet) keeps the state and feeds it reports.
package rollout

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
)

// Stages of a rollout.
const (
	StageCanary   = "canary"   // only the canaries may take the new version
	StagePromoted = "promoted" // every edge may
	StageHalted   = "halted"   // a canary failed: nobody else gets it
)

// State is one shard's rollout: from the version every edge may hold to the
// one being rolled out.
type State struct {
	Shard    string   `json:"shard"`
	From     uint64   `json:"from"` // 0: the shard's first version
	To       uint64   `json:"to"`
	Stage    string   `json:"stage"`
	Canaries []string `json:"canaries"` // sorted
	Reason   string   `json:"reason,omitempty"`
}

// Report is what an edge last said about a shard.
type Report struct {
	Version uint64
	Healthy bool
	Error   string
}

// rank orders edges by a hash of their name, so canaries are spread
// without regard to how names were chosen, and a given edge keeps its
// place across rollouts.
func rank(name string) uint64 {
	sum := sha256.Sum256([]byte("edgerag canary\x00" + name))
	return binary.BigEndian.Uint64(sum[:8])
}

// Canaries picks ceil(share × len(edges)) edges, at least one when there are
// edges and share > 0.
func Canaries(edges []string, share float64) ([]string, error) {
	if !(share > 0 && share <= 1) {
		return nil, fmt.Errorf("canary share %v: must be above 0 and at most 1", share)
	}
	e := slices.Clone(edges)
	slices.Sort(e)
	e = slices.Compact(e)
	slices.SortFunc(e, func(a, b string) int {
		ra, rb := rank(a), rank(b)
		switch {
		case ra < rb:
			return -1
		case ra > rb:
			return 1
		}
		return 0
	})
	n := int(math.Ceil(share * float64(len(e))))
	out := e[:min(n, len(e))]
	slices.Sort(out)
	return out, nil
}

// Start begins a rollout of version to of a shard whose edges may hold
// from, with canaries picked from the known edges.
func Start(shard string, from, to uint64, edges []string, share float64) (State, error) {
	if to <= from {
		return State{}, fmt.Errorf("rollout of %q: version %d is not above %d", shard, to, from)
	}
	c, err := Canaries(edges, share)
	if err != nil {
		return State{}, err
	}
	st := State{Shard: shard, From: from, To: to, Stage: StageCanary, Canaries: c}
	if len(c) == 0 {
		// No edge known yet: nobody to test on, and nobody to protect.
		st.Stage, st.Reason = StagePromoted, "no edges known to central: promoted at once"
	}
	return st, nil
}

// Allowed returns the version of the shard an edge may take now.
func (s State) Allowed(edge string) uint64 {
	if s.Stage == StagePromoted {
		return s.To
	}
	if s.Stage == StageCanary {
		if _, ok := slices.BinarySearch(s.Canaries, edge); ok {
			return s.To
		}
	}
	return s.From
}

// Advance applies the canaries' reports: any canary unhealthy on the new
// version halts the rollout; all canaries healthy on it promote it.
// Otherwise nothing changes. The returned bool says whether it changed.
func (s State) Advance(reports map[string]Report) (State, bool) {
	if s.Stage != StageCanary {
		return s, false
	}
	healthy := 0
	for _, c := range s.Canaries {
		r, ok := reports[c]
		if !ok || r.Version < s.To {
			continue // not there yet
		}
		if !r.Healthy {
			s.Stage = StageHalted
			s.Reason = fmt.Sprintf("canary %s is unhealthy on version %d: %s", c, s.To, r.Error)
			return s, true
		}
		healthy++
	}
	if healthy == len(s.Canaries) {
		s.Stage, s.Reason = StagePromoted, fmt.Sprintf("all %d canaries healthy on version %d", healthy, s.To)
		return s, true
	}
	return s, false
}

// ErrStage reports an operator action that does not fit the rollout's stage.
var ErrStage = errors.New("rollout is not in a stage that allows this")

// Promote promotes a rollout by hand (an operator who checked the canaries).
func (s State) Promote() (State, error) {
	if s.Stage == StagePromoted {
		return s, fmt.Errorf("%w: version %d is already promoted", ErrStage, s.To)
	}
	s.Stage, s.Reason = StagePromoted, "promoted by the operator"
	return s, nil
}

// Halt stops a rollout by hand; edges that have the new version keep it.
func (s State) Halt(reason string) (State, error) {
	if s.Stage != StageCanary {
		return s, fmt.Errorf("%w: the rollout of version %d is %s", ErrStage, s.To, s.Stage)
	}
	s.Stage, s.Reason = StageHalted, "halted by the operator: "+reason
	return s, nil
}
