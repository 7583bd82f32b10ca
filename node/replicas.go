package node

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/node/auth"
	"github.com/edgerag/edgerag/node/dense"
	"github.com/edgerag/edgerag/node/route"
)

// ReplicaScope is what a central replica that holds only some shards
// serves: Served, the shards it answers from itself, and Published, every
// shard an escalated question may ask for (held by this replica or by
// others).
type ReplicaScope struct {
	Served    []string
	Published []string
}

// QueryReplicas answers a question an edge escalated to a central replica
// that holds only its assigned shards (sync/assign), with the routing
// edges use among peers: a question naming a shard this replica does not
// serve goes to the replicas that do (route.Holders, tried in order by
// askPeers); a question naming none is answered here from the shards
// served and, at the same time, by the replicas that together cover the
// rest (route.Cover), and the surest answer wins. What other replicas
// answer they answer from their own shards, never forwarding again.
//
// Replicas that fail are skipped. A published shard whose holders all
// fail (one was killed and its shards are being reassigned) gets
// ErrNotReady, which the edge's replica group fails over on.
func (n *Node) QueryReplicas(ctx context.Context, replicas Peers, scope ReplicaScope, req api.QueryRequest) (api.QueryResponse, error) {
	tun := n.Tunables()
	th := n.routing(tun)
	deadline := n.cfg.Now().Add(tun.QueryTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	deadline = deadline.Add(-min(50*time.Millisecond, time.Until(deadline)/20))
	local := func() (api.QueryResponse, error) { return n.QueryLocal(servedOnly(ctx, scope.Served), req) }
	if req.Shard != "" {
		if slices.Contains(scope.Served, req.Shard) {
			return local()
		}
		holders := route.Holders(replicas.Peers(), req.Shard, th)
		// Any answer from a holder is central's answer: there is no
		// better place to go, so accept is 0.
		resp, ok, weak := n.askPeers(ctx, replicas, req, holders, false, deadline, 0)
		switch {
		case ok:
			return resp, nil
		case weak != nil:
			return *weak, nil
		}
		n.log.WarnContext(ctx, "no replica holding the shard answered", "shard", req.Shard, "holders", holders)
		if !slices.Contains(scope.Published, req.Shard) {
			return local() // not published: the local answer says so
		}
		return api.QueryResponse{}, errorf(ErrNotReady, "no central replica holding shard %q answered (asked %d): it is being reassigned; retry in a few seconds", req.Shard, len(holders))
	}
	var need []string
	for _, s := range scope.Published {
		if !slices.Contains(scope.Served, s) {
			need = append(need, s)
		}
	}
	cover := route.Cover(replicas.Peers(), need, th)
	if len(cover) == 0 {
		return local()
	}
	return n.fanOut(ctx, replicas, req, cover, deadline, local)
}

// fanOut asks the named peers and this node at once and returns the
// surest answer (abstentions last); a peer that fails or misses the
// deadline is left out.
func (n *Node) fanOut(ctx context.Context, peers Peers, req api.QueryRequest, names []string, deadline time.Time, local func() (api.QueryResponse, error)) (api.QueryResponse, error) {
	type result struct {
		resp api.QueryResponse
		err  error
	}
	results := make([]result, len(names))
	fctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Add(1)
		go func() { // ends with the call, which fctx bounds
			defer wg.Done()
			n.audit.RecordEscalation(ctx, "ask replica", name)
			resp, err := peers.AskPeer(fctx, name, req)
			if err != nil {
				n.log.WarnContext(ctx, "replica query failed", "replica", name, "err", err)
			}
			results[i] = result{resp, err}
		}()
	}
	best, err := local()
	wg.Wait()
	have := err == nil
	for _, r := range results {
		if r.err != nil {
			continue
		}
		if !have || better(r.resp, best) {
			best, have = r.resp, true
		}
	}
	if !have {
		return best, err
	}
	return best, nil
}

// better reports whether a beats b: an answer beats an abstention, then
// the higher confidence wins.
func better(a, b api.QueryResponse) bool {
	if a.Abstained != b.Abstained {
		return !a.Abstained
	}
	return a.Confidence > b.Confidence
}

// servedOnly narrows the question's principal to the shards this replica
// serves, so its own answer never comes from a shard it holds but was not
// assigned (a draft, or one handed over).
func servedOnly(ctx context.Context, served []string) context.Context {
	p, ok := auth.FromContext(ctx)
	if !ok {
		p = auth.Principal{Name: "replica", Role: auth.RoleQuery}
	}
	var keep []string
	for _, s := range served {
		if !p.Scoped || p.InScope(s) {
			keep = append(keep, s)
		}
	}
	if keep == nil {
		keep = []string{}
	}
	p.Shards, p.Scoped = keep, true
	return auth.WithPrincipal(ctx, p)
}

// DropSynced forgets a shard fleet sync delivered: queries stop seeing it
// at once, then its stored versions, its pointer and its manifests go. A
// central replica runs it for a shard it no longer serves. A shard this
// node ingested itself is refused: it is the operator's data, not a copy.
func (n *Node) DropSynced(ctx context.Context, name string) error {
	n.writeMu.Lock()
	defer n.writeMu.Unlock()
	n.mu.Lock()
	s, ok := n.shards[name]
	if !ok {
		n.mu.Unlock()
		return nil
	}
	s.mu.RLock()
	managed := s.store != ""
	s.mu.RUnlock()
	if !managed {
		n.mu.Unlock()
		return errorf(ErrConflict, "shard %q was not delivered by fleet sync: it is this node's own and is not dropped", name)
	}
	delete(n.shards, name)
	n.mu.Unlock()
	if n.dense != nil {
		n.dense.ReplaceShard(name, func(func(dense.Chunk) bool) {})
	}
	deletes := []string{pointerKey(name)}
	err := n.store.SyncKV().Scan(ctx, "m/"+name+"/", true, func(k string, _ []byte) error {
		deletes = append(deletes, k)
		return nil
	})
	if err == nil {
		err = n.store.SyncKV().Update(ctx, nil, deletes)
	}
	if err != nil {
		return fmt.Errorf("drop synced shard %q: %w", name, err)
	}
	names, err := n.store.ShardNames(ctx)
	if err != nil {
		return fmt.Errorf("drop synced shard %q: %w", name, err)
	}
	for _, ks := range names {
		if base, _, ok := splitKeyspace(ks); ok && base == name {
			if err := n.store.DropShard(ctx, ks, n.cfg.Now().UTC()); err != nil {
				return err
			}
		}
	}
	n.log.Info("synced shard dropped", "shard", name)
	return nil
}
