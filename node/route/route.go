// Package route decides where a query is answered: here, by a peer that
// holds the shard, or by the central node. Decide is a pure function of what
// the node knows at that moment (its answer's confidence, the shards it and
// its peers hold, central's reachability, the deadline), so the policy can be
// tested exhaustively and replayed from logs. Breaker is the circuit breaker
// whose state feeds Decide's CircuitOpen.
//
// It is part of the pure core: no I/O, no clocks (times are passed in), no
// globals. The node's query path imports it; it imports only the standard
// library.
package route

import (
	"cmp"
	"math"
	"slices"
	"time"
)

// Action is where a query goes first.
type Action int

// Actions, in order of increasing cost.
const (
	Local   Action = iota // answer with this node's own answer
	Peer                  // ask Decision.Candidates in order
	Central               // ask the central node
)

// String returns the action's name as it appears in logs and responses.
func (a Action) String() string {
	switch a {
	case Local:
		return "local"
	case Peer:
		return "peer"
	case Central:
		return "central"
	}
	return "unknown"
}

// Reason codes explain a Decision. They are machine-readable (dashboards
// count them), so they never change meaning.
const (
	ReasonLowConfidence      = "low_confidence"      // local answer below Thresholds.MinConfidence
	ReasonNoLocalAnswer      = "no_local_answer"     // nothing answered locally
	ReasonShardNotHeld       = "shard_not_held"      // the query names a shard this node lacks
	ReasonCentralUnreachable = "central_unreachable" // central cannot be reached
	ReasonCircuitOpen        = "circuit_open"        // central's breaker is open
	ReasonDeadline           = "deadline"            // too little time left to go remote
	ReasonEscalatedRequest   = "escalated_request"   // query came from another node
	ReasonNoCandidate        = "no_candidate"        // no peer qualifies
)

// PeerInfo is membership's view of one peer.
type PeerInfo struct {
	Name   string
	Load   float64 // 0 idle .. 1 saturated
	Alive  bool
	Shards []string
	// Score says how well the peer's shard digest matches the query, on the
	// same 0..1 scale as a confidence; 0 when unknown.
	Score float64
}

// Input is everything Decide looks at for one query.
type Input struct {
	// Confidence is the local answer's route confidence, ignored unless
	// HasLocalAnswer: on an edge that learns from central, the
	// probability that asking would not change the answer (an abstention
	// included); elsewhere the answer's support estimate.
	Confidence     float64
	HasLocalAnswer bool
	NeedShard      string   // the shard the query asked for; "" = any
	HeldShards     []string // shards this node holds
	Peers          []PeerInfo
	// CentralReachable and CircuitOpen describe the central node: whether
	// a connection exists or can be made, and its breaker's state.
	CentralReachable, CircuitOpen bool
	// Remaining is the time left before the query's deadline. Zero means no
	// time left, not "no deadline": callers without a deadline pass their
	// default request timeout.
	Remaining time.Duration
	// Escalated marks a query that another node sent here. Such a query is
	// never sent on, so two unsure nodes cannot bounce it between them.
	Escalated bool
}

// Thresholds tune Decide.
type Thresholds struct {
	// MinConfidence is the local confidence below which a better answer is
	// sought remotely.
	MinConfidence float64
	// MinRemaining is the least time left worth spending on a remote hop;
	// below it the local answer, however weak, beats a timeout.
	MinRemaining time.Duration
	// PeerPreferredOver is how far a peer's Score must exceed the local
	// confidence to be asked when the query names no shard. A margin keeps
	// near-equal peers from drawing traffic for no gain.
	PeerPreferredOver float64
	// MaxPeerLoad excludes peers at or above this load: asking a saturated
	// peer only adds its queue to our deadline. 0 means no cap.
	MaxPeerLoad float64
	// MaxCandidates caps how many peers are tried before central, since
	// each try spends deadline; 0 means no cap.
	MaxCandidates int
}

// DefaultThresholds returns thresholds for a LAN of edge devices, where a
// peer hop costs tens of milliseconds and central a few hundred.
func DefaultThresholds() Thresholds {
	return Thresholds{
		// Compared with the route confidence: the model's support
		// estimate until an edge has heard back from central, then the
		// learned probability that asking central would not change the
		// answer (confidence.Online, confidence.Settled). Tuned with
		// 'edgerag eval --fleet 4' on cranfield and squad-v1.1-dev
		// (BENCHMARKS.md, "where to answer, apart from whether"): 0.5
		// keeps 93% (squad) and 84% (cranfield) of home questions local
		// at 98.5% and 110% of central's nDCG@10.
		MinConfidence:     0.5,
		MinRemaining:      300 * time.Millisecond,
		PeerPreferredOver: 0.1,
		MaxPeerLoad:       0.95,
		MaxCandidates:     2,
	}
}

// Decision says where to send a query.
type Decision struct {
	Action Action
	// Candidates are the peers to try in order, least-loaded first; set
	// only when Action is Peer.
	Candidates []string
	// Central says to try central after the candidates fail (Action Peer),
	// or that central is the first choice (Action Central).
	Central bool
	// Reasons explain the decision with Reason* codes, most important first:
	// why remote was wanted, then why any route was ruled out. A Local
	// decision with reasons is a degraded one.
	Reasons []string
}

// Decide applies the routing policy:
//
//   - The query names a shard this node lacks: the local answer came from
//     unrelated shards, so go remote whatever its confidence — peers that
//     hold the shard, then central.
//   - No local answer, or confidence below MinConfidence: peers that hold
//     the named shard (with "" named, peers whose Score beats the local
//     confidence by PeerPreferredOver), then central.
//   - Otherwise answer locally.
//
// Remote is never chosen for an escalated query or when less than
// MinRemaining is left; nor is central while unreachable or its circuit is
// open. When every remote route is ruled out the decision is Local with the
// reasons, and the caller serves its (weak or absent) answer as degraded.
func Decide(in Input, th Thresholds) Decision {
	var d Decision
	notHeld := in.NeedShard != "" && !slices.Contains(in.HeldShards, in.NeedShard)
	conf := 0.0
	if in.HasLocalAnswer && !math.IsNaN(in.Confidence) {
		conf = in.Confidence
	}
	switch {
	case notHeld:
		d.Reasons = append(d.Reasons, ReasonShardNotHeld)
	case !in.HasLocalAnswer:
		d.Reasons = append(d.Reasons, ReasonNoLocalAnswer)
	case conf < th.MinConfidence:
		d.Reasons = append(d.Reasons, ReasonLowConfidence)
	default:
		return d
	}

	// Loop prevention comes before the deadline: it is the stronger reason
	// and holds however much time is left.
	if in.Escalated {
		d.Reasons = append(d.Reasons, ReasonEscalatedRequest)
		return d
	}
	if in.Remaining < th.MinRemaining {
		d.Reasons = append(d.Reasons, ReasonDeadline)
		return d
	}

	d.Candidates = candidates(in, th, conf)
	if len(d.Candidates) == 0 {
		d.Candidates = nil
		d.Reasons = append(d.Reasons, ReasonNoCandidate)
	}
	d.Central = in.CentralReachable && !in.CircuitOpen
	if !in.CentralReachable {
		d.Reasons = append(d.Reasons, ReasonCentralUnreachable)
	}
	if in.CircuitOpen {
		d.Reasons = append(d.Reasons, ReasonCircuitOpen)
	}

	switch {
	case len(d.Candidates) > 0:
		d.Action = Peer
	case d.Central:
		d.Action = Central
	default:
		d.Action = Local
	}
	return d
}

// candidates returns the peers worth asking, least-loaded first. Ties go to
// the higher Score, then to the name, so the order is deterministic and
// replayable.
func candidates(in Input, th Thresholds, conf float64) []string {
	var cs []candidate
	for _, p := range in.Peers {
		if !p.Alive || p.Name == "" || slices.ContainsFunc(cs, func(c candidate) bool { return c.name == p.Name }) {
			continue
		}
		load := p.Load
		if math.IsNaN(load) {
			load = 1 // unknown load: assume busy rather than idle
		}
		if th.MaxPeerLoad > 0 && load >= th.MaxPeerLoad {
			continue
		}
		score := p.Score
		if math.IsNaN(score) {
			score = 0
		}
		if in.NeedShard != "" {
			if !slices.Contains(p.Shards, in.NeedShard) {
				continue
			}
		} else if !(score > conf+th.PeerPreferredOver) {
			continue
		}
		cs = append(cs, candidate{p.Name, load, score})
	}
	return orderCandidates(cs, th.MaxCandidates)
}

// candidate is a peer that may take a question: by how much it is loaded,
// and how well it fits (a predicted confidence, or shards in common).
type candidate struct {
	name string
	load float64
	fit  float64
}

// orderCandidates orders peers least loaded first, then best fitting, then
// by name (so ties route the same way every time), keeping at most max (0:
// all), and returns their names.
func orderCandidates(cs []candidate, max int) []string {
	slices.SortFunc(cs, func(a, b candidate) int {
		if c := cmp.Compare(a.load, b.load); c != 0 {
			return c
		}
		if c := cmp.Compare(b.fit, a.fit); c != 0 {
			return c
		}
		return cmp.Compare(a.name, b.name)
	})
	if max > 0 && len(cs) > max {
		cs = cs[:max]
	}
	names := make([]string, len(cs))
	for i, c := range cs {
		names[i] = c.name
	}
	return names
}

// Holders returns the peers to ask, in order, for a question that names
// shard: the ones Decide would try, by the same rule (alive, under
// MaxPeerLoad, holding the shard, least loaded first, at most
// MaxCandidates). Central replicas forward to each other with it.
func Holders(peers []PeerInfo, shard string, th Thresholds) []string {
	if shard == "" {
		return nil
	}
	return candidates(Input{NeedShard: shard, Peers: peers}, th, 0)
}

// Cover returns peers that together hold every shard in need that any of
// them holds, for a question that names no shard on a node that lacks
// those shards: greedily, the peer holding most of what is still
// uncovered first, ties in Decide's order (least loaded, then name). The
// same liveness and load rules apply. Shards no peer holds stay uncovered.
func Cover(peers []PeerInfo, need []string, th Thresholds) []string {
	left := map[string]bool{}
	for _, s := range need {
		left[s] = true
	}
	var out []string
	for len(left) > 0 {
		var cs []candidate
		for _, p := range peers {
			if !p.Alive || p.Name == "" || slices.Contains(out, p.Name) || slices.ContainsFunc(cs, func(c candidate) bool { return c.name == p.Name }) {
				continue
			}
			load := p.Load
			if math.IsNaN(load) {
				load = 1
			}
			if th.MaxPeerLoad > 0 && load >= th.MaxPeerLoad {
				continue
			}
			var fresh []string
			for _, s := range p.Shards {
				if left[s] && !slices.Contains(fresh, s) {
					fresh = append(fresh, s)
				}
			}
			if len(fresh) > 0 {
				cs = append(cs, candidate{p.Name, -float64(len(fresh)), -load})
			}
		}
		if len(cs) == 0 {
			break
		}
		// Most new shards first: the count rides in load's place and the
		// load in fit's, both negated, so orderCandidates' keys read
		// coverage (most first), then load (least first), then name.
		best := orderCandidates(cs, 1)[0]
		out = append(out, best)
		for _, p := range peers {
			if p.Name == best {
				for _, s := range p.Shards {
					delete(left, s)
				}
			}
		}
	}
	return out
}
