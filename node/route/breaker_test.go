package route

import (
	"sync"
	"testing"
	"time"
)

// step is one event driven into a breaker at a time offset from t0, with
// what Allow should return (for allow steps) and the state afterwards.
type step struct {
	at    time.Duration
	op    string // "allow", "ok", "fail", "state"
	allow bool   // expected Allow result, for "allow"
	state string // expected State(at) after the op
}

func TestBreakerTransitions(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	const cd = 10 * time.Second
	tests := []struct {
		name  string
		b     *Breaker
		steps []step
	}{
		{"starts closed and allows", NewBreaker(3, cd), []step{
			{0, "allow", true, StateClosed},
		}},
		{"opens after N consecutive failures", NewBreaker(3, cd), []step{
			{0, "fail", false, StateClosed},
			{1, "fail", false, StateClosed},
			{2, "fail", false, StateOpen},
			{3, "allow", false, StateOpen},
		}},
		{"success resets the consecutive count", NewBreaker(3, cd), []step{
			{0, "fail", false, StateClosed},
			{1, "fail", false, StateClosed},
			{2, "ok", false, StateClosed},
			{3, "fail", false, StateClosed},
			{4, "fail", false, StateClosed},
			{5, "fail", false, StateOpen},
		}},
		{"half-open after cooldown, probe success closes", NewBreaker(1, cd), []step{
			{0, "fail", false, StateOpen},
			{cd - 1, "state", false, StateOpen},
			{cd, "state", false, StateHalfOpen},
			{cd, "allow", true, StateOpen}, // probe in flight: others refused
			{cd + 1, "allow", false, StateOpen},
			{cd + 2, "ok", false, StateClosed},
			{cd + 3, "allow", true, StateClosed},
		}},
		{"probe failure reopens for a full cooldown", NewBreaker(1, cd), []step{
			{0, "fail", false, StateOpen},
			{cd, "allow", true, StateOpen},
			{cd + 5, "fail", false, StateOpen},
			{2*cd + 4, "allow", false, StateOpen},
			{2*cd + 5, "state", false, StateHalfOpen},
			{2*cd + 5, "allow", true, StateOpen},
			{2*cd + 6, "ok", false, StateClosed},
		}},
		{"lost probe is replaced after a cooldown", NewBreaker(1, cd), []step{
			{0, "fail", false, StateOpen},
			{cd, "allow", true, StateOpen},
			{2*cd - 1, "allow", false, StateOpen},
			{2 * cd, "state", false, StateHalfOpen},
			{2 * cd, "allow", true, StateOpen},
		}},
		{"straggler success while open is ignored", NewBreaker(1, cd), []step{
			{0, "fail", false, StateOpen},
			{1, "ok", false, StateOpen},
			{2, "allow", false, StateOpen},
		}},
		{"straggler failure while open does not extend cooldown", NewBreaker(1, cd), []step{
			{0, "fail", false, StateOpen},
			{cd - 1, "fail", false, StateOpen},
			{cd, "state", false, StateHalfOpen},
		}},
		{"clock going backwards stays open", NewBreaker(1, cd), []step{
			{cd, "fail", false, StateOpen},
			{0, "allow", false, StateOpen},
		}},
		{"zero value uses defaults", &Breaker{}, []step{
			{0, "fail", false, StateClosed},
			{0, "fail", false, StateClosed},
			{0, "fail", false, StateClosed},
			{0, "fail", false, StateClosed},
			{0, "fail", false, StateOpen},
			{DefaultCooldown - 1, "allow", false, StateOpen},
			{DefaultCooldown, "allow", true, StateOpen},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i, s := range tt.steps {
				now := t0.Add(s.at)
				switch s.op {
				case "allow":
					if got := tt.b.Allow(now); got != s.allow {
						t.Fatalf("step %d: Allow = %v, want %v", i, got, s.allow)
					}
				case "ok":
					tt.b.Success(now)
				case "fail":
					tt.b.Failure(now)
				case "state":
				default:
					t.Fatalf("step %d: unknown op %q", i, s.op)
				}
				if got := tt.b.State(now); got != s.state {
					t.Fatalf("step %d (%s at %v): state %q, want %q", i, s.op, s.at, got, s.state)
				}
			}
		})
	}
}

// TestBreakerOneProbe checks under the race detector that concurrent callers
// in half-open get exactly one probe.
func TestBreakerOneProbe(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	b := NewBreaker(1, time.Second)
	b.Failure(t0)
	now := t0.Add(time.Second)
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		allowed int
	)
	for range 32 {
		wg.Go(func() {
			if b.Allow(now) {
				mu.Lock()
				allowed++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if allowed != 1 {
		t.Fatalf("%d probes allowed, want 1", allowed)
	}
}
