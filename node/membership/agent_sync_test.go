package membership

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/edgerag/edgerag/node/nodetest/waitfor"
)

// TestUserEventsAndSyncHealth runs two real Serf agents on loopback: a
// user event one sends reaches the other's handler, and a change of one's
// fleet-sync health reaches the other's view, tag first, detail through
// the shard list.
func TestUserEventsAndSyncHealth(t *testing.T) {
	key := mustKey(t)
	var mu sync.Mutex
	state := SyncState{Shards: []SyncShard{{Name: "manuals", Applied: 3, Healthy: true}}}
	var got []string
	agents := map[string]*Agent{}
	start := func(name string, join ...string) *Agent {
		a, err := Start(context.Background(), Config{
			Name: name, Role: "edge", BindAddr: "127.0.0.1:0", Join: join, Profile: LAN(), Label: "t", Keys: [][]byte{key},
			QUICAddr: "127.0.0.1:9",
			Sync: func() SyncState {
				mu.Lock()
				defer mu.Unlock()
				return state
			},
			OnUserEvent: func(n string, p []byte) {
				mu.Lock()
				got = append(got, name+" "+n+"="+string(p))
				mu.Unlock()
			},
			Fetch: func(ctx context.Context, peer, addr string) ([]byte, error) {
				mu.Lock()
				other := agents[peer]
				mu.Unlock()
				return other.LocalShardList()
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { a.Close() })
		mu.Lock()
		agents[name] = a
		mu.Unlock()
		return a
	}
	a := start("a")
	b := start("b", a.Addr())
	waitfor.Until(t, 5*time.Second, "b sees a healthy with its applied version", func() bool {
		for _, m := range b.Members() {
			if m.Name == "a" {
				return m.SyncHealth == "healthy" && m.Sync != nil && len(m.Sync.Shards) == 1 && m.Sync.Shards[0].Applied == 3
			}
		}
		return false
	})
	if err := b.UserEvent("sync:manuals", []byte("4")); err != nil {
		t.Fatal(err)
	}
	waitfor.Until(t, 5*time.Second, "a receives b's user event", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, g := range got {
			if g == "a sync:manuals=4" {
				return true
			}
		}
		return false
	})
	mu.Lock()
	state = SyncState{Shards: []SyncShard{{Name: "manuals", Applied: 3, Error: "hash mismatch"}}} // both agents share it here
	mu.Unlock()
	waitfor.Until(t, 5*time.Second, "b sees a failing, and why", func() bool {
		for _, m := range b.Members() {
			if m.Name == "a" {
				return m.SyncHealth == "failing" && m.Sync != nil && m.Sync.Shards[0].Error == "hash mismatch"
			}
		}
		return false
	})
}
