package fleet_test

import (
	"context"
	"crypto/ed25519"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/edgerag/edgerag/node"
	"github.com/edgerag/edgerag/node/nodetest"
	"github.com/edgerag/edgerag/sync/fleet"
	"github.com/edgerag/edgerag/sync/fleet/fleetnode"
	"github.com/edgerag/edgerag/sync/manifest"
	"github.com/edgerag/edgerag/sync/pki"
	"github.com/edgerag/edgerag/sync/pki/pkitest"
	"github.com/edgerag/edgerag/sync/transport"
)

// TestRevocationsRideOnSync: central announces its revocation list's
// number in every poll's answer; an edge fetches the list only when the
// number is above the one in force, and hands it over as central signed it.
//
// Its central stays wired by hand, not an agent of nodetest's harness: the
// test sets the publisher's list source (PublisherConfig.Revocations)
// directly, lists signed and forged at will, where an agent takes the list
// only from its enrollment registry ('edgerag cert revoke').
func TestRevocationsRideOnSync(t *testing.T) {
	p := pkitest.NewFleet(t)
	n := nodetest.OpenNode(t, node.Config{Name: "central"})
	_, key, _ := manifest.GenerateKey(nil)
	var mu sync.Mutex
	number, signed := uint64(0), []byte(nil)
	pub, err := fleet.NewPublisher(fleet.PublisherConfig{KV: n.SyncKV(), Source: fleetnode.Source(n), Key: key,
		Revocations: func() (uint64, []byte) { mu.Lock(); defer mu.Unlock(); return number, signed }})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := transport.Listen(context.Background(), "127.0.0.1:0", transport.Config{Identity: p.Identity("central", pki.RoleCentral)}, pub.Handle)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	client := transport.NewClient(transport.Config{Identity: p.Identity("edge-1", pki.RoleEdge)})
	t.Cleanup(func() { client.Close() })
	en := nodetest.OpenNode(t, node.Config{Name: "edge-1", DataDir: t.TempDir()})
	edgeID := p.Identity("edge-1", pki.RoleEdge)
	var fetched atomic.Int32
	s, err := fleet.NewSyncer(fleet.SyncerConfig{
		Client: client, Central: srv.Addr().String(), CentralName: "central", Trusted: []ed25519.PublicKey{key.Public().(ed25519.PublicKey)},
		Target: fleetnode.Target(en), StageDir: t.TempDir(),
		Revocations: func() uint64 { return edgeID.Revocations().Number },
		ApplyRevocations: func(_ context.Context, b []byte) error {
			fetched.Add(1)
			_, err := edgeID.SetRevocations(b)
			return err
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.SyncOnce(ctx); err != nil || fetched.Load() != 0 {
		t.Fatalf("no list yet: %v, fetched %d", err, fetched.Load())
	}
	mu.Lock()
	number, signed = 1, p.Revocations(1, "edge-9")
	mu.Unlock()
	if err := s.SyncOnce(ctx); err != nil || fetched.Load() != 1 {
		t.Fatalf("new list: %v, fetched %d", err, fetched.Load())
	}
	if l := edgeID.Revocations(); l.Number != 1 || len(l.Revoked) != 1 || l.Revoked[0].Name != "edge-9" {
		t.Fatalf("list in force: %+v", l)
	}
	if err := s.SyncOnce(ctx); err != nil || fetched.Load() != 1 {
		t.Fatalf("same list again: %v, fetched %d", err, fetched.Load())
	}
	// A list the fleet CA did not sign is refused, and the poll says so.
	mu.Lock()
	number, signed = 2, pkitest.NewFleet(t).Revocations(2, "edge-1")
	mu.Unlock()
	if err := s.SyncOnce(ctx); err == nil || edgeID.Revocations().Number != 1 {
		t.Fatalf("forged list: %v, in force %d", err, edgeID.Revocations().Number)
	}
}
