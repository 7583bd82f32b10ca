package node

import (
	"context"
	"time"

	"github.com/edgerag/edgerag/node/api"
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
}

// reasonPeerFailed is added when every peer candidate failed.
const reasonPeerFailed = "peer_failed"

// askPeers tries the candidates in order until one answers. Each try gets
// an equal share of the time left before deadline among the tries still
// possible (the remaining candidates, and central when it comes after), so
// a peer that hangs cannot eat the budget of the ones after it.
func (n *Node) askPeers(ctx context.Context, req api.QueryRequest, cands []string, thenCentral bool, deadline time.Time) (api.QueryResponse, bool) {
	for i, name := range cands {
		now := n.cfg.Now()
		left := deadline.Sub(now)
		tries := len(cands) - i
		if thenCentral {
			tries++
		}
		if left < n.cfg.Routing.MinRemaining/2 {
			return api.QueryResponse{}, false
		}
		pctx, cancel := context.WithTimeout(ctx, left/time.Duration(tries))
		resp, err := n.cfg.Peers.AskPeer(pctx, name, req)
		cancel()
		if err == nil && resp.Abstained {
			// A holder that cannot answer either is no better than the
			// next candidate or central.
			n.log.InfoContext(ctx, "peer abstained", "peer", name)
			continue
		}
		if err != nil {
			n.log.WarnContext(ctx, "peer query failed", "peer", name, "err", err)
			continue
		}
		resp.Route = "peer:" + name
		return resp, true
	}
	return api.QueryResponse{}, false
}
