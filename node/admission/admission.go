// Package admission decides, per class of work (retrieval, generation,
// ingest), whether a request may start now, may wait a short while, or must
// be refused at once. A node that queues everything under a surge answers
// nobody in time: latency grows with the queue until every client has given
// up, while the node keeps working for them. Refusing early with a hint of
// when to come back (Retry-After) keeps the requests it does accept fast.
//
// A Gate bounds concurrency (slots, about the number of cores the work can
// use) and the queue in front of it. The queue's length is not a constant:
// it is how many requests the slots can serve within the class's target
// wait at the service time measured so far, so it shrinks when work becomes
// slow and grows when it is fast. A request whose deadline falls before its
// estimated start is refused at once instead of waiting into a timeout.
//
// Fairness between clients: a flood from one client fills the queue as
// fast as places free up, and a client asking now and then would find it
// full nearly every time. So the queue keeps a reserve (Config.Reserve)
// that only a client holding no place in the gate may take: the flood is
// refused at the ordinary bound, the occasional client still gets in. A
// request's client is what WithClient put in its context (the API server
// uses the client's address, as for its connection limits).
package admission

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"
)

// Config sizes one gate.
type Config struct {
	// Name appears in errors and metrics: "retrieval", "generation", "ingest".
	Name string
	// Slots is how many requests run at once; at least 1.
	Slots int
	// TargetWait is the longest a request should queue before it starts.
	// The queue holds as many requests as the slots serve in this time.
	TargetWait time.Duration
	// MinQueue and MaxQueue clamp the queue's length; MaxQueue 0 means
	// 64 × Slots, a bound on the memory waiting requests hold.
	MinQueue, MaxQueue int
	// InitialService is the service time assumed before any is measured.
	InitialService time.Duration
	// Reserve is how many queue places beyond the bound only a client
	// holding no place may take; 0 means Slots, at least 2.
	Reserve int
}

type clientKey struct{}

// WithClient returns ctx naming the client a request comes from, for the
// gates' fairness; "" (the default) is no client in particular.
func WithClient(ctx context.Context, client string) context.Context {
	return context.WithValue(ctx, clientKey{}, client)
}

// ClientFrom returns the client WithClient named, or "".
func ClientFrom(ctx context.Context) string {
	c, _ := ctx.Value(clientKey{}).(string)
	return c
}

// Refusal is returned when a request may not start. It says how long the
// client should wait before retrying.
type Refusal struct {
	Class      string
	RetryAfter time.Duration
	Reason     string // "queue_full" or "deadline"
}

func (r *Refusal) Error() string {
	return fmt.Sprintf("%s is overloaded (%s): retry in %s", r.Class, r.Reason, r.RetryAfter.Round(time.Millisecond))
}

// IsRefusal reports whether err is (or wraps) a *Refusal, and returns it.
func IsRefusal(err error) (*Refusal, bool) {
	var r *Refusal
	ok := errors.As(err, &r)
	return r, ok
}

// Gate admits requests of one class.
type Gate struct {
	cfg   Config
	slots chan struct{}
	now   func() time.Time

	mu       sync.Mutex
	waiting  int
	service  float64 // EWMA of service time, seconds
	admitted uint64
	refused  map[string]uint64
	holding  map[string]int // places (running or waiting) per named client
}

// New returns a gate. Slots below 1 are raised to 1.
func New(cfg Config) *Gate {
	cfg.Slots = max(cfg.Slots, 1)
	if cfg.MaxQueue <= 0 {
		cfg.MaxQueue = 64 * cfg.Slots
	}
	cfg.MinQueue = min(max(cfg.MinQueue, 0), cfg.MaxQueue)
	if cfg.InitialService <= 0 {
		cfg.InitialService = time.Millisecond
	}
	if cfg.Reserve <= 0 {
		cfg.Reserve = max(cfg.Slots, 2)
	}
	return &Gate{cfg: cfg, slots: make(chan struct{}, cfg.Slots), now: time.Now,
		service: cfg.InitialService.Seconds(), refused: make(map[string]uint64), holding: make(map[string]int)}
}

// Stats is a gate's state, for metrics and the status page.
type Stats struct {
	Class    string  `json:"class"`
	Slots    int     `json:"slots"`
	Running  int     `json:"running"`
	Waiting  int     `json:"waiting"`
	Queue    int     `json:"queue"`      // current queue bound
	Reserve  int     `json:"reserve"`    // places beyond it for clients holding none
	Service  float64 `json:"service_ms"` // measured service time
	Admitted uint64  `json:"admitted"`
	Refused  uint64  `json:"refused"`
}

// Stats returns the gate's state.
func (g *Gate) Stats() Stats {
	g.mu.Lock()
	defer g.mu.Unlock()
	var refused uint64
	for _, n := range g.refused {
		refused += n
	}
	return Stats{Class: g.cfg.Name, Slots: g.cfg.Slots, Running: len(g.slots), Waiting: g.waiting,
		Queue: g.queueLocked(), Reserve: g.cfg.Reserve, Service: g.service * 1000, Admitted: g.admitted, Refused: refused}
}

// Load is the share of the gate's capacity in use, slots and queue
// together: 0 idle, 1 full (the next request would be refused).
func (g *Gate) Load() float64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return min(1, float64(len(g.slots)+g.waiting)/float64(g.cfg.Slots+g.queueLocked()))
}

// Full reports whether a request arriving now would be refused for a full
// queue. Callers use it to refuse before doing any work for the request
// (reading its body); Acquire remains the decision.
func (g *Gate) Full() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.slots) == g.cfg.Slots && g.waiting >= g.queueLocked()
}

// FullFor is Full for a request of client (see WithClient; "" for none),
// and when full how long a newcomer would wait behind the queue, in one
// look at the gate: the early refusal's Retry-After.
func (g *Gate) FullFor(client string) (bool, time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.slots) < g.cfg.Slots || g.waiting < g.boundLocked(client) {
		return false, 0
	}
	return true, g.estimateLocked()
}

// boundLocked is the queue bound for a request of client: the reserve is
// open to a named client that holds no place yet.
func (g *Gate) boundLocked(client string) int {
	q := g.queueLocked()
	if client != "" && g.holding[client] == 0 {
		q += g.cfg.Reserve
	}
	return q
}

func (g *Gate) holdLocked(client string, n int) {
	if client == "" {
		return
	}
	if g.holding[client] += n; g.holding[client] <= 0 {
		delete(g.holding, client)
	}
}

// queueLocked is how many requests may wait: as many as the slots finish
// within the target wait at the measured service time.
func (g *Gate) queueLocked() int {
	q := g.cfg.MaxQueue
	if g.service > 0 {
		f := g.cfg.TargetWait.Seconds() / g.service * float64(g.cfg.Slots)
		if f < float64(q) {
			q = int(f)
		}
	}
	return max(q, g.cfg.MinQueue)
}

// estimateLocked is how long a newcomer would wait behind those already
// queued: each slot serves a request per service time.
func (g *Gate) estimateLocked() time.Duration {
	waves := math.Ceil(float64(g.waiting+1) / float64(g.cfg.Slots))
	return time.Duration(waves * g.service * float64(time.Second))
}

func (g *Gate) refuse(reason string, wait time.Duration) *Refusal {
	g.refused[reason]++
	// Come back once the queue present now has drained; at least a
	// second, the unit of Retry-After.
	return &Refusal{Class: g.cfg.Name, Reason: reason, RetryAfter: max(wait, time.Second)}
}

// Acquire admits a request: at once when a slot is free, after a short wait
// when the queue has room and the slot is expected before ctx's deadline,
// else never (a *Refusal, returned without waiting). The returned release
// must be called when the work is done; it records the service time.
// When ctx ends while waiting, Acquire returns ctx's error.
func (g *Gate) Acquire(ctx context.Context) (release func(), err error) {
	client := ClientFrom(ctx)
	select {
	case g.slots <- struct{}{}:
		g.mu.Lock()
		g.admitted++
		g.holdLocked(client, 1)
		g.mu.Unlock()
		return g.releaser(client), nil
	default:
	}
	g.mu.Lock()
	est := g.estimateLocked()
	if g.waiting >= g.boundLocked(client) {
		r := g.refuse("queue_full", est)
		g.mu.Unlock()
		return nil, r
	}
	if d, ok := ctx.Deadline(); ok && g.now().Add(est).After(d) {
		r := g.refuse("deadline", est)
		g.mu.Unlock()
		return nil, r
	}
	g.waiting++
	g.holdLocked(client, 1)
	g.mu.Unlock()
	// A queued request is served: refusing it late would waste the wait
	// it has already had. Only a wait far beyond the estimate (the work
	// has stalled) ends in a refusal rather than holding the client on.
	timer := time.NewTimer(4*g.cfg.TargetWait + 2*est)
	defer timer.Stop()
	select {
	case g.slots <- struct{}{}:
		g.mu.Lock()
		g.waiting--
		g.admitted++
		g.mu.Unlock()
		return g.releaser(client), nil
	case <-timer.C:
		g.mu.Lock()
		g.waiting--
		g.holdLocked(client, -1)
		r := g.refuse("deadline", g.estimateLocked())
		g.mu.Unlock()
		return nil, r
	case <-ctx.Done():
		g.mu.Lock()
		g.waiting--
		g.holdLocked(client, -1)
		g.mu.Unlock()
		return nil, ctx.Err()
	}
}

// serviceWeight is the EWMA weight of a new service-time sample: recent
// enough to follow a change of load within a few dozen requests.
const serviceWeight = 0.05

func (g *Gate) releaser(client string) func() {
	start := g.now()
	var once sync.Once
	return func() {
		once.Do(func() {
			d := g.now().Sub(start).Seconds()
			g.mu.Lock()
			g.service += serviceWeight * (d - g.service)
			g.holdLocked(client, -1)
			g.mu.Unlock()
			<-g.slots
		})
	}
}

// Classes of work a node admits.
const (
	Retrieval  = "retrieval"
	Generation = "generation"
	Ingest     = "ingest"
)

// Controller holds one gate per class.
type Controller struct {
	gates map[string]*Gate
}

// NewController returns a controller with the given gates.
func NewController(cfgs ...Config) *Controller {
	c := &Controller{gates: make(map[string]*Gate, len(cfgs))}
	for _, cfg := range cfgs {
		c.gates[cfg.Name] = New(cfg)
	}
	return c
}

// Defaults sizes the gates for a device with cores CPUs: retrieval runs on
// every core and may queue for a few service times (the accepted queries
// must stay about as fast as under normal load); generation runs one model
// call at a time, since a small device's model server uses its cores for
// one; ingest runs one batch at a time (writes are serialised anyway) and
// may queue for a while, since a batch is worth more than a query's wait.
func Defaults(cores int) []Config {
	cores = max(cores, 1)
	return []Config{
		{Name: Retrieval, Slots: cores, TargetWait: 25 * time.Millisecond, MinQueue: 8 * cores, MaxQueue: 64 * cores, InitialService: time.Millisecond},
		{Name: Generation, Slots: 1, TargetWait: 5 * time.Second, MinQueue: 1, MaxQueue: 8, InitialService: 2 * time.Second},
		{Name: Ingest, Slots: 1, TargetWait: 2 * time.Second, MinQueue: 2, MaxQueue: 32, InitialService: 50 * time.Millisecond},
	}
}

// Gate returns the gate of a class, or nil when the class is not bounded.
func (c *Controller) Gate(class string) *Gate {
	if c == nil {
		return nil
	}
	return c.gates[class]
}

// Acquire admits a request of class; an unbounded class is admitted at once.
func (c *Controller) Acquire(ctx context.Context, class string) (func(), error) {
	g := c.Gate(class)
	if g == nil {
		return func() {}, nil
	}
	return g.Acquire(ctx)
}

// Stats returns every gate's state.
func (c *Controller) Stats() []Stats {
	if c == nil {
		return nil
	}
	out := make([]Stats, 0, len(c.gates))
	for _, name := range []string{Retrieval, Generation, Ingest} {
		if g := c.gates[name]; g != nil {
			out = append(out, g.Stats())
		}
	}
	return out
}
