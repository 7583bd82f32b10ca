package rollout

import (
	"fmt"
	"slices"
)

// Quality is what a canary measured when it answered a shard's probe set
// locally with one version of the shard: the probe questions are ones
// central trusts the answers to (escalations it answered, questions an
// operator added), each with the document central cited.
type Quality struct {
	Version uint64 `json:"version"`
	Probes  int    `json:"probes"` // probe questions asked
	// Agreed counts answers that cited the document central trusts;
	// Abstained counts abstentions.
	Agreed    int `json:"agreed"`
	Abstained int `json:"abstained"`
}

// Agreement is the share of probes answered citing the trusted document.
func (q Quality) Agreement() float64 { return share(q.Agreed, q.Probes) }

// Abstention is the share of probes the canary abstained on.
func (q Quality) Abstention() float64 { return share(q.Abstained, q.Probes) }

func share(a, b int) float64 {
	if b <= 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// CanaryQuality is one canary's probe-set figures on the version it held
// before the rollout and on the one being rolled out.
type CanaryQuality struct {
	Previous, Next Quality
}

// Margins bound how much worse a canary may answer the probe set on the new
// version than on the previous one. A zero field takes the default in its
// comment.
type Margins struct {
	// Agreement is the largest drop in the share of probes answered
	// citing the trusted document (0.05).
	Agreement float64
	// Abstention is the largest rise in the share of probes abstained on
	// (0.05).
	Abstention float64
	// MinProbes is the fewest probes a judgement is made on (5): below it
	// one unlucky question would decide, and the gate waits.
	MinProbes int
}

func (m Margins) withDefaults() Margins {
	if !(m.Agreement > 0) {
		m.Agreement = 0.05
	}
	if !(m.Abstention > 0) {
		m.Abstention = 0.05
	}
	if m.MinProbes <= 0 {
		m.MinProbes = 5
	}
	return m
}

// Verdicts of Gate.
const (
	GatePass = "pass" // within the margins
	GateFail = "fail" // outside them: the rollout should halt
	GateWait = "wait" // too few probes, or figures for the wrong versions
)

// Gate judges one canary's figures: the new version passes when its
// agreement has not dropped, nor its abstention risen, by more than the
// margins against the previous version on the same probe set. The reason
// carries the figures, for 'sync status'.
func Gate(q CanaryQuality, m Margins) (verdict, reason string) {
	m = m.withDefaults()
	p, n := q.Previous, q.Next
	if p.Probes < m.MinProbes || n.Probes < m.MinProbes {
		return GateWait, fmt.Sprintf("%d and %d probes answered; at least %d each are needed", p.Probes, n.Probes, m.MinProbes)
	}
	figures := fmt.Sprintf("agreement %.2f → %.2f, abstention %.2f → %.2f on %d probes (versions %d → %d)",
		p.Agreement(), n.Agreement(), p.Abstention(), n.Abstention(), n.Probes, p.Version, n.Version)
	switch {
	case p.Agreement()-n.Agreement() > m.Agreement+1e-9:
		return GateFail, fmt.Sprintf("agreement fell by more than %.2f: %s", m.Agreement, figures)
	case n.Abstention()-p.Abstention() > m.Abstention+1e-9:
		return GateFail, fmt.Sprintf("abstention rose by more than %.2f: %s", m.Abstention, figures)
	}
	return GatePass, figures
}

// GateCanaries halts a rollout in its canary stage when any canary that
// reports probe-set figures for the new version answers them outside the
// margins, with that canary's figures as the reason. It changes nothing
// otherwise: promotion stays Advance's, on health, once the canaries that
// report figures pass. The returned bool says whether it halted.
func (s State) GateCanaries(quality map[string]CanaryQuality, m Margins) (State, bool) {
	if s.Stage != StageCanary {
		return s, false
	}
	for _, c := range s.Canaries {
		q, ok := quality[c]
		if !ok || q.Next.Version != s.To {
			continue
		}
		if v, why := Gate(q, m); v == GateFail {
			s.Stage = StageHalted
			s.Reason = fmt.Sprintf("canary %s answers the probe set worse on version %d: %s", c, s.To, why)
			return s, true
		}
	}
	return s, false
}

// Passed reports whether every canary has figures for the new version that
// pass the gate: what a rollout that requires the quality gate waits for
// before Advance may promote it.
func (s State) Passed(quality map[string]CanaryQuality, m Margins) bool {
	for _, c := range s.Canaries {
		q, ok := quality[c]
		if !ok || q.Next.Version != s.To {
			return false
		}
		if v, _ := Gate(q, m); v != GatePass {
			return false
		}
	}
	return true
}

// WithDefaults returns the margins with every zero field at its default,
// as Gate applies them.
func (m Margins) WithDefaults() Margins { return m.withDefaults() }

// IsCanary reports whether edge is one of the canaries taking the new
// version now: the edges that answer the probe set for the gate.
func (s State) IsCanary(edge string) bool {
	if s.Stage != StageCanary {
		return false
	}
	_, ok := slices.BinarySearch(s.Canaries, edge)
	return ok
}
