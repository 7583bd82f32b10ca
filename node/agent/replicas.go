package agent

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/edgerag/edgerag/node"
	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/node/route"
	"github.com/edgerag/edgerag/node/shard"
	"github.com/edgerag/edgerag/sync/assign"
	"github.com/edgerag/edgerag/sync/fleet"
	"github.com/edgerag/edgerag/sync/fleet/fleetnode"
	"github.com/edgerag/edgerag/sync/lease"
	"github.com/edgerag/edgerag/sync/manifest"
	"github.com/edgerag/edgerag/sync/pki"
	"github.com/edgerag/edgerag/sync/queryrpc"
	"github.com/edgerag/edgerag/sync/transport"
	"github.com/edgerag/edgerag/sync/wire"
)

// replicaAdvert is the value of a replica's membership key in etcd: where
// to reach it and which shards it serves. Assigned is what sync/assign
// gives it; Shards is what it has filled and answers from, so a shard is
// routed to a replica only once it holds it.
type replicaAdvert struct {
	Addr     string   `json:"addr"`
	Cert     string   `json:"cert"` // the name in its fleet certificate
	Shards   []string `json:"shards"`
	Assigned []string `json:"assigned"`
}

// replicaFailCooldown is how long a replica whose answer failed is asked
// after the others holding the same shard.
const replicaFailCooldown = 5 * time.Second

// replicaSet is a central replica that holds only the shards assigned to
// it: it keeps its membership key in etcd, fills the shards it gains from
// the published versions in the object store the way an edge syncs (only
// then advertising them), and answers escalated questions for the others'
// shards by asking them (node.QueryReplicas). It implements node.Peers
// over the other live replicas.
type replicaSet struct {
	self   string // name@addr, as the lease and membership know it
	addr   string
	cert   string
	factor int
	every  time.Duration
	l      *lease.Lease
	member *lease.Member
	pub    *fleet.Publisher
	n      *node.Node
	syncer *fleet.Syncer
	client *transport.Client
	ask    *queryrpc.Client
	log    *slog.Logger

	mu        sync.Mutex
	serving   []string                 // shards this replica answers from
	published []string                 // every published shard
	others    map[string]replicaAdvert // the other live replicas
	failed    map[string]time.Time     // replica → when its last answer failed
}

// newReplicaSet prepares the replica's share of the shards. It needs the
// lease (membership lives beside it), the sync key's public half (to check
// the manifests it fills from) and QUIC (to be asked).
func newReplicaSet(c Config, link *fleetLink, n *node.Node, l *lease.Lease, p *fleet.Publisher, log *slog.Logger) (*replicaSet, error) {
	if l == nil || c.Sync.Key == "" || link.server == nil || link.id == nil {
		return nil, configErrorf("--shard-replicas needs --sync-lease, --sync-store, --sync-key and --quic: replicas find each other in etcd, fill shards from the store and answer over QUIC")
	}
	b, err := os.ReadFile(c.Sync.Key)
	if err != nil {
		return nil, fmt.Errorf("--sync-key: %w", err)
	}
	key, err := manifest.ParsePrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("--sync-key %s: %w", c.Sync.Key, err)
	}
	rs := &replicaSet{
		self: l.Name(), addr: replicaAddr(c, link), cert: c.Name, factor: c.Sync.ShardReplicas,
		every: min(time.Second, c.Sync.LeaseTTL/4), l: l, member: l.Member(), pub: p, n: n, log: log,
		others: map[string]replicaAdvert{}, failed: map[string]time.Time{},
	}
	if rs.every <= 0 {
		rs.every = time.Second
	}
	rs.syncer, err = fleet.NewSyncer(fleet.SyncerConfig{
		Client: localCentral{p: p, self: rs.self}, Central: "local", Trusted: []ed25519.PublicKey{key.Public().(ed25519.PublicKey)},
		Target: fleetnode.Target(n), StageDir: filepath.Join(c.DataDir, "replica-staging"), Logger: log,
	})
	if err != nil {
		return nil, err
	}
	rs.client = transport.NewClient(transport.Config{Identity: link.id, Logger: log})
	rs.ask = queryrpc.NewClient(rs.client, rs.self)
	return rs, nil
}

// run keeps the membership key alive and the shares current until ctx
// ends; then the key goes and the others take this replica's shards.
func (rs *replicaSet) run(ctx context.Context) {
	defer rs.client.Close()
	done := make(chan struct{})
	go func() { // ends with ctx
		defer close(done)
		rs.member.Run(ctx, rs.every)
	}()
	t := time.NewTicker(rs.every)
	defer t.Stop()
	for {
		if err := rs.step(ctx); err != nil && ctx.Err() == nil {
			rs.log.Warn("shard assignment", "err", err)
		}
		select {
		case <-ctx.Done():
			<-done
			return
		case <-t.C:
		}
	}
}

// step reads the live replicas and the published shards, fills the
// shards assigned here that it lacks, and advertises what it serves.
func (rs *replicaSet) step(ctx context.Context) error {
	members, _, err := rs.l.Members(ctx)
	if err != nil {
		return err
	}
	names := []string{rs.self}
	others := map[string]replicaAdvert{}
	for _, m := range members {
		if m.Name == rs.self {
			continue
		}
		var a replicaAdvert
		if json.Unmarshal(m.Value, &a) != nil || a.Addr == "" {
			continue // registered, not yet advertised: it cannot be asked
		}
		names, others[m.Name] = append(names, m.Name), a
	}
	vs, err := rs.pub.Versions(ctx)
	if err != nil {
		return err
	}
	latest := map[string]uint64{}
	var shards []string
	for _, v := range vs {
		latest[v.Shard] = v.Version
		shards = append(shards, v.Shard)
	}
	a := assign.Assign(names, shards, assign.Config{Replicas: rs.factor})
	mine := a.Held(rs.self)
	var serving []string
	for _, s := range mine {
		if err := rs.fill(ctx, s, latest[s]); err != nil {
			if ctx.Err() != nil {
				return err
			}
			rs.log.Warn("shard assignment: fill", "shard", s, "version", latest[s], "err", err)
			if !rs.holds(s) {
				continue
			}
			// An older version held still answers until the new one is in.
		}
		serving = append(serving, s)
	}
	// A shard this replica lost stays served until every replica it went
	// to advertises it: a question for it is never left without a holder.
	rs.mu.Lock()
	before := slices.Clone(rs.serving)
	rs.mu.Unlock()
	for _, s := range before {
		if slices.Contains(serving, s) || latest[s] == 0 {
			continue
		}
		for _, owner := range a[s] {
			if !slices.Contains(others[owner].Shards, s) {
				serving = append(serving, s)
				break
			}
		}
	}
	slices.Sort(serving)
	rs.mu.Lock()
	changed := !slices.Equal(rs.serving, serving)
	rs.serving, rs.published, rs.others = serving, shards, others
	rs.mu.Unlock()
	if changed {
		rs.log.Info("shard assignment: serving", "shards", serving, "assigned", mine, "replicas", len(names))
	}
	adv, _ := json.Marshal(replicaAdvert{Addr: rs.addr, Cert: rs.cert, Shards: serving, Assigned: mine})
	rs.member.Advertise(adv)
	if err := rs.member.Flush(ctx); err != nil {
		return err
	}
	// Copies no longer served go: the point of assigning shards is that
	// no replica must hold them all.
	for _, sh := range rs.n.Shards() {
		if !slices.Contains(serving, sh.Name) && rs.n.SyncManaged(sh.Name) {
			if err := rs.n.DropSynced(ctx, sh.Name); err != nil {
				rs.log.Warn("shard assignment: drop", "shard", sh.Name, "err", err)
			}
		}
	}
	return nil
}

// holds reports whether the node has shard s.
func (rs *replicaSet) holds(s string) bool {
	return slices.ContainsFunc(rs.n.Shards(), func(i shard.Info) bool { return i.Name == s })
}

// fill brings shard s to version v from the published versions, through
// the same fetch, verify, stage and switch an edge runs. A shard this
// replica ingested itself (its own source of publishing) is held as is.
func (rs *replicaSet) fill(ctx context.Context, s string, v uint64) error {
	held := rs.holds(s)
	if held && !rs.n.SyncManaged(s) {
		return nil
	}
	ptr, err := rs.n.SyncPointer(s)
	if err != nil {
		return err
	}
	if held && ptr.Current >= v {
		return nil
	}
	start := time.Now()
	if err := rs.syncer.SyncShard(ctx, s, v); err != nil {
		return err
	}
	rs.log.Info("shard assignment: filled from the object store", "shard", s, "version", v, "took", time.Since(start))
	return nil
}

// served lists the shards this replica answers from.
func (rs *replicaSet) served() []string {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return slices.Clone(rs.serving)
}

// answerer answers an escalated question: from this replica's shards for
// another replica (which never forwards again), through the other
// replicas for an edge. Answers name this replica, since replicas may
// share a certificate name.
func (rs *replicaSet) answerer(n *node.Node, peer transport.Peer) queryrpc.Answerer {
	return func(ctx context.Context, q api.QueryRequest) (api.QueryResponse, error) {
		rs.mu.Lock()
		scope := node.ReplicaScope{Served: slices.Clone(rs.serving), Published: slices.Clone(rs.published)}
		rs.mu.Unlock()
		var resp api.QueryResponse
		var err error
		if peer.Role == pki.RoleCentral {
			resp, err = n.QueryLocal(ctx, q)
		} else {
			resp, err = n.QueryReplicas(ctx, rs, scope, q)
		}
		if err == nil && resp.Node == rs.cert {
			resp.Node = rs.self
		}
		return resp, err
	}
}

// Peers implements node.Peers: the other live replicas and what they
// serve. One whose answer failed lately counts as loaded, so it is asked
// after the others holding the same shard.
func (rs *replicaSet) Peers() []route.PeerInfo {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	now := time.Now()
	out := make([]route.PeerInfo, 0, len(rs.others))
	for name, a := range rs.others {
		p := route.PeerInfo{Name: name, Alive: true, Shards: a.Shards}
		if now.Sub(rs.failed[name]) < replicaFailCooldown {
			p.Load = 0.9
		}
		out = append(out, p)
	}
	return out
}

// AskPeer implements node.Peers.
func (rs *replicaSet) AskPeer(ctx context.Context, name string, q api.QueryRequest) (api.QueryResponse, error) {
	rs.mu.Lock()
	a, ok := rs.others[name]
	rs.mu.Unlock()
	if !ok {
		return api.QueryResponse{}, fmt.Errorf("replica %s left", name)
	}
	resp, err := rs.ask.Ask(ctx, queryrpc.Target{Name: a.Cert, Addr: a.Addr}, q)
	if err != nil && ctx.Err() == nil {
		rs.mu.Lock()
		rs.failed[name] = time.Now()
		rs.mu.Unlock()
	}
	return resp, err
}

// Holds implements node.Peers: replicas do not share term filters, and
// questions naming no shard go to a cover of the shards instead.
func (rs *replicaSet) Holds([]string) map[string][]bool { return nil }

// localCentral is the Caller a replica fills shards through: this
// replica's own publisher, reading the published versions from the object
// store, as an edge's syncer would over QUIC. It drops the syncer's
// reports, which are an edge's, not a replica's, and would make the
// replica a canary of staged rollouts.
type localCentral struct {
	p    *fleet.Publisher
	self string
}

func (lc localCentral) Call(ctx context.Context, _, _ string, typ wire.Type, payload []byte) ([]byte, error) {
	if typ == wire.TypeReport {
		return []byte("{}"), nil
	}
	return lc.p.Handle(ctx, transport.Peer{Name: lc.self, Role: pki.RoleCentral}, wire.Frame{Type: typ, Payload: payload})
}
