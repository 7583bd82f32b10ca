package membership

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edgerag/edgerag/node/route"
)

func TestShardListRoundTrip(t *testing.T) {
	in := ShardList{Node: "e1", Shards: []ShardVersion{{"pumps", 3}, {"valves", 9}}, Models: []string{"qwen2.5:0.5b"},
		Sync: &SyncState{Shards: []SyncShard{{Name: "valves", Applied: 9, Healthy: true}}, Config: 4}}
	b, err := EncodeShardList(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := DecodeShardList(b)
	if err != nil {
		t.Fatal(err)
	}
	if out.Digest != ShardDigest(in.Shards) || !slices.Equal(out.Shards, in.Shards) || !slices.Equal(out.Models, in.Models) ||
		out.Sync == nil || out.Sync.Config != 4 || !slices.Equal(out.Sync.Shards, in.Sync.Shards) {
		t.Errorf("round trip: %+v", out)
	}
	empty, _ := EncodeShardList(ShardList{Node: "e2"})
	if !strings.Contains(string(empty), `"shards":[]`) {
		t.Errorf("empty list encodes as %s; want shards: []", empty)
	}
}

func TestDecodeShardListRefuses(t *testing.T) {
	d := ShardDigest([]ShardVersion{{"a", 1}})
	cases := []struct{ name, body, want string }{
		{"not json", `{`, "JSON"},
		{"bad utf-8", "\xff", "UTF-8"},
		{"digest mismatch", `{"digest":"0000000000000000","shards":[{"name":"a","version":1}]}`, "does not match"},
		{"bad shard name", `{"digest":"` + d + `","shards":[{"name":"../a","version":1}]}`, "shard"},
		{"duplicate", `{"digest":"x","shards":[{"name":"a","version":1},{"name":"a","version":1}]}`, "twice"},
		{"empty model", `{"digest":"` + d + `","shards":[{"name":"a","version":1}],"models":[""]}`, "model"},
		{"bad sync shard", `{"digest":"` + d + `","shards":[{"name":"a","version":1}],"sync":{"shards":[{"name":"A B","applied":1}]}}`, "sync state"},
		{"long sync error", `{"digest":"` + d + `","shards":[{"name":"a","version":1}],"sync":{"shards":[{"name":"a","error":"` + strings.Repeat("x", 600) + `"}]}}`, "error text"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := DecodeShardList([]byte(c.body))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v; want one mentioning %q", err, c.want)
			}
		})
	}
}

func FuzzDecodeShardList(f *testing.F) {
	good, _ := EncodeShardList(ShardList{Node: "e1", Shards: []ShardVersion{{"pumps", 3}}, Models: []string{"m"}})
	f.Add(good)
	f.Add([]byte(`{"shards":null}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := DecodeShardList(b)
		if err != nil {
			return
		}
		// An accepted list re-encodes to one that is accepted the same.
		again, err := EncodeShardList(l)
		if err != nil {
			t.Fatal(err)
		}
		l2, err := DecodeShardList(again)
		if err != nil || l2.Digest != l.Digest || len(l2.Shards) != len(l.Shards) {
			t.Fatalf("re-decode: %+v, %v; want %+v", l2, err, l)
		}
	})
}

func TestPeerInfos(t *testing.T) {
	at := time.Unix(0, 0)
	members := []Member{
		{Name: "self", Status: StatusAlive, Role: "edge", QUICAddr: "127.0.0.1:1", Self: true, Shards: []ShardVersion{{"a", 1}}},
		{Name: "e2", Status: StatusAlive, Role: "edge", QUICAddr: "127.0.0.1:2", Load: 0.3, Shards: []ShardVersion{{"a", 1}, {"b", 2}}, LastChange: at},
		{Name: "e1", Status: StatusSuspect, Role: "edge", QUICAddr: "127.0.0.1:3", Shards: []ShardVersion{{"b", 2}}},
		{Name: "e3", Status: StatusFailed, Role: "edge", QUICAddr: "127.0.0.1:4"},
		{Name: "noquic", Status: StatusAlive, Role: "edge"},
		{Name: "central", Status: StatusAlive, Role: "central", QUICAddr: "127.0.0.1:5"},
		{Name: "junk", Status: StatusAlive, TagError: "no role", QUICAddr: "127.0.0.1:6"},
	}
	got := PeerInfos(members)
	want := []route.PeerInfo{
		{Name: "e1", Alive: false, Shards: []string{"b"}},
		{Name: "e2", Alive: true, Load: 0.3, Shards: []string{"a", "b"}},
		{Name: "e3", Alive: false},
	}
	if len(got) != len(want) {
		t.Fatalf("PeerInfos = %+v; want %+v", got, want)
	}
	for i := range want {
		if got[i].Name != want[i].Name || got[i].Alive != want[i].Alive || got[i].Load != want[i].Load || !slices.Equal(got[i].Shards, want[i].Shards) {
			t.Errorf("peer %d = %+v; want %+v", i, got[i], want[i])
		}
	}
	// The routing policy then picks the alive holder only.
	d := route.Decide(route.Input{NeedShard: "b", Peers: got, Remaining: time.Second}, route.DefaultThresholds())
	if d.Action != route.Peer || !slices.Equal(d.Candidates, []string{"e2"}) {
		t.Errorf("Decide = %+v; want peer e2", d)
	}
	counts := CountByStatus(members)
	if counts[StatusAlive] != 5 || counts[StatusSuspect] != 1 || counts[StatusFailed] != 1 || counts[StatusLeft] != 0 {
		t.Errorf("CountByStatus = %v", counts)
	}
}
