package agent

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/edgerag/edgerag/node"
	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/node/metrics"
	"github.com/edgerag/edgerag/sync/fleet"
	"github.com/edgerag/edgerag/sync/fleet/fleetnode"
	"github.com/edgerag/edgerag/sync/lease"
	"github.com/edgerag/edgerag/sync/manifest"
	"github.com/edgerag/edgerag/sync/objstore"
	"github.com/edgerag/edgerag/sync/rollout"
	"github.com/edgerag/edgerag/sync/transport"
)

// syncLink is a node's fleet sync: a publisher on central, a syncer on an
// edge (either may be nil).
type syncLink struct {
	pub    *fleet.Publisher
	syncer *fleet.Syncer
	ship   *modelShip   // central's model shipping, if any
	lease  *lease.Lease // central's publisher lease, if any
	done   chan struct{}
}

// readSyncPub reads central's fleet-sync public key, the file --sync-pub
// names, which edges check shard and model manifests against.
func readSyncPub(path string) (ed25519.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--sync-pub: %w", err)
	}
	pub, err := manifest.ParsePublicKey(b)
	if err != nil {
		return nil, fmt.Errorf("--sync-pub %s: %w", path, err)
	}
	return pub, nil
}

// startSync wires fleet sync into a running node: on central a publisher
// served on the QUIC transport, on an edge with --central and --sync-pub a
// syncer running until ctx ends (sl.done is closed when it has stopped).
func startSync(ctx context.Context, c Config, ship *modelShip, applyModels func(context.Context, manifest.Models) ([]fleet.ModelInUse, error), link *fleetLink, n *node.Node, log *slog.Logger) (*syncLink, error) {
	if c.Role == "central" {
		return startCentralSync(ctx, c, ship, link, n, log)
	}
	sl := &syncLink{done: make(chan struct{})}
	if c.Sync.Pub == "" || c.Fleet.Central == "" {
		close(sl.done)
		return sl, nil
	}
	pub, err := readSyncPub(c.Sync.Pub)
	if err != nil {
		return nil, err
	}
	cfg := fleet.SyncerConfig{
		Client: link.central, Central: c.Fleet.Central, CentralName: c.Fleet.CentralName, Trusted: []ed25519.PublicKey{pub},
		Target: fleetnode.Target(n), StageDir: filepath.Join(c.DataDir, "sync-staging"), Poll: c.Sync.Poll, BatchBytes: c.Sync.Batch, Logger: log,
		// A version learned from central goes to the site as a hint, so
		// the other members need not wait for their next poll.
		OnLearn: func(h fleet.Hint) {
			if a := link.gossip.Load(); a != nil {
				name, payload := fleet.EncodeHint(h)
				if err := a.UserEvent(name, payload); err != nil {
					log.Warn("fleet sync: hint to the site", "err", err)
				}
			}
		},
		ApplyConfig: fleetConfigApplier(n, c.Sync.Pinned),
		ApplyModels: applyModels,
		Hook:        c.Sync.Hook,
		// The fleet's revocation list rides on sync (enroll.go).
		Revocations:      func() uint64 { return link.id.Revocations().Number },
		ApplyRevocations: revocationApplier(c.Fleet.TLSDir, link.id, log),
		OnVerified:       c.Sync.OnVerified,
		// As a canary, the edge answers its shards' probe sets itself.
		AnswerProbe: n.AnswerProbe,
	}
	s, err := fleet.NewSyncer(cfg)
	if err != nil {
		return nil, err
	}
	sl.syncer = s
	go func() {
		defer close(sl.done)
		s.Run(ctx)
	}()
	return sl, nil
}

// startCentralSync starts central's publisher and, with a publisher lease,
// what replicas share through etcd: the lease itself, rollout advances
// (holder only), the revocation list and, with --shard-replicas, the
// shards each replica holds. Every loop ends with ctx; sl.done is closed
// once all have.
func startCentralSync(ctx context.Context, c Config, ship *modelShip, link *fleetLink, n *node.Node, log *slog.Logger) (*syncLink, error) {
	sl := &syncLink{done: make(chan struct{})}
	l, err := newLease(c, link, log)
	if err != nil {
		close(sl.done)
		return nil, err
	}
	revocations := link.revocations
	var shared *sharedRevocations
	if l != nil && link.id != nil {
		shared = &sharedRevocations{state: l.State(), id: link.id, own: link.revocations, dir: c.Fleet.TLSDir, log: log}
		revocations = shared.current
	}
	p, err := newPublisher(ctx, c, n, l, revocations, log)
	var modelNames []string
	if err == nil {
		sl.pub, sl.ship, sl.lease = p, ship, l
		link.setSync(p.Handle)
		link.publisher.Store(p)
		if ship != nil && l != nil {
			// Replicas publish models under the lease (followModels).
			modelNames, ship.names = ship.names, nil
		}
		err = ship.start(ctx, p)
	}
	if err != nil || l == nil {
		close(sl.done)
		return sl, err
	}
	var rs *replicaSet
	if c.Sync.ShardReplicas > 0 {
		if rs, err = newReplicaSet(c, link, n, l, p, log); err != nil {
			close(sl.done)
			return nil, err
		}
		link.replicas.Store(rs)
	}
	advanced, shares, revoked := make(chan struct{}), make(chan struct{}), make(chan struct{})
	go func() { // ends with ctx, which stopSync cancels
		defer close(advanced)
		advanceRollouts(ctx, p, l, log)
	}()
	go func() { // ends with ctx; then the replica leaves the set
		defer close(shares)
		if rs != nil {
			rs.run(ctx)
		}
	}()
	go func() { // ends with ctx
		defer close(revoked)
		if ship != nil {
			go ship.followModels(ctx, p, l, modelNames) // ends with ctx
		}
		if shared != nil {
			shared.run(ctx)
		}
	}()
	go func() { // ends with ctx, which stopSync cancels; then gives the lease up
		defer close(sl.done)
		l.Run(ctx)
		<-advanced
		<-shares
		<-revoked
	}()
	return sl, nil
}

// newLease prepares central's publisher lease when --sync-lease names one
// (nil otherwise). The replica is named by its node name and QUIC address,
// so replicas sharing a certificate name are told apart.
func newLease(c Config, link *fleetLink, log *slog.Logger) (*lease.Lease, error) {
	switch {
	case c.Sync.ShardReplicas < 0:
		return nil, configErrorf("--shard-replicas %d: give how many replicas hold each shard (0: every replica holds every shard)", c.Sync.ShardReplicas)
	case c.Sync.ShardReplicas > 0 && c.Sync.Lease == "":
		return nil, configErrorf("--shard-replicas needs --sync-lease: replicas find each other, and so their shares, in etcd")
	case c.Sync.ReplicaAddr != "":
		if addrs, err := transport.ParseAddrList(c.Sync.ReplicaAddr); err != nil || len(addrs) != 1 {
			return nil, configErrorf("--replica-addr %q: want one host:port this replica is reached at", c.Sync.ReplicaAddr)
		}
	}
	if c.Sync.Lease == "" {
		return nil, nil
	}
	if c.Sync.Store.URL == "" {
		return nil, configErrorf("--sync-lease needs --sync-store: replicas take turns publishing to the versions they share")
	}
	name := c.Name
	if addr := replicaAddr(c, link); addr != "" {
		name += "@" + addr
	}
	l, err := lease.New(lease.Config{URL: c.Sync.Lease, Name: name, TTL: c.Sync.LeaseTTL, Now: c.Now, Logger: log})
	if err != nil {
		return nil, ConfigError{err.Error()}
	}
	return l, nil
}

// newPublisher opens central's publisher, signing with --sync-key when set,
// with the published versions in --sync-store's bucket when one is given
// and publishing only while it holds l (when not nil).
func newPublisher(ctx context.Context, c Config, n *node.Node, l *lease.Lease, revocations func() (uint64, []byte), log *slog.Logger) (*fleet.Publisher, error) {
	var kv fleet.KV = n.SyncKV()
	if l != nil {
		// Edge reports and rollout stages live beside the lease, so
		// every replica answers polls and advances rollouts alike.
		kv = splitKV{shared: l.State(), local: kv}
	}
	if c.Sync.Store.URL != "" {
		b, err := objstore.Open(ctx, c.Sync.Store)
		if err != nil {
			return nil, fmt.Errorf("--sync-store: %w", err)
		}
		kv = objstore.NewKV(b, kv, 0)
		log.Info("published versions in object storage", "store", b.String())
	}
	var key ed25519.PrivateKey
	if c.Sync.Key != "" {
		b, err := os.ReadFile(c.Sync.Key)
		if err != nil {
			return nil, fmt.Errorf("--sync-key: %w", err)
		}
		if key, err = manifest.ParsePrivateKey(b); err != nil {
			return nil, fmt.Errorf("--sync-key %s: %w", c.Sync.Key, err)
		}
	}
	return fleet.NewPublisher(fleet.PublisherConfig{
		KV: kv, Source: fleetnode.Source(n), Key: key, Logger: log,
		Index: manifest.IndexParams{K1: c.BM25.K1, B: c.BM25.B, Analyzer: node.AnalyzerName,
			ChunkTokens: c.Chunking.MaxTokens, ChunkOverlap: c.Chunking.OverlapTokens},
		EmbedModel: c.Model.EmbedModel, CanaryShare: c.Sync.Canary,
		CheckConfig: CheckFleetConfig, MayPublish: mayPublish(l), Revocations: revocations,
		ProbeMargins: rollout.Margins{Agreement: c.Sync.ProbeMargin, Abstention: c.Sync.ProbeMargin},
	})
}

func mayPublish(l *lease.Lease) func() error {
	if l == nil {
		return nil
	}
	return l.Check
}

// shards summarises an edge's sync state per shard; nil elsewhere.
func (sl *syncLink) shards() []api.SyncShard {
	if sl == nil || sl.syncer == nil {
		return nil
	}
	st := sl.syncer.Status()
	out := make([]api.SyncShard, 0, len(st.Shards))
	for _, s := range st.Shards {
		sh := api.SyncShard{
			Shard: s.Shard, Applied: s.Applied, Previous: s.Previous, State: s.State,
			LastError: s.LastError, AppliedAt: s.AppliedAt,
		}
		if s.Target > s.Applied {
			sh.Target = s.Target
			if s.BytesTotal > 0 {
				sh.Progress = float64(s.BytesDone) / float64(s.BytesTotal)
			}
		}
		out = append(out, sh)
	}
	return out
}

// withSync adds the edge's sync state to the node's status, for the status
// page.
func (sl *syncLink) withSync(status func(context.Context) (api.Status, error)) func(context.Context) (api.Status, error) {
	return func(ctx context.Context) (api.Status, error) {
		st, err := status(ctx)
		if err == nil {
			st.Sync = sl.shards()
		}
		return st, err
	}
}

// observe registers the sync gauges on an edge that syncs.
func (sl *syncLink) observe(m *metrics.Metrics) {
	if sl == nil || sl.syncer == nil {
		return
	}
	m.ObserveSync(func() []metrics.SyncShard {
		shards := sl.shards()
		out := make([]metrics.SyncShard, len(shards))
		for i, s := range shards {
			progress := 1.0
			if s.Target != 0 {
				progress = s.Progress
			}
			out[i] = metrics.SyncShard{Shard: s.Shard, Applied: s.Applied, Progress: progress, Healthy: s.State != "error" && s.LastError == ""}
		}
		return out
	})
}

// advanceEvery is how often the lease holder looks at staged rollouts:
// reports that reached other replicas wait at most this long.
const advanceEvery = time.Second

// advanceRollouts lets the replica holding the publisher lease move the
// staged rollouts on the reports every replica stored, until ctx ends.
// Replicas without the lease store reports but never advance a stage.
func advanceRollouts(ctx context.Context, p *fleet.Publisher, l *lease.Lease, log *slog.Logger) {
	t := time.NewTicker(advanceEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if l.Check() != nil {
			continue
		}
		if err := p.AdvanceRollouts(ctx); err != nil && ctx.Err() == nil && !errors.Is(err, lease.ErrNotHolder) {
			log.Warn("fleet sync: advance rollouts", "err", err)
		}
	}
}

// replicaAddr is the QUIC address other replicas reach this one at:
// --replica-addr, else the address --quic bound ("" without QUIC).
func replicaAddr(c Config, link *fleetLink) string {
	if c.Sync.ReplicaAddr != "" {
		return c.Sync.ReplicaAddr
	}
	if link.server == nil {
		return ""
	}
	return link.server.Addr().String()
}
