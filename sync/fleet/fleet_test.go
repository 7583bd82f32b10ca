package fleet_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgerag/edgerag/node/agent"
	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/node/nodetest"
	"github.com/edgerag/edgerag/sync/manifest"
	"github.com/edgerag/edgerag/sync/pki"
	"github.com/edgerag/edgerag/sync/transport"
	"github.com/edgerag/edgerag/sync/wire"
)

// TestPublishApplyRollback: a version published on central reaches the
// edge over real QUIC, queries see it, the next version sends only the
// changed chunks, and rollback returns to the previous version.
func TestPublishApplyRollback(t *testing.T) {
	ctx := context.Background()
	p := nodetest.StartFleet(t)
	c := startCentral(t, p)
	c.ingest(t, rangeInts(0, 40), "blue")
	v1 := c.publish(t)
	if v1.Version == 0 || v1.Chunks != 40 || v1.NewChunks != 40 {
		t.Fatalf("first publish: %+v", v1)
	}
	if again := c.publish(t); !again.Unchanged || again.Version != v1.Version {
		t.Fatalf("publishing an unchanged shard cut a new version: %+v", again)
	}
	e := startEdge(t, p, c, "edge-1")
	if got := e.sees("orange"); got != nil {
		t.Fatalf("edge sees %v before any sync", got)
	}
	if err := e.s.SyncOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if got := e.sees("blue"); len(got) != 40 {
		t.Fatalf("after sync the edge finds %d documents for the version's word, want 40", len(got))
	}
	if st := e.status(); st.Applied != v1.Version || st.State != "idle" || st.LastError != "" {
		t.Fatalf("status after apply: %+v", st)
	}
	// Local writes to a synced shard are refused: central is its source.
	if _, err := e.n.Delete(ctx, shardName, "doc-0001"); err == nil || !strings.Contains(err.Error(), "fleet sync") {
		t.Fatalf("delete on a synced shard: %v", err)
	}

	// Change 4 of 40 documents: only their chunks travel.
	c.ingest(t, []int{3, 7, 11, 19}, "orange")
	v2 := c.publish(t)
	if v2.Version <= v1.Version || v2.NewChunks != 4 {
		t.Fatalf("second publish: %+v", v2)
	}
	c.resetServed()
	// Queries running through the switch see v1 or v2 whole.
	stop := make(chan struct{})
	mixes := make(chan string, 1)
	var queries sync.WaitGroup
	queries.Add(1)
	go func() {
		defer queries.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			r, err := e.n.QueryLocal(ctx, api.QueryRequest{Question: "blue orange", K: 50, Shard: shardName})
			if err != nil {
				continue
			}
			blue, orange := 0, 0
			for _, c := range r.Citations {
				if strings.Contains(c.Snippet, "orange") {
					orange++
				} else if strings.Contains(c.Snippet, "blue") {
					blue++
				}
			}
			if !(blue == 40 && orange == 0) && !(blue == 36 && orange == 4) {
				select {
				case mixes <- fmt.Sprintf("%d blue, %d orange", blue, orange):
				default:
				}
			}
		}
	}()
	err := e.s.SyncOnce(ctx)
	close(stop)
	queries.Wait()
	if err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-mixes:
		t.Fatalf("a query during the switch saw a mix: %s", m)
	default:
	}
	if total, _ := c.servedCount(); total != 4 {
		t.Fatalf("central served %d chunk records for a 4-chunk change", total)
	}
	if got := e.sees("orange"); !slices.Equal(sorted(got), []string{"doc-0003", "doc-0007", "doc-0011", "doc-0019"}) {
		t.Fatalf("after v2 'orange' finds %v", got)
	}
	if got := e.sees("blue"); len(got) != 36 {
		t.Fatalf("after v2 'blue' finds %d documents, want 36", len(got))
	}

	// Rollback returns to v1, and survives a restart.
	if from, to, err := e.n.RollbackShard(ctx, shardName, nil); err != nil || from != v2.Version || to != v1.Version {
		t.Fatalf("rollback: %d → %d, %v", from, to, err)
	}
	e.restart()
	if got := e.sees("orange"); got != nil {
		t.Fatalf("after rollback and restart 'orange' finds %v", got)
	}
	if got := e.sees("blue"); len(got) != 40 {
		t.Fatalf("after rollback 'blue' finds %d, want 40", len(got))
	}
	// The rolled-back version is not re-applied by the next poll.
	if err := e.s.SyncOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if got := e.sees("orange"); got != nil {
		t.Fatalf("a poll re-applied the version rolled back from: %v", got)
	}
}

// TestRejected: a bad signature, a chunk that does not match its hash and
// a replayed older manifest are refused, nothing is applied, and the
// reason is in the sync status.
func TestRejected(t *testing.T) {
	ctx := context.Background()
	p := nodetest.StartFleet(t)
	c := startCentral(t, p)
	c.ingest(t, rangeInts(0, 10), "blue")
	v1 := c.publish(t)

	t.Run("bad signature", func(t *testing.T) {
		e := startEdge(t, p, c, "edge-sig")
		c.mu.Lock()
		c.tamper = func(req wire.Frame, resp []byte) []byte {
			if req.Type != wire.TypeManifest {
				return resp
			}
			b := append([]byte(nil), resp...)
			b[len(b)-70] ^= 0x20 // a byte of the body, not of the signature
			return b
		}
		c.mu.Unlock()
		defer func() { c.mu.Lock(); c.tamper = nil; c.mu.Unlock() }()
		if err := e.s.SyncOnce(ctx); err == nil {
			t.Fatal("a manifest with a bad signature was accepted")
		}
		assertRejected(t, e, "bad signature")
	})
	t.Run("untrusted key", func(t *testing.T) {
		e := startEdge(t, p, c, "edge-key")
		other, _, _ := manifest.GenerateKey(nil)
		e.trusted = other
		e.newSyncer()
		if err := e.s.SyncOnce(ctx); err == nil {
			t.Fatal("a manifest signed by an unknown key was accepted")
		}
		assertRejected(t, e, "unknown key")
	})
	t.Run("hash mismatch", func(t *testing.T) {
		e := startEdge(t, p, c, "edge-hash")
		c.mu.Lock()
		c.tamper = func(req wire.Frame, resp []byte) []byte {
			if req.Type != wire.TypeChunks {
				return resp
			}
			b := append([]byte(nil), resp...)
			b[len(b)-5] ^= 0x01
			return b
		}
		c.mu.Unlock()
		defer func() { c.mu.Lock(); c.tamper = nil; c.mu.Unlock() }()
		if err := e.s.SyncOnce(ctx); err == nil {
			t.Fatal("a chunk that does not match its hash was accepted")
		}
		assertRejected(t, e, "hash mismatch")
	})
	t.Run("replayed older version", func(t *testing.T) {
		e := startEdge(t, p, c, "edge-replay")
		old, err := c.n.SyncKV().Get(manifestKeyForTest(v1.Version))
		if err != nil {
			t.Fatal(err)
		}
		if err := e.s.SyncOnce(ctx); err != nil {
			t.Fatal(err)
		}
		c.ingest(t, []int{1}, "orange")
		v2 := c.publish(t)
		if err := e.s.SyncOnce(ctx); err != nil {
			t.Fatal(err)
		}
		// Central (or whoever sits in the path) now answers every
		// manifest request with the old, validly signed v1.
		c.mu.Lock()
		c.tamper = func(req wire.Frame, resp []byte) []byte {
			if req.Type == wire.TypeManifest {
				return old
			}
			return resp
		}
		c.mu.Unlock()
		defer func() { c.mu.Lock(); c.tamper = nil; c.mu.Unlock() }()
		c.ingest(t, []int{2}, "green")
		c.publish(t)
		if err := e.s.SyncOnce(ctx); err == nil {
			t.Fatal("a replayed older manifest was accepted")
		}
		st := e.status()
		if st.Applied != v2.Version || !strings.Contains(st.LastError, "not newer") {
			t.Fatalf("after a replay: applied %d (want %d), last error %q", st.Applied, v2.Version, st.LastError)
		}
		if got := e.sees("orange"); len(got) != 1 {
			t.Fatalf("the replay changed what the edge serves: 'orange' finds %v", got)
		}
	})
}

func manifestKeyForTest(v uint64) string {
	b, _ := json.Marshal(v)
	return "m/" + shardName + "/" + strings.Repeat("0", 20-len(b)) + string(b)
}

func assertRejected(t *testing.T, e *edge, reason string) {
	t.Helper()
	st := e.status()
	if st.State != "error" || !strings.Contains(st.LastError, reason) {
		t.Fatalf("status: state %q, last error %q; want an error naming %q", st.State, st.LastError, reason)
	}
	if ptr, _ := e.n.SyncPointer(shardName); ptr.Current != 0 || ptr.Highest != 0 {
		t.Fatalf("something was applied: %+v", ptr)
	}
	if got := e.sees("blue"); got != nil {
		t.Fatalf("the edge serves content it should have refused: %v", got)
	}
}

// TestForeignCAEdgeCannotFetch: a node whose certificate is from another CA
// gets nothing from central, not even the list of versions.
func TestForeignCAEdgeCannotFetch(t *testing.T) {
	p := nodetest.StartFleet(t)
	c := startCentral(t, p)
	c.ingest(t, rangeInts(0, 3), "blue")
	c.publish(t)
	// The outsider trusts our CA (so central's certificate passes its
	// check): it is central that must refuse it.
	mixed := p.Outsider(t, "edge-x")
	for _, ident := range []*pki.Identity{mixed} {
		cl := transport.NewClient(transport.Config{Identity: ident})
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5e9)
		_, err := cl.Call(ctx, c.addr, "central", wire.TypeSyncVersions, []byte("{}"))
		cancel()
		if err == nil {
			t.Fatal("an edge with a foreign-CA certificate could poll central")
		}
		ctx, cancel = context.WithTimeout(context.Background(), 5e9)
		_, err = cl.Call(ctx, c.addr, "central", wire.TypeManifest, []byte(`{"kind":"shard","name":"manuals"}`))
		cancel()
		if err == nil {
			t.Fatal("an edge with a foreign-CA certificate fetched a manifest")
		}
	}
	if total, _ := c.servedCount(); total != 0 || c.pubStatus(t).ManifestsServed != 0 {
		t.Fatal("central served something to a foreign-CA edge")
	}
}

// TestKilledSyncResumes: a sync interrupted at 12 points, 8 of them random (the
// context cancelled there, the node closed and reopened from disk) ends
// with the new version; at every restart the edge serves the old version
// or the new one, never a mix; and no more than one verified chunk is
// fetched twice per interruption.
func TestKilledSyncResumes(t *testing.T) {
	p := nodetest.StartFleet(t)
	c := startCentral(t, p)
	c.ingest(t, rangeInts(0, 120), "blue")
	c.publish(t)
	e := startEdge(t, p, c, "edge")
	if err := e.s.SyncOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.ingest(t, rangeInts(0, 100), "orange")
	v2 := c.publish(t)
	clear(e.verified)

	// 8 kills a few steps into the remaining transfer (each a restart of
	// the node, a second of CPU under -race), then one at each
	// phase after it: fetched and staged, records stored, version
	// materialized, version applied.
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2))
	phases := []string{"staged", "recorded", "materialized", "applied"}
	var points []string
	for kill := 0; kill < 12; kill++ {
		at, name := 1+rng.IntN(6), ""
		if kill >= 8 {
			name = phases[kill-8]
		}
		calls := 0
		ctx, cancel := context.WithCancel(context.Background())
		killed := ""
		e.hook = func(point string) error {
			calls++
			if (name == "" && calls == at) || point == name {
				killed = point
				cancel()
				return errors.New("killed")
			}
			return nil
		}
		err := e.s.SyncOnce(ctx)
		cancel()
		e.hook = nil
		if killed == "" {
			t.Fatalf("kill %d: the sync finished (%v) before step %d %q", kill, err, at, name)
		}
		points = append(points, killed)
		e.restart()
		blue, orange := len(e.sees("blue")), len(e.sees("orange"))
		ptr, _ := e.n.SyncPointer(shardName)
		switch {
		// Queries return at most 50 documents.
		case ptr.Current == v2.Version && blue == 20 && orange == 50:
		case ptr.Current < v2.Version && blue == 50 && orange == 0:
		default:
			t.Fatalf("after a kill at %q: version %d, 'blue' finds %d and 'orange' %d documents: a mix", killed, ptr.Current, blue, orange)
		}
		if (ptr.Current == v2.Version) != (killed == "applied") {
			t.Fatalf("after a kill at %q the edge is at version %d", killed, ptr.Current)
		}
	}
	if err := e.s.SyncOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if ptr, _ := e.n.SyncPointer(shardName); ptr.Current != v2.Version {
		t.Fatalf("after the kills the edge is at version %d, want %d", ptr.Current, v2.Version)
	}
	twice := 0
	for _, n := range e.verified {
		twice += n - 1
	}
	if len(e.verified) != 100 || twice > len(points) {
		t.Fatalf("%d kills: %d distinct chunks verified (want 100), %d verified again", len(points), len(e.verified), twice)
	}
	t.Logf("kills at %v; %d chunks verified twice", points, twice)
}

func sorted(s []string) []string { slices.Sort(s); return s }

// TestStagedRollout: with a canary share, a new version goes to the
// canaries first, to every edge once they report it healthy, and no
// further when a canary fails to apply it.
func TestStagedRollout(t *testing.T) {
	ctx := context.Background()
	p := nodetest.StartFleet(t)
	c := startCentralWith(t, p, func(cfg *agent.Config) { cfg.Sync.Canary = 0.3 }) // one canary of three edges
	c.ingest(t, rangeInts(0, 10), "blue")
	c.publish(t) // the first version goes to everyone: there is nothing to protect
	es := []*edge{startEdge(t, p, c, "edge-a"), startEdge(t, p, c, "edge-b"), startEdge(t, p, c, "edge-c")}
	for _, e := range es {
		if err := e.s.SyncOnce(ctx); err != nil {
			t.Fatal(err)
		}
	}
	c.ingest(t, []int{1}, "orange")
	v2 := c.publish(t)
	if v2.Rollout == nil || v2.Rollout.Stage != "canary" || len(v2.Rollout.Canaries) != 1 {
		t.Fatalf("rollout of v2: %+v", v2.Rollout)
	}
	canary := v2.Rollout.Canaries[0]
	byName := map[string]*edge{"edge-a": es[0], "edge-b": es[1], "edge-c": es[2]}
	// The others poll first: they stay on v1.
	for name, e := range byName {
		if name == canary {
			continue
		}
		if err := e.s.SyncOnce(ctx); err != nil {
			t.Fatal(err)
		}
		if got := e.sees("orange"); got != nil {
			t.Fatalf("%s got v2 before the canary: %v", name, got)
		}
	}
	// The canary takes v2, reports it healthy, and the rollout is promoted.
	if err := byName[canary].s.SyncOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if st := c.pubStatus(t); len(st.Rollouts) != 1 || st.Rollouts[0].Stage != "promoted" {
		t.Fatalf("after a healthy canary: %+v", st.Rollouts)
	}
	for name, e := range byName {
		if err := e.s.SyncOnce(ctx); err != nil {
			t.Fatal(err)
		}
		if got := e.sees("orange"); len(got) != 1 {
			t.Fatalf("%s after promotion: 'orange' finds %v", name, got)
		}
	}

	// v3 breaks on the canary (its chunks arrive damaged): halted.
	c.ingest(t, []int{2}, "green")
	v3 := c.publish(t)
	canary = v3.Rollout.Canaries[0]
	c.mu.Lock()
	c.tamper = func(req wire.Frame, resp []byte) []byte {
		if req.Type != wire.TypeChunks {
			return resp
		}
		b := append([]byte(nil), resp...)
		b[len(b)-1] ^= 1
		return b
	}
	c.mu.Unlock()
	if err := byName[canary].s.SyncOnce(ctx); err == nil {
		t.Fatal("the canary applied damaged chunks")
	}
	c.mu.Lock()
	c.tamper = nil
	c.mu.Unlock()
	st := c.pubStatus(t)
	if len(st.Rollouts) != 1 || st.Rollouts[0].Stage != "halted" || !strings.Contains(st.Rollouts[0].Reason, "hash mismatch") {
		t.Fatalf("after a failing canary: %+v", st.Rollouts)
	}
	for name, e := range byName {
		if name == canary {
			continue
		}
		if err := e.s.SyncOnce(ctx); err != nil {
			t.Fatal(err)
		}
		if got := e.sees("green"); got != nil {
			t.Fatalf("%s got v3 from a halted rollout", name)
		}
	}
	// The operator fixes nothing but promotes anyway: everyone gets v3.
	if _, err := c.pub.SetRollout(ctx, shardName, "promote", ""); err != nil {
		t.Fatal(err)
	}
	for name, e := range byName {
		if err := e.s.SyncOnce(ctx); err != nil {
			t.Fatal(err)
		}
		if got := e.sees("green"); len(got) != 1 {
			t.Fatalf("%s after a manual promotion: 'green' finds %v", name, got)
		}
	}
}
