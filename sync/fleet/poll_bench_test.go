package fleet_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/edgerag/edgerag/node/nodetest"
	"github.com/edgerag/edgerag/sync/transport"
	"github.com/edgerag/edgerag/sync/wire"
)

// BenchmarkPollHandler: central's work for one edge's poll (the
// TypeSyncVersions handler), with 1,000 edges known.
func BenchmarkPollHandler(b *testing.B) {
	p := nodetest.StartFleet(b)
	c := startCentral(b, p)
	c.ingest(b, rangeInts(0, 20), "blue")
	c.publish(b)
	ctx := context.Background()
	for i := range 1000 {
		if _, err := c.pub.Handle(ctx, transport.Peer{Name: fmt.Sprintf("edge-%d", i)}, wire.Frame{Type: wire.TypeSyncVersions, Payload: []byte("{}")}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := range b.N {
		if _, err := c.pub.Handle(ctx, transport.Peer{Name: fmt.Sprintf("edge-%d", i%1000)}, wire.Frame{Type: wire.TypeSyncVersions, Payload: []byte("{}")}); err != nil {
			b.Fatal(err)
		}
	}
}
