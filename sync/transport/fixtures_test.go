package transport

import (
	"context"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/edgerag/edgerag/sync/pki"
	"github.com/edgerag/edgerag/sync/wire"
)

// testFleet is a throwaway fleet CA with helpers to enrol nodes.
type testFleet struct {
	t      testing.TB
	caDir  string
	caFile string
}

func newTestFleet(t testing.TB) *testFleet {
	t.Helper()
	dir := t.TempDir()
	if err := pki.InitCA(dir, "test", time.Now()); err != nil {
		t.Fatal(err)
	}
	return &testFleet{t: t, caDir: dir, caFile: filepath.Join(dir, pki.CACertFile)}
}

func (f *testFleet) identity(name, role string) *pki.Identity {
	f.t.Helper()
	return f.load(f.caDir, f.caFile, name, role)
}

func (f *testFleet) load(caDir, caFile, name, role string) *pki.Identity {
	f.t.Helper()
	out := f.t.TempDir()
	if err := pki.IssueCert(caDir, out, name, role, time.Hour); err != nil {
		f.t.Fatal(err)
	}
	id, err := pki.LoadIdentity(caFile, filepath.Join(out, name+".crt"), filepath.Join(out, name+".key"))
	if err != nil {
		f.t.Fatal(err)
	}
	return id
}

// outsider returns a node whose certificate comes from another CA but that
// trusts this fleet's CA too, so that it is the fleet's server, not the
// outsider, that has to refuse the connection.
func (f *testFleet) outsider(name string) *pki.Identity {
	f.t.Helper()
	other := f.t.TempDir()
	if err := pki.InitCA(other, "evil", time.Now()); err != nil {
		f.t.Fatal(err)
	}
	ours, err := os.ReadFile(f.caFile)
	if err != nil {
		f.t.Fatal(err)
	}
	theirs, err := os.ReadFile(filepath.Join(other, pki.CACertFile))
	if err != nil {
		f.t.Fatal(err)
	}
	both := filepath.Join(f.t.TempDir(), "both.crt")
	if err := os.WriteFile(both, append(ours, theirs...), 0o644); err != nil {
		f.t.Fatal(err)
	}
	return f.load(other, both, name, pki.RoleEdge)
}

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

// relay is a UDP middlebox between one client and one server that drops a
// fraction of packets and delays the rest, to stand in for a flaky uplink.
// Drops come from a seeded generator so that a failure can be replayed.
type relay struct {
	front  *net.UDPConn // the client talks to this
	back   *net.UDPConn // this talks to the server
	server *net.UDPAddr
	loss   float64
	delay  time.Duration

	mu     sync.Mutex
	client *net.UDPAddr

	done chan struct{}
	wg   sync.WaitGroup
}

type packet struct {
	due  time.Time
	data []byte
}

func newRelay(t testing.TB, server net.Addr, loss float64, delay time.Duration, seed uint64) *relay {
	t.Helper()
	lo := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}
	front, err := net.ListenUDP("udp", lo)
	if err != nil {
		t.Fatal(err)
	}
	back, err := net.ListenUDP("udp", lo)
	if err != nil {
		t.Fatal(err)
	}
	r := &relay{front: front, back: back, server: server.(*net.UDPAddr), loss: loss, delay: delay, done: make(chan struct{})}
	r.pipe(front, seed, func(b []byte) {
		back.WriteToUDP(b, r.server)
	}, true)
	r.pipe(back, seed+1, func(b []byte) {
		r.mu.Lock()
		to := r.client
		r.mu.Unlock()
		if to != nil {
			front.WriteToUDP(b, to)
		}
	}, false)
	t.Cleanup(r.close)
	return r
}

func (r *relay) addr() string { return r.front.LocalAddr().String() }

// pipe reads from in, drops or queues each packet, and a second goroutine
// delivers the queue in order after the delay.
func (r *relay) pipe(in *net.UDPConn, seed uint64, out func([]byte), fromClient bool) {
	queue := make(chan packet, 4096)
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	r.wg.Go(func() {
		defer close(queue)
		buf := make([]byte, 2048)
		for {
			n, from, err := in.ReadFromUDP(buf)
			if err != nil {
				return
			}
			if fromClient {
				r.mu.Lock()
				r.client = from
				r.mu.Unlock()
			}
			if rng.Float64() < r.loss {
				continue
			}
			select {
			case queue <- packet{due: time.Now().Add(r.delay), data: append([]byte(nil), buf[:n]...)}:
			default: // a full queue drops, as a router's would
			}
		}
	})
	r.wg.Go(func() {
		for p := range queue {
			select {
			case <-time.After(time.Until(p.due)):
			case <-r.done:
				return
			}
			out(p.data)
		}
	})
}

func (r *relay) close() {
	close(r.done)
	r.front.Close()
	r.back.Close()
	r.wg.Wait()
}
