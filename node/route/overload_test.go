package route

import (
	"math"
	"slices"
	"testing"
	"time"
)

func TestOverload(t *testing.T) {
	th := DefaultThresholds()
	peers := []PeerInfo{
		{Name: "busy", Load: 0.9, Alive: true, Shards: []string{"manuals"}},
		{Name: "idle", Load: 0.1, Alive: true, Shards: []string{"manuals", "faq"}},
		{Name: "full", Load: 1, Alive: true, Shards: []string{"manuals"}},
		{Name: "dead", Load: 0, Alive: false, Shards: []string{"manuals"}},
		{Name: "other", Load: 0, Alive: true, Shards: []string{"hr"}},
		{Name: "unknown", Load: math.NaN(), Alive: true, Shards: []string{"manuals"}},
	}
	for _, tc := range []struct {
		name    string
		in      Input
		action  Action
		cands   []string
		central bool
		reason  string
	}{
		{"least-loaded holder first, then central", Input{NeedShard: "manuals", Peers: peers, CentralReachable: true, Remaining: time.Second},
			Peer, []string{"idle", "busy"}, true, ReasonOverload},
		{"no shard named: peers sharing a held shard", Input{HeldShards: []string{"faq"}, Peers: peers, Remaining: time.Second},
			Peer, []string{"idle"}, false, ReasonOverload},
		{"no holder: central", Input{NeedShard: "safety", Peers: peers, CentralReachable: true, Remaining: time.Second},
			Central, nil, true, ReasonOverload},
		{"nowhere: refuse", Input{NeedShard: "safety", Peers: peers, CentralReachable: true, CircuitOpen: true, Remaining: time.Second},
			Local, nil, false, ReasonNoCandidate},
		{"forwarded query is not bounced", Input{NeedShard: "manuals", Peers: peers, CentralReachable: true, Escalated: true, Remaining: time.Second},
			Local, nil, false, ReasonEscalatedRequest},
		{"no time left", Input{NeedShard: "manuals", Peers: peers, CentralReachable: true, Remaining: time.Millisecond},
			Local, nil, false, ReasonDeadline},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := Overload(tc.in, th)
			if d.Action != tc.action || !slices.Equal(d.Candidates, tc.cands) || d.Central != tc.central || !slices.Contains(d.Reasons, tc.reason) {
				t.Fatalf("got %v %v central=%v %v; want %v %v central=%v with %q", d.Action, d.Candidates, d.Central, d.Reasons, tc.action, tc.cands, tc.central, tc.reason)
			}
		})
	}
}
