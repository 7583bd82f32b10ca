package route

import (
	"math"
	"slices"
)

// ReasonOverload marks a query sent elsewhere because this node's own
// queue was full.
const ReasonOverload = "overload"

// Overload decides where a query goes when this node cannot take it (its
// admission queue is full): to the least-loaded alive peer that holds the
// shard it needs (any shard this node holds when it names none), then to
// central, within the deadline. Action Local means nowhere: the caller
// refuses the query (429).
func Overload(in Input, th Thresholds) Decision {
	d := Decision{Action: Local, Reasons: []string{ReasonOverload}}
	if in.Escalated {
		// Another node sent it because it was busy or unsure; bouncing it
		// on would only spend its deadline.
		d.Reasons = append(d.Reasons, ReasonEscalatedRequest)
		return d
	}
	if in.Remaining < th.MinRemaining {
		d.Reasons = append(d.Reasons, ReasonDeadline)
		return d
	}
	d.Candidates = overloadCandidates(in, th)
	d.Central = in.CentralReachable && !in.CircuitOpen
	switch {
	case len(d.Candidates) > 0:
		d.Action = Peer
	case d.Central:
		d.Action = Central
	default:
		d.Reasons = append(d.Reasons, ReasonNoCandidate)
	}
	return d
}

// overloadCandidates are the alive peers below the load cap that hold what
// the query needs, least-loaded first (ties: more shards in common, then
// name, so the order is replayable).
func overloadCandidates(in Input, th Thresholds) []string {
	var cs []candidate
	for _, p := range in.Peers {
		if !p.Alive || p.Name == "" || slices.ContainsFunc(cs, func(c candidate) bool { return c.name == p.Name }) {
			continue
		}
		load := p.Load
		if math.IsNaN(load) {
			load = 1
		}
		if load >= 1 || (th.MaxPeerLoad > 0 && load >= th.MaxPeerLoad) {
			continue
		}
		common := 0
		if in.NeedShard != "" {
			if slices.Contains(p.Shards, in.NeedShard) {
				common = 1
			}
		} else {
			for _, s := range in.HeldShards {
				if slices.Contains(p.Shards, s) {
					common++
				}
			}
		}
		if common == 0 {
			continue
		}
		cs = append(cs, candidate{p.Name, load, float64(common)})
	}
	return orderCandidates(cs, th.MaxCandidates)
}
