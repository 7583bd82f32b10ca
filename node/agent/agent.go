// Package agent assembles a running edgerag node — edge or central — from
// one Config: the node (store, retrieval, answers), its HTTP API and
// routes, the QUIC transport and the dispatcher behind it, Serf
// membership and the peers and central links the node asks through, fleet
// sync, model shipping and fleet-config application.
//
// It is the daemon as a library (the shape of Serf's command/agent): New
// checks the config and opens nothing, Start opens and starts everything,
// Close stops it in the reverse order. Only package main and test support
// (node/nodetest) import it; the node and the sync packages never do.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/edgerag/edgerag/node"
	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/node/chunk"
	"github.com/edgerag/edgerag/node/lexical"
	"github.com/edgerag/edgerag/node/statuspage"
	"github.com/edgerag/edgerag/sync/enroll"
)

// Agent is one running node with everything around it.
type Agent struct {
	cfg Config // immutable after New
	log *slog.Logger

	// Set by Start, read-only after it returns.
	node   *node.Node
	link   *fleetLink
	gossip *gossipLink
	sync   *syncLink
	srv    *api.Server
	url    string
	errc   chan error // the HTTP server's end
	// stopSync ends fleet sync's loop; nil before it runs.
	stopSync func()
	// enroll is central's enrollment; stopRenew ends an enrolled node's
	// renewal loop. Both nil when off.
	enroll    *enroll.Server
	stopRenew func()
	closeOnce sync.Once
}

// New checks cfg and fills its defaults; it opens nothing.
func New(cfg Config) (*Agent, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	if cfg.BM25 == (lexical.Params{}) {
		cfg.BM25 = lexical.DefaultParams()
	}
	if cfg.Chunking == (chunk.Options{}) {
		cfg.Chunking = chunk.Options{MaxTokens: chunk.DefaultMaxTokens, OverlapTokens: chunk.DefaultOverlapTokens}
	}
	return &Agent{cfg: cfg, log: cfg.Logger, errc: make(chan error, 1)}, nil
}

// Start opens the node and starts every subsystem the config asks for, in
// the order each needs the last: QUIC (so model shipping and sync have a
// transport), membership settings (a bad keyring fails before the store
// opens), models, the node, fleet sync, membership, the HTTP API. ctx
// bounds the start and the life of the background loops. On an error,
// what was started is closed again.
func (a *Agent) Start(ctx context.Context) (err error) {
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	c := a.cfg
	if a.link, err = openFleet(ctx, c, a.log); err != nil {
		return err
	}
	if a.gossip, err = newGossip(c, a.link, a.log); err != nil {
		return err
	}
	ship, err := publishModels(c.Models, c.Sync.Key, a.link, a.log)
	if err != nil {
		return err
	}
	shipEdge, err := ensureModels(ctx, c, a.link, a.log)
	if err != nil {
		return err
	}
	if err := a.openNode(ctx); err != nil {
		return err
	}
	if err := a.startEnroll(); err != nil {
		return err
	}
	if err := a.startRenew(ctx); err != nil {
		return err
	}
	syncCtx, stopSync := context.WithCancel(ctx)
	a.sync, err = startSync(syncCtx, c, ship, modelApplier(shipEdge, a.node, c.Model, c.LLM.URL != "", a.log), a.link, a.node, a.log)
	if err != nil {
		stopSync()
		return err
	}
	a.stopSync = func() { stopSync(); <-a.sync.done }
	// Fleet sync's hints and health go through gossip.
	a.gossip.follow(a.sync)
	if err := a.gossip.start(ctx, a.node, c.Role, c.Version, c.DataDir); err != nil {
		return err
	}
	return a.serveHTTP(ctx)
}

// openNode opens the models and the node, and lets the QUIC dispatcher
// answer from it.
func (a *Agent) openNode(ctx context.Context) error {
	c := a.cfg
	gen, emb, err := openModels(ctx, c.Model, c.LLM, a.log)
	if err != nil {
		return err
	}
	n, err := node.New(node.Config{
		Generator: gen, Embedder: emb, PreviousEmbedder: previousEmbedder(c.Model),
		Name: c.Name, Role: c.Role, Version: c.Version, DataDir: c.DataDir, NoSync: c.NoSync,
		BM25: c.BM25, MinConfidence: c.MinConfidence, Logger: a.log, Remote: a.link.remote, Peers: a.gossip.peers(),
		Routing: c.Routing, QueryTimeout: c.QueryTimeout, CentralCooldown: c.CentralCooldown, CentralFailures: c.CentralFailures, Chunking: c.Chunking,
		NoRecalibration: c.NoRecalibration, Recalibration: c.Recalibration,
		Now: c.Now, AuditMax: c.Auth.AuditMax,
	})
	if err != nil {
		return err
	}
	if err := n.Open(ctx); err != nil {
		return err
	}
	a.node = n
	a.link.node.Store(n)
	return nil
}

// serveHTTP listens on HTTPAddr and serves the API with every route.
func (a *Agent) serveHTTP(ctx context.Context) error {
	if a.cfg.HTTPAddr == "" {
		return nil
	}
	guard, err := a.openGuard(ctx)
	if err != nil {
		return err
	}
	ln, url, err := a.listenHTTP()
	if err != nil {
		return err
	}
	n := a.node
	handler := api.NewHandler(n, a.log)
	api.RegisterDocuments(handler)
	api.RegisterBackup(handler)
	handler.Handle("GET /metrics", n.Metrics().Handler())
	handler.Handle("GET /{$}", statuspage.Handler(a.sync.withSync(a.gossip.withFleet(n.Status))))
	a.sync.routes(handler, n)
	if a.enroll != nil {
		a.enroll.Routes(handler)
	}
	a.sync.observe(n.Metrics())
	a.gossip.routes(handler, n.Metrics())
	// Bounded connections and request times (api.Limits): slow or flooding
	// clients cannot use up the file limit. The guard comes first: a
	// request without the credential is refused before its body is read.
	a.srv = api.NewServer(a.link.load.count(guardHandler(guard, handler)), api.Limits{})
	// Excess queries are refused below net/http, after the same credential
	// check (fastShed): a refusal through net/http costs too much of the
	// CPU the answers need at 10× load.
	a.srv.Shed = fastShed(guard, n)
	a.url = url
	go func() { a.errc <- a.srv.Serve(ln) }()
	a.log.Info("serving", "url", a.url, "data", a.cfg.DataDir)
	return nil
}

// Node is the running node; nil before Start.
func (a *Agent) Node() *node.Node { return a.node }

// URL is the HTTP API's base URL ("http://host:port"); "" without one.
func (a *Agent) URL() string { return a.url }

// QUICAddr is the address the QUIC endpoint listens on; "" without one.
func (a *Agent) QUICAddr() string {
	if a.link == nil || a.link.server == nil {
		return ""
	}
	return a.link.server.Addr().String()
}

// Err receives the HTTP server's error if it stops serving on its own.
func (a *Agent) Err() <-chan error { return a.errc }

// Shutdown stops the HTTP server gracefully (in-flight requests finish
// until ctx ends), then closes the rest.
func (a *Agent) Shutdown(ctx context.Context) error {
	var err error
	if a.srv != nil {
		if e := a.srv.Shutdown(ctx); e != nil && !errors.Is(e, context.Canceled) {
			err = fmt.Errorf("http shutdown: %w", e)
		}
	}
	a.closeRest()
	return err
}

// Close stops everything Start started: the HTTP API at once, then
// membership (a graceful leave), fleet sync, the node, the transport.
func (a *Agent) Close() error {
	if a.srv != nil {
		a.srv.Close()
	}
	a.closeRest()
	return nil
}

// closeRest closes, once, what Start opened behind the HTTP API: membership
// first (peers see a graceful leave, not a failure), then fleet sync
// (before the store it writes to), the node, the transport.
func (a *Agent) closeRest() {
	a.closeOnce.Do(func() {
		a.gossip.Close()
		if a.stopRenew != nil {
			a.stopRenew()
		}
		if a.enroll != nil {
			a.enroll.Close()
		}
		if a.stopSync != nil {
			a.stopSync()
		}
		if a.node != nil {
			if err := a.node.Close(); err != nil {
				a.log.Warn("close the node", "err", err)
			}
		}
		if a.link != nil {
			a.link.Close()
		}
	})
}
