package queryrpc_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/edgerag/edgerag/node"
	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/node/evalset"
	"github.com/edgerag/edgerag/sync/pki"
	"github.com/edgerag/edgerag/sync/queryrpc"
	"github.com/edgerag/edgerag/sync/transport"
	"github.com/edgerag/edgerag/sync/wire"
)

// centralName is the name in central's certificate, as edges dial it.
const centralName = "central"

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

// outsider returns an edge whose certificate comes from another CA but that
// trusts this fleet's CA too, so that it is central, not the outsider, that
// has to refuse the connection.
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

// corpus is what central holds in the tests: small enough to ingest in a
// blink under -race, varied enough that every question has one best
// document.
var corpus = evalset.Synthetic{Docs: 200, SectionsPerDoc: 2, WordsPerSection: 60, Vocabulary: 5000, Seed: 3}

// documents generates s as documents to ingest.
func documents(t testing.TB, s evalset.Synthetic) []api.Document {
	t.Helper()
	var docs []api.Document
	err := s.Generate(func(d evalset.Doc) error {
		docs = append(docs, api.Document{ID: d.ID, Title: d.Title, Format: "markdown", Body: d.Text})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return docs
}

// questions picks n questions from docs the way a user half remembering a
// passage would, reproducibly.
func questions(s evalset.Synthetic, docs []api.Document, n int, seed uint64) []string {
	rng := rand.New(rand.NewPCG(seed, seed))
	out := make([]string, n)
	for i := range out {
		out[i] = s.Query(rng, docs[rng.IntN(len(docs))].Body)
	}
	return out
}

// openNode opens a node in a temporary directory; it is closed at cleanup.
func openNode(t testing.TB, cfg node.Config) *node.Node {
	t.Helper()
	cfg.DataDir, cfg.NoSync = t.TempDir(), true
	n, err := node.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// openCentral opens a central node holding docs.
func openCentral(t testing.TB, docs []api.Document) *node.Node {
	t.Helper()
	n := openNode(t, node.Config{Name: centralName, Role: "central"})
	for i := 0; i < len(docs); i += 1000 {
		if _, err := n.Ingest(context.Background(), docs[i:min(i+1000, len(docs))]); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

// handler serves queries with answer and pings, as main wires central.
func handler(answer queryrpc.Answerer) transport.Handler {
	return func(ctx context.Context, peer transport.Peer, req wire.Frame) ([]byte, error) {
		switch req.Type {
		case wire.TypeQuery:
			return queryrpc.Handle(ctx, peer, req, answer)
		case wire.TypePing:
			return []byte("{}"), nil
		}
		return nil, transport.Errorf(wire.CodeBadRequest, "central does not serve %s requests", req.Type)
	}
}

// serve runs central's QUIC endpoint on addr ("127.0.0.1:0" for any port);
// it is closed at cleanup, and closing it twice is harmless.
func serve(t testing.TB, addr string, id *pki.Identity, h transport.Handler) *transport.Server {
	t.Helper()
	s, err := transport.Listen(context.Background(), addr, transport.Config{Identity: id}, h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// newTransportClient returns a transport client closed at cleanup.
func newTransportClient(t testing.TB, cfg transport.Config) *transport.Client {
	t.Helper()
	c := transport.NewClient(cfg)
	t.Cleanup(func() { c.Close() })
	return c
}

// remote is node.Remote over a queryrpc.Client, as main's centralRemote.
type remote struct {
	client *queryrpc.Client
	target queryrpc.Target
}

func (r remote) AskCentral(ctx context.Context, q api.QueryRequest) (api.QueryResponse, error) {
	return r.client.Ask(ctx, r.target, q)
}

// openEdge opens an edge node holding nothing, so that every question
// escalates, which asks central at addr through tc.
func openEdge(t testing.TB, name string, tc *transport.Client, addr string, cfg node.Config) *node.Node {
	t.Helper()
	cfg.Name = name
	cfg.Remote = remote{client: queryrpc.NewClient(tc, name), target: queryrpc.Target{Name: centralName, Addr: addr}}
	return openNode(t, cfg)
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

	done      chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
}

type packet struct {
	due  time.Time
	data []byte
}

// newRelay forwards to server, dropping loss of the packets each way and
// delaying the rest by delay one way. It is closed at cleanup.
func newRelay(t testing.TB, server net.Addr, loss float64, delay time.Duration, seed uint64) *relay {
	t.Helper()
	lo := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}
	front, err := net.ListenUDP("udp", lo)
	if err != nil {
		t.Fatal(err)
	}
	back, err := net.ListenUDP("udp", lo)
	if err != nil {
		front.Close()
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
			if d := time.Until(p.due); d > 0 {
				select {
				case <-time.After(d):
				case <-r.done:
					return
				}
			}
			out(p.data)
		}
	})
}

func (r *relay) close() {
	r.closeOnce.Do(func() {
		close(r.done)
		r.front.Close()
		r.back.Close()
		r.wg.Wait()
	})
}

// countRoutes summarises answers for failure messages.
func countRoutes(rs []api.QueryResponse) string {
	m := map[string]int{}
	for _, r := range rs {
		key := r.Route
		if r.Degraded {
			key += "(degraded)"
		}
		m[key]++
	}
	return fmt.Sprint(m)
}
