package membership

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Serf refuses tags whose encoding exceeds 512 bytes (memberlist's
// MetaMaxSize). Tags are kept under MaxTagBytes by construction, whatever a
// node holds, so SetTags never fails at run time and a tag change stays
// one small UDP packet.
const (
	serfTagLimit = 512
	MaxTagBytes  = 320
)

// Tag keys are one letter: they are sent with every membership message.
const (
	tagRole    = "r"
	tagQUIC    = "q"
	tagDigest  = "d"
	tagModels  = "m"
	tagLoad    = "l"
	tagVersion = "v"
	tagSync    = "s"
)

// Bounds of the variable tags. Models longer than maxModelsTag are sent as
// their digest ("#" + 16 hex digits) and read from the shard list instead.
const (
	maxModelsTag  = 96
	maxVersionTag = 32
	maxAddrTag    = 64
	maxRoleTag    = 16
	// LoadBuckets is the number of steps load is rounded to: coarse, so
	// that it changes (and is gossiped) rarely.
	LoadBuckets = 10
)

// Tags are what a member tells every other member about itself.
type Tags struct {
	Role string // "edge" or "central"
	// QUIC is the address peers ask this node on; "" when it serves none.
	QUIC string
	// Digest identifies the set of shards and versions held (ShardDigest);
	// when it changes, peers fetch the full list over QUIC.
	Digest string
	// Models are the model names the node runs, sorted; when too long for
	// a tag, ModelsDigest is set instead and Models is empty.
	Models       []string
	ModelsDigest string
	// Load is a bucket in 0..LoadBuckets (LoadBucket).
	Load    int
	Version string
	// Sync summarises fleet sync on the node (SyncTag): a digest of the
	// versions it applied and whether its last syncs succeeded; "" when
	// it does not sync. The detail is in the shard list.
	Sync string
}

// SyncShard is a node's fleet-sync state of one shard, as the shard list
// carries it.
type SyncShard struct {
	Name    string `json:"name"`
	Applied uint64 `json:"applied"`
	Healthy bool   `json:"healthy"`
	Error   string `json:"error,omitempty"`
}

// SyncState is a node's fleet-sync state: every shard it syncs, and the
// fleet config version it applied.
type SyncState struct {
	Shards []SyncShard `json:"shards"`
	Config uint64      `json:"config,omitempty"`
	// ConfigError is why the last config manifest was not applied.
	ConfigError string `json:"config_error,omitempty"`
}

// Healthy reports whether every shard's and the config's last sync
// succeeded.
func (s SyncState) Healthy() bool {
	for _, sh := range s.Shards {
		if !sh.Healthy {
			return false
		}
	}
	return s.ConfigError == ""
}

// SyncTag returns the sync tag of a state: 8 hex digits of a digest of the
// applied versions (shards in name order, and the config version) and its
// health, "+" or "!". Nine bytes whatever the number of shards: a peer
// whose tag changed fetches the shard list for the detail.
func SyncTag(s SyncState) string {
	sh := slices.Clone(s.Shards)
	slices.SortFunc(sh, func(a, b SyncShard) int { return strings.Compare(a.Name, b.Name) })
	h := sha256.New()
	for _, x := range sh {
		fmt.Fprintf(h, "%s\x00%d\x00%t\n", x.Name, x.Applied, x.Healthy)
	}
	fmt.Fprintf(h, "config\x00%d\x00%t\n", s.Config, s.ConfigError == "")
	flag := "+"
	if !s.Healthy() {
		flag = "!"
	}
	return hex.EncodeToString(h.Sum(nil)[:4]) + flag
}

// SyncHealth reads a sync tag: whether the node syncs at all, and whether
// it is healthy.
func (t Tags) SyncHealth() (syncing, healthy bool) {
	return t.Sync != "", strings.HasSuffix(t.Sync, "+")
}

func validSyncTag(s string) bool {
	return len(s) == 9 && isHex(s[:8]) && (s[8] == '+' || s[8] == '!')
}

// ShardVersion is one shard a node holds.
type ShardVersion struct {
	Name    string `json:"name"`
	Version uint64 `json:"version"`
}

// ShardDigest returns 16 hex digits identifying a set of shards with their
// versions, independent of order. 64 bits make an accidental collision
// between two sets a node ever holds negligible; a collision would only
// delay a refetch until the next change.
func ShardDigest(shards []ShardVersion) string {
	s := slices.Clone(shards)
	slices.SortFunc(s, func(a, b ShardVersion) int { return strings.Compare(a.Name, b.Name) })
	h := sha256.New()
	for _, sv := range s {
		fmt.Fprintf(h, "%s\x00%d\n", sv.Name, sv.Version)
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// modelsDigest identifies a set of model names.
func modelsDigest(models []string) string {
	h := sha256.Sum256([]byte(strings.Join(models, "\n")))
	return hex.EncodeToString(h[:8])
}

// LoadBucket rounds a load in [0, 1] to a bucket in 0..LoadBuckets; NaN
// and out-of-range values are clamped (NaN counts as saturated).
func LoadBucket(load float64) int {
	if math.IsNaN(load) {
		return LoadBuckets
	}
	return int(math.Round(max(0, min(1, load)) * LoadBuckets))
}

// BucketLoad is the load a bucket stands for, in [0, 1].
func BucketLoad(bucket int) float64 { return float64(bucket) / LoadBuckets }

// NewTags builds a node's tags; it fails on values that do not fit.
func NewTags(role, quic string, shards []ShardVersion, models []string, load float64, version string) (Tags, error) {
	t := Tags{Role: role, QUIC: quic, Digest: ShardDigest(shards), Load: LoadBucket(load), Version: version}
	if len(t.Version) > maxVersionTag {
		t.Version = t.Version[:maxVersionTag]
		for !utf8.ValidString(t.Version) {
			t.Version = t.Version[:len(t.Version)-1]
		}
	}
	ms := slices.Clone(models)
	slices.Sort(ms)
	ms = slices.Compact(ms)
	ms = slices.DeleteFunc(ms, func(m string) bool { return m == "" })
	if len(strings.Join(ms, ",")) > maxModelsTag || slices.ContainsFunc(ms, func(m string) bool { return strings.Contains(m, ",") }) {
		t.ModelsDigest = modelsDigest(ms)
	} else {
		t.Models = ms
	}
	if _, err := t.Encode(); err != nil {
		return Tags{}, err
	}
	return t, nil
}

// Encode returns the tags as Serf's string map.
func (t Tags) Encode() (map[string]string, error) {
	if t.Role == "" || len(t.Role) > maxRoleTag {
		return nil, fmt.Errorf("tag role %q: must be 1 to %d bytes", t.Role, maxRoleTag)
	}
	if t.QUIC != "" {
		if err := checkAddr(t.QUIC); err != nil {
			return nil, fmt.Errorf("tag quic: %w", err)
		}
	}
	if t.Load < 0 || t.Load > LoadBuckets {
		return nil, fmt.Errorf("tag load %d: must be a bucket in 0..%d", t.Load, LoadBuckets)
	}
	if len(t.Version) > maxVersionTag || !utf8.ValidString(t.Version) {
		return nil, fmt.Errorf("tag version %q: must be valid UTF-8 of at most %d bytes", t.Version, maxVersionTag)
	}
	if !isHex16(t.Digest) {
		return nil, fmt.Errorf("tag digest %q: must be 16 lower-case hex digits", t.Digest)
	}
	m := map[string]string{tagRole: t.Role, tagDigest: t.Digest, tagLoad: strconv.Itoa(t.Load)}
	if t.Sync != "" {
		if !validSyncTag(t.Sync) {
			return nil, fmt.Errorf("tag sync %q: must be 8 lower-case hex digits and + or !", t.Sync)
		}
		m[tagSync] = t.Sync
	}
	if t.QUIC != "" {
		m[tagQUIC] = t.QUIC
	}
	if t.Version != "" {
		m[tagVersion] = t.Version
	}
	switch {
	case t.ModelsDigest != "":
		if !isHex16(t.ModelsDigest) {
			return nil, fmt.Errorf("tag models digest %q: must be 16 lower-case hex digits", t.ModelsDigest)
		}
		m[tagModels] = "#" + t.ModelsDigest
	case len(t.Models) > 0:
		s := strings.Join(t.Models, ",")
		if len(s) > maxModelsTag || !utf8.ValidString(s) {
			return nil, fmt.Errorf("tag models %q: at most %d bytes of UTF-8; send a digest instead", s, maxModelsTag)
		}
		m[tagModels] = s
	}
	if n := EncodedSizeBound(m); n > MaxTagBytes {
		return nil, fmt.Errorf("tags take up to %d bytes encoded, more than the %d allowed", n, MaxTagBytes)
	}
	return m, nil
}

// EncodedSizeBound is an upper bound on the size of m in Serf's encoding
// (a magic byte and a msgpack map of strings: at most 5 bytes of header per
// string, 5 for the map).
func EncodedSizeBound(m map[string]string) int {
	n := 1 + 5
	for k, v := range m {
		n += 5 + len(k) + 5 + len(v)
	}
	return n
}

// DecodeTags reads another member's tags. It accepts unknown keys (newer
// versions may add some) and refuses malformed values with an error saying
// which.
func DecodeTags(m map[string]string) (Tags, error) {
	if n := EncodedSizeBound(m); n > serfTagLimit+64 {
		return Tags{}, fmt.Errorf("tags of %d bytes exceed Serf's %d-byte limit", n, serfTagLimit)
	}
	var t Tags
	t.Role = m[tagRole]
	if t.Role == "" {
		return Tags{}, errors.New("tags lack a role (r): the member is not an edgerag node")
	}
	if len(t.Role) > maxRoleTag || !utf8.ValidString(t.Role) {
		return Tags{}, fmt.Errorf("tag role %q: at most %d bytes of UTF-8", t.Role, maxRoleTag)
	}
	if q, ok := m[tagQUIC]; ok {
		if err := checkAddr(q); err != nil {
			return Tags{}, fmt.Errorf("tag quic: %w", err)
		}
		t.QUIC = q
	}
	t.Digest = m[tagDigest]
	if !isHex16(t.Digest) {
		return Tags{}, fmt.Errorf("tag digest %q: must be 16 lower-case hex digits", t.Digest)
	}
	if s, ok := m[tagModels]; ok && s != "" {
		if d, ok := strings.CutPrefix(s, "#"); ok {
			if !isHex16(d) {
				return Tags{}, fmt.Errorf("tag models digest %q: must be 16 lower-case hex digits", d)
			}
			t.ModelsDigest = d
		} else {
			if len(s) > maxModelsTag || !utf8.ValidString(s) {
				return Tags{}, fmt.Errorf("tag models: at most %d bytes of UTF-8", maxModelsTag)
			}
			t.Models = strings.Split(s, ",")
		}
	}
	l, err := strconv.Atoi(m[tagLoad])
	if err != nil || l < 0 || l > LoadBuckets {
		return Tags{}, fmt.Errorf("tag load %q: must be a bucket in 0..%d", m[tagLoad], LoadBuckets)
	}
	t.Load = l
	if s, ok := m[tagSync]; ok {
		if !validSyncTag(s) {
			return Tags{}, fmt.Errorf("tag sync %q: must be 8 lower-case hex digits and + or !", s)
		}
		t.Sync = s
	}
	if v := m[tagVersion]; len(v) > maxVersionTag || !utf8.ValidString(v) {
		return Tags{}, fmt.Errorf("tag version: at most %d bytes of UTF-8", maxVersionTag)
	} else {
		t.Version = v
	}
	return t, nil
}

// checkAddr accepts host:port with a numeric port, at most maxAddrTag bytes.
func checkAddr(a string) error {
	if len(a) > maxAddrTag {
		return fmt.Errorf("address %.20q…: longer than %d bytes", a, maxAddrTag)
	}
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return fmt.Errorf("address %q: want host:port: %w", a, err)
	}
	p, err := strconv.Atoi(port)
	if host == "" || err != nil || p <= 0 || p > 65535 {
		return fmt.Errorf("address %q: want a host and a port in 1..65535", a)
	}
	return nil
}

func isHex16(s string) bool { return len(s) == 16 && isHex(s) }

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// TagPolicy says when a node re-announces its tags. Every change costs a
// broadcast to the whole pool, so the rarely changing parts (digest,
// address, models, version) go out promptly but no more often than
// MinInterval, and load only when its bucket moved and LoadInterval has
// passed since load last went out.
type TagPolicy struct {
	MinInterval  time.Duration
	LoadInterval time.Duration
}

// DefaultTagPolicy announces content changes within a second and load at
// most every 5 s: a load figure older than that is as good as any for
// picking the least-loaded of two or three holders.
func DefaultTagPolicy() TagPolicy {
	return TagPolicy{MinInterval: time.Second, LoadInterval: 5 * time.Second}
}

// Next returns the tags to announce now, given the announced ones (cur,
// last sent at lastSent, load last changed at lastLoad) and the node's
// current state (want), and whether to announce them at all.
func (p TagPolicy) Next(cur, want Tags, lastSent, lastLoad, now time.Time) (Tags, bool) {
	if now.Sub(lastSent) < p.MinInterval {
		return cur, false
	}
	next := want
	loadDue := want.Load != cur.Load && now.Sub(lastLoad) >= p.LoadInterval
	if !loadDue {
		next.Load = cur.Load
	}
	if tagsEqual(next, cur) {
		return cur, false
	}
	return next, true
}

func tagsEqual(a, b Tags) bool {
	return a.Role == b.Role && a.QUIC == b.QUIC && a.Digest == b.Digest && slices.Equal(a.Models, b.Models) &&
		a.ModelsDigest == b.ModelsDigest && a.Load == b.Load && a.Version == b.Version && a.Sync == b.Sync
}
