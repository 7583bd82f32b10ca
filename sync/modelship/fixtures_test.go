package modelship

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgerag/edgerag/models/ollama/ollamatest"
	"github.com/edgerag/edgerag/sync/manifest"
	"github.com/edgerag/edgerag/sync/pki"
	"github.com/edgerag/edgerag/sync/pki/pkitest"
	"github.com/edgerag/edgerag/sync/transport"
	"github.com/edgerag/edgerag/sync/wire"
)

// fleet is a central node serving models from a real Ollama over real QUIC
// on loopback, with a fleet CA to enrol edges.
type fleet struct {
	*pkitest.Fleet // enrols central and edges

	t       testing.TB
	central *Central
	ollama  *ollamatest.Server // central's Ollama, with the tiny models
	server  *transport.Server
	pub     ed25519.PublicKey
	priv    ed25519.PrivateKey

	// served counts the blob bytes central sent; tamper, if set, may
	// change a range response or fail the call.
	served atomic.Int64
	// wire counts the UDP bytes central sent: payloads plus framing,
	// QUIC, TLS and handshakes.
	wire   atomic.Int64
	mu     sync.Mutex
	tamper func(req wire.Frame, resp []byte) ([]byte, error)
}

func newFleet(t testing.TB) *fleet {
	t.Helper()
	central := ollamatest.Start(t)
	if central.ModelsDir == "" {
		t.Skip("modelship: the Ollama at OLLAMA_HOST has no known models directory; unset OLLAMA_HOST to run this test")
	}
	f := &fleet{Fleet: pkitest.NewFleet(t), t: t, ollama: central}
	var err error
	if f.pub, f.priv, err = manifest.GenerateKey(rand.Reader); err != nil {
		t.Fatal(err)
	}
	f.central = NewCentral(Source{Dir: central.ModelsDir}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := f.central.Publish(ctx, f.priv, 1, time.Now(), central.GenModel, central.EmbedModel); err != nil {
		t.Fatal(err)
	}
	h := func(ctx context.Context, peer transport.Peer, req wire.Frame) ([]byte, error) {
		resp, err := f.central.Handle(ctx, peer, req)
		f.mu.Lock()
		tamper := f.tamper
		f.mu.Unlock()
		if err == nil && tamper != nil {
			resp, err = tamper(req, resp)
		}
		if err == nil && req.Type == wire.TypeModelBlob {
			f.served.Add(int64(len(resp)))
		}
		return resp, err
	}
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.server, err = transport.ListenPacket(context.Background(), countingConn{udp, &f.wire}, transport.Config{Identity: f.Identity("central", pki.RoleCentral)}, h)
	if err != nil {
		udp.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { f.server.Close(); udp.Close() })
	return f
}

func (f *fleet) setTamper(fn func(req wire.Frame, resp []byte) ([]byte, error)) {
	f.mu.Lock()
	f.tamper = fn
	f.mu.Unlock()
}

// edgeNode is an edge with its own empty Ollama and staging directory.
type edgeNode struct {
	*Edge
	ollama   *ollamatest.Server
	stage    string
	progress []Progress
}

func (f *fleet) edge(name string, rangeSize int, trusted ...ed25519.PublicKey) *edgeNode {
	f.t.Helper()
	if trusted == nil {
		trusted = []ed25519.PublicKey{f.pub}
	}
	tr := transport.NewClient(transport.Config{Identity: f.Identity(name, pki.RoleEdge)})
	f.t.Cleanup(func() { tr.Close() })
	n := &edgeNode{ollama: ollamatest.StartEmpty(f.t), stage: filepath.Join(f.t.TempDir(), "models-staging")}
	var err error
	n.Edge, err = NewEdge(EdgeConfig{
		Transport:  tr,
		Central:    Target{Name: "central", Addr: f.server.Addr().String()},
		Trusted:    trusted,
		OllamaHost: n.ollama.Host,
		HTTPClient: &http.Client{},
		StageDir:   n.stage,
		RangeSize:  rangeSize,
		Progress:   func(p Progress) { n.progress = append(n.progress, p) },
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return n
}

// countingConn counts the bytes written to the network.
type countingConn struct {
	net.PacketConn
	n *atomic.Int64
}

func (c countingConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	n, err := c.PacketConn.WriteTo(p, addr)
	c.n.Add(int64(n))
	return n, err
}
