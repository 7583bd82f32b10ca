package membership

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/edgerag/edgerag/node/nodetest/waitfor"
)

// pool starts real Serf agents on loopback; fetch reads the shard list
// straight from the other agent (the QUIC path is tested with processes in
// package main).
type pool struct {
	mu     sync.Mutex
	agents map[string]*Agent
	shards map[string][]ShardVersion
}

func (p *pool) start(t *testing.T, name string, keys [][]byte, label string, join ...string) (*Agent, error) {
	t.Helper()
	a, err := Start(context.Background(), Config{
		Name: name, Role: "edge", Version: "test", BindAddr: "127.0.0.1:0", Join: join,
		Profile: LAN(), Label: label, Keys: keys, QUICAddr: "127.0.0.1:9",
		SnapshotPath: t.TempDir() + "/serf.snapshot",
		Local: func() ([]ShardVersion, []string) {
			p.mu.Lock()
			defer p.mu.Unlock()
			return p.shards[name], []string{"m1"}
		},
		Terms: func(shard string) []string { return []string{shard + "-term"} },
		Fetch: func(ctx context.Context, peer, addr string) ([]byte, error) {
			p.mu.Lock()
			other := p.agents[peer]
			p.mu.Unlock()
			if other == nil {
				return nil, fmt.Errorf("no agent %s", peer)
			}
			return other.LocalShardList()
		},
	})
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { a.Close() })
	p.mu.Lock()
	p.agents[name] = a
	p.mu.Unlock()
	return a, nil
}

func (p *pool) setShards(name string, s []ShardVersion) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.shards[name] = s
}

func mustKey(t *testing.T) []byte {
	t.Helper()
	s, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	k, err := DecodeKey(s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestAgentsSeeEachOthersShards(t *testing.T) {
	p := &pool{agents: map[string]*Agent{}, shards: map[string][]ShardVersion{}}
	key := mustKey(t)
	// A thousand shards still fit Serf's 512-byte tag limit: Start would
	// fail otherwise (Serf checks it).
	many := make([]ShardVersion, 1000)
	for i := range many {
		many[i] = ShardVersion{Name: fmt.Sprintf("shard-%04d", i), Version: uint64(i)}
	}
	p.setShards("a1", many)
	p.setShards("a2", []ShardVersion{{"pumps", 1}})
	a1, err := p.start(t, "a1", [][]byte{key}, "t")
	if err != nil {
		t.Fatal(err)
	}
	a2, err := p.start(t, "a2", [][]byte{key}, "t", a1.Addr())
	if err != nil {
		t.Fatal(err)
	}
	holds := func(a *Agent, peer, shard string, version uint64) bool {
		for _, m := range a.Members() {
			if m.Name == peer && m.Status == StatusAlive {
				for _, s := range m.Shards {
					if s.Name == shard && s.Version == version {
						return true
					}
				}
			}
		}
		return false
	}
	waitfor.Until(t, 5*time.Second, "a2 sees a1's shards", func() bool { return holds(a2, "a1", "shard-0999", 999) })
	waitfor.Until(t, 5*time.Second, "a1 sees a2's shards", func() bool { return holds(a1, "a2", "pumps", 1) })

	// A new version changes the digest; the peer refetches.
	p.setShards("a2", []ShardVersion{{"pumps", 2}})
	waitfor.Until(t, 5*time.Second, "a1 sees pumps@2", func() bool { return holds(a1, "a2", "pumps", 2) })
	if h := a1.Holds([]string{"pumps-term", "nothing"})["a2"]; len(h) != 2 || !h[0] || h[1] {
		t.Errorf("a1.Holds for a2 = %v; want [true false] from a2's term filter", h)
	}
	peers := PeerInfos(a1.Members())
	if len(peers) != 1 || peers[0].Name != "a2" || !peers[0].Alive {
		t.Errorf("a1's peers = %+v; want a2 alive", peers)
	}

	// A failed request makes a member suspect here, and no routing
	// candidate, until a request succeeds or the mark lapses.
	a1.Unreachable("a2")
	if m := memberNamed(a1, "a2"); m.Status != StatusSuspect {
		t.Errorf("after a failed request a2 is %q; want suspect", m.Status)
	}
	if p := PeerInfos(a1.Members()); len(p) != 1 || p[0].Alive {
		t.Errorf("suspect a2 still a live candidate: %+v", p)
	}
	a1.Reachable("a2")
	if m := memberNamed(a1, "a2"); m.Status != StatusAlive {
		t.Errorf("after a good request a2 is %q; want alive", m.Status)
	}

	// A graceful leave shows as left, not failed.
	if err := a2.Close(); err != nil {
		t.Fatal(err)
	}
	waitfor.Until(t, 5*time.Second, "a1 sees a2 left", func() bool {
		for _, m := range a1.Members() {
			if m.Name == "a2" {
				return m.Status == StatusLeft
			}
		}
		return false
	})
}

func TestForeignMembersCannotJoin(t *testing.T) {
	p := &pool{agents: map[string]*Agent{}, shards: map[string][]ShardVersion{}}
	key := mustKey(t)
	a1, err := p.start(t, "a1", [][]byte{key}, "fleet-a")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		keys  [][]byte
		label string
	}{
		{"wrong-key", [][]byte{mustKey(t)}, "fleet-a"},
		{"no-key", nil, "fleet-a"},
		{"other-label", [][]byte{key}, "fleet-b"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, err := p.start(t, c.name, c.keys, c.label, a1.Addr())
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(500 * time.Millisecond)
			for _, m := range a1.Members() {
				if m.Name == c.name {
					t.Errorf("a1 lists %s as %s", c.name, m.Status)
				}
			}
			if n := len(b.Members()); n != 1 {
				t.Errorf("%s sees %d members; want only itself", c.name, n)
			}
		})
	}
}

func memberNamed(a *Agent, name string) Member {
	for _, m := range a.Members() {
		if m.Name == name {
			return m
		}
	}
	return Member{}
}

// TestLocalShardListFitsOneResponse: whatever the number of shards, the
// shard list a node serves decodes on the other side within the
// transport's 1 MiB response limit.
func TestLocalShardListFitsOneResponse(t *testing.T) {
	for _, n := range []int{1, 100, 9000, MaxShards} {
		shards := make([]ShardVersion, n)
		for i := range shards {
			shards[i] = ShardVersion{Name: fmt.Sprintf("shard-with-a-longer-name-%05d", i), Version: uint64(i)}
		}
		a := &Agent{cfg: Config{Name: "a1",
			Local: func() ([]ShardVersion, []string) { return shards, nil },
			Terms: func(s string) []string { return []string{s, "pump", "valve"} },
		}}
		b, err := a.LocalShardList()
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > 1<<20 {
			t.Errorf("%d shards: list of %d bytes exceeds 1 MiB", n, len(b))
		}
		l, err := DecodeShardList(b)
		if err != nil {
			t.Fatalf("%d shards: own list refused: %v", n, err)
		}
		if n <= 100 && !l.Terms[shards[0].Name].Has("pump") {
			t.Errorf("%d shards: term filter missing", n)
		}
	}
}
