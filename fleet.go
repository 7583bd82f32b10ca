package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/edgerag/edgerag/node"
	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/node/membership"
	"github.com/edgerag/edgerag/sync/pki"
	"github.com/edgerag/edgerag/sync/queryrpc"
	"github.com/edgerag/edgerag/sync/transport"
	"github.com/edgerag/edgerag/sync/wire"
)

// fleetOptions are the flags a node needs to talk to other nodes over QUIC.
type fleetOptions struct {
	tlsDir      string // holds ca.crt, NAME.crt, NAME.key
	quicAddr    string // listen address of this node's QUIC endpoint ("" = none)
	central     string // central's QUIC address ("" = none)
	centralName string // name in central's certificate
}

func (o *fleetOptions) register(fs *flag.FlagSet, listenDefault string) {
	fs.StringVar(&o.tlsDir, "tls-dir", "", "directory with the fleet's ca.crt and this node's NAME.crt and NAME.key (edgerag cert issue)")
	fs.StringVar(&o.quicAddr, "quic", listenDefault, "UDP address of this node's QUIC endpoint for other nodes (empty: none)")
	fs.StringVar(&o.central, "central", "", "QUIC address of the central node to escalate to (empty: none)")
	fs.StringVar(&o.centralName, "central-name", "central", "node name in the central node's certificate")
}

// identity loads the node's fleet certificate.
func (o *fleetOptions) identity(name string) (*pki.Identity, error) {
	if o.tlsDir == "" {
		return nil, usageError{"--tls-dir is required to use QUIC (--quic or --central): create one with 'edgerag ca init' and 'edgerag cert issue'"}
	}
	id, err := pki.LoadIdentity(filepath.Join(o.tlsDir, "ca.crt"), filepath.Join(o.tlsDir, name+".crt"), filepath.Join(o.tlsDir, name+".key"))
	if err != nil {
		return nil, fmt.Errorf("load fleet identity of %q: %w", name, err)
	}
	return id, nil
}

// centralRemote asks central over the QUIC transport.
type centralRemote struct {
	client *queryrpc.Client
	target queryrpc.Target
}

func (r centralRemote) AskCentral(ctx context.Context, q api.QueryRequest) (api.QueryResponse, error) {
	return r.client.Ask(ctx, r.target, q)
}

// fleetLink is what a node holds to talk to the fleet; Close releases it.
type fleetLink struct {
	server *transport.Server
	client *transport.Client
	remote node.Remote
	load   loadMeter                        // queries in flight, announced by membership
	gossip atomic.Pointer[membership.Agent] // set once membership starts; serves shard lists
	// syncHandler serves fleet sync's requests once central's publisher
	// is up (cmd_sync.go); nil until then.
	syncHandler atomic.Pointer[transport.Handler]
	// modelHandler serves model blobs once central publishes models
	// (--publish-models); nil until then.
	modelHandler atomic.Pointer[transport.Handler]
}

func (l *fleetLink) setSync(h transport.Handler) { l.syncHandler.Store(&h) }

// setModels serves model shipping (cmd_models.go) from now on.
func (l *fleetLink) setModels(h transport.Handler) { l.modelHandler.Store(&h) }

func (l *fleetLink) Close() {
	if l.server != nil {
		l.server.Close()
	}
	if l.client != nil {
		l.client.Close()
	}
}

// openFleet builds the QUIC client (and server, when o.quicAddr is set) of a
// node. The handler answers forwarded questions from n's own shards.
func openFleet(ctx context.Context, o fleetOptions, name string, n func() *node.Node, log *slog.Logger) (*fleetLink, error) {
	l := &fleetLink{}
	if o.quicAddr == "" && o.central == "" {
		return l, nil
	}
	id, err := o.identity(name)
	if err != nil {
		return nil, err
	}
	cfg := transport.Config{Identity: id, Logger: log}
	if o.central != "" {
		l.client = transport.NewClient(cfg)
		l.remote = centralRemote{client: queryrpc.NewClient(l.client, name), target: queryrpc.Target{Name: o.centralName, Addr: o.central}}
	}
	if o.quicAddr != "" {
		h := func(ctx context.Context, peer transport.Peer, req wire.Frame) ([]byte, error) {
			switch req.Type {
			case wire.TypeQuery:
				l.load.enter()
				defer l.load.exit()
				return queryrpc.Handle(ctx, peer, req, n().QueryLocal)
			case wire.TypeShardList:
				if a := l.gossip.Load(); a != nil {
					return a.LocalShardList()
				}
				return nil, &transport.Error{Code: wire.CodeUnavailable, Message: "membership is off on this node (no --gossip)"}
			case wire.TypePing:
				return []byte(`{"time":"` + time.Now().UTC().Format(time.RFC3339Nano) + `"}`), nil
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
		l.server, err = transport.Listen(ctx, o.quicAddr, cfg, h)
		if err != nil {
			l.Close()
			return nil, fmt.Errorf("listen for QUIC on %s: %w", o.quicAddr, err)
		}
		log.Info("quic listening", "addr", l.server.Addr().String())
	}
	return l, nil
}
