package agent

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/edgerag/edgerag/node"
	"github.com/edgerag/edgerag/node/membership"
	"github.com/edgerag/edgerag/sync/fleet"
	"github.com/edgerag/edgerag/sync/pki"
	"github.com/edgerag/edgerag/sync/queryrpc"
	"github.com/edgerag/edgerag/sync/transport"
	"github.com/edgerag/edgerag/sync/wire"
)

// fleetLink is what a node holds to talk to the fleet over QUIC: its client
// (with --central), its server (with --quic) and the dispatcher that routes
// each request type to the subsystem serving it. Subsystems register as
// they start, so a request that arrives early is refused, not mishandled.
type fleetLink struct {
	cfg    Config
	server *transport.Server
	client *transport.Client
	// central reaches central's replicas (--central a,b or a name with
	// several records), failing over between them; nil without --central.
	central *transport.Group
	remote  node.Remote
	id      *pki.Identity // the node's fleet identity; nil without QUIC
	// revocations serves central's signed revocation list to fleet sync;
	// nil without enrollment (enroll.go).
	revocations func() (uint64, []byte)
	now         func() time.Time
	log         *slog.Logger
	load        loadMeter                        // queries in flight, announced by membership
	node        atomic.Pointer[node.Node]        // set once the node is open
	gossip      atomic.Pointer[membership.Agent] // set once membership starts; serves shard lists
	// syncHandler serves fleet sync's requests once central's publisher
	// is up; nil until then.
	syncHandler atomic.Pointer[transport.Handler]
	// modelHandler serves model blobs once central publishes models; nil
	// until then.
	modelHandler atomic.Pointer[transport.Handler]
	// publisher is central's fleet-sync publisher once it is up: its
	// published shards scope edges' questions (scope).
	publisher atomic.Pointer[fleet.Publisher]
	// replicas is this central replica's share of the shards when it
	// holds only its assigned ones (--shard-replicas); nil otherwise.
	replicas atomic.Pointer[replicaSet]
}

func (l *fleetLink) setSync(h transport.Handler) { l.syncHandler.Store(&h) }

// setModels serves model shipping from now on.
func (l *fleetLink) setModels(h transport.Handler) { l.modelHandler.Store(&h) }

func (l *fleetLink) Close() {
	if l.server != nil {
		l.server.Close()
	}
	if l.client != nil {
		l.client.Close()
	}
}

// openFleet builds the QUIC client (and server, when QUICAddr is set) of a
// node.
func openFleet(ctx context.Context, c Config, log *slog.Logger) (*fleetLink, error) {
	l := &fleetLink{now: c.Now, cfg: c, log: log}
	o := c.Fleet
	if o.QUICAddr == "" && o.Central == "" {
		return l, nil
	}
	id, err := o.identity(c.Name)
	if err != nil {
		return nil, err
	}
	loadRevocations(o.TLSDir, id, log)
	l.id = id
	cfg := transport.Config{Identity: id, Logger: log}
	if o.Central != "" {
		// Keep-alives every second let the node tell a dead central from
		// an idle link within seconds (node.Config.CentralQuiet): a live
		// central's QUIC stack acknowledges each.
		ccfg := cfg
		ccfg.KeepAlivePeriod = centralKeepAlive
		l.client = transport.NewClient(ccfg)
		l.central, err = transport.NewGroup(l.client, o.Central, transport.GroupConfig{Cooldown: c.CentralCooldown, Now: c.Now, Logger: log})
		if err != nil {
			l.Close()
			return nil, configErrorf("--central %q: %v", o.Central, err)
		}
		l.remote = queryrpc.NewClient(l.central, c.Name).Central(queryrpc.Target{Name: o.CentralName, Addr: o.Central})
	}
	if o.QUICAddr != "" {
		l.server, err = l.listenQUIC(ctx, c, cfg)
		if err != nil {
			l.Close()
			return nil, fmt.Errorf("listen for QUIC on %s: %w", o.QUICAddr, err)
		}
		log.Info("quic listening", "addr", l.server.Addr().String())
	}
	return l, nil
}

// centralKeepAlive is how often an idle connection to central sends a
// keep-alive: a packet and its acknowledgement a second per edge.
const centralKeepAlive = time.Second

// dispatch answers one request from another node: questions from the
// node's own shards, shard lists from membership, sync and model requests
// from central's publisher.
func (l *fleetLink) dispatch(ctx context.Context, peer transport.Peer, req wire.Frame) ([]byte, error) {
	switch req.Type {
	case wire.TypeQuery:
		n := l.node.Load()
		if n == nil {
			return nil, &transport.Error{Code: wire.CodeUnavailable, Message: "the node is starting"}
		}
		l.load.enter()
		defer l.load.exit()
		if rs := l.replicas.Load(); rs != nil {
			return queryrpc.HandleScoped(ctx, peer, req, l.learnProbes(peer, rs.answerer(n, peer)), l.scope(ctx, l.cfg))
		}
		return queryrpc.HandleScoped(ctx, peer, req, l.learnProbes(peer, n.QueryLocal), l.scope(ctx, l.cfg))
	case wire.TypeShardList:
		if a := l.gossip.Load(); a != nil {
			return a.LocalShardList()
		}
		return nil, &transport.Error{Code: wire.CodeUnavailable, Message: "membership is off on this node (no --gossip)"}
	case wire.TypePing:
		return []byte(`{"time":"` + l.now().UTC().Format(time.RFC3339Nano) + `"}`), nil
	case wire.TypeSyncVersions, wire.TypeManifest, wire.TypeChunks, wire.TypeReport:
		if sh := l.syncHandler.Load(); sh != nil {
			return (*sh)(ctx, peer, req)
		}
	case wire.TypeModelManifest, wire.TypeModelBlob:
		if mh := l.modelHandler.Load(); mh != nil {
			return (*mh)(ctx, peer, req)
		}
	}
	return nil, &transport.Error{Code: wire.CodeBadRequest, Message: fmt.Sprintf("this node does not serve %s requests", req.Type)}
}
