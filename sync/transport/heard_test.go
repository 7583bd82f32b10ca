package transport

import (
	"context"
	"testing"
	"time"

	"github.com/edgerag/edgerag/sync/pki"
	"github.com/edgerag/edgerag/sync/pki/pkitest"
	"github.com/edgerag/edgerag/sync/wire"
)

// TestHeard: the packet count a caller compares grows while a slow handler
// works (the peer's QUIC stack acknowledges and answers keep-alives), stays
// put once the server is gone, and the connection reports closed after it.
func TestHeard(t *testing.T) {
	fleet := pkitest.NewFleet(t)
	release := make(chan struct{})
	srv := startServer(t, Config{Identity: fleet.Identity("central-1", pki.RoleCentral)}, func(ctx context.Context, peer Peer, req wire.Frame) ([]byte, error) {
		if string(req.Payload) == "slow" {
			select {
			case <-release:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		return []byte("ok"), nil
	})
	c := newTestClient(t, Config{Identity: fleet.Identity("edge-1", pki.RoleEdge), KeepAlivePeriod: 50 * time.Millisecond, MaxIdleTimeout: 500 * time.Millisecond})
	addr := srv.Addr().String()
	if n, open := c.Heard(addr, "central-1"); n != 0 || open {
		t.Fatalf("before any call: heard %d open %v", n, open)
	}
	ctx := context.Background()
	if _, err := c.Call(ctx, addr, "central-1", wire.TypePing, nil); err != nil {
		t.Fatal(err)
	}
	before, open := c.Heard(addr, "central-1")
	if before == 0 || !open {
		t.Fatalf("after a call: heard %d open %v", before, open)
	}
	cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	_, err := c.Call(cctx, addr, "central-1", wire.TypeQuery, []byte("slow"))
	cancel()
	close(release)
	if err == nil {
		t.Fatal("the slow call answered before its deadline")
	}
	if after, open := c.Heard(addr, "central-1"); after <= before || !open {
		t.Errorf("slow but alive server: heard %d → %d, open %v; want more packets on an open connection", before, after, open)
	}
	srv.Close()
	deadline := time.Now().Add(3 * time.Second)
	for {
		if _, open := c.Heard(addr, "central-1"); !open {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the connection still reports open 3 s after the server closed")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
