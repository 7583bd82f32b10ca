// Package membership makes a node a member of its site's gossip pool: it
// embeds one Serf member (hashicorp/serf over memberlist), announces the
// node in compact tags (role, QUIC address, a digest of its shards, its
// models, a coarse load, its version), fetches a peer's full shard list
// over the QUIC transport when its digest changes, and gives the routing
// policy its peers (PeerInfos) and the API its members (Fleet).
//
// The pure parts — tags, digests, profiles, load buckets, the shard-list
// payload, members to route.PeerInfo — do no I/O and are table-tested;
// Agent owns the sockets, the snapshot and the keyring. node/agent wires it; the
// QUIC calls are passed in as functions, so this package does not depend
// on the transport.
package membership

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/edgerag/edgerag/sync/pki"
	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/serf/serf"
)

// Config configures an Agent.
type Config struct {
	Name    string // node name: also the name in its fleet certificate
	Role    string // "edge" or "central"
	Version string
	// BindAddr is the host:port gossip listens on (UDP and TCP); port 0
	// picks one. AdvertiseAddr, when set, is the address peers must use
	// instead (NAT, containers, a bind on 0.0.0.0).
	BindAddr      string
	AdvertiseAddr string
	// Join lists members to contact at start; empty after a restart is
	// fine: the snapshot remembers the pool.
	Join    []string
	Profile Profile
	// Label is the fleet's memberlist label: packets with another label
	// are dropped, so two fleets on one network never merge.
	Label string
	// Keys encrypt gossip (AES-256, primary first); nil sends it in the
	// clear, which only --insecure-dev allows.
	Keys [][]byte
	// KeyringFile is where Serf persists key changes made at run time
	// (keys rotate); usually the file Keys were read from.
	KeyringFile string
	// SnapshotPath is Serf's snapshot: the members last seen, replayed to
	// rejoin after a restart.
	SnapshotPath string
	// QUICAddr is the address peers ask this node on ("" = none).
	QUICAddr string
	// Local returns the shards (with versions) and models this node holds.
	Local func() ([]ShardVersion, []string)
	// Terms returns the analysed terms a local shard holds, for the term
	// filters peers match questions against; nil: no filters.
	Terms func(shard string) []string
	// Load returns this node's load in [0, 1]; nil: always 0.
	Load func() float64
	// Fetch asks a peer's QUIC endpoint for its shard list; nil: shard
	// lists are never fetched (members show digests only).
	Fetch     func(ctx context.Context, name, quicAddr string) ([]byte, error)
	TagPolicy TagPolicy // zero: DefaultTagPolicy()
	// Sync returns the node's fleet-sync state, announced in a short tag
	// (SyncTag) and in full in the shard list; nil: the node does not
	// sync.
	Sync func() SyncState
	// OnUserEvent, when set, is called with every Serf user event, in
	// order, from the goroutine that drains Serf's events: it must not
	// block. Anyone holding the gossip key can send one, so it is a hint
	// at most.
	OnUserEvent func(name string, payload []byte)
	Logger      *slog.Logger
}

// Agent is a running Serf member. Its methods are safe for concurrent use.
type Agent struct {
	cfg  Config
	log  *slog.Logger
	serf *serf.Serf

	cancel context.CancelFunc
	wg     sync.WaitGroup
	poke   chan struct{}

	mu          sync.Mutex
	tags        Tags      // announced
	sentAt      time.Time // when tags were last announced
	loadAt      time.Time // when the load tag last changed
	lists       map[string]ShardList
	fetching    map[string]bool
	failedAt    map[string]time.Time // digest → last failed fetch
	seen        map[string]seenState
	closed      bool
	local       localList            // this node's encoded shard list
	unreachable map[string]time.Time // member → when a request to it last failed
	// join is what the loop joins while alone: cfg.Join, else the members
	// remembered in peersPath at the last run.
	join      []string
	peersPath string
	peersSeen string // the member addresses last written there
}

// localList is the encoded shard list of one digest: building the term
// filters reads every term of every shard, so it is done once per change.
type localList struct {
	digest  string
	payload []byte
}

type seenState struct {
	status string
	tags   string // the raw tags, to notice any change
	at     time.Time
}

// Bounds of the shard-list cache and its fetches.
const (
	maxCachedLists = 1024
	fetchTimeout   = 3 * time.Second
	fetchRetry     = 2 * time.Second
	tickEvery      = 500 * time.Millisecond
	rejoinEvery    = 5 * time.Second
	maxLabel       = 255 // memberlist's limit
	// maxShardListPayload keeps a shard list within the transport's 1 MiB
	// response limit (wire.DefaultMaxPayload), with room to spare.
	maxShardListPayload = 1<<20 - 16<<10
)

// ValidLabel checks a fleet label.
func ValidLabel(l string) error {
	if l == "" || len(l) > maxLabel {
		return fmt.Errorf("fleet label %q: must be 1 to %d bytes", l, maxLabel)
	}
	for i := 0; i < len(l); i++ {
		if l[i] < 0x21 || l[i] > 0x7e {
			return fmt.Errorf("fleet label %q: use printable ASCII without spaces", l)
		}
	}
	return nil
}

// Start creates the Serf member, joins cfg.Join (or the snapshot's
// members) and starts announcing the node. Close leaves and stops it.
//
// It is long because Serf's and memberlist's configuration is filled field
// by field from cfg, its defaults and its profile in one place, where each
// value reads next to the others.
func Start(ctx context.Context, cfg Config) (*Agent, error) {
	if err := pki.ValidName(cfg.Name); err != nil {
		return nil, fmt.Errorf("gossip node name: %w", err)
	}
	if err := ValidLabel(cfg.Label); err != nil {
		return nil, err
	}
	if cfg.Profile.Name == "" {
		cfg.Profile = LAN()
	}
	if cfg.TagPolicy == (TagPolicy{}) {
		cfg.TagPolicy = DefaultTagPolicy()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Local == nil {
		cfg.Local = func() ([]ShardVersion, []string) { return nil, nil }
	}
	if cfg.Load == nil {
		cfg.Load = func() float64 { return 0 }
	}
	bindHost, bindPort, err := splitHostPort(cfg.BindAddr)
	if err != nil {
		return nil, fmt.Errorf("--gossip %q: %w", cfg.BindAddr, err)
	}
	shards, models := cfg.Local()
	tags, err := NewTags(cfg.Role, cfg.QUICAddr, shards, models, cfg.Load(), cfg.Version)
	if err != nil {
		return nil, fmt.Errorf("gossip tags: %w", err)
	}
	if cfg.Sync != nil {
		tags.Sync = SyncTag(cfg.Sync())
	}
	enc, err := tags.Encode()
	if err != nil {
		return nil, fmt.Errorf("gossip tags: %w", err)
	}

	a := &Agent{
		cfg: cfg, log: cfg.Logger.With("component", "gossip"), poke: make(chan struct{}, 1),
		tags: tags, lists: map[string]ShardList{}, fetching: map[string]bool{},
		failedAt: map[string]time.Time{}, seen: map[string]seenState{}, unreachable: map[string]time.Time{},
	}
	sc := serf.DefaultConfig()
	sc.NodeName = cfg.Name
	sc.Tags = enc
	events := make(chan serf.Event, 256)
	sc.EventCh = events
	// Hints sent with coalescing (one name per shard) collapse to the
	// latest of each name within this window; a burst of publishes then
	// costs each member one poll per shard.
	sc.UserCoalescePeriod = 250 * time.Millisecond
	sc.UserQuiescentPeriod = 50 * time.Millisecond
	// After a graceful leave the snapshot says so, and Serf would not
	// rejoin on restart; a node that stops for an upgrade must come back.
	sc.RejoinAfterLeave = true
	sc.SnapshotPath = cfg.SnapshotPath
	sc.KeyringFile = cfg.KeyringFile
	logger := log.New(&slogWriter{log: a.log}, "", 0)
	sc.Logger = logger
	sc.LogOutput = nil
	mc := memberlist.DefaultLANConfig()
	cfg.Profile.Apply(mc)
	mc.Name = cfg.Name
	mc.BindAddr, mc.BindPort = bindHost, bindPort
	mc.AdvertisePort = bindPort
	if cfg.AdvertiseAddr != "" {
		h, p, err := splitHostPort(cfg.AdvertiseAddr)
		if err != nil || p == 0 {
			return nil, fmt.Errorf("--advertise %q: want the host:port peers reach this node's gossip on", cfg.AdvertiseAddr)
		}
		mc.AdvertiseAddr, mc.AdvertisePort = h, p
	}
	mc.Label = cfg.Label
	mc.Logger = logger
	mc.LogOutput = nil
	if len(cfg.Keys) > 0 {
		kr, err := memberlist.NewKeyring(cfg.Keys, cfg.Keys[0])
		if err != nil {
			return nil, fmt.Errorf("gossip keyring: %w", err)
		}
		mc.Keyring = kr
		mc.GossipVerifyIncoming, mc.GossipVerifyOutgoing = true, true
	}
	sc.MemberlistConfig = mc
	if cfg.SnapshotPath != "" {
		if err := os.MkdirAll(filepath.Dir(cfg.SnapshotPath), 0o700); err != nil {
			return nil, fmt.Errorf("gossip snapshot directory: %w", err)
		}
	}
	a.join = cfg.Join
	if cfg.SnapshotPath != "" {
		// Serf's snapshot flushes its buffer only when it appends the next
		// record, so a node killed soon after the pool changed can restart
		// with a snapshot that names nobody. The agent keeps its own list,
		// written whenever the alive members change, as a second way back.
		a.peersPath = filepath.Join(filepath.Dir(cfg.SnapshotPath), "peers")
		if len(a.join) == 0 {
			a.join = readPeers(a.peersPath)
		}
	}
	s, err := serf.Create(sc)
	if err != nil {
		return nil, fmt.Errorf("start gossip on %s: %w", cfg.BindAddr, err)
	}
	a.serf = s
	now := time.Now()
	a.sentAt, a.loadAt = now, now
	lm := s.LocalMember()
	a.log.Info("gossip started", "addr", net.JoinHostPort(lm.Addr.String(), strconv.Itoa(int(lm.Port))),
		"profile", cfg.Profile.Name, "encrypted", s.EncryptionEnabled(), "label", cfg.Label)

	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	a.cancel = cancel
	a.wg.Add(2)
	go a.events(rctx, events)
	go a.loop(rctx)
	return a, nil
}

// Addr is the gossip address this member advertises.
func (a *Agent) Addr() string {
	lm := a.serf.LocalMember()
	return net.JoinHostPort(lm.Addr.String(), strconv.Itoa(int(lm.Port)))
}

// Profile is the profile the agent runs.
func (a *Agent) Profile() Profile { return a.cfg.Profile }

// Close leaves the pool gracefully (peers mark the node "left" at once
// instead of suspecting it for the failure-detection window) and stops
// the agent. It returns within about the Serf broadcast timeout.
func (a *Agent) Close() error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return nil
	}
	a.closed = true
	a.mu.Unlock()
	// Leave while the event loop still drains Serf's channel: Serf blocks
	// on a full one.
	lerr := a.serf.Leave()
	a.cancel()
	a.wg.Wait()
	serr := a.serf.Shutdown()
	return errors.Join(lerr, serr)
}

// events drains Serf's event channel (Serf blocks when it is full) and
// nudges the loop so status changes and new digests are seen at once.
func (a *Agent) events(ctx context.Context, ch <-chan serf.Event) {
	defer a.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case e := <-ch:
			if me, ok := e.(serf.MemberEvent); ok {
				for _, m := range me.Members {
					a.log.Debug("member event", "event", me.EventType().String(), "member", m.Name)
				}
			}
			if ue, ok := e.(serf.UserEvent); ok {
				a.log.Debug("user event", "name", ue.Name, "bytes", len(ue.Payload))
				if a.cfg.OnUserEvent != nil {
					a.cfg.OnUserEvent(ue.Name, ue.Payload)
				}
				continue // says nothing about members
			}
			select {
			case a.poke <- struct{}{}:
			default:
			}
		}
	}
}

// loop re-announces tags, records status changes, fetches shard lists
// and retries the join while the node is alone.
func (a *Agent) loop(ctx context.Context) {
	defer a.wg.Done()
	t := time.NewTicker(tickEvery)
	defer t.Stop()
	var lastJoin time.Time
	if len(a.join) > 0 {
		a.joinPool()
		lastJoin = time.Now()
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-a.poke:
		}
		now := time.Now()
		a.announce(now)
		a.observe(ctx, now)
		if len(a.join) > 0 && a.serf.NumNodes() <= 1 && now.Sub(lastJoin) >= rejoinEvery {
			a.joinPool()
			lastJoin = now
		}
	}
}

func (a *Agent) joinPool() {
	n, err := a.serf.Join(a.join, true)
	if err != nil {
		a.log.Warn("gossip join failed; retrying while alone", "join", a.join, "contacted", n, "err", err)
		return
	}
	a.log.Info("gossip joined", "contacted", n)
}

// maxPeersFile bounds the remembered members file.
const maxPeersFile = 64 << 10

// readPeers returns the member addresses remembered at the last run.
func readPeers(path string) []string {
	b, err := os.ReadFile(path)
	if err != nil || len(b) > maxPeersFile {
		return nil
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if _, _, err := splitHostPort(l); err == nil && l != "" {
			out = append(out, l)
		}
	}
	return out
}

// rememberPeers writes the alive members' addresses when they changed.
func (a *Agent) rememberPeers(ms []rawMember) {
	if a.peersPath == "" {
		return
	}
	var addrs []string
	for _, m := range ms {
		if m.Name != a.cfg.Name && m.status == StatusAlive {
			addrs = append(addrs, net.JoinHostPort(m.Addr.String(), strconv.Itoa(int(m.Port))))
		}
	}
	if len(addrs) == 0 {
		return // alone: keep the list of the last pool
	}
	slices.Sort(addrs)
	text := strings.Join(addrs, "\n") + "\n"
	if text == a.peersSeen || len(text) > maxPeersFile {
		return
	}
	tmp := a.peersPath + ".tmp"
	if err := os.WriteFile(tmp, []byte(text), 0o600); err != nil {
		a.log.Warn("remember gossip members", "err", err)
		return
	}
	if err := os.Rename(tmp, a.peersPath); err != nil {
		a.log.Warn("remember gossip members", "err", err)
		return
	}
	a.peersSeen = text
}

// announce sets new tags when the policy says they are due.
func (a *Agent) announce(now time.Time) {
	shards, models := a.cfg.Local()
	want, err := NewTags(a.cfg.Role, a.cfg.QUICAddr, shards, models, a.cfg.Load(), a.cfg.Version)
	if err != nil {
		a.log.Warn("gossip tags", "err", err)
		return
	}
	if a.cfg.Sync != nil {
		want.Sync = SyncTag(a.cfg.Sync())
	}
	a.mu.Lock()
	next, ok := a.cfg.TagPolicy.Next(a.tags, want, a.sentAt, a.loadAt, now)
	a.mu.Unlock()
	if !ok {
		return
	}
	enc, err := next.Encode()
	if err == nil {
		err = a.serf.SetTags(enc)
	}
	if err != nil {
		a.log.Warn("gossip tags not announced", "err", err)
		return
	}
	a.mu.Lock()
	if next.Load != a.tags.Load {
		a.loadAt = now
	}
	a.tags, a.sentAt = next, now
	a.mu.Unlock()
}

// observe records status and tag changes and starts fetches of shard
// lists for digests not yet cached.
func (a *Agent) observe(ctx context.Context, now time.Time) {
	ms := a.rawMembers()
	a.rememberPeers(ms)
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, m := range ms {
		raw := fmt.Sprint(m.Tags)
		if s, ok := a.seen[m.Name]; !ok || s.status != m.status || s.tags != raw {
			if ok && s.status != m.status {
				a.log.Info("member status", "member", m.Name, "from", s.status, "to", m.status)
			}
			a.seen[m.Name] = seenState{status: m.status, tags: raw, at: now}
		}
		if m.Name == a.cfg.Name || m.status != StatusAlive || a.cfg.Fetch == nil {
			continue
		}
		t, err := DecodeTags(m.Tags)
		if err != nil || t.QUIC == "" {
			continue
		}
		key := listKey(t.Digest, t.Sync)
		if _, ok := a.lists[key]; ok || a.fetching[key] || now.Sub(a.failedAt[key]) < fetchRetry {
			continue
		}
		a.fetching[key] = true
		a.wg.Add(1)
		go a.fetch(ctx, m.Name, t.QUIC, key)
	}
}

func splitHostPort(addr string) (string, int, error) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("want host:port: %w", err)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("port %q: want 0..65535", p)
	}
	if h == "" {
		h = "0.0.0.0"
	}
	return h, port, nil
}

// slogWriter turns Serf's and memberlist's "[LEVEL] msg" lines into slog
// records at that level.
type slogWriter struct{ log *slog.Logger }

func (w *slogWriter) Write(p []byte) (int, error) {
	line := bytes.TrimSpace(p)
	lv := slog.LevelInfo
	for _, l := range []struct {
		tag string
		lv  slog.Level
	}{{"[DEBUG]", slog.LevelDebug}, {"[INFO]", slog.LevelInfo}, {"[WARN]", slog.LevelWarn}, {"[ERR]", slog.LevelError}, {"[ERROR]", slog.LevelError}} {
		if i := bytes.Index(line, []byte(l.tag)); i >= 0 {
			lv, line = l.lv, bytes.TrimSpace(line[i+len(l.tag):])
			break
		}
	}
	w.log.Log(context.Background(), lv, string(line))
	return len(p), nil
}
