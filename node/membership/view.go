package membership

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/edgerag/edgerag/node/route"
	"github.com/edgerag/edgerag/node/shard"
)

// ShardList is the answer to a wire.TypeShardList request: everything the
// tags only summarise.
type ShardList struct {
	Node   string         `json:"node"`
	Digest string         `json:"digest"` // ShardDigest(Shards)
	Shards []ShardVersion `json:"shards"`
	Models []string       `json:"models,omitempty"`
	// Terms holds a filter of each shard's vocabulary, by shard name, so
	// that a node can tell which peer's shards match a question best.
	Terms map[string]TermFilter `json:"terms,omitempty"`
	// Sync is the node's fleet-sync state, which its sync tag summarises;
	// nil when it does not sync.
	Sync *SyncState `json:"sync,omitempty"`
}

// key is what the list is cached under (listKey).
func (l ShardList) key() string {
	if l.Sync == nil {
		return listKey(l.Digest, "")
	}
	return listKey(l.Digest, SyncTag(*l.Sync))
}

// Limits of a shard list from a peer; a list beyond them is refused rather
// than cached.
const (
	maxSyncError = 512 // bytes of a sync error's text
	MaxShards    = 10000
	MaxModels    = 64
	maxModelName = 256
)

// EncodeShardList returns the payload for a shard-list response.
func EncodeShardList(l ShardList) ([]byte, error) {
	l.Digest = ShardDigest(l.Shards)
	if l.Shards == nil {
		l.Shards = []ShardVersion{}
	}
	return json.Marshal(l)
}

// DecodeShardList reads a peer's shard list and checks it: valid names, no
// duplicates, and a digest that matches the shards it lists.
func DecodeShardList(b []byte) (ShardList, error) {
	if !utf8.Valid(b) {
		return ShardList{}, fmt.Errorf("shard list is not valid UTF-8")
	}
	var l ShardList
	if err := json.Unmarshal(b, &l); err != nil {
		return ShardList{}, fmt.Errorf("shard list is not the expected JSON: %w", err)
	}
	if len(l.Shards) > MaxShards {
		return ShardList{}, fmt.Errorf("shard list has %d shards, more than %d", len(l.Shards), MaxShards)
	}
	if len(l.Models) > MaxModels {
		return ShardList{}, fmt.Errorf("shard list has %d models, more than %d", len(l.Models), MaxModels)
	}
	seen := make(map[string]bool, len(l.Shards))
	for _, s := range l.Shards {
		if err := shard.ValidName(s.Name); err != nil {
			return ShardList{}, fmt.Errorf("shard list: %w", err)
		}
		if seen[s.Name] {
			return ShardList{}, fmt.Errorf("shard list names %q twice", s.Name)
		}
		seen[s.Name] = true
	}
	for _, m := range l.Models {
		if m == "" || len(m) > maxModelName {
			return ShardList{}, fmt.Errorf("shard list: model name of %d bytes; want 1 to %d", len(m), maxModelName)
		}
	}
	total := 0
	for name, f := range l.Terms {
		if !seen[name] {
			return ShardList{}, fmt.Errorf("shard list has a term filter for %q, which it does not list", name)
		}
		if err := f.validate(); err != nil {
			return ShardList{}, fmt.Errorf("shard list, shard %q: %w", name, err)
		}
		total += len(f.Bits)
	}
	if total > MaxFilterTotal {
		return ShardList{}, fmt.Errorf("shard list: %w (%d bytes, at most %d)", errFilterTotal, total, MaxFilterTotal)
	}
	if l.Sync != nil {
		if len(l.Sync.Shards) > MaxShards {
			return ShardList{}, fmt.Errorf("shard list has sync states of %d shards, more than %d", len(l.Sync.Shards), MaxShards)
		}
		for _, s := range l.Sync.Shards {
			if err := shard.ValidName(s.Name); err != nil {
				return ShardList{}, fmt.Errorf("shard list, sync state: %w", err)
			}
			if len(s.Error) > maxSyncError {
				return ShardList{}, fmt.Errorf("shard list, sync state of %q: error text over %d bytes", s.Name, maxSyncError)
			}
		}
		if len(l.Sync.ConfigError) > maxSyncError {
			return ShardList{}, fmt.Errorf("shard list, sync state: config error text over %d bytes", maxSyncError)
		}
	}
	if d := ShardDigest(l.Shards); d != l.Digest {
		return ShardList{}, fmt.Errorf("shard list digest %q does not match its shards (%s)", l.Digest, d)
	}
	return l, nil
}

// Status of a member as /v1/fleet reports it.
const (
	StatusAlive   = "alive"
	StatusSuspect = "suspect" // gossip says alive, but this node's last request to it failed just now
	StatusFailed  = "failed"
	StatusLeaving = "leaving"
	StatusLeft    = "left"
)

// Member is one node of the pool as this node sees it.
type Member struct {
	Name       string `json:"name"`
	Status     string `json:"status"`
	Role       string `json:"role,omitempty"`
	GossipAddr string `json:"gossip_addr"`
	QUICAddr   string `json:"quic_addr,omitempty"`
	// Shards are the shards it holds, with versions, once fetched for its
	// current digest; ShardsPending says the list is still being fetched.
	Shards        []ShardVersion `json:"shards"`
	ShardsPending bool           `json:"shards_pending,omitempty"`
	ShardDigest   string         `json:"shard_digest,omitempty"`
	Models        []string       `json:"models,omitempty"`
	Load          float64        `json:"load"`
	Version       string         `json:"version,omitempty"`
	// SyncHealth is "healthy" or "failing" for a node that follows fleet
	// sync (from its tag: its last syncs succeeded or not), "" otherwise;
	// Sync is the detail, once its shard list is fetched.
	SyncHealth string     `json:"sync_health,omitempty"`
	Sync       *SyncState `json:"sync,omitempty"`
	// LastChange is when this node last saw the member's status or tags
	// change.
	LastChange time.Time `json:"last_change"`
	Self       bool      `json:"self,omitempty"`
	// TagError says why the member's tags could not be read (another
	// program in the pool, or a newer version).
	TagError string `json:"tag_error,omitempty"`
}

// Fleet is the answer of GET /v1/fleet.
type Fleet struct {
	Self    string   `json:"self"`
	Profile string   `json:"profile"`
	Members []Member `json:"members"`
}

// PeerInfos turns the members into the routing policy's view of peers:
// every other edge node that serves QUIC. Only an alive member counts as
// Alive: a suspect one may be hung, and asking it would spend the query's
// deadline on a likely timeout while holders that answer exist. Central is
// left out: the policy reaches it on its own path.
func PeerInfos(members []Member) []route.PeerInfo {
	var out []route.PeerInfo
	for _, m := range members {
		if m.Self || m.Role == "central" || m.QUICAddr == "" || m.TagError != "" {
			continue
		}
		p := route.PeerInfo{Name: m.Name, Load: m.Load, Alive: m.Status == StatusAlive}
		for _, s := range m.Shards {
			p.Shards = append(p.Shards, s.Name)
		}
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b route.PeerInfo) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// CountByStatus counts members by status, for the gossip members metric.
func CountByStatus(members []Member) map[string]int {
	out := map[string]int{StatusAlive: 0, StatusSuspect: 0, StatusFailed: 0, StatusLeaving: 0, StatusLeft: 0}
	for _, m := range members {
		out[m.Status]++
	}
	return out
}
