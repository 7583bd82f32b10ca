package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"sync/atomic"

	"github.com/edgerag/edgerag/models/ollama"
	"github.com/edgerag/edgerag/node"
	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/node/membership"
	"github.com/edgerag/edgerag/node/metrics"
	"github.com/edgerag/edgerag/node/route"
	"github.com/edgerag/edgerag/sync/fleet"
	"github.com/edgerag/edgerag/sync/queryrpc"
	"github.com/edgerag/edgerag/sync/transport"
	"github.com/edgerag/edgerag/sync/wire"
)

// gossipLink is a node's membership: the Serf agent once started, and the
// peer router the node asks through (it implements node.Peers). Its
// methods accept a nil receiver (membership off).
type gossipLink struct {
	opt     GossipConfig
	profile membership.Profile
	keys    [][]byte
	name    string
	client  *queryrpc.Client
	tc      *transport.Client // own client when the fleet link has none
	call    *transport.Client // the client calls go through
	link    *fleetLink
	log     *slog.Logger
	agent   atomic.Pointer[membership.Agent]
	sync    *syncLink // set by follow before start; nil: no fleet sync
}

// follow makes membership carry fleet sync's hints (a member that learns of
// a new version tells the site; the others poll central at once) and
// announce its health. Call it before start.
func (g *gossipLink) follow(sl *syncLink) {
	if g != nil {
		g.sync = sl
	}
}

// newGossip checks the membership settings and loads the keyring, so a bad
// setup fails before the node opens its store.
func newGossip(c Config, link *fleetLink, log *slog.Logger) (*gossipLink, error) {
	o := c.Gossip
	if o.Addr == "" {
		if len(o.Join) > 0 || o.Advertise != "" || o.Keyring != "" {
			return nil, configErrorf("--join, --advertise and --keyring need --gossip ADDR")
		}
		return nil, nil
	}
	g := &gossipLink{opt: o, name: c.Name, link: link, log: log}
	if g.opt.Profile == "" {
		g.opt.Profile = membership.ProfileLAN
	}
	if g.opt.Label == "" {
		g.opt.Label = "edgerag"
	}
	var err error
	if g.profile, err = membership.ProfileByName(g.opt.Profile); err != nil {
		return nil, configErrorf("--gossip-profile: %v", err)
	}
	if err := membership.ValidLabel(g.opt.Label); err != nil {
		return nil, configErrorf("--fleet-label: %v", err)
	}
	switch {
	case o.Keyring != "":
		if g.keys, err = membership.LoadKeyring(o.Keyring); err != nil {
			return nil, err
		}
	case !o.InsecureDev:
		return nil, configErrorf("--gossip needs --keyring FILE (create one with 'edgerag keys generate --out FILE'), or --insecure-dev to gossip in the clear")
	default:
		log.Warn("gossip is not encrypted (--insecure-dev): anyone who reaches the gossip port can join")
	}
	if c.Fleet.QUICAddr == "" {
		log.Warn("membership without --quic: peers cannot ask this node, and it fetches no shard lists")
		return g, nil
	}
	tc := link.client
	if tc == nil {
		// The link's identity, so that renewals and revocations reach
		// this client too.
		g.tc = transport.NewClient(transport.Config{Identity: link.id, Logger: log})
		tc = g.tc
	}
	g.call = tc
	g.client = queryrpc.NewClient(tc, c.Name)
	return g, nil
}

// peers returns the router the node asks peers through, or nil.
func (g *gossipLink) peers() node.Peers {
	if g == nil || g.client == nil {
		return nil
	}
	return g
}

// start joins the pool. n must be open: its shards go into the tags.
func (g *gossipLink) start(ctx context.Context, n *node.Node, role, version, dataDir string) error {
	if g == nil {
		return nil
	}
	cfg := membership.Config{
		Name: g.name, Role: role, Version: version,
		BindAddr: g.opt.Addr, AdvertiseAddr: g.opt.Advertise, Join: g.opt.Join,
		Profile: g.profile, Label: g.opt.Label, Keys: g.keys, KeyringFile: g.opt.Keyring,
		SnapshotPath: filepath.Join(dataDir, "membership", "serf.snapshot"),
		// Only the shards peers may ask about are announced (see
		// shared), so no peer routes a question to a shard it would be
		// refused, and the term filters carry no unshared vocabulary.
		Local: func() ([]membership.ShardVersion, []string) {
			names, all := shared(g.link.cfg, n)
			var out []membership.ShardVersion
			for _, s := range n.Shards() {
				if all || slices.Contains(names, s.Name) {
					out = append(out, membership.ShardVersion{Name: s.Name, Version: s.Version})
				}
			}
			return out, nodeModels(n)
		},
		Terms:  n.ShardTerms,
		Load:   g.link.load.value,
		Logger: g.log,
	}
	if g.client != nil && g.link.server != nil {
		cfg.QUICAddr = advertisedQUIC(g.link.server.Addr().String(), g.opt)
		cfg.Fetch = g.fetchShards
	}
	if g.sync != nil && g.sync.syncer != nil {
		s := g.sync.syncer
		cfg.Sync = syncState(s)
		cfg.OnUserEvent = func(name string, payload []byte) {
			h, err := fleet.ParseHint(name, payload)
			if err != nil {
				if !errors.Is(err, fleet.ErrNotHint) {
					g.log.Debug("gossip user event ignored", "name", name, "err", err)
				}
				return
			}
			s.Hint(h) // a poll at most: central says what is applied
		}
	}
	a, err := membership.Start(ctx, cfg)
	if err != nil {
		return err
	}
	g.agent.Store(a)
	g.link.gossip.Store(a)
	return nil
}

// nodeModels names the models the node generates and embeds with now, by
// their Ollama names, so that a model fleet sync switched to while the node
// runs is what the pool hears about.
func nodeModels(n *node.Node) []string {
	serving, _ := n.EmbedderModels()
	var out []string
	for _, id := range []string{n.GeneratorModel(), serving} {
		if name, _, ok := ollama.ParseModelID(id); ok {
			id = name
		}
		if id != "" {
			out = append(out, id)
		}
	}
	return out
}

// Close leaves the pool gracefully and releases the client.
func (g *gossipLink) Close() {
	if g == nil {
		return
	}
	if a := g.agent.Load(); a != nil {
		if err := a.Close(); err != nil {
			g.log.Warn("gossip leave", "err", err)
		} else {
			g.log.Info("left the gossip pool")
		}
	}
	if g.tc != nil {
		g.tc.Close()
	}
}

// routes adds /v1/fleet, the keyring endpoint and the members metric.
func (g *gossipLink) routes(h *api.Handler, m *metrics.Metrics) {
	var a *membership.Agent
	if g != nil {
		a = g.agent.Load()
	}
	h.Handle("GET /v1/fleet", membership.FleetHandler(a))
	h.Handle("POST /v1/fleet/keys", membership.KeysHandler(a))
	if a != nil {
		m.ObserveMembers(func() map[string]int { return membership.CountByStatus(a.Members()) })
	}
}

// withFleet adds the gossip pool to a status, for the status page.
func (g *gossipLink) withFleet(status func(context.Context) (api.Status, error)) func(context.Context) (api.Status, error) {
	return func(ctx context.Context) (api.Status, error) {
		st, err := status(ctx)
		if err != nil || g == nil {
			return st, err
		}
		a := g.agent.Load()
		if a == nil {
			return st, nil
		}
		for _, m := range a.Members() {
			fm := api.FleetMember{Name: m.Name, Status: m.Status, Self: m.Self, Shards: []string{}}
			for _, s := range m.Shards {
				fm.Shards = append(fm.Shards, fmt.Sprintf("%s@%d", s.Name, s.Version))
			}
			st.Fleet = append(st.Fleet, fm)
		}
		return st, nil
	}
}

// Peers implements node.Peers.
func (g *gossipLink) Peers() []route.PeerInfo {
	a := g.agent.Load()
	if a == nil {
		return nil
	}
	return membership.PeerInfos(a.Members())
}

// AskPeer implements node.Peers over the QUIC transport; the peer's
// certificate must carry the member's name.
func (g *gossipLink) AskPeer(ctx context.Context, name string, q api.QueryRequest) (api.QueryResponse, error) {
	a := g.agent.Load()
	if a == nil {
		return api.QueryResponse{}, fmt.Errorf("membership not started")
	}
	addr, ok := a.PeerAddr(name)
	if !ok {
		return api.QueryResponse{}, fmt.Errorf("peer %q announces no QUIC address", name)
	}
	resp, err := g.client.Ask(ctx, queryrpc.Target{Name: name, Addr: addr}, q)
	switch {
	case err == nil:
		a.Reachable(name)
	case ctx.Err() == nil || errors.Is(ctx.Err(), context.DeadlineExceeded):
		// Failed, or did not answer within the share of the deadline it
		// was given: skip it for a moment rather than pay that again.
		a.Unreachable(name)
	}
	return resp, err
}

// Holds implements node.Peers from the peers' term filters.
func (g *gossipLink) Holds(terms []string) map[string][]bool {
	a := g.agent.Load()
	if a == nil {
		return nil
	}
	return a.Holds(terms)
}

func (g *gossipLink) fetchShards(ctx context.Context, name, addr string) ([]byte, error) {
	return g.call.Call(ctx, addr, name, wire.TypeShardList, []byte("{}"))
}

// advertisedQUIC is the QUIC address to announce: the listener's, with an
// unspecified host (0.0.0.0, ::) replaced by the host peers reach gossip on.
func advertisedQUIC(listen string, o GossipConfig) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsUnspecified() {
		return listen
	}
	for _, a := range []string{o.Advertise, o.Addr} {
		if h, _, err := net.SplitHostPort(a); err == nil && h != "" {
			if ip := net.ParseIP(h); ip == nil || !ip.IsUnspecified() {
				return net.JoinHostPort(h, port)
			}
		}
	}
	return listen
}
