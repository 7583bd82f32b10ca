package node

import (
	"context"
	"slices"
	"time"

	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/node/lexical"
	"github.com/edgerag/edgerag/node/route"
)

// Peers reaches the other nodes of the site. main implements it with
// membership (who is alive and holds what) and the QUIC transport; tests
// may fake it. A node without one routes only to central.
type Peers interface {
	// Peers returns the routing policy's view of the other nodes.
	Peers() []route.PeerInfo
	// AskPeer sends a question to the named peer, which answers it from
	// its own shards without forwarding it further.
	AskPeer(ctx context.Context, name string, q api.QueryRequest) (api.QueryResponse, error)
	// Holds reports, per peer it knows the vocabulary of, which of the
	// analysed terms its shards may hold (false positives possible).
	Holds(terms []string) map[string][]bool
}

// Reasons added when peers were asked and none gave an acceptable answer.
const (
	reasonPeerFailed = "peer_failed"         // every candidate failed or abstained
	reasonPeerWeak   = "peer_low_confidence" // a peer answered, below the threshold
)

// askPeers tries the candidates among peers (the site's edges, or
// central's replicas) in order until one answers at or above
// accept, the same bar a local answer must clear. Each try gets an equal
// share of the time left before deadline among the tries still possible
// (the remaining candidates, and central when it comes after), so a peer
// that hangs cannot eat the budget of the ones after it. A weaker answer
// does not end the search; the best of them is returned as weak, so the
// caller can still serve it, labelled, when nothing better comes.
func (n *Node) askPeers(ctx context.Context, peers Peers, req api.QueryRequest, cands []string, thenCentral bool, deadline time.Time, accept float64) (resp api.QueryResponse, ok bool, weak *api.QueryResponse) {
	for i, name := range cands {
		now := n.cfg.Now()
		left := deadline.Sub(now)
		tries := len(cands) - i
		if thenCentral {
			tries++
		}
		if left < n.cfg.Routing.MinRemaining/2 {
			return api.QueryResponse{}, false, weak
		}
		n.audit.RecordEscalation(ctx, "ask peer", name)
		pctx, cancel := context.WithTimeout(ctx, left/time.Duration(tries))
		resp, err := peers.AskPeer(pctx, name, req)
		cancel()
		if err != nil {
			n.log.WarnContext(ctx, "peer query failed", "peer", name, "err", err)
			continue
		}
		resp.Route = "peer:" + name
		if resp.Abstained {
			// A holder that cannot answer either is no better than the
			// next candidate or central.
			n.log.InfoContext(ctx, "peer abstained", "peer", name)
			continue
		}
		if resp.Confidence < accept {
			n.log.InfoContext(ctx, "peer answer below the escalation threshold", "peer", name, "confidence", resp.Confidence)
			if weak == nil || resp.Confidence > weak.Confidence {
				r := resp
				weak = &r
			}
			continue
		}
		return resp, true, weak
	}
	return api.QueryResponse{}, false, weak
}

// ShardTerms returns the analysed terms shard holds (nil if it is not
// held), for the term filter membership sends to peers.
func (n *Node) ShardTerms(shard string) []string {
	n.mu.RLock()
	s, ok := n.shards[shard]
	n.mu.RUnlock()
	if !ok {
		return nil
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []string
	n.dict.Each(func(term string, id uint32) {
		if s.ix.DF(id) > 0 {
			out = append(out, term)
		}
	})
	return out
}

// scorePeers sets each peer's Score for a question that names no shard and
// got a weak local answer. Coverage is the share of the question's idf
// weight whose terms a shard set holds; a peer's Score is the local
// confidence plus how much more of the question the peer covers than this
// node does, so the policy's "Score beats the confidence by
// PeerPreferredOver" reads "the peer holds that much more of the question".
// Peers whose vocabulary is unknown keep Score 0 and are not asked.
func (n *Node) scorePeers(sorted []string, conf float64, peers []route.PeerInfo) {
	terms := slices.Compact(slices.Clone(sorted))
	if len(terms) == 0 || len(peers) == 0 {
		return
	}
	holds := n.cfg.Peers.Holds(terms)
	if len(holds) == 0 {
		return
	}
	n.mu.RLock()
	states := make([]*shardState, 0, len(n.shards))
	for _, s := range n.shards {
		states = append(states, s)
	}
	n.mu.RUnlock()
	var total uint64
	df := make([]uint64, len(terms))
	local := make([]bool, len(terms))
	for _, s := range states {
		s.mu.RLock()
		total += uint64(s.ix.Live())
		for i, t := range terms {
			if id, ok := n.dict.Lookup(t); ok {
				if d := s.ix.DF(id); d > 0 {
					df[i] += uint64(d)
					local[i] = true
				}
			}
		}
		s.mu.RUnlock()
	}
	fleet := n.fleet.Load()
	weights := make([]float64, len(terms))
	for i, t := range terms {
		nn, d := total, df[i]
		if fleet != nil && fleet.N > 0 {
			nn, d = fleet.N, max(d, uint64(fleet.DF[t]))
		}
		// A term unknown here weighs as a rare one: it is what a peer
		// holding another shard may have and this node lacks.
		weights[i] = lexical.IDF(max(nn, 1), d)
	}
	localCov := route.Coverage(weights, local)
	for i := range peers {
		if held, ok := holds[peers[i].Name]; ok {
			peers[i].Score = max(0, min(1, conf+route.Coverage(weights, held)-localCov))
		}
	}
}
