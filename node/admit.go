package node

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/edgerag/edgerag/node/admission"
	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/node/route"
	"github.com/edgerag/edgerag/node/shardstore"
)

// Admit implements api.Admitter: it admits a request of one class
// (admission.Retrieval, Generation or Ingest), or refuses it at once with a
// 429 carrying Retry-After, or a 503 while the node is not ready.
func (n *Node) Admit(ctx context.Context, class string) (func(), error) {
	if !n.Ready() {
		return nil, &Error{kind: ErrNotReady.(kind), msg: "the node is still loading its index", retryAfter: time.Second}
	}
	release, err := n.adm.Acquire(admission.WithClient(ctx, api.ClientFrom(ctx)), class)
	if err != nil {
		return nil, n.refusal(err)
	}
	return release, nil
}

// ShedEarly implements api.EarlyShedder: with every retrieval slot and
// queue place taken (for client: see admission.WithClient), and nowhere
// else to send a query, it is refused before its body is read. At 10× load
// most of the CPU a refusal costs is the request's parsing; this skips
// what can be skipped.
func (n *Node) ShedEarly(class, client string) error {
	if class != admission.Retrieval || n.cfg.Remote != nil || n.cfg.Peers != nil {
		return nil
	}
	g := n.adm.Gate(class)
	if g == nil {
		return nil
	}
	full, wait := g.FullFor(client)
	if !full {
		return nil
	}
	n.metrics.Shed.WithLabelValues(class, "queue_full").Inc()
	// The answer depends only on the whole seconds of Retry-After: build
	// it once per value rather than once per refusal.
	secs := int(max(1, math.Ceil(wait.Seconds())))
	if secs < len(n.shed) {
		if p := n.shed[secs].Load(); p != nil {
			return p
		}
	}
	err := n.refusalErr(&admission.Refusal{Class: class, Reason: "queue_full", RetryAfter: time.Duration(secs) * time.Second})
	p := api.Prebuild(api.AsError(err), err)
	if secs < len(n.shed) {
		n.shed[secs].Store(p)
	}
	return p
}

// refusal turns an admission refusal into the API's 429; other errors (the
// client went away while waiting) pass through.
func (n *Node) refusal(err error) error {
	r, ok := admission.IsRefusal(err)
	if !ok {
		return err
	}
	n.metrics.Shed.WithLabelValues(r.Class, r.Reason).Inc()
	return n.refusalErr(r)
}

func (n *Node) refusalErr(r *admission.Refusal) error {
	return &Error{kind: ErrOverloaded.(kind), retryAfter: r.RetryAfter, msg: fmt.Sprintf(
		"the node is busy: %s cannot start in time (%s); retry after %d s, or ask another node", r.Class, r.Reason, int(max(1, r.RetryAfter.Seconds())))}
}

// Admission returns the state of the node's admission gates.
func (n *Node) Admission() []admission.Stats { return n.adm.Stats() }

// storageErr answers a write the disk cannot take with 507 and what to
// free; the node goes on answering queries from what it holds.
func storageErr(err error) error {
	var se *shardstore.SpaceError
	if !errors.As(err, &se) {
		return err
	}
	return errorf(ErrStorageFull, "%s. Queries are still answered from what is stored.", se.Error())
}

// Storage describes the store's disk for /readyz and the status page:
// "ok", or why writes are refused.
func (n *Node) Storage() string {
	if n.store == nil {
		return "ok"
	}
	free, need, err := n.store.Space()
	if n.store.ReadOnly() {
		if n.store.ReadOnlyFull() {
			return fmt.Sprintf("read-only: the disk was full when the node started (%d MB free, %d MB needed); queries are answered, writes refused until space is freed, then the store becomes writable by itself within seconds", free>>20, need>>20)
		}
		return "read-only: the data directory was not writable when the node started; queries are answered, writes refused until it is writable, then the store becomes writable by itself"
	}
	switch {
	case err != nil:
		return "unknown: " + err.Error()
	case free < need:
		return fmt.Sprintf("full: %d MB free, %d MB kept in reserve; writes are refused until space is freed (they resume by themselves)", free>>20, need>>20)
	}
	return "ok"
}

// isOverload reports whether err is this node's admission refusal.
func isOverload(err error) bool {
	return errors.Is(err, ErrOverloaded)
}

// shedElsewhere sends a query this node has no room for to the
// least-loaded peer holding its shard, then central (route.Overload), and
// returns the refusal only when none of them answers in time.
func (n *Node) shedElsewhere(ctx context.Context, req api.QueryRequest, start, deadline time.Time, refusal error) (api.QueryResponse, error) {
	var peers []route.PeerInfo
	if n.cfg.Peers != nil {
		peers = n.cfg.Peers.Peers()
	}
	d := route.Overload(route.Input{
		NeedShard:        req.Shard,
		HeldShards:       n.shardNames(),
		Peers:            peers,
		CentralReachable: n.cfg.Remote != nil,
		// Half-open counts as open, as for escalation: the background
		// probe finds out whether central is back.
		CircuitOpen: n.cfg.Remote != nil && n.breaker.State(start) != route.StateClosed,
		Remaining:   deadline.Sub(start),
	}, n.routing(n.Tunables()))
	if d.Action == route.Local {
		return api.QueryResponse{}, refusal
	}
	n.countEscalation(d.Reasons)
	margin := min(50*time.Millisecond, deadline.Sub(start)/20)
	finish := func(resp api.QueryResponse) (api.QueryResponse, error) {
		resp.Reasons = d.Reasons
		resp.RequestID = api.RequestID(ctx)
		resp.Timings.TotalMS = ms(n.cfg.Now().Sub(start))
		return resp, nil
	}
	// What leaves the node is redacted, as on every escalation.
	out := n.outgoing(ctx, req, d)
	// Any answer a peer stands behind beats a refusal: this node has none
	// to compare it with.
	var weak *api.QueryResponse
	if d.Action == route.Peer {
		var resp api.QueryResponse
		var ok bool
		resp, ok, weak = n.askPeers(ctx, n.cfg.Peers, out, d.Candidates, d.Central, deadline.Add(-margin), 0)
		if ok {
			return finish(resp)
		}
	}
	// fallback is the best a peer gave, else the refusal.
	fallback := func() (api.QueryResponse, error) {
		if weak != nil {
			return finish(*weak)
		}
		return api.QueryResponse{}, refusal
	}
	if now := n.cfg.Now(); !d.Central || n.breaker.State(now) != route.StateClosed || !n.breaker.Allow(now) {
		return fallback()
	}
	ectx, cancel := context.WithDeadline(ctx, deadline.Add(-margin))
	defer cancel()
	resp, err := n.cfg.Remote.AskCentral(ectx, out)
	if err != nil {
		if ctx.Err() == nil {
			n.breaker.Failure(n.cfg.Now())
		}
		n.log.WarnContext(ctx, "overloaded: central did not take the query either", "err", err)
		return fallback()
	}
	n.breaker.Success(n.cfg.Now())
	resp.Route = "central"
	return finish(resp)
}
