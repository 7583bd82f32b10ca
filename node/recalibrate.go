package node

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"

	"github.com/edgerag/edgerag/models/confidence"
	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/node/metrics"
	"github.com/edgerag/edgerag/node/shard"
	"github.com/edgerag/edgerag/node/shardstore"
)

// recalKey is the recalibration's record in the store's routing key space.
const recalKey = "recalibration"

// SignalModelConfidence is the signal under which a recalibrated answer
// reports the model's own confidence, before the edge's recalibration.
const SignalModelConfidence = "model_confidence"

// SignalRouteConfidence is the signal under which an edge that learns from
// central reports its route confidence: the probability, learned from
// central's answers to its escalations, that asking central would not
// change the answer (confidence.Online, confidence.Settled). The routing
// decision compares it with escalate-below; the answer's confidence stays
// a support estimate.
const SignalRouteConfidence = "route_confidence"

// recalibration is an edge's online recalibration of its confidence
// (confidence.Online), learned from central's answers to its escalations
// and kept in the store across restarts.
type recalibration struct {
	mu      sync.Mutex
	on      confidence.Online
	persist sync.Mutex // one write at a time, in the order of the updates
}

// recalibrates reports whether this node learns from central's answers:
// only a node that escalates to central hears back.
func (n *Node) recalibrates() bool { return n.cfg.Remote != nil && !n.cfg.NoRecalibration }

// loadRecalibration reads the recalibration back at Open. A record that
// cannot be read or is out of bounds is logged and replaced by the
// identity: the node answers as fitted rather than not at all.
func (n *Node) loadRecalibration(st *shardstore.Store) {
	on := n.cfg.Recalibration.Initial()
	b, err := st.RouteKV().Get(recalKey)
	switch {
	case errors.Is(err, shardstore.ErrNotFound):
	case err != nil:
		n.log.Warn("recalibration could not be read; starting from the model as fitted", "err", err)
	default:
		var got confidence.Online
		if err := json.Unmarshal(b, &got); err != nil || !got.Valid() {
			n.log.Warn("recalibration record is damaged; starting from the model as fitted", "err", err)
		} else {
			on = got
		}
	}
	n.recal.mu.Lock()
	n.recal.on = on
	n.recal.mu.Unlock()
}

// Recalibration returns the node's current recalibration (the identity on
// a node that does not learn).
func (n *Node) Recalibration() confidence.Online {
	n.recal.mu.Lock()
	defer n.recal.mu.Unlock()
	if n.recal.on.Scale == 0 {
		return n.cfg.Recalibration.Initial()
	}
	return n.recal.on
}

// recalibrate returns the route confidence of an answer the model rated
// raw, and records both figures in sig (SignalModelConfidence,
// SignalRouteConfidence) on a node that learns. A node that does not learn
// routes on the model's confidence; nothing retrieved stays at 0.
func (n *Node) recalibrate(raw float64, sig map[string]float64) float64 {
	if !n.recalibrates() || raw <= 0 {
		return raw
	}
	rc := n.Recalibration().Apply(raw)
	if sig != nil {
		sig[SignalModelConfidence] = raw
		sig[SignalRouteConfidence] = rc
	}
	return rc
}

// routeConfidence is the figure the routing decision compares with
// escalate-below for a local answer: its route confidence where the node
// learns (an abstention included: an edge that has learned central would
// not answer better keeps it), else its confidence.
func routeConfidence(local api.QueryResponse) float64 {
	if v, ok := local.Signals[SignalRouteConfidence]; ok {
		return v
	}
	return local.Confidence
}

// learnFromCentral labels the local answer with central's
// (confidence.Settled: would central's answer have changed the one served).
// The update is bounded (confidence.Online) and written to the store before
// the next label is.
func (n *Node) learnFromCentral(ctx context.Context, local, central api.QueryResponse, target float64) {
	if !n.recalibrates() || len(central.Citations) == 0 || len(local.Citations) == 0 {
		return // no ranking to compare: no label
	}
	raw := local.Confidence
	if v, ok := local.Signals[SignalModelConfidence]; ok {
		raw = v
	}
	// Central does not recalibrate: its confidence is the model's, the
	// scale raw is on.
	lc := confidence.Compared{Docs: docIDs(local.Citations), Support: raw, Abstained: local.Abstained}
	cc := confidence.Compared{Docs: docIDs(central.Citations), Support: central.Confidence, Abstained: central.Abstained}
	if local.Retrieval == central.Retrieval && local.Retrieval == "bm25" {
		// Both from BM25 over the fleet's term statistics: the scores of
		// their first passages are on one scale.
		lc.TopScore, cc.TopScore = local.Citations[0].Score, central.Citations[0].Score
	}
	agreed := confidence.Settled(lc, cc)
	n.recal.persist.Lock()
	defer n.recal.persist.Unlock()
	// persist serialises learners, so the refit (a fraction of a
	// millisecond) runs outside mu and queries reading the map never wait
	// for it.
	on := n.Recalibration().Observe(confidence.Outcome{Raw: raw, Agreed: agreed}, target, n.cfg.Recalibration)
	n.recal.mu.Lock()
	n.recal.on = on
	n.recal.mu.Unlock()
	b, err := json.Marshal(on)
	if err == nil {
		err = n.store.RouteKV().Update(ctx, []shard.KV{{Key: recalKey, Value: b}}, nil)
	}
	if err != nil && ctx.Err() == nil {
		n.log.WarnContext(ctx, "recalibration not saved; it holds until the node restarts", "err", err)
	}
}

// recalibrationSnapshot is the recalibration for /metrics and the status
// page; nil on a node that does not learn.
func (n *Node) recalibrationSnapshot() *metrics.Recalibration {
	if !n.recalibrates() {
		return nil
	}
	on := n.Recalibration()
	target := n.Tunables().EscalateBelow
	return &metrics.Recalibration{Scale: on.Scale, Offset: on.Offset, Threshold: on.Threshold(target), Target: target,
		Labels: on.Labels, Window: len(on.Outcomes), Agreed: on.AgreedShare()}
}

// docIDs lists the documents citations name, best first, each once.
func docIDs(cs []api.Citation) []string {
	out := make([]string, 0, len(cs))
	for _, c := range cs {
		if !slices.Contains(out, c.DocumentID) {
			out = append(out, c.DocumentID)
		}
	}
	return out
}
