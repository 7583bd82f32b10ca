package node

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/node/route"
)

// Remote reaches other nodes. main implements it over the QUIC transport;
// tests may fake it. A node without one answers on its own.
type Remote interface {
	// AskCentral sends a question to the central node, which answers it
	// from the full index without forwarding it further.
	AskCentral(ctx context.Context, q api.QueryRequest) (api.QueryResponse, error)
}

// Reasons the node adds to route's when an escalation does not work out.
const (
	reasonCentralFailed = "central_failed" // central was asked and did not answer in time
)

// Query implements api.Service: answer locally, then let the routing policy
// decide whether a better answer is worth asking central for. Whatever
// happens remotely, the caller gets an answer before the deadline: the local
// one, labelled degraded, when central cannot help.
//
// req must be valid as api.ValidateQuery leaves it: the edges validate a
// question once, where it enters the node, and the node does not again.
func (n *Node) Query(ctx context.Context, req api.QueryRequest) (api.QueryResponse, error) {
	return n.query(ctx, req, nil)
}

// QueryStream implements api.StreamingService: the local answer's tokens go
// to onToken as the model writes them. When the node then escalates, the
// final response (the stream's "done" event) carries central's answer,
// which supersedes the streamed text.
func (n *Node) QueryStream(ctx context.Context, req api.QueryRequest, onToken func(string) error) (api.QueryResponse, error) {
	return n.query(ctx, req, onToken)
}

func (n *Node) query(ctx context.Context, req api.QueryRequest, onToken func(string) error) (api.QueryResponse, error) {
	resp, err := n.route(ctx, req, onToken)
	if err == nil {
		outcome := "answered"
		switch {
		case resp.Degraded:
			outcome = "degraded"
		case resp.Abstained:
			outcome = "abstained"
		}
		route := resp.Route
		if strings.HasPrefix(route, "peer:") {
			route = "peer" // one series per peer name would grow without bound
		}
		n.metrics.Answers.WithLabelValues(route, resp.Mode, outcome).Inc()
		n.metrics.QueryLatency.WithLabelValues(route).Observe(resp.Timings.TotalMS / 1000)
		n.remember(api.RecentQuery{At: n.cfg.Now(), Question: req.Question, Route: resp.Route, Mode: resp.Mode,
			Confidence: resp.Confidence, Abstained: resp.Abstained, Degraded: resp.Degraded, TotalMS: resp.Timings.TotalMS})
		// One line per query, tagged with its request id (api.NewLogHandler),
		// so it can be matched with the lines central or a peer logged for it.
		n.log.InfoContext(ctx, "query", "route", resp.Route, "mode", resp.Mode, "outcome", outcome,
			"confidence", resp.Confidence, "reasons", resp.Reasons, "answered_by", resp.Node, "ms", resp.Timings.TotalMS)
	}
	return resp, err
}

// route answers locally, then escalates when the routing policy says so.
func (n *Node) route(ctx context.Context, req api.QueryRequest, onToken func(string) error) (api.QueryResponse, error) {
	start := n.cfg.Now()
	tun := n.Tunables()
	deadline := start.Add(tun.QueryTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	local, terms, err := n.answerLocal(ctx, req, onToken)
	notHeld := errors.Is(err, ErrShardNotHeld) && req.Shard != ""
	remote := n.cfg.Remote != nil || n.cfg.Peers != nil
	if err != nil && !(notHeld && remote) {
		return local, err
	}
	if !remote {
		return local, nil
	}
	var peers []route.PeerInfo
	if n.cfg.Peers != nil {
		peers = n.cfg.Peers.Peers()
		if req.Shard == "" && err == nil && local.Confidence < tun.EscalateBelow {
			n.scorePeers(terms, local.Confidence, peers)
		}
	}
	d := route.Decide(route.Input{
		Confidence:       local.Confidence,
		HasLocalAnswer:   err == nil,
		NeedShard:        req.Shard,
		HeldShards:       n.shardNames(),
		Peers:            peers,
		CentralReachable: n.cfg.Remote != nil,
		CircuitOpen:      n.cfg.Remote != nil && n.breaker.State(start) == route.StateOpen,
		Remaining:        deadline.Sub(start),
	}, n.routing(tun))
	// Stop waiting for remote answers a little before the query's deadline,
	// so the local answer still goes out in time when none comes.
	margin := min(50*time.Millisecond, deadline.Sub(start)/20)
	if d.Action == route.Peer {
		n.countEscalation(d.Reasons)
		if resp, ok := n.askPeers(ctx, req, d.Candidates, d.Central, deadline.Add(-margin)); ok {
			resp.Reasons = d.Reasons
			resp.RequestID = api.RequestID(ctx)
			resp.Timings.TotalMS = ms(n.cfg.Now().Sub(start))
			return resp, nil
		}
		d.Reasons = append(d.Reasons, reasonPeerFailed)
	}
	if !d.Central || !n.breaker.Allow(n.cfg.Now()) {
		return n.degrade(local, err == nil, d.Reasons), nil
	}
	if d.Action == route.Central {
		n.countEscalation(d.Reasons)
	}
	ectx, cancel := context.WithDeadline(ctx, deadline.Add(-margin))
	defer cancel()
	n.audit.RecordEscalation(ctx, "ask central", "central")
	resp, rerr := n.cfg.Remote.AskCentral(ectx, req)
	now := n.cfg.Now()
	if rerr != nil {
		if ctx.Err() == nil {
			// The caller is still waiting, so this is central's fault.
			n.breaker.Failure(now)
		}
		n.log.WarnContext(ctx, "escalation to central failed", "err", rerr)
		reasons := append(d.Reasons, reasonCentralFailed)
		if errors.Is(rerr, context.DeadlineExceeded) || ectx.Err() != nil {
			reasons = append(reasons, route.ReasonDeadline)
		}
		out := n.degrade(local, err == nil, reasons)
		out.Timings.TotalMS = ms(now.Sub(start))
		return out, nil
	}
	n.breaker.Success(now)
	resp.Route = "central"
	resp.Reasons = d.Reasons
	resp.RequestID = api.RequestID(ctx)
	resp.Timings.TotalMS = ms(now.Sub(start))
	return resp, nil
}

// degrade labels the local answer when a better one was wanted but could
// not be had, or makes an abstention when there is no local answer at all.
func (n *Node) degrade(local api.QueryResponse, have bool, reasons []string) api.QueryResponse {
	if len(reasons) == 0 {
		return local
	}
	if !have {
		local = api.QueryResponse{
			Answer: "The shard this question needs is not held here, and no other node could be asked.",
			Mode:   "extractive", Route: "local", Abstained: true, Node: n.cfg.Name,
			Citations: []api.Citation{}, Signals: map[string]float64{},
		}
	}
	local.Degraded = true
	local.Reasons = append(local.Reasons, reasons...)
	return local
}

func (n *Node) countEscalation(reasons []string) {
	n.escMu.Lock()
	defer n.escMu.Unlock()
	for _, r := range reasons {
		n.escalations[r]++
		n.metrics.Escalations.WithLabelValues(r).Inc()
	}
}

func (n *Node) shardNames() []string {
	n.mu.RLock()
	defer n.mu.RUnlock()
	out := make([]string, 0, len(n.shards))
	for name := range n.shards {
		out = append(out, name)
	}
	return out
}

// centralState reports the link to central for status pages.
func (n *Node) centralState(now time.Time) string {
	if n.cfg.Remote == nil {
		return "none"
	}
	return n.breaker.State(now)
}
