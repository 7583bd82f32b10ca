package queryrpc_test

import (
	"context"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/edgerag/edgerag/node/agent"
	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/node/nodetest"
	"github.com/edgerag/edgerag/sync/pki"
	"github.com/edgerag/edgerag/sync/queryrpc"
	"github.com/edgerag/edgerag/sync/transport"
	"github.com/edgerag/edgerag/sync/transport/relaytest"
	"github.com/edgerag/edgerag/sync/wire"
)

// reportEarly wraps central's dispatcher (agent.Hooks.WrapDispatch) to
// report on seen whether each query arrived as 0-RTT data.
func reportEarly(seen chan<- bool) func(transport.Handler) transport.Handler {
	return func(next transport.Handler) transport.Handler {
		return func(ctx context.Context, peer transport.Peer, req wire.Frame) ([]byte, error) {
			if req.Type == wire.TypeQuery {
				seen <- transport.Early(ctx)
			}
			return next(ctx, peer, req)
		}
	}
}

// reconnect measures escalations on fresh connections through a relay
// adding oneWay each way: cold ones from new clients that have never met
// central, resumed ones from a client holding a session ticket, which may
// send the question as 0-RTT data.
type reconnect struct {
	tb     testing.TB
	srv    *net.UDPAddr // central's QUIC endpoint
	seen   chan bool
	oneWay time.Duration
	edgeID *pki.Identity
	cold   *relaytest.Relay
	warm   *queryrpc.Client
	q      api.QueryRequest
}

func newReconnect(tb testing.TB, oneWay time.Duration) *reconnect {
	docs := documents(tb, corpus)
	fleet := nodetest.StartFleet(tb)
	seen := make(chan bool, 16)
	central := fleet.StartCentral(tb, docs, func(c *agent.Config) { c.Hooks.WrapDispatch = reportEarly(seen) })
	srv := udpAddr(tb, central.QUICAddr())
	r := &reconnect{tb: tb, srv: srv, seen: seen, oneWay: oneWay, edgeID: fleet.NewIdentity(tb, "edge-1", pki.RoleEdge),
		cold: relaytest.New(tb, srv, 0, oneWay, 1), q: api.QueryRequest{Question: questions(corpus, docs, 1, 5)[0]}}
	// The warm client meets central through a relay of its own: the cold
	// relay forwards replies to whoever spoke last, and the warm client's
	// keep-alives must not steal them.
	r.warm = queryrpc.NewClient(newTransportClient(tb, r.edgeID), "edge-1")
	via := relaytest.New(tb, srv, 0, oneWay, 3)
	if _, _, err := r.ask(r.warm, via.Addr()); err != nil {
		tb.Fatal(err)
	}
	r.settle()
	via.Close()
	return r
}

// ask escalates r.q through addr and returns how long it took and whether
// central got it as 0-RTT data.
func (r *reconnect) ask(c *queryrpc.Client, addr string) (time.Duration, bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	t0 := time.Now()
	resp, err := c.Ask(ctx, queryrpc.Target{Name: centralName, Addr: addr}, r.q)
	took := time.Since(t0)
	if err != nil {
		return took, false, err
	}
	if resp.Node != centralName {
		return took, false, errEscalation(resp)
	}
	return took, <-r.seen, nil
}

// settle waits for the session ticket that central sends once the
// handshake completes, after the first response: a round trip and a half.
func (r *reconnect) settle() { time.Sleep(4 * r.oneWay) }

// coldAsk escalates from a client that has never connected to central.
func (r *reconnect) coldAsk() (time.Duration, bool, error) {
	tc := transport.NewClient(transport.Config{Identity: r.edgeID})
	defer tc.Close()
	return r.ask(queryrpc.NewClient(tc, "edge-1"), r.cold.Addr())
}

// resumedAsk escalates from the warm client through a new relay, so on a
// new connection; it resumes the TLS session by server name.
func (r *reconnect) resumedAsk() (time.Duration, bool, error) {
	via := relaytest.New(r.tb, r.srv, 0, r.oneWay, 2)
	defer via.Close()
	took, early, err := r.ask(r.warm, via.Addr())
	r.settle()
	return took, early, err
}

// TestResumedRequestSkipsHandshakeRoundTrip checks that an edge
// reconnecting to central sends its question with the handshake (0-RTT) and
// has the answer after one round trip, where a first connection needs two.
func TestResumedRequestSkipsHandshakeRoundTrip(t *testing.T) {
	const oneWay = 50 * time.Millisecond
	r := newReconnect(t, oneWay)
	// The best of a few tries, so that a scheduling hiccup on a busy
	// machine does not count against the protocol.
	best := func(name string, try func() (time.Duration, bool, error), wantEarly bool) time.Duration {
		var fastest time.Duration
		for i := range 3 {
			took, early, err := try()
			if err != nil {
				t.Fatalf("%s request %d: %v", name, i, err)
			}
			if early != wantEarly {
				t.Fatalf("%s request %d: 0-RTT used = %v, want %v", name, i, early, wantEarly)
			}
			if i == 0 || took < fastest {
				fastest = took
			}
		}
		return fastest
	}
	cold := best("cold", r.coldAsk, false)
	resumed := best("resumed", r.resumedAsk, true)
	t.Logf("round trip %v: cold %v, resumed %v", 2*oneWay, cold, resumed)
	// A full handshake then a request cannot take less than two round
	// trips; the resumed request must come in under that.
	if cold < 4*oneWay {
		t.Errorf("cold request took %v, under two round trips: the relay is not delaying", cold)
	}
	if resumed < 2*oneWay || resumed >= 4*oneWay {
		t.Errorf("resumed request took %v; want one round trip (%v), well under two", resumed, 2*oneWay)
	}
}

// BenchmarkResumedRequest measures an escalation on a fresh connection
// through a link with a 40 ms round trip: "cold" from a node that has never
// met central (handshake, then request), "resumed" from one holding a
// session ticket (request sent as 0-RTT data with the handshake).
func BenchmarkResumedRequest(b *testing.B) {
	const oneWay = 20 * time.Millisecond
	r := newReconnect(b, oneWay)
	for _, bc := range []struct {
		name string
		try  func() (time.Duration, bool, error)
	}{{"cold", r.coldAsk}, {"resumed", r.resumedAsk}} {
		b.Run(bc.name, func(b *testing.B) {
			var lat []time.Duration
			var total time.Duration
			early := 0
			for range b.N {
				took, e, err := bc.try()
				if err != nil {
					b.Fatal(err)
				}
				lat, total = append(lat, took), total+took
				if e {
					early++
				}
			}
			slices.Sort(lat)
			// The loop also sets up relays and waits for session tickets;
			// ns/op is the request alone.
			b.ReportMetric(float64(total.Nanoseconds())/float64(b.N), "ns/op")
			b.ReportMetric(pctMS(lat, 50), "p50-ms")
			b.ReportMetric(pctMS(lat, 50)/float64((2*oneWay).Milliseconds()), "p50-rtts")
			b.ReportMetric(float64(early)/float64(b.N), "0rtt-share")
		})
	}
}
