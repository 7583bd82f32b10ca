package route

import (
	"sync"
	"time"
)

// Breaker states, as State reports them.
const (
	StateClosed   = "closed"    // calls flow; failures are counted
	StateOpen     = "open"      // calls are refused until the cooldown ends
	StateHalfOpen = "half-open" // one probe call may test the remote
)

// Breaker defaults, used when the fields are zero.
const (
	DefaultFailureThreshold = 5
	DefaultCooldown         = 30 * time.Second
)

// Breaker is a circuit breaker for one remote (central, usually). After
// Threshold consecutive failures it opens and refuses calls, so a dead link
// costs nothing per query instead of a timeout each; after Cooldown it lets
// one probe through, and closes again if the probe succeeds.
//
// Time is passed in rather than read, so tests drive it with plain values
// and the package stays free of clocks. A Breaker is safe for concurrent
// use; it must not be copied after first use. The zero value is a closed
// breaker with the default threshold and cooldown.
type Breaker struct {
	Threshold int           // consecutive failures that open the circuit; ≤0 means DefaultFailureThreshold
	Cooldown  time.Duration // time open before a probe; ≤0 means DefaultCooldown

	mu       sync.Mutex
	open     bool      // true in open and half-open; which one depends on now
	failures int       // consecutive failures while closed
	openedAt time.Time // when the circuit last opened, or the last probe failed
	probing  bool      // a half-open probe is in flight
	probeAt  time.Time // when that probe was allowed
}

// NewBreaker returns a closed breaker.
func NewBreaker(threshold int, cooldown time.Duration) *Breaker {
	return &Breaker{Threshold: threshold, Cooldown: cooldown}
}

// Allow reports whether a call may go out at now. In half-open it admits a
// single probe; its caller must report Success or Failure.
func (b *Breaker) Allow(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state(now) {
	case StateClosed:
		return true
	case StateHalfOpen:
		b.probing, b.probeAt = true, now
		return true
	}
	return false
}

// Success records a call that worked. A probe's success closes the circuit.
// A success reported while the circuit is open (not probing) belongs to a
// call admitted before it opened and says nothing about the remote now, so
// it is ignored.
func (b *Breaker) Success(now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.open && !b.probing {
		return
	}
	b.open, b.probing, b.failures = false, false, 0
}

// Failure records a call that failed. Closed, it counts toward Threshold;
// a failed probe reopens the circuit for another full cooldown. A failure
// reported while open and not probing is a straggler and changes nothing.
func (b *Breaker) Failure(now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case !b.open:
		b.failures++
		if b.failures >= b.threshold() {
			b.open, b.openedAt, b.failures = true, now, 0
		}
	case b.probing:
		b.probing, b.openedAt = false, now
	}
}

// State returns "closed", "open" or "half-open" at now, without changing it.
// Half-open means a probe may go out now; while a probe is in flight State
// says open, because no other call may go. So a router can set
// Input.CircuitOpen to State(now) == StateOpen; Allow stays the final word,
// since another goroutine may take the probe in between.
func (b *Breaker) State(now time.Time) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state(now)
}

// state computes the state at now; b.mu must be held. "Open" and
// "half-open" share one stored flag because the move between them is only
// the passage of time. A probe that never reports back (its caller crashed
// or lost the result) would wedge the breaker half-open with no probe
// allowed, so a probe older than one cooldown is treated as lost and
// another is admitted.
func (b *Breaker) state(now time.Time) string {
	if !b.open {
		return StateClosed
	}
	cd := b.cooldown()
	if b.probing {
		if now.Sub(b.probeAt) >= cd {
			return StateHalfOpen
		}
		return StateOpen // one probe at a time: others are refused
	}
	if now.Sub(b.openedAt) >= cd {
		return StateHalfOpen
	}
	return StateOpen
}

func (b *Breaker) threshold() int {
	if b.Threshold <= 0 {
		return DefaultFailureThreshold
	}
	return b.Threshold
}

// SetCooldown changes the cooldown at run time; an open circuit's current
// wait is measured against the new value.
func (b *Breaker) SetCooldown(d time.Duration) {
	b.mu.Lock()
	b.Cooldown = d
	b.mu.Unlock()
}

func (b *Breaker) cooldown() time.Duration {
	if b.Cooldown <= 0 {
		return DefaultCooldown
	}
	return b.Cooldown
}
