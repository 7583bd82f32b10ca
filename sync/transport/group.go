package transport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/edgerag/edgerag/sync/wire"
)

// Caller makes calls to other nodes; *Client and *Group are Callers.
type Caller interface {
	Call(ctx context.Context, addr, serverName string, typ wire.Type, payload []byte) ([]byte, error)
}

// Defaults for the zero values of GroupConfig.
const (
	DefaultGroupCooldown = 30 * time.Second
	DefaultHedgeAfter    = 2 * time.Second
	DefaultResolveEvery  = 30 * time.Second
	// bulkHedgeFactor stretches the hedge delay of bulk transfers (chunk
	// batches, model ranges), which take long on a slow link without
	// anything being wrong.
	bulkHedgeFactor = 8
)

// GroupConfig tunes a Group. Zero values take the defaults.
type GroupConfig struct {
	// Cooldown is how long an address that failed is tried only after
	// the others.
	Cooldown time.Duration
	// HedgeAfter is how long a call without a deadline waits for one
	// address before asking the next as well. A call with a deadline asks
	// the next at half the time left, so failover fits in the deadline.
	HedgeAfter time.Duration
	// ResolveEvery is how long the addresses a DNS name resolved to are
	// kept before it is looked up again.
	ResolveEvery time.Duration
	// Resolve looks up a host name; nil uses the system resolver. Tests
	// put a name with several records here.
	Resolve func(ctx context.Context, host string) ([]netip.Addr, error)
	Now     func() time.Time
	Logger  *slog.Logger
}

// Group calls one service that several addresses serve, such as central's
// replicas: a list ("a:7443,b:7443"), a DNS name with several records, or
// both. Each call goes to the address that answered last; when that one
// fails, or has not answered by the hedge delay, the next is asked too and
// the first answer wins, so a replica killed without a word costs one call
// half its deadline, not the call. An address that failed or lost a hedge
// is tried after the others for Cooldown (its breaker is open); it is never
// skipped, so a group whose addresses are all down still tries them all.
//
// Group has Client.Call's signature: calls to the group's spec (the string
// it was made from) go to the group, calls to any other address pass
// through, so it stands in for a Client wherever one central was called.
type Group struct {
	c     Caller
	spec  string
	cfg   GroupConfig
	hosts []member

	mu        sync.Mutex
	preferred string                // the address that answered last
	openUntil map[string]time.Time  // per address: tried last until then
	resolved  map[string][]string   // per member host: its addresses
	expires   map[string]time.Time  // per member host: when to look it up again
	state     map[string]AddrHealth // per address, for status
}

type member struct {
	host, port string
	ip         bool
}

// AddrHealth is one address's state, for status and logs.
type AddrHealth struct {
	Addr      string    `json:"addr"`
	Open      bool      `json:"open"` // failed lately: tried after the others
	Failures  int       `json:"failures"`
	LastError string    `json:"last_error,omitempty"`
	LastOK    time.Time `json:"last_ok,omitzero"`
}

// ParseAddrList splits a comma-separated list of host:port addresses,
// refusing what cannot be dialled, and drops repeats.
func ParseAddrList(spec string) ([]string, error) {
	var out []string
	for a := range strings.SplitSeq(spec, ",") {
		a = strings.TrimSpace(a)
		if a == "" {
			continue
		}
		host, port, err := net.SplitHostPort(a)
		if err != nil {
			return nil, fmt.Errorf("address %q: %w; want host:port, several separated by commas", a, err)
		}
		if host == "" {
			return nil, fmt.Errorf("address %q has no host; want host:port", a)
		}
		if p, err := strconv.ParseUint(port, 10, 16); err != nil || p == 0 {
			return nil, fmt.Errorf("address %q: port %q is not a number from 1 to 65535", a, port)
		}
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no address given; want host:port, several separated by commas")
	}
	return out, nil
}

// NewGroup returns a group over the addresses of spec (see ParseAddrList),
// calling through c.
func NewGroup(c Caller, spec string, cfg GroupConfig) (*Group, error) {
	addrs, err := ParseAddrList(spec)
	if err != nil {
		return nil, err
	}
	if cfg.Cooldown <= 0 {
		cfg.Cooldown = DefaultGroupCooldown
	}
	if cfg.HedgeAfter <= 0 {
		cfg.HedgeAfter = DefaultHedgeAfter
	}
	if cfg.ResolveEvery <= 0 {
		cfg.ResolveEvery = DefaultResolveEvery
	}
	if cfg.Resolve == nil {
		cfg.Resolve = func(ctx context.Context, host string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	g := &Group{
		c: c, spec: spec, cfg: cfg,
		openUntil: map[string]time.Time{}, resolved: map[string][]string{},
		expires: map[string]time.Time{}, state: map[string]AddrHealth{},
	}
	for _, a := range addrs {
		host, port, _ := net.SplitHostPort(a)
		_, perr := netip.ParseAddr(host)
		g.hosts = append(g.hosts, member{host: host, port: port, ip: perr == nil})
	}
	return g, nil
}

// Spec returns the string the group was made from: the address to Call it
// by.
func (g *Group) Spec() string { return g.spec }

// First returns the first address of the list as given, for callers that
// can reach only one.
func (g *Group) First() string { return net.JoinHostPort(g.hosts[0].host, g.hosts[0].port) }

// Health returns each known address's state, in the order calls try them.
func (g *Group) Health() []AddrHealth {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.cfg.Now()
	var out []AddrHealth
	for _, a := range g.orderLocked(g.knownLocked(), now) {
		h := g.state[a]
		h.Addr, h.Open = a, now.Before(g.openUntil[a])
		out = append(out, h)
	}
	return out
}

// Call sends a request to the group when addr is its spec, and otherwise
// to addr alone through the underlying caller.
func (g *Group) Call(ctx context.Context, addr, serverName string, typ wire.Type, payload []byte) ([]byte, error) {
	if addr != g.spec {
		return g.c.Call(ctx, addr, serverName, typ, payload)
	}
	addrs := g.addresses(ctx)
	if len(addrs) == 1 {
		b, err := g.c.Call(ctx, addrs[0], serverName, typ, payload)
		g.settle(ctx, addrs[0], err)
		return b, err
	}
	return g.race(ctx, addrs, serverName, typ, payload)
}

type attempt struct {
	i   int
	b   []byte
	err error
}

// race asks addrs in order: the next one when the last asked fails, or,
// for a request that is safe to repeat, when it has not answered by the
// hedge delay. The first answer wins and the other calls are cancelled.
func (g *Group) race(ctx context.Context, addrs []string, serverName string, typ wire.Type, payload []byte) ([]byte, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make(chan attempt, len(addrs))
	next, pending := 0, 0
	launch := func() {
		i := next
		next++
		pending++
		go func() { // ends with the call, which cancel bounds
			b, err := g.c.Call(ctx, addrs[i], serverName, typ, payload)
			results <- attempt{i, b, err}
		}()
	}
	launch()
	var errs []error
	finished := make([]bool, len(addrs))
	for pending > 0 {
		var hedge <-chan time.Time
		stop := func() bool { return false }
		if typ.Idempotent() && next < len(addrs) {
			t := time.NewTimer(g.hedgeDelay(ctx, typ))
			hedge, stop = t.C, t.Stop
		}
		select {
		case r := <-results:
			stop()
			pending--
			finished[r.i] = true
			if ctx.Err() != nil {
				return nil, r.err // the caller's cancellation, as Client reports it
			}
			if r.err == nil || !failsOver(r.err) {
				g.settle(ctx, addrs[r.i], r.err)
				// Those asked before the winner and still silent lost
				// the race: they are tried after it from now on.
				for j := range r.i {
					if !finished[j] {
						g.lostRace(addrs[j], addrs[r.i])
					}
				}
				return r.b, r.err
			}
			g.settle(ctx, addrs[r.i], r.err)
			errs = append(errs, r.err)
			if pending == 0 && next < len(addrs) {
				g.cfg.Logger.Warn("fleet: failing over", "from", addrs[r.i], "to", addrs[next], "type", typ.String(), "err", r.err)
				launch()
			}
		case <-hedge:
			g.cfg.Logger.Warn("fleet: no answer yet; asking the next address too", "waiting_for", addrs[next-1], "next", addrs[next], "type", typ.String())
			launch()
		}
	}
	return nil, fmt.Errorf("all %d addresses of %s failed: %w", len(addrs), g.spec, errors.Join(errs...))
}

// failsOver reports whether another address may do better: not when the
// one asked refused the request itself (bad, too large, not allowed),
// which every replica would.
func failsOver(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return true
	}
	switch e.Code {
	case wire.CodeBadRequest, wire.CodeTooLarge, wire.CodeUnknownType, wire.CodeUnauthorized:
		return false
	}
	return true
}

func (g *Group) hedgeDelay(ctx context.Context, typ wire.Type) time.Duration {
	if dl, ok := ctx.Deadline(); ok {
		return max(time.Until(dl)/2, time.Millisecond)
	}
	if typ == wire.TypeChunks || typ == wire.TypeModelBlob {
		return g.cfg.HedgeAfter * bulkHedgeFactor
	}
	return g.cfg.HedgeAfter
}

// settle records how a call to addr ended: an answer (even a refusal)
// makes addr the preferred one and closes its breaker; a failure that is
// the address's, not the caller's, opens it.
func (g *Group) settle(ctx context.Context, addr string, err error) {
	if err != nil && ctx.Err() != nil {
		return // the caller gave up: nothing learnt about addr
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	h := g.state[addr]
	if err == nil || !failsOver(err) {
		g.preferred = addr
		delete(g.openUntil, addr)
		h.Failures, h.LastError, h.LastOK = 0, "", g.cfg.Now()
		g.state[addr] = h
		return
	}
	g.openUntil[addr] = g.cfg.Now().Add(g.cfg.Cooldown)
	h.Failures++
	h.LastError = err.Error()
	g.state[addr] = h
	if g.preferred == addr {
		g.preferred = ""
	}
}

func (g *Group) lostRace(addr, winner string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.openUntil[addr] = g.cfg.Now().Add(g.cfg.Cooldown)
	h := g.state[addr]
	h.Failures++
	h.LastError = "no answer before " + winner + "'s"
	g.state[addr] = h
}

// addresses returns the group's addresses in the order to try them.
func (g *Group) addresses(ctx context.Context) []string {
	g.resolve(ctx)
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.orderLocked(g.knownLocked(), g.cfg.Now())
}

// resolve looks up the member names whose addresses have expired. A failed
// lookup keeps the last addresses; a name never resolved is dialled by
// name, so its call reports the lookup's error.
func (g *Group) resolve(ctx context.Context) {
	now := g.cfg.Now()
	for _, m := range g.hosts {
		if m.ip {
			continue
		}
		g.mu.Lock()
		fresh := now.Before(g.expires[m.host])
		g.mu.Unlock()
		if fresh {
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		ips, err := g.cfg.Resolve(rctx, m.host)
		cancel()
		g.mu.Lock()
		g.expires[m.host] = now.Add(g.cfg.ResolveEvery)
		if err == nil && len(ips) > 0 {
			addrs := make([]string, 0, len(ips))
			for _, ip := range ips {
				a := netip.AddrPortFrom(ip.Unmap(), 0).Addr().String()
				a = net.JoinHostPort(a, m.port)
				if !slices.Contains(addrs, a) {
					addrs = append(addrs, a)
				}
			}
			g.resolved[m.host] = addrs
		} else if err != nil {
			g.cfg.Logger.Warn("fleet: cannot resolve a central address; keeping the last answer", "host", m.host, "err", err)
		}
		g.mu.Unlock()
	}
}

// knownLocked lists every address of the members, in the order given.
func (g *Group) knownLocked() []string {
	var out []string
	for _, m := range g.hosts {
		addrs := g.resolved[m.host]
		if m.ip || len(addrs) == 0 {
			addrs = []string{net.JoinHostPort(m.host, m.port)}
		}
		for _, a := range addrs {
			if !slices.Contains(out, a) {
				out = append(out, a)
			}
		}
	}
	return out
}

// orderLocked puts the preferred address first, then those with a closed
// breaker in the order given, then the open ones, soonest to close first.
func (g *Group) orderLocked(addrs []string, now time.Time) []string {
	rank := func(a string) (int, time.Time) {
		switch until := g.openUntil[a]; {
		case now.Before(until):
			return 2, until
		case a == g.preferred:
			return 0, time.Time{}
		}
		return 1, time.Time{}
	}
	slices.SortStableFunc(addrs, func(a, b string) int {
		ra, ua := rank(a)
		rb, ub := rank(b)
		if ra != rb {
			return ra - rb
		}
		return ua.Compare(ub)
	})
	return addrs
}
