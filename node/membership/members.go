package membership

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/serf/serf"
)

// The members an agent knows of, and what the node asks about them:
// addresses, shard lists, term filters, reachability.

// UserEvent sends a user event to the pool, coalesced with earlier events
// of the same name that have not gone out yet.
func (a *Agent) UserEvent(name string, payload []byte) error {
	if err := a.serf.UserEvent(name, payload, true); err != nil {
		return fmt.Errorf("gossip user event %q: %w", name, err)
	}
	return nil
}

// listKey is what a member's shard list is cached under: its shard digest
// and sync tag, since either changing changes the list.
func listKey(digest, syncTag string) string { return digest + "/" + syncTag }

// fetch gets a member's shard list and caches it under its digest.
func (a *Agent) fetch(ctx context.Context, name, addr, digest string) {
	defer a.wg.Done()
	fctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	b, err := a.cfg.Fetch(fctx, name, addr)
	var l ShardList
	if err == nil {
		l, err = DecodeShardList(b)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.fetching, digest)
	if err != nil {
		a.failedAt[digest] = time.Now()
		a.unreachable[name] = time.Now()
		a.log.Warn("shard list fetch failed", "member", name, "addr", addr, "err", err)
		return
	}
	delete(a.failedAt, digest)
	if len(a.lists) >= maxCachedLists {
		clear(a.lists) // refetching costs one round trip per member
	}
	// The member may have changed its shards since it announced digest;
	// cache the list under the digest it has, which its next tags carry.
	a.lists[l.key()] = l
	select {
	case a.poke <- struct{}{}:
	default:
	}
}

// rawMember is a Serf member with the status this package reports.
type rawMember struct {
	serf.Member
	status string
}

func (a *Agent) rawMembers() []rawMember {
	// Memberlist does not expose its own suspicions (Members reports every
	// listed node as alive), so "suspect" is this node's: a member whose
	// request failed within the last suspectFor, while gossip still says
	// alive. It spares the next queries a likely timeout.
	now := time.Now()
	suspect := map[string]bool{}
	a.mu.Lock()
	for name, at := range a.unreachable {
		if now.Sub(at) < a.suspectFor() {
			suspect[name] = true
		} else {
			delete(a.unreachable, name)
		}
	}
	a.mu.Unlock()
	var out []rawMember
	for _, m := range a.serf.Members() {
		st := StatusAlive
		switch m.Status {
		case serf.StatusAlive:
			if suspect[m.Name] {
				st = StatusSuspect
			}
		case serf.StatusLeaving:
			st = StatusLeaving
		case serf.StatusLeft:
			st = StatusLeft
		case serf.StatusFailed:
			st = StatusFailed
		default:
			continue
		}
		out = append(out, rawMember{m, st})
	}
	return out
}

// suspectFor is how long a member stays suspect after a failed request:
// the profile's shortest failure detection, so that a member that is really
// gone is declared failed by gossip about when the mark would lapse, and
// one that was only slow is tried again soon.
func (a *Agent) suspectFor() time.Duration {
	best, _ := a.cfg.Profile.FailureDetection(1)
	return best
}

// Unreachable records that a request to member failed: it shows as
// suspect, and PeerInfos leaves it out, for suspectFor.
func (a *Agent) Unreachable(member string) {
	a.mu.Lock()
	a.unreachable[member] = time.Now()
	a.mu.Unlock()
}

// Reachable clears Unreachable after a request to member succeeded.
func (a *Agent) Reachable(member string) {
	a.mu.Lock()
	delete(a.unreachable, member)
	a.mu.Unlock()
}

// Members returns every member this node knows of, itself included,
// sorted by name.
func (a *Agent) Members() []Member {
	ms := a.rawMembers()
	shards, models := a.cfg.Local()
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]Member, 0, len(ms))
	for _, m := range ms {
		v := Member{
			Name: m.Name, Status: m.status, Self: m.Name == a.cfg.Name,
			GossipAddr: net.JoinHostPort(m.Addr.String(), strconv.Itoa(int(m.Port))),
			LastChange: a.seen[m.Name].at, Shards: []ShardVersion{},
		}
		t, err := DecodeTags(m.Tags)
		if err != nil {
			v.TagError = err.Error()
			out = append(out, v)
			continue
		}
		v.Role, v.QUICAddr, v.ShardDigest, v.Models = t.Role, t.QUIC, t.Digest, t.Models
		v.Load, v.Version = BucketLoad(t.Load), t.Version
		if syncing, healthy := t.SyncHealth(); syncing {
			v.SyncHealth = "failing"
			if healthy {
				v.SyncHealth = "healthy"
			}
		}
		switch {
		case v.Self:
			v.Shards, v.Models = sortedShards(shards), models
			if a.cfg.Sync != nil {
				st := a.cfg.Sync()
				v.Sync = &st
			}
		default:
			if l, ok := a.lists[listKey(t.Digest, t.Sync)]; ok {
				v.Shards = l.Shards
				if len(l.Models) > 0 {
					v.Models = l.Models
				}
				v.Sync = l.Sync
			} else {
				v.ShardsPending = t.QUIC != "" && a.cfg.Fetch != nil
			}
		}
		out = append(out, v)
	}
	slices.SortFunc(out, func(x, y Member) int { return strings.Compare(x.Name, y.Name) })
	return out
}

// Fleet is the body of GET /v1/fleet.
func (a *Agent) Fleet() Fleet {
	return Fleet{Self: a.cfg.Name, Profile: a.cfg.Profile.Name, Members: a.Members()}
}

// PeerAddr returns the QUIC address a member announced.
func (a *Agent) PeerAddr(name string) (string, bool) {
	for _, m := range a.serf.Members() {
		if m.Name == name {
			t, err := DecodeTags(m.Tags)
			return t.QUIC, err == nil && t.QUIC != ""
		}
	}
	return "", false
}

// LocalShardList is this node's answer to a shard-list request.
func (a *Agent) LocalShardList() ([]byte, error) {
	shards, models := a.cfg.Local()
	l := ShardList{Node: a.cfg.Name, Shards: sortedShards(shards), Models: models}
	var syncTag string
	if a.cfg.Sync != nil {
		st := a.cfg.Sync()
		l.Sync, syncTag = &st, SyncTag(st)
	}
	digest := listKey(ShardDigest(shards), syncTag)
	a.mu.Lock()
	cached := a.local
	a.mu.Unlock()
	if cached.digest == digest {
		return cached.payload, nil
	}
	// With thousands of shards a filter each would be too small to tell
	// anything; such a node sends none, and peers fall back to central
	// for its questions that name no shard.
	if budget := MaxFilterTotal / max(1, len(shards)); a.cfg.Terms != nil && len(shards) > 0 && budget >= minFilterBytes {
		l.Terms = make(map[string]TermFilter, len(shards))
		for _, s := range shards {
			terms := a.cfg.Terms(s.Name)
			f := NewTermFilter(len(terms), budget)
			for _, t := range terms {
				f.Add(t)
			}
			l.Terms[s.Name] = f
		}
	}
	b, err := EncodeShardList(l)
	if err == nil && len(b) > maxShardListPayload && l.Terms != nil {
		l.Terms = nil // the list itself matters more than the filters
		b, err = EncodeShardList(l)
	}
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	a.local = localList{digest: digest, payload: b}
	a.mu.Unlock()
	return b, nil
}

// Holds reports, for every alive peer whose shard list carries term
// filters, which of terms its shards may hold.
func (a *Agent) Holds(terms []string) map[string][]bool {
	ms := a.rawMembers()
	a.mu.Lock()
	defer a.mu.Unlock()
	out := map[string][]bool{}
	for _, m := range ms {
		if m.Name == a.cfg.Name || m.status != StatusAlive {
			continue
		}
		t, err := DecodeTags(m.Tags)
		if err != nil {
			continue
		}
		l, ok := a.lists[listKey(t.Digest, t.Sync)]
		if !ok || len(l.Terms) == 0 {
			continue
		}
		held := make([]bool, len(terms))
		for i, term := range terms {
			for _, f := range l.Terms {
				if f.Has(term) {
					held[i] = true
					break
				}
			}
		}
		out[m.Name] = held
	}
	return out
}

func sortedShards(s []ShardVersion) []ShardVersion {
	s = slices.Clone(s)
	slices.SortFunc(s, func(a, b ShardVersion) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	if s == nil {
		s = []ShardVersion{}
	}
	return s
}
