package membership

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

func TestTagsStaySmallWhateverTheShards(t *testing.T) {
	for _, n := range []int{0, 1, 10, 1000, MaxShards} {
		shards := make([]ShardVersion, n)
		for i := range shards {
			shards[i] = ShardVersion{Name: fmt.Sprintf("shard-with-a-long-name-%06d", i), Version: uint64(i) * 1e9}
		}
		models := []string{"qwen2.5:0.5b-instruct-q4_K_M", "all-minilm:l6-v2"}
		tags, err := NewTags("central", "[2001:db8:1234:5678:9abc:def0:1234:5678]:65535", shards, models, 0.73, strings.Repeat("v", 100))
		if err != nil {
			t.Fatalf("%d shards: %v", n, err)
		}
		// Every shard synced, one failing with a long error: the tag
		// stays nine bytes.
		var st SyncState
		for i, s := range shards {
			st.Shards = append(st.Shards, SyncShard{Name: s.Name, Applied: s.Version, Healthy: i != 0, Error: strings.Repeat("e", 200)})
		}
		tags.Sync = SyncTag(st)
		m, err := tags.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if b := EncodedSizeBound(m); b > MaxTagBytes || b > serfTagLimit/2+100 {
			t.Errorf("%d shards: tags take up to %d bytes; want well under %d", n, b, serfTagLimit)
		}
		back, err := DecodeTags(m)
		if err != nil {
			t.Fatalf("decode own tags: %v", err)
		}
		if !tagsEqual(back, tags) {
			t.Errorf("round trip: got %+v, want %+v", back, tags)
		}
	}
}

func TestTagsModelsFallBackToDigest(t *testing.T) {
	long := []string{strings.Repeat("a", 60), strings.Repeat("b", 60)}
	tags, err := NewTags("edge", "", nil, long, 0, "1.0")
	if err != nil {
		t.Fatal(err)
	}
	if tags.Models != nil || !isHex16(tags.ModelsDigest) {
		t.Fatalf("long model list: want a digest, got models %q digest %q", tags.Models, tags.ModelsDigest)
	}
	m, _ := tags.Encode()
	back, err := DecodeTags(m)
	if err != nil || back.ModelsDigest != tags.ModelsDigest {
		t.Fatalf("decode: %+v, %v", back, err)
	}
	short, _ := NewTags("edge", "", nil, []string{"b", "a", "", "a"}, 0, "1.0")
	if got := strings.Join(short.Models, ","); got != "a,b" {
		t.Errorf("models = %q; want sorted, unique, non-empty a,b", got)
	}
}

func TestDecodeTagsRefuses(t *testing.T) {
	good := map[string]string{tagRole: "edge", tagDigest: "0123456789abcdef", tagLoad: "3", tagQUIC: "127.0.0.1:7443"}
	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for a, b := range good {
			m[a] = b
		}
		if v == "\x00delete" {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	cases := []struct {
		name string
		m    map[string]string
		want string
	}{
		{"no role", with(tagRole, "\x00delete"), "lack a role"},
		{"bad digest", with(tagDigest, "XYZ"), "digest"},
		{"upper-case digest", with(tagDigest, "0123456789ABCDEF"), "digest"},
		{"load out of range", with(tagLoad, "11"), "load"},
		{"load not a number", with(tagLoad, "x"), "load"},
		{"missing load", with(tagLoad, "\x00delete"), "load"},
		{"quic without port", with(tagQUIC, "127.0.0.1"), "quic"},
		{"quic port 0", with(tagQUIC, "127.0.0.1:0"), "quic"},
		{"long version", with(tagVersion, strings.Repeat("v", 33)), "version"},
		{"bad models digest", with(tagModels, "#zz"), "models digest"},
		{"huge tags", with("x", strings.Repeat("x", 600)), "limit"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := DecodeTags(c.m)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v; want one mentioning %q", err, c.want)
			}
		})
	}
	if _, err := DecodeTags(with("future", "ok")); err != nil {
		t.Errorf("unknown key refused: %v", err)
	}
}

func TestShardDigest(t *testing.T) {
	a := []ShardVersion{{"pumps", 3}, {"valves", 1}}
	b := []ShardVersion{{"valves", 1}, {"pumps", 3}}
	if ShardDigest(a) != ShardDigest(b) {
		t.Error("digest depends on order")
	}
	if ShardDigest(a) == ShardDigest([]ShardVersion{{"pumps", 4}, {"valves", 1}}) {
		t.Error("digest ignores a version change")
	}
	if ShardDigest(nil) != ShardDigest([]ShardVersion{}) || !isHex16(ShardDigest(nil)) {
		t.Error("empty digest")
	}
	// Names are separated, so moving a character between name and version
	// changes the digest.
	if ShardDigest([]ShardVersion{{"a1", 2}}) == ShardDigest([]ShardVersion{{"a", 12}}) {
		t.Error("digest is ambiguous")
	}
}

func TestLoadBucket(t *testing.T) {
	for _, c := range []struct {
		load float64
		want int
	}{{0, 0}, {0.04, 0}, {0.05, 1}, {0.5, 5}, {0.94, 9}, {1, 10}, {7, 10}, {-1, 0}, {math.NaN(), 10}, {math.Inf(1), 10}} {
		if got := LoadBucket(c.load); got != c.want {
			t.Errorf("LoadBucket(%v) = %d; want %d", c.load, got, c.want)
		}
	}
}

func TestTagPolicy(t *testing.T) {
	p := TagPolicy{MinInterval: time.Second, LoadInterval: 5 * time.Second}
	t0 := time.Unix(1000, 0)
	cur := Tags{Role: "edge", Digest: "0000000000000000", Load: 2}
	changed := cur
	changed.Digest = "1111111111111111"
	busier := cur
	busier.Load = 8
	both := changed
	both.Load = 8
	cases := []struct {
		name            string
		want            Tags
		sent, load, now time.Duration
		announce        bool
		wantDigest      string
		wantLoad        int
	}{
		{"nothing changed", cur, 0, 0, 10 * time.Second, false, cur.Digest, 2},
		{"digest changes go out", changed, 0, 0, 2 * time.Second, true, changed.Digest, 2},
		{"but not twice a second", changed, 0, 0, 500 * time.Millisecond, false, cur.Digest, 2},
		{"load waits for its interval", busier, 0, 0, 3 * time.Second, false, cur.Digest, 2},
		{"load goes out after it", busier, 0, 0, 6 * time.Second, true, cur.Digest, 8},
		{"digest now, load later", both, 0, 4 * time.Second, 6 * time.Second, true, changed.Digest, 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, ok := p.Next(cur, c.want, t0.Add(c.sent), t0.Add(c.load), t0.Add(c.now))
			if ok != c.announce || got.Digest != c.wantDigest || got.Load != c.wantLoad {
				t.Errorf("Next = %+v, %v; want announce %v digest %s load %d", got, ok, c.announce, c.wantDigest, c.wantLoad)
			}
		})
	}
}

func FuzzDecodeTags(f *testing.F) {
	f.Add("edge", "127.0.0.1:7443", "0123456789abcdef", "a,b", "3", "1.0")
	f.Add("", "", "", "#0123456789abcdef", "", "")
	f.Add("central", "[::1]:1", "ffffffffffffffff", "#zz", "10", strings.Repeat("x", 40))
	f.Fuzz(func(t *testing.T, role, quic, digest, models, load, version string) {
		m := map[string]string{tagRole: role, tagQUIC: quic, tagDigest: digest, tagModels: models, tagLoad: load, tagVersion: version}
		tags, err := DecodeTags(m)
		if err != nil {
			return
		}
		// Whatever was accepted encodes again within the limit, and reads
		// back the same.
		enc, err := tags.Encode()
		if err != nil {
			t.Fatalf("accepted tags %+v do not encode: %v", tags, err)
		}
		if EncodedSizeBound(enc) > serfTagLimit {
			t.Fatalf("accepted tags encode to %d bytes", EncodedSizeBound(enc))
		}
		back, err := DecodeTags(enc)
		if err != nil || !tagsEqual(back, tags) {
			t.Fatalf("round trip: %+v, %v; want %+v", back, err, tags)
		}
	})
}

func TestSyncTag(t *testing.T) {
	base := SyncState{Shards: []SyncShard{{Name: "manuals", Applied: 7, Healthy: true}, {Name: "faq", Applied: 3, Healthy: true}}, Config: 2}
	tag := SyncTag(base)
	if !validSyncTag(tag) || !strings.HasSuffix(tag, "+") {
		t.Fatalf("healthy state: tag %q", tag)
	}
	swapped := base
	swapped.Shards = []SyncShard{base.Shards[1], base.Shards[0]}
	if SyncTag(swapped) != tag {
		t.Errorf("the tag depends on the order of shards")
	}
	for name, st := range map[string]SyncState{
		"another version": {Shards: []SyncShard{{Name: "manuals", Applied: 8, Healthy: true}, base.Shards[1]}, Config: 2},
		"another config":  {Shards: base.Shards, Config: 3},
		"a shard failing": {Shards: []SyncShard{{Name: "manuals", Applied: 7, Error: "hash mismatch"}, base.Shards[1]}, Config: 2},
		"config failing":  {Shards: base.Shards, Config: 2, ConfigError: "bad signature"},
	} {
		got := SyncTag(st)
		if got == tag {
			t.Errorf("%s: the tag did not change", name)
		}
		if healthy := strings.HasSuffix(got, "+"); healthy != st.Healthy() {
			t.Errorf("%s: tag %q, healthy %v", name, got, st.Healthy())
		}
		m, err := Tags{Role: "edge", Digest: "0123456789abcdef", Sync: got}.Encode()
		if err != nil {
			t.Fatal(err)
		}
		back, err := DecodeTags(m)
		if syncing, healthy := back.SyncHealth(); err != nil || !syncing || healthy != st.Healthy() {
			t.Errorf("%s: decoded %+v, %v", name, back, err)
		}
	}
	for _, bad := range []string{"", "0123456+", "0123456789", "0123456g+", "01234567?", "ABCDEF01+"} {
		m := map[string]string{tagRole: "edge", tagDigest: "0123456789abcdef", tagLoad: "0", tagSync: bad}
		if _, err := DecodeTags(m); err == nil {
			t.Errorf("sync tag %q accepted", bad)
		}
	}
}
