// Package relaytest is a lossy, slow UDP link for the tests of packages
// that speak QUIC: a relay between one client and one server on loopback.
// Only tests import it: it fails the test it was given instead of returning
// errors.
package relaytest

import (
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"
)

// Relay is a UDP middlebox between one client and one server that drops a
// fraction of packets and delays the rest, to stand in for a flaky uplink.
// Drops come from a seeded generator so that a failure can be replayed.
type Relay struct {
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

// New forwards to server, dropping loss of the packets each way and
// delaying the rest by delay one way. It is closed at cleanup.
func New(t testing.TB, server net.Addr, loss float64, delay time.Duration, seed uint64) *Relay {
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
	r := &Relay{front: front, back: back, server: server.(*net.UDPAddr), loss: loss, delay: delay, done: make(chan struct{})}
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
	t.Cleanup(r.Close)
	return r
}

// Addr is where the client should send, in place of the server.
func (r *Relay) Addr() string { return r.front.LocalAddr().String() }

// pipe reads from in, drops or queues each packet, and a second goroutine
// delivers the queue in order after the delay.
func (r *Relay) pipe(in *net.UDPConn, seed uint64, out func([]byte), fromClient bool) {
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

// Close stops the relay; closing it again is harmless.
func (r *Relay) Close() {
	r.closeOnce.Do(func() {
		close(r.done)
		r.front.Close()
		r.back.Close()
		r.wg.Wait()
	})
}
