package transport

import (
	"context"
	"errors"
	"testing"

	"github.com/edgerag/edgerag/sync/pki"
	"github.com/edgerag/edgerag/sync/pki/pkitest"
	"github.com/edgerag/edgerag/sync/wire"
)

// TestRevokedPeerRefused: once the server's identity takes a revocation
// list naming a peer, that peer's next request on its open connection is
// refused with CodeUnauthorized, and a new connection fails its handshake;
// other peers are served as before.
func TestRevokedPeerRefused(t *testing.T) {
	fleet := pkitest.NewFleet(t)
	central := fleet.Identity("central-1", pki.RoleCentral)
	srv := startServer(t, Config{Identity: central}, echo)
	addr := srv.Addr().String()
	bad := newTestClient(t, Config{Identity: fleet.Identity("edge-1", pki.RoleEdge)})
	good := newTestClient(t, Config{Identity: fleet.Identity("edge-2", pki.RoleEdge)})
	ctx := context.Background()
	for _, c := range []*Client{bad, good} {
		if _, err := c.Call(ctx, addr, "central-1", wire.TypePing, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := central.SetRevocations(fleet.Revocations(1, "edge-1")); err != nil {
		t.Fatal(err)
	}
	_, err := bad.Call(ctx, addr, "central-1", wire.TypePing, nil)
	var te *Error
	if !errors.As(err, &te) || te.Code != wire.CodeUnauthorized {
		t.Fatalf("revoked peer on its open connection: %v, want CodeUnauthorized", err)
	}
	again := newTestClient(t, Config{Identity: bad.cfg.Identity})
	if _, err := again.Call(ctx, addr, "central-1", wire.TypePing, nil); err == nil {
		t.Fatal("revoked peer's new connection was served")
	}
	if _, err := good.Call(ctx, addr, "central-1", wire.TypePing, nil); err != nil {
		t.Fatalf("another peer after the revocation: %v", err)
	}
}
