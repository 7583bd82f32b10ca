package membership

import (
	"fmt"
	"math"
	"time"

	"github.com/hashicorp/memberlist"
)

// Profile is a set of gossip timings for one kind of network. The values
// are the knobs memberlist exposes; Apply copies them into a config.
type Profile struct {
	Name string
	// ProbeInterval is how often each member probes one other member;
	// ProbeTimeout how long it waits for the ack before asking others to
	// probe indirectly (IndirectChecks of them).
	ProbeInterval  time.Duration
	ProbeTimeout   time.Duration
	IndirectChecks int
	// SuspicionMult scales how long a suspect has to refute the suspicion
	// before it is declared failed (times ProbeInterval and log10 of the
	// member count); SuspicionMaxTimeoutMult bounds the stretch Lifeguard
	// applies while confirmations are missing.
	SuspicionMult           int
	SuspicionMaxTimeoutMult int
	// GossipInterval and GossipNodes set the fan-out: every interval,
	// queued broadcasts go to this many random members. RetransmitMult
	// times log10(members) is how often each broadcast is sent on.
	GossipInterval time.Duration
	GossipNodes    int
	RetransmitMult int
	// PushPullInterval is how often a member swaps its full state with one
	// other over TCP: what repairs anything gossip lost.
	PushPullInterval time.Duration
	// TCPTimeout bounds a push-pull or a fallback TCP probe.
	TCPTimeout time.Duration
}

// The profile names accepted by --gossip-profile.
const (
	ProfileLAN  = "lan"
	ProfileEdge = "edge"
)

// LAN is for one switched network at a site: sub-millisecond RTT, loss
// near zero. It is memberlist's own LAN defaults, which HashiCorp tuned for
// such networks, except SuspicionMaxTimeoutMult: at a site of a handful of
// nodes the confirmations Lifeguard waits for may simply not exist, and the
// default 6 would stretch detection of a dead node to ~25 s; 3 caps it near
// 13 s, still twice the undisturbed timeout.
func LAN() Profile {
	return Profile{
		Name:                    ProfileLAN,
		ProbeInterval:           1 * time.Second,
		ProbeTimeout:            500 * time.Millisecond,
		IndirectChecks:          3,
		SuspicionMult:           4,
		SuspicionMaxTimeoutMult: 3,
		GossipInterval:          200 * time.Millisecond,
		GossipNodes:             3,
		RetransmitMult:          4,
		PushPullInterval:        30 * time.Second,
		TCPTimeout:              10 * time.Second,
	}
}

// Edge is for lossy, slow links between devices (Wi-Fi at the far end of
// a floor, cellular, mesh radios: RTT up to hundreds of ms, loss up to
// ~10%). Relative to LAN:
//
//   - ProbeInterval 2 s, ProbeTimeout 1.5 s: an ack that needs a MAC-level
//     retransmission or two still arrives in time, so a slow link is not a
//     suspicion; probing half as often halves the probe traffic.
//   - IndirectChecks 4: with 10% loss, one more independent path makes a
//     wrong suspicion ~10x less likely.
//   - SuspicionMult 6: a suspect gets 12 s (x log10 n) to refute, enough
//     for a refutation to survive several lost packets.
//   - GossipNodes 2 every 100 ms: fewer packets per burst (bursts are what
//     radios drop together) but a shorter interval, the same 20 packets a
//     second as 3 every 150 ms. With 150 ms the 300-member simulation at
//     10% loss missed the 1.5 s tag-propagation bar in one run of three
//     (p99 1.42-1.52 s); 100 ms gave 1.08-1.18 s (BENCHMARKS.md); RetransmitMult 6
//     sends each broadcast on more often, because some copies will be lost.
//   - PushPullInterval 60 s: full-state sync is the largest message; half
//     as often on metered links. It is also what heals partitions, and the
//     measured heal after a 2-minute partition with a similar profile was
//     10.5 s (shared/notes/libraries-measured.md).
//   - TCPTimeout 20 s for push-pull over a slow link.
func Edge() Profile {
	return Profile{
		Name:                    ProfileEdge,
		ProbeInterval:           2 * time.Second,
		ProbeTimeout:            1500 * time.Millisecond,
		IndirectChecks:          4,
		SuspicionMult:           6,
		SuspicionMaxTimeoutMult: 4,
		GossipInterval:          100 * time.Millisecond,
		GossipNodes:             2,
		RetransmitMult:          6,
		PushPullInterval:        60 * time.Second,
		TCPTimeout:              20 * time.Second,
	}
}

// ProfileByName returns the named profile.
func ProfileByName(name string) (Profile, error) {
	switch name {
	case ProfileLAN:
		return LAN(), nil
	case ProfileEdge:
		return Edge(), nil
	}
	return Profile{}, fmt.Errorf("gossip profile %q: use %q (one switched network) or %q (lossy or slow links)", name, ProfileLAN, ProfileEdge)
}

// Apply sets the profile's timings on c and leaves the rest alone.
func (p Profile) Apply(c *memberlist.Config) {
	c.ProbeInterval = p.ProbeInterval
	c.ProbeTimeout = p.ProbeTimeout
	c.IndirectChecks = p.IndirectChecks
	c.SuspicionMult = p.SuspicionMult
	c.SuspicionMaxTimeoutMult = p.SuspicionMaxTimeoutMult
	c.GossipInterval = p.GossipInterval
	c.GossipNodes = p.GossipNodes
	c.RetransmitMult = p.RetransmitMult
	c.PushPullInterval = p.PushPullInterval
	c.TCPTimeout = p.TCPTimeout
}

// FailureDetection returns the range of times between a member dying and
// the others declaring it failed, in a pool of n members: at best the next
// probe finds it (one ProbeTimeout) and enough confirmations arrive for the
// shortest suspicion timeout; at worst a whole ProbeInterval passes before
// anyone probes it and the suspicion runs to its Lifeguard maximum. It
// follows memberlist's formula (suspicionTimeout in util.go).
func (p Profile) FailureDetection(n int) (best, worst time.Duration) {
	scale := math.Max(1, math.Log10(math.Max(1, float64(n))))
	minSusp := time.Duration(float64(p.SuspicionMult) * scale * float64(p.ProbeInterval))
	maxSusp := time.Duration(p.SuspicionMaxTimeoutMult) * minSusp
	return p.ProbeTimeout + minSusp, p.ProbeInterval + p.ProbeTimeout + maxSusp
}
