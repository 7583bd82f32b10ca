package transport

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgerag/edgerag/sync/pki"
	"github.com/edgerag/edgerag/sync/pki/pkitest"
	"github.com/edgerag/edgerag/sync/wire"
)

// BenchmarkPing measures one call round trip on loopback over a warm
// connection, client and server in the same process.
func BenchmarkPing(b *testing.B) {
	fleet := pkitest.NewFleet(b)
	srv := startServer(b, Config{Identity: fleet.Identity("central-1", pki.RoleCentral)}, echo)
	c := newTestClient(b, Config{Identity: fleet.Identity("edge-1", pki.RoleEdge)})
	addr, ctx := srv.Addr().String(), context.Background()
	if _, err := c.Call(ctx, addr, "central-1", wire.TypePing, nil); err != nil {
		b.Fatal(err)
	}
	var lat []time.Duration
	b.ReportAllocs()
	for b.Loop() {
		start := time.Now()
		if _, err := c.Call(ctx, addr, "central-1", wire.TypePing, nil); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
}

// BenchmarkParallel50Clients measures throughput with 50 nodes calling one
// server at once, each over its own socket and connection.
func BenchmarkParallel50Clients(b *testing.B) {
	fleet := pkitest.NewFleet(b)
	srv := startServer(b, Config{Identity: fleet.Identity("central-1", pki.RoleCentral)}, echo)
	addr, ctx := srv.Addr().String(), context.Background()
	id := fleet.Identity("edge-1", pki.RoleEdge)
	clients := make([]*Client, 50)
	for i := range clients {
		clients[i] = newTestClient(b, Config{Identity: id})
		if _, err := clients[i].Call(ctx, addr, "central-1", wire.TypePing, nil); err != nil {
			b.Fatal(err)
		}
	}
	payload := make([]byte, 256)
	var next atomic.Int64
	var failed atomic.Pointer[error]
	b.ReportAllocs()
	b.ResetTimer()
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				if _, err := c.Call(ctx, addr, "central-1", wire.TypeQuery, payload); err != nil {
					failed.Store(&err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	if err := failed.Load(); err != nil {
		b.Fatal(*err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
}
