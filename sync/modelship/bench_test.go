package modelship

import (
	"context"
	"testing"
	"time"

	"github.com/ollama/ollama/api"

	"github.com/edgerag/edgerag/sync/transport"
	"github.com/edgerag/edgerag/sync/wire"
)

// BenchmarkShipTinyModel ships the tiny generation model from central's
// Ollama to an edge Ollama over QUIC on loopback: fetch, verify, push,
// create, check. Each iteration starts from an edge that lacks the model.
// "resume" breaks the link after half the ranges and times only the
// resumed run; its bytes are what resuming saves against "full".
// blob_bytes counts range payloads central sent, udp_bytes every byte
// central wrote to its socket (framing, QUIC, TLS; the handshake happens
// once, before the loop).
func BenchmarkShipTinyModel(b *testing.B) {
	f := newFleet(b)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	for _, bc := range []struct {
		name      string
		rangeSize int
		resume    bool
	}{
		{"full/range=64KiB", 64 << 10, false},
		{"full/range=1MiB", DefaultRange, false},
		{"resume/range=64KiB", 64 << 10, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			e := f.edge("edge-1", bc.rangeSize)
			ms, err := e.Manifest(ctx)
			if err != nil {
				b.Fatal(err)
			}
			gen := findModel(b, ms, f.ollama.GenModel)
			size := modelBytes(gen)
			p, _ := planModel(gen)
			var sent, onWire, n int64
			for b.Loop() {
				n++
				b.StopTimer()
				if has, err := e.hasModel(ctx, gen); err != nil {
					b.Fatal(err)
				} else if has {
					if err := e.ollama.Client.Delete(ctx, &api.DeleteRequest{Model: gen.Name}); err != nil {
						b.Fatal(err)
					}
				}
				if has, _ := e.ollamaHasBlob(ctx, p.weights[0].Digest); has {
					b.Fatal("the edge Ollama kept the weights after Delete; the benchmark would ship nothing")
				}
				if bc.resume {
					ranges := 0
					half := int(size/int64(bc.rangeSize)) / 2
					f.setTamper(func(req wire.Frame, resp []byte) ([]byte, error) {
						if req.Type == wire.TypeModelBlob {
							if ranges++; ranges > half {
								return nil, transport.Errorf(wire.CodeUnavailable, "link down")
							}
						}
						return resp, nil
					})
					if err := e.EnsureModel(ctx, gen); err == nil {
						b.Fatal("EnsureModel succeeded over a broken link")
					}
					f.setTamper(nil)
				}
				before, wireBefore := f.served.Load(), f.wire.Load()
				b.StartTimer()
				if err := e.EnsureModel(ctx, gen); err != nil {
					b.Fatal(err)
				}
				sent += f.served.Load() - before
				onWire += f.wire.Load() - wireBefore
			}
			b.ReportMetric(float64(sent)/float64(n), "blob_bytes/op")
			b.ReportMetric(float64(onWire)/float64(n), "udp_bytes/op")
			b.ReportMetric(float64(size), "model_bytes")
		})
	}
}
