package gossipsim

import (
	"errors"
	"io"
	"math"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hashicorp/memberlist"
)

func newPair(t *testing.T, link LinkConfig) (*Network, *Transport, *Transport) {
	t.Helper()
	n, err := NewNetwork(link, 42)
	if err != nil {
		t.Fatal(err)
	}
	a, err := n.Transport("127.0.0.1:1001")
	if err != nil {
		t.Fatal(err)
	}
	b, err := n.Transport("127.0.0.1:1002")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Shutdown(); b.Shutdown() })
	return n, a, b
}

// drain counts the packets b has received so far.
func drain(tr *Transport) (n int) {
	for {
		select {
		case <-tr.PacketCh():
			n++
		default:
			return n
		}
	}
}

func TestLinkConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		link LinkConfig
		ok   bool
	}{
		{"perfect", LinkConfig{}, true},
		{"lossy", LinkConfig{Loss: 0.1, Latency: 10 * time.Millisecond, Jitter: 5 * time.Millisecond}, true},
		{"negative loss", LinkConfig{Loss: -0.1}, false},
		{"total loss", LinkConfig{Loss: 1}, false},
		{"negative latency", LinkConfig{Latency: -time.Millisecond}, false},
		{"jitter above latency", LinkConfig{Latency: time.Millisecond, Jitter: 2 * time.Millisecond}, false},
	} {
		if err := tc.link.Validate(); (err == nil) != tc.ok {
			t.Errorf("%s: Validate() = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

func TestTransportAddresses(t *testing.T) {
	n, err := NewNetwork(LinkConfig{}, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"nohost", "example.com:80", "127.0.0.1:0", "127.0.0.1:x"} {
		if _, err := n.Transport(bad); err == nil {
			t.Errorf("Transport(%q) accepted a bad address", bad)
		}
	}
	tr, err := n.Transport("127.0.0.1:7946")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Transport("127.0.0.1:7946"); err == nil {
		t.Error("a second endpoint took an address in use")
	}
	ip, port, err := tr.FinalAdvertiseAddr("", 0)
	if err != nil || ip.String() != "127.0.0.1" || port != 7946 {
		t.Errorf("FinalAdvertiseAddr = %v %d %v, want the endpoint's own address", ip, port, err)
	}
	tr.Shutdown()
	if _, err := n.Transport("127.0.0.1:7946"); err != nil {
		t.Errorf("address not freed by Shutdown: %v", err)
	}
}

func TestLossRateMatchesConfig(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const sent = 20000
		n, a, b := newPair(t, LinkConfig{Loss: 0.10, Latency: time.Millisecond})
		got := 0
		for i := range sent {
			if _, err := a.WriteTo([]byte("ping"), b.Addr()); err != nil {
				t.Fatal(err)
			}
			if i%1000 == 999 { // stay under the receive queue
				time.Sleep(10 * time.Millisecond)
				got += drain(b)
			}
		}
		time.Sleep(10 * time.Millisecond)
		got += drain(b)
		loss := 1 - float64(got)/sent
		// 3 standard deviations of a binomial(20000, 0.1) share is 0.64%.
		if math.Abs(loss-0.10) > 0.0065 {
			t.Errorf("observed loss %.4f, configured 0.10", loss)
		}
		if s := n.Stats(); s.Sent != sent || s.Lost+s.Delivered != sent {
			t.Errorf("stats %+v do not add up to %d sent", s, sent)
		}
	})
}

func TestLatencyAndJitterApplied(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, a, b := newPair(t, LinkConfig{Latency: 40 * time.Millisecond, Jitter: 10 * time.Millisecond})
		var lo, hi time.Duration = time.Hour, 0
		for range 200 {
			start := time.Now()
			a.WriteTo([]byte("x"), b.Addr())
			p := <-b.PacketCh()
			d := p.Timestamp.Sub(start)
			lo, hi = min(lo, d), max(hi, d)
			if p.From.String() != a.Addr() {
				t.Fatalf("packet from %v, want %s", p.From, a.Addr())
			}
		}
		if lo < 30*time.Millisecond || hi > 50*time.Millisecond || hi-lo < 10*time.Millisecond {
			t.Errorf("one-way delays in [%v, %v], want spread within 40ms ± 10ms", lo, hi)
		}

		// A stream write takes the one-way latency too, and a dial a round trip.
		start := time.Now()
		c, err := a.DialTimeout(b.Addr(), time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d < 60*time.Millisecond || d > 100*time.Millisecond {
			t.Errorf("dial took %v, want one round trip (60-100ms)", d)
		}
		s := <-b.StreamCh()
		go func() { c.Write([]byte("hello")); c.Close() }()
		start = time.Now()
		buf, err := io.ReadAll(s)
		if err != nil || string(buf) != "hello" {
			t.Fatalf("stream read %q, %v", buf, err)
		}
		if d := time.Since(start); d < 30*time.Millisecond || d > 50*time.Millisecond {
			t.Errorf("stream write took %v, want the one-way latency (30-50ms)", d)
		}
		s.Close()
	})
}

func TestPartitionBlocksPacketsAndStreams(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n, a, b := newPair(t, LinkConfig{Latency: 5 * time.Millisecond})
		c, err := n.Transport("127.0.0.1:1003")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Shutdown()

		// A stream opened before the split is cut by it.
		before, err := a.DialTimeout(b.Addr(), time.Second)
		if err != nil {
			t.Fatal(err)
		}
		accepted := <-b.StreamCh()
		defer accepted.Close()

		n.Partition([]string{a.Addr(), c.Addr()}, []string{b.Addr()})
		if _, err := before.Write([]byte("x")); err == nil {
			t.Error("write on a stream across the partition succeeded")
		}
		for range 10 {
			a.WriteTo([]byte("x"), b.Addr())
			b.WriteTo([]byte("x"), a.Addr())
			a.WriteTo([]byte("x"), c.Addr())
		}
		time.Sleep(time.Second)
		if got := drain(a) + drain(b); got != 0 {
			t.Errorf("%d packets crossed the partition", got)
		}
		if got := drain(c); got != 10 {
			t.Errorf("%d of 10 packets arrived inside one side, want all", got)
		}
		start := time.Now()
		if _, err := a.DialTimeout(b.Addr(), 3*time.Second); !errors.Is(err, ErrUnreachable) {
			t.Errorf("dial across the partition: %v, want ErrUnreachable", err)
		}
		if d := time.Since(start); d != 3*time.Second {
			t.Errorf("refused dial returned after %v, want the whole 3s timeout", d)
		}

		// A packet in flight when the split begins is lost.
		n.Heal()
		a.WriteTo([]byte("x"), b.Addr())
		n.Partition([]string{a.Addr()}, []string{b.Addr()})
		time.Sleep(time.Second)
		if got := drain(b); got != 0 {
			t.Errorf("packet in flight crossed a partition that began meanwhile")
		}

		n.Heal()
		a.WriteTo([]byte("x"), b.Addr())
		time.Sleep(time.Second)
		if got := drain(b); got != 1 {
			t.Errorf("after Heal %d of 1 packets arrived", got)
		}
		conn, err := a.DialTimeout(b.Addr(), time.Second)
		if err != nil {
			t.Fatalf("dial after Heal: %v", err)
		}
		conn.Close()
		(<-b.StreamCh()).Close()

		// A dead endpoint is unreachable both ways.
		n.SetDown(b.Addr(), true)
		b.WriteTo([]byte("x"), a.Addr())
		a.WriteTo([]byte("x"), b.Addr())
		time.Sleep(time.Second)
		if got := drain(a) + drain(b); got != 0 {
			t.Errorf("%d packets reached or left a dead endpoint", got)
		}
	})
}

func TestTransportIsNodeAware(t *testing.T) {
	var tr memberlist.Transport = &Transport{}
	if _, ok := tr.(memberlist.NodeAwareTransport); !ok {
		t.Fatal("Transport does not implement memberlist.NodeAwareTransport")
	}
}
