package transport

import (
	"context"
	"testing"

	"github.com/edgerag/edgerag/sync/wire"
)

func startServer(t testing.TB, cfg Config, h Handler) *Server {
	t.Helper()
	s, err := Listen(context.Background(), "127.0.0.1:0", cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newTestClient(t testing.TB, cfg Config) *Client {
	t.Helper()
	c := NewClient(cfg)
	t.Cleanup(func() { c.Close() })
	return c
}

func echo(ctx context.Context, peer Peer, req wire.Frame) ([]byte, error) {
	return req.Payload, nil
}
