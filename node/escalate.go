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

// CentralProber is a Remote that can check that central answers without
// asking it a question (a QUIC ping). Without it the background probe asks
// a one-passage question.
type CentralProber interface {
	ProbeCentral(ctx context.Context) error
}

// CentralLiveness is a Remote that can say what the connection to central
// has heard: the packets received so far and whether it is open. With it,
// an escalation that ran out of time on a connection that kept receiving
// (central slow, or the link lossy, but alive) does not open the breaker;
// one on a connection that heard nothing (central killed, the link cut)
// does, at once.
type CentralLiveness interface {
	CentralHeard() (received uint64, open bool)
}

// probeEvery is how often the background probe looks at the breaker, and
// probeTimeout how long one probe may take: central answers a probe in
// well under a millisecond on a LAN, so a second means it is not answering.
const (
	probeEvery   = 250 * time.Millisecond
	probeTimeout = time.Second
)

// runCentralProbe finds out when central is back, so that no user query is
// the one that waits on a dead central to learn it: queries go to central
// only while its circuit is closed, and once a cooldown has passed after a
// failure this loop sends the one probe the breaker admits. While the
// circuit is closed it also watches the connection (watchCentral), so that
// a central that dies while no query is in flight opens the circuit
// before the next query, not by costing it its timeout.
func (n *Node) runCentralProbe(ctx context.Context) {
	t := time.NewTicker(probeEvery)
	defer t.Stop()
	var w centralWatch
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := n.cfg.Now()
		if n.breaker.State(now) == route.StateClosed {
			n.watchCentral(ctx, &w, now)
			continue
		}
		w = centralWatch{}
		if n.breaker.State(now) != route.StateHalfOpen || !n.breaker.Allow(now) {
			continue
		}
		switch err := n.probeCentral(ctx); {
		case err == nil:
			n.breaker.Success(n.cfg.Now())
			n.log.InfoContext(ctx, "central is answering again")
		case ctx.Err() == nil:
			n.breaker.Failure(n.cfg.Now())
		}
	}
}

// probeCentral pings central (or asks a one-passage question when the
// Remote cannot ping), within probeTimeout.
func (n *Node) probeCentral(ctx context.Context) error {
	pctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	if p, ok := n.cfg.Remote.(CentralProber); ok {
		return p.ProbeCentral(pctx)
	}
	_, err := n.cfg.Remote.AskCentral(pctx, api.QueryRequest{Question: "edgerag central probe", K: 1})
	return err
}

// centralWatch is what watchCentral last saw of the connection to central.
type centralWatch struct {
	open    bool      // a connection was open
	heard   uint64    // packets received on it
	heardAt time.Time // when that count last grew
}

// watchCentral reads the QUIC connection's own signals while the circuit
// is closed: a connection that closed (central shut down, or its idle
// timeout ran out), or one still open that has heard nothing for
// CentralQuiet although keep-alives go out every second (central killed:
// a live peer's QUIC stack acknowledges them however busy it is), makes
// central suspect. A suspect central gets one ping at once (through every
// replica the Remote knows); if that fails too, the circuit opens as after
// a failed escalation, so the next query answers locally at once, labelled
// degraded, instead of waiting for a dead central.
func (n *Node) watchCentral(ctx context.Context, w *centralWatch, now time.Time) {
	live, ok := n.cfg.Remote.(CentralLiveness)
	if !ok {
		return
	}
	heard, open := live.CentralHeard()
	suspect := ""
	switch {
	case open && (!w.open || heard != w.heard):
		w.heard, w.heardAt = heard, now
	case open && now.Sub(w.heardAt) >= n.cfg.CentralQuiet:
		suspect = "the connection to central heard nothing for " + now.Sub(w.heardAt).Round(time.Millisecond).String()
		w.heardAt = now // one ping per quiet period
	case !open && w.open:
		suspect = "the connection to central closed"
	}
	w.open = open
	if suspect == "" {
		return
	}
	err := n.probeCentral(ctx)
	if err == nil || ctx.Err() != nil {
		return
	}
	if h, open := live.CentralHeard(); open && h > heard {
		return // it heard something meanwhile: slow, not gone
	}
	n.breaker.Failure(n.cfg.Now())
	n.log.WarnContext(ctx, "central is not answering: escalations stop until a probe gets through", "why", suspect, "err", err)
}

// Reasons the node adds to route's when an escalation does not work out.
const (
	reasonCentralFailed = "central_failed" // central was asked and did not answer in time
	reasonCentralWeaker = "central_weaker" // central answered less surely than the answer served
	reasonCentralSlow   = "central_slow"   // central did not answer in time, but its connection is alive
)

// aliveSince reports whether the connection to central is open and has
// received packets since it had received heard.
func aliveSince(l CentralLiveness, heard uint64) bool {
	now, open := l.CentralHeard()
	return open && now > heard
}

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
	var sent bool
	var stream func(string) error
	if onToken != nil {
		stream = func(t string) error { sent = true; return onToken(t) }
	}
	resp, err := n.route(ctx, req, stream)
	if err == nil && onToken != nil && !sent && resp.Answer != "" {
		// Nothing was streamed while the route was open: the stream gets
		// the answer the route settled on, whole, so that its text and the
		// final response are the same.
		err = onToken(resp.Answer)
	}
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
//
// It is long because it is the routing decision in the order a query meets
// it (local answer, policy, peers, central, fallbacks), with the reason each
// step adds to the response.
func (n *Node) route(ctx context.Context, req api.QueryRequest, onToken func(string) error) (api.QueryResponse, error) {
	start := n.cfg.Now()
	tun := n.Tunables()
	deadline := start.Add(tun.QueryTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	remote := n.cfg.Remote != nil || n.cfg.Peers != nil
	local, streamed, terms, err := n.answerLocal(ctx, req, onToken, remote)
	if err == nil && streamed {
		// Its tokens are out: this is the one answer of the stream.
		return local, nil
	}
	notHeld := errors.Is(err, ErrShardNotHeld) && req.Shard != ""
	if remote && isOverload(err) {
		return n.shedElsewhere(ctx, req, start, deadline, err)
	}
	if err != nil && !(notHeld && remote) {
		return local, err
	}
	if !remote {
		return local, nil
	}
	// Where to answer is decided on the route confidence: on an edge that
	// learns from central, the probability that asking would not change
	// the answer, so a local abstention central would not improve on
	// stays here; elsewhere the answer's confidence.
	rc := routeConfidence(local)
	var peers []route.PeerInfo
	if n.cfg.Peers != nil {
		peers = n.cfg.Peers.Peers()
		if req.Shard == "" && err == nil && rc < tun.EscalateBelow {
			n.scorePeers(terms, rc, peers)
		}
	}
	d := route.Decide(route.Input{
		Confidence:       rc,
		HasLocalAnswer:   err == nil,
		NeedShard:        req.Shard,
		HeldShards:       n.shardNames(),
		Peers:            peers,
		CentralReachable: n.cfg.Remote != nil,
		// Half-open counts as open: the background probe, not a user's
		// query, finds out whether central is back.
		CircuitOpen: n.cfg.Remote != nil && n.breaker.State(start) != route.StateClosed,
		Remaining:   deadline.Sub(start),
	}, n.routing(tun))
	// Stop waiting for remote answers a little before the query's deadline,
	// so the local answer still goes out in time when none comes.
	margin := min(50*time.Millisecond, deadline.Sub(start)/20)
	// What leaves the node is redacted; the local answer above used the
	// question as asked.
	out := n.outgoing(ctx, req, d)
	// One rule for every source: an answer is taken as final when it is
	// not an abstention and its confidence reaches EscalateBelow, whoever
	// wrote it. Below that, the search goes on within the deadline, and
	// the best answer seen is what remains when nothing better comes.
	var best *api.QueryResponse
	if err == nil && !local.Abstained {
		best = &local
	}
	if d.Action == route.Peer {
		n.countEscalation(d.Reasons)
		resp, ok, weak := n.askPeers(ctx, n.cfg.Peers, out, d.Candidates, d.Central, deadline.Add(-margin), tun.EscalateBelow)
		if ok {
			resp.Reasons = d.Reasons
			resp.RequestID = api.RequestID(ctx)
			resp.Timings.TotalMS = ms(n.cfg.Now().Sub(start))
			return resp, nil
		}
		if weak != nil {
			d.Reasons = append(d.Reasons, reasonPeerWeak)
			if best == nil || weak.Confidence > best.Confidence {
				best = weak
			}
		} else {
			d.Reasons = append(d.Reasons, reasonPeerFailed)
		}
	}
	if now := n.cfg.Now(); !d.Central || n.breaker.State(now) != route.StateClosed || !n.breaker.Allow(now) {
		return n.degradeBest(local, err == nil, best, d.Reasons, start), nil
	}
	if d.Action == route.Central {
		n.countEscalation(d.Reasons)
	}
	ectx, cancel := context.WithDeadline(ctx, deadline.Add(-margin))
	defer cancel()
	n.audit.RecordEscalation(ctx, "ask central", "central")
	live, _ := n.cfg.Remote.(CentralLiveness)
	var heard uint64
	if live != nil {
		heard, _ = live.CentralHeard()
	}
	resp, rerr := n.cfg.Remote.AskCentral(ectx, out)
	now := n.cfg.Now()
	if rerr != nil {
		timedOut := errors.Is(rerr, context.DeadlineExceeded) || ectx.Err() != nil
		reasons := append(d.Reasons, reasonCentralFailed)
		switch {
		case ctx.Err() != nil:
			// The caller gave up: nothing learnt about central.
		case timedOut && live != nil && aliveSince(live, heard):
			// Out of time, but the connection kept hearing from central:
			// slow or lossy, not dead. This query degrades; the next ones
			// still try central.
			reasons = append(reasons, reasonCentralSlow)
		default:
			n.breaker.Failure(now)
		}
		n.log.WarnContext(ctx, "escalation to central failed", "err", rerr, "reasons", reasons)
		if timedOut {
			reasons = append(reasons, route.ReasonDeadline)
		}
		return n.degradeBest(local, err == nil, best, reasons, start), nil
	}
	n.breaker.Success(now)
	if err == nil {
		n.learnFromCentral(ctx, local, resp, tun.EscalateBelow)
	}
	resp.Route = "central"
	resp.Reasons = d.Reasons
	if best != nil && (resp.Abstained || resp.Confidence < best.Confidence) {
		// Central answered, less surely than an answer already in hand:
		// by the same measure, that one is better.
		kept := *best
		kept.Reasons = append(append([]string(nil), d.Reasons...), reasonCentralWeaker)
		kept.RequestID = api.RequestID(ctx)
		kept.Timings.TotalMS = ms(now.Sub(start))
		return kept, nil
	}
	resp.RequestID = api.RequestID(ctx)
	resp.Timings.TotalMS = ms(now.Sub(start))
	return resp, nil
}

// degradeBest serves the best answer in hand when no acceptable one could
// be had: a weak peer answer that beat the local one, labelled, or else the
// local answer (or abstention) as degrade makes it.
func (n *Node) degradeBest(local api.QueryResponse, have bool, best *api.QueryResponse, reasons []string, start time.Time) api.QueryResponse {
	out := local
	if best != nil && best.Route != local.Route {
		out, have = *best, true
	}
	out = n.degrade(out, have, reasons)
	out.Timings.TotalMS = ms(n.cfg.Now().Sub(start))
	return out
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
