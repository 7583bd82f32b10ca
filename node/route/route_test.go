package route

import (
	"math"
	"slices"
	"testing"
	"time"
)

func TestActionString(t *testing.T) {
	tests := []struct {
		a    Action
		want string
	}{
		{Local, "local"}, {Peer, "peer"}, {Central, "central"}, {Action(42), "unknown"},
	}
	for _, tt := range tests {
		if got := tt.a.String(); got != tt.want {
			t.Errorf("Action(%d).String() = %q, want %q", int(tt.a), got, tt.want)
		}
	}
}

func TestDecide(t *testing.T) {
	th := DefaultThresholds()
	held := []string{"manuals"}
	// base is a query this node is confident about, with every remote route open.
	base := Input{
		Confidence: 0.9, HasLocalAnswer: true, NeedShard: "manuals", HeldShards: held,
		CentralReachable: true, Remaining: time.Second,
	}
	peers := []PeerInfo{
		{Name: "busy", Load: 0.8, Alive: true, Shards: []string{"manuals", "faq"}},
		{Name: "idle", Load: 0.1, Alive: true, Shards: []string{"faq"}},
		{Name: "dead", Load: 0.0, Alive: false, Shards: []string{"faq"}},
		{Name: "mid", Load: 0.5, Alive: true, Shards: []string{"faq"}},
		{Name: "other", Load: 0.0, Alive: true, Shards: []string{"manuals"}},
	}
	with := func(f func(*Input)) Input {
		in := base
		in.Peers = peers
		f(&in)
		return in
	}
	tests := []struct {
		name string
		in   Input
		th   Thresholds
		want Decision
	}{
		{"confident and held: local", with(func(*Input) {}), th,
			Decision{Action: Local}},
		{"confident, no shard named: local", with(func(in *Input) { in.NeedShard = "" }), th,
			Decision{Action: Local}},
		{"confidence exactly at threshold is enough", with(func(in *Input) { in.Confidence = th.MinConfidence }), th,
			Decision{Action: Local}},

		// Shard not held.
		{"shard not held: least-loaded holders then central", with(func(in *Input) { in.NeedShard = "faq" }), th,
			Decision{Action: Peer, Candidates: []string{"idle", "mid"}, Central: true, Reasons: []string{ReasonShardNotHeld}}},
		{"shard not held overrides confidence", with(func(in *Input) { in.NeedShard = "faq"; in.Confidence = 1 }), th,
			Decision{Action: Peer, Candidates: []string{"idle", "mid"}, Central: true, Reasons: []string{ReasonShardNotHeld}}},
		{"shard not held, no holder: central", with(func(in *Input) { in.NeedShard = "logs" }), th,
			Decision{Action: Central, Central: true, Reasons: []string{ReasonShardNotHeld, ReasonNoCandidate}}},
		{"shard not held, no peers, central unreachable: degraded local",
			with(func(in *Input) { in.NeedShard = "logs"; in.CentralReachable = false }), th,
			Decision{Action: Local, Reasons: []string{ReasonShardNotHeld, ReasonNoCandidate, ReasonCentralUnreachable}}},
		{"shard not held, circuit open: peers only", with(func(in *Input) { in.NeedShard = "faq"; in.CircuitOpen = true }), th,
			Decision{Action: Peer, Candidates: []string{"idle", "mid"}, Reasons: []string{ReasonShardNotHeld, ReasonCircuitOpen}}},
		{"shard not held, no peer, unreachable and open: both reasons",
			with(func(in *Input) { in.NeedShard = "logs"; in.CentralReachable = false; in.CircuitOpen = true }), th,
			Decision{Action: Local, Reasons: []string{ReasonShardNotHeld, ReasonNoCandidate, ReasonCentralUnreachable, ReasonCircuitOpen}}},
		{"shard not held, nothing held at all", with(func(in *Input) { in.HeldShards = nil; in.Peers = nil }), th,
			Decision{Action: Central, Central: true, Reasons: []string{ReasonShardNotHeld, ReasonNoCandidate}}},

		// Low confidence and no answer.
		{"low confidence: replicas of the shard then central", with(func(in *Input) { in.Confidence = 0.2 }), th,
			Decision{Action: Peer, Candidates: []string{"other", "busy"}, Central: true, Reasons: []string{ReasonLowConfidence}}},
		{"NaN confidence counts as zero", with(func(in *Input) { in.Confidence = math.NaN() }), th,
			Decision{Action: Peer, Candidates: []string{"other", "busy"}, Central: true, Reasons: []string{ReasonLowConfidence}}},
		{"no local answer ignores confidence", with(func(in *Input) { in.HasLocalAnswer = false }), th,
			Decision{Action: Peer, Candidates: []string{"other", "busy"}, Central: true, Reasons: []string{ReasonNoLocalAnswer}}},
		{"low confidence, no peers: central", with(func(in *Input) { in.Confidence = 0.2; in.Peers = nil }), th,
			Decision{Action: Central, Central: true, Reasons: []string{ReasonLowConfidence, ReasonNoCandidate}}},
		{"low confidence, nothing remote: degraded local",
			with(func(in *Input) { in.Confidence = 0.2; in.Peers = nil; in.CircuitOpen = true }), th,
			Decision{Action: Local, Reasons: []string{ReasonLowConfidence, ReasonNoCandidate, ReasonCircuitOpen}}},

		// No shard named: peers must beat the local answer by the margin.
		{"any shard: peers whose score beats local", with(func(in *Input) {
			in.NeedShard, in.Confidence = "", 0.3
			in.Peers = []PeerInfo{
				{Name: "good", Load: 0.5, Alive: true, Score: 0.8},
				{Name: "better-idle", Load: 0.2, Alive: true, Score: 0.9},
				{Name: "marginal", Load: 0.0, Alive: true, Score: 0.35},
				{Name: "unknown", Load: 0.0, Alive: true},
				{Name: "nan", Load: 0.0, Alive: true, Score: math.NaN()},
			}
		}), th, Decision{Action: Peer, Candidates: []string{"better-idle", "good"}, Central: true, Reasons: []string{ReasonLowConfidence}}},
		{"any shard: no peer beats local", with(func(in *Input) { in.NeedShard, in.Confidence = "", 0.3 }), th,
			Decision{Action: Central, Central: true, Reasons: []string{ReasonLowConfidence, ReasonNoCandidate}}},

		// Peer filtering and ordering.
		{"equal load: higher score first, then name", with(func(in *Input) {
			in.NeedShard = "faq"
			in.Peers = []PeerInfo{
				{Name: "b", Load: 0.3, Alive: true, Shards: []string{"faq"}},
				{Name: "a", Load: 0.3, Alive: true, Shards: []string{"faq"}},
				{Name: "c", Load: 0.3, Alive: true, Shards: []string{"faq"}, Score: 0.5},
			}
			in.CentralReachable = false
		}), Thresholds{MinConfidence: 0.5}, Decision{Action: Peer, Candidates: []string{"c", "a", "b"}, Reasons: []string{ReasonShardNotHeld, ReasonCentralUnreachable}}},
		{"overloaded, nameless, NaN-load and duplicate peers skipped", with(func(in *Input) {
			in.NeedShard = "faq"
			in.Peers = []PeerInfo{
				{Name: "hot", Load: 0.99, Alive: true, Shards: []string{"faq"}},
				{Name: "", Load: 0.1, Alive: true, Shards: []string{"faq"}},
				{Name: "nan", Load: math.NaN(), Alive: true, Shards: []string{"faq"}},
				{Name: "ok", Load: 0.4, Alive: true, Shards: []string{"faq"}},
				{Name: "ok", Load: 0.1, Alive: true, Shards: []string{"faq"}},
			}
		}), th, Decision{Action: Peer, Candidates: []string{"ok"}, Central: true, Reasons: []string{ReasonShardNotHeld}}},
		{"zero MaxPeerLoad means no cap, zero MaxCandidates no limit", with(func(in *Input) {
			in.NeedShard = "faq"
			in.Peers = append(slices.Clone(peers), PeerInfo{Name: "hot", Load: 1, Alive: true, Shards: []string{"faq"}})
		}), Thresholds{MinConfidence: 0.5, MinRemaining: time.Millisecond},
			Decision{Action: Peer, Candidates: []string{"idle", "mid", "busy", "hot"}, Central: true, Reasons: []string{ReasonShardNotHeld}}},

		// Never remote: loops and deadlines.
		{"escalated, shard not held: local", with(func(in *Input) { in.NeedShard = "faq"; in.Escalated = true }), th,
			Decision{Action: Local, Reasons: []string{ReasonShardNotHeld, ReasonEscalatedRequest}}},
		{"escalated, low confidence: local", with(func(in *Input) { in.Confidence = 0; in.Escalated = true; in.Remaining = 0 }), th,
			Decision{Action: Local, Reasons: []string{ReasonLowConfidence, ReasonEscalatedRequest}}},
		{"escalated and confident: plain local", with(func(in *Input) { in.Escalated = true }), th,
			Decision{Action: Local}},
		{"deadline: local", with(func(in *Input) { in.Confidence = 0.1; in.Remaining = th.MinRemaining - 1 }), th,
			Decision{Action: Local, Reasons: []string{ReasonLowConfidence, ReasonDeadline}}},
		{"exactly MinRemaining left is enough", with(func(in *Input) { in.NeedShard = "logs"; in.Remaining = th.MinRemaining }), th,
			Decision{Action: Central, Central: true, Reasons: []string{ReasonShardNotHeld, ReasonNoCandidate}}},
		{"zero remaining is no time", with(func(in *Input) { in.NeedShard = "faq"; in.Remaining = 0 }), th,
			Decision{Action: Local, Reasons: []string{ReasonShardNotHeld, ReasonDeadline}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Decide(tt.in, tt.th)
			if got.Action != tt.want.Action || got.Central != tt.want.Central ||
				!slices.Equal(got.Candidates, tt.want.Candidates) || !slices.Equal(got.Reasons, tt.want.Reasons) {
				t.Errorf("Decide =\n\t%+v\nwant\n\t%+v", got, tt.want)
			}
			if got.Action != Peer && got.Candidates != nil {
				t.Errorf("candidates %v with action %v", got.Candidates, got.Action)
			}
		})
	}
}

func TestDecideDoesNotModifyInput(t *testing.T) {
	peers := []PeerInfo{
		{Name: "b", Load: 0.9, Alive: true, Shards: []string{"x"}},
		{Name: "a", Load: 0.1, Alive: true, Shards: []string{"x"}},
	}
	before := slices.Clone(peers)
	Decide(Input{NeedShard: "x", Peers: peers, Remaining: time.Second}, DefaultThresholds())
	for i := range peers {
		if peers[i].Name != before[i].Name || peers[i].Load != before[i].Load {
			t.Fatalf("peers reordered: %v", peers)
		}
	}
}

func BenchmarkDecide(b *testing.B) {
	in := Input{
		Confidence: 0.2, HasLocalAnswer: true, NeedShard: "faq", HeldShards: []string{"manuals"},
		CentralReachable: true, Remaining: time.Second,
	}
	for i := range 16 {
		in.Peers = append(in.Peers, PeerInfo{Name: string(rune('a' + i)), Load: float64(i%7) / 7, Alive: i%5 != 0, Shards: []string{"faq", "manuals"}})
	}
	th := DefaultThresholds()
	b.ReportAllocs()
	for b.Loop() {
		Decide(in, th)
	}
}

func TestHolders(t *testing.T) {
	th := DefaultThresholds()
	peers := []PeerInfo{
		{Name: "c", Alive: true, Load: 0.2, Shards: []string{"a", "b"}},
		{Name: "a", Alive: true, Load: 0.5, Shards: []string{"a"}},
		{Name: "b", Alive: true, Load: 0.2, Shards: []string{"a"}},
		{Name: "dead", Alive: false, Shards: []string{"a"}},
		{Name: "busy", Alive: true, Load: 0.99, Shards: []string{"a"}},
	}
	for _, tc := range []struct {
		shard string
		max   int
		want  []string
	}{
		{"a", 0, []string{"b", "c", "a"}},
		{"a", 2, []string{"b", "c"}},
		{"b", 0, []string{"c"}},
		{"z", 0, nil},
		{"", 0, nil},
	} {
		th.MaxCandidates = tc.max
		if got := Holders(peers, tc.shard, th); !slices.Equal(got, tc.want) {
			t.Errorf("Holders(%q, max %d) = %v, want %v", tc.shard, tc.max, got, tc.want)
		}
	}
}

func TestCover(t *testing.T) {
	th := DefaultThresholds()
	r := func(name string, load float64, shards ...string) PeerInfo {
		return PeerInfo{Name: name, Alive: true, Load: load, Shards: shards}
	}
	for _, tc := range []struct {
		name  string
		peers []PeerInfo
		need  []string
		want  []string
	}{
		{"one each", []PeerInfo{r("x", 0, "a"), r("y", 0, "b"), r("z", 0, "c")}, []string{"a", "b", "c"}, []string{"x", "y", "z"}},
		{"most first", []PeerInfo{r("x", 0, "a"), r("y", 0, "a", "b", "c")}, []string{"a", "b", "c"}, []string{"y"}},
		{"replicated: least loaded", []PeerInfo{r("x", 0.5, "a", "b"), r("y", 0.1, "a", "b"), r("z", 0, "c")}, []string{"a", "b", "c"}, []string{"y", "z"}},
		{"only what is needed", []PeerInfo{r("x", 0, "a", "q"), r("y", 0, "q")}, []string{"a"}, []string{"x"}},
		{"held by none", []PeerInfo{r("x", 0, "a")}, []string{"a", "gone"}, []string{"x"}},
		{"dead and busy skipped", []PeerInfo{{Name: "d", Shards: []string{"a"}}, r("busy", 1, "a"), r("ok", 0.3, "a")}, []string{"a"}, []string{"ok"}},
		{"nothing needed", []PeerInfo{r("x", 0, "a")}, nil, nil},
		{"listed twice", []PeerInfo{r("x", 0, "a", "a"), r("y", 0, "b")}, []string{"a", "b"}, []string{"x", "y"}},
	} {
		if got := Cover(tc.peers, tc.need, th); !slices.Equal(got, tc.want) {
			t.Errorf("%s: Cover = %v, want %v", tc.name, got, tc.want)
		}
	}
}
