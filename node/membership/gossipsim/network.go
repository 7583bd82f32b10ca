// Package gossipsim simulates a Serf pool of a few hundred members in one
// process: an in-memory memberlist transport that models per-packet loss,
// latency with jitter and partitions, and a scenario runner that measures
// tag propagation, failure detection, false failure verdicts and
// reconvergence after a partition. It is meant to run inside a
// testing/synctest bubble, where simulated time advances only when every
// member is idle, so a 2-core machine does not starve the failure detector.
//
// Only tests and benchmarks import it; the node never does.
package gossipsim

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// LinkConfig describes every link of the simulated network. The zero value is
// a perfect network: no loss, no latency.
type LinkConfig struct {
	// Loss is the probability in [0, 1) that one packet is dropped. Streams
	// do not lose data (TCP retransmits), but each write is delayed by one
	// retransmission timeout per simulated loss, as TCP would be.
	Loss float64
	// Latency is the mean one-way delay of a packet or a stream write.
	Latency time.Duration
	// Jitter spreads each delay uniformly over Latency ± Jitter.
	Jitter time.Duration
}

// Validate says what is wrong with c and how to fix it.
func (c LinkConfig) Validate() error {
	switch {
	case c.Loss < 0 || c.Loss >= 1:
		return fmt.Errorf("link loss %v out of range: want a probability in [0, 1)", c.Loss)
	case c.Latency < 0 || c.Jitter < 0:
		return fmt.Errorf("link latency %v / jitter %v: neither may be negative", c.Latency, c.Jitter)
	case c.Jitter > c.Latency:
		return fmt.Errorf("link jitter %v exceeds latency %v: delays would go negative; lower the jitter", c.Jitter, c.Latency)
	}
	return nil
}

// minRTO is the first TCP retransmission timeout (Linux's floor), used to
// delay stream writes that the loss model says were lost.
const minRTO = 200 * time.Millisecond

// packetQueue is how many received packets an endpoint buffers before it
// drops, like a UDP socket's receive buffer.
const packetQueue = 4096

// acceptBacklog is how many dialled streams wait for the receiver to accept
// them, like a listen backlog.
const acceptBacklog = 64

// Stats counts what the network did with packets since it was created.
type Stats struct {
	Sent      uint64 // packets handed to WriteTo
	Lost      uint64 // dropped by the loss model
	Blocked   uint64 // dropped by a partition or a dead endpoint
	Overflow  uint64 // dropped because the receiver's queue was full
	Delivered uint64
	Dials     uint64 // stream connections attempted
	DialsCut  uint64 // stream connections refused by a partition or a dead endpoint
}

// Network is a simulated network of memberlist endpoints. It is safe for
// concurrent use. Time is the time package's: inside a synctest bubble it is
// simulated.
type Network struct {
	mu        sync.Mutex // guards everything below
	link      LinkConfig
	rng       *rand.Rand
	endpoints map[string]*Transport
	group     map[string]int // partition group; an address not in it is in group 0
	down      map[string]bool
	conns     map[*simConn]struct{}
	stats     Stats
}

// NewNetwork returns an empty network whose loss and jitter draw from a
// generator seeded with seed, so the same seed gives the same loss pattern
// for the same sequence of sends.
func NewNetwork(link LinkConfig, seed uint64) (*Network, error) {
	if err := link.Validate(); err != nil {
		return nil, err
	}
	return &Network{
		link:      link,
		rng:       rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		endpoints: make(map[string]*Transport),
		group:     make(map[string]int),
		down:      make(map[string]bool),
		conns:     make(map[*simConn]struct{}),
	}, nil
}

// SetLink changes the loss and latency of every link from now on.
func (n *Network) SetLink(link LinkConfig) error {
	if err := link.Validate(); err != nil {
		return err
	}
	n.mu.Lock()
	n.link = link
	n.mu.Unlock()
	return nil
}

// Stats returns the counters so far.
func (n *Network) Stats() Stats {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.stats
}

// Partition splits the network: endpoints in different groups cannot reach
// each other, by packet or by stream, and open streams that cross the split
// are cut. Addresses named in no group form one more group together. It
// replaces any earlier partition.
func (n *Network) Partition(groups ...[]string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	clear(n.group)
	for i, g := range groups {
		for _, a := range g {
			n.group[a] = i + 1
		}
	}
	n.cutLocked()
}

// Heal removes the partition.
func (n *Network) Heal() {
	n.mu.Lock()
	clear(n.group)
	n.mu.Unlock()
}

// SetDown makes an endpoint unreachable (down) or reachable again: a silent
// crash or a hang, as the rest of the pool sees it. Its open streams are cut.
func (n *Network) SetDown(addr string, down bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if down {
		n.down[addr] = true
	} else {
		delete(n.down, addr)
	}
	n.cutLocked()
}

// Reachable reports whether a packet from one address could reach the other
// now.
func (n *Network) Reachable(from, to string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.reachableLocked(from, to)
}

func (n *Network) reachableLocked(from, to string) bool {
	return !n.down[from] && !n.down[to] && n.group[from] == n.group[to]
}

// cutLocked closes the streams that can no longer carry data. Closing a
// net.Pipe end does not take the network's lock, so doing it here is safe.
func (n *Network) cutLocked() {
	for c := range n.conns {
		if !n.reachableLocked(c.local.String(), c.remote.String()) {
			delete(n.conns, c)
			c.Conn.Close()
			c.peer.Conn.Close()
			delete(n.conns, c.peer)
		}
	}
}

// delayLocked draws one one-way delay.
func (n *Network) delayLocked() time.Duration {
	d := n.link.Latency
	if n.link.Jitter > 0 {
		d += time.Duration(n.rng.Int64N(int64(2*n.link.Jitter)+1)) - n.link.Jitter
	}
	return d
}

// Transport returns a new endpoint listening on addr, an "ip:port" string.
// The address is only a name: nothing is bound.
func (n *Network) Transport(addr string) (*Transport, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("endpoint address %q: %w (want ip:port)", addr, err)
	}
	ip := net.ParseIP(host)
	port, err := strconv.Atoi(portStr)
	if ip == nil || err != nil || port <= 0 || port > 65535 {
		return nil, fmt.Errorf("endpoint address %q: want a literal IP and a port in 1-65535", addr)
	}
	t := &Transport{
		net:      n,
		addr:     &net.UDPAddr{IP: ip, Port: port},
		packetCh: make(chan *memberlist.Packet, packetQueue),
		streamCh: make(chan net.Conn, acceptBacklog),
		done:     make(chan struct{}),
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.endpoints[t.addr.String()]; ok {
		return nil, fmt.Errorf("endpoint address %s is already in use on this network", addr)
	}
	n.endpoints[t.addr.String()] = t
	return t, nil
}

// Transport is one memberlist endpoint on a Network. Memberlist owns it once
// it is put in memberlist.Config.Transport, and shuts it down.
type Transport struct {
	net      *Network
	addr     *net.UDPAddr
	packetCh chan *memberlist.Packet
	streamCh chan net.Conn
	done     chan struct{} // closed by Shutdown
	once     sync.Once
}

var _ memberlist.NodeAwareTransport = (*Transport)(nil)

// ErrUnreachable is returned by dials that a partition or a dead endpoint
// refuses.
var ErrUnreachable = errors.New("gossipsim: destination unreachable")

// Addr is the endpoint's address.
func (t *Transport) Addr() string { return t.addr.String() }

// FinalAdvertiseAddr returns the configured advertise address if there is
// one, else the endpoint's own.
func (t *Transport) FinalAdvertiseAddr(ip string, port int) (net.IP, int, error) {
	if ip == "" {
		return t.addr.IP, t.addr.Port, nil
	}
	parsed := net.ParseIP(ip)
	if parsed == nil {
		return nil, 0, fmt.Errorf("advertise address %q is not a literal IP", ip)
	}
	return parsed, port, nil
}

// WriteTo sends one packet; it never blocks. Loss, partitions and dead
// endpoints drop it silently, as UDP would.
func (t *Transport) WriteTo(b []byte, addr string) (time.Time, error) {
	return t.WriteToAddress(b, memberlist.Address{Addr: addr})
}

// WriteToAddress is WriteTo; the node name is not needed to route.
func (t *Transport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	now := time.Now()
	select {
	case <-t.done:
		return now, errors.New("gossipsim: write on a shut-down transport")
	default:
	}
	n := t.net
	from := t.addr.String()
	n.mu.Lock()
	n.stats.Sent++
	dst, ok := n.endpoints[a.Addr]
	switch {
	case !ok || !n.reachableLocked(from, a.Addr):
		n.stats.Blocked++
		n.mu.Unlock()
		return now, nil
	case n.link.Loss > 0 && n.rng.Float64() < n.link.Loss:
		n.stats.Lost++
		n.mu.Unlock()
		return now, nil
	}
	delay := n.delayLocked()
	n.mu.Unlock()

	pkt := &memberlist.Packet{Buf: append([]byte(nil), b...), From: t.addr}
	time.AfterFunc(delay, func() { dst.deliver(from, pkt) })
	return now, nil
}

// deliver hands a packet that finished its flight to the receiver, unless a
// partition began or the receiver went away meanwhile.
func (t *Transport) deliver(from string, pkt *memberlist.Packet) {
	n := t.net
	n.mu.Lock()
	if !n.reachableLocked(from, t.addr.String()) {
		n.stats.Blocked++
		n.mu.Unlock()
		return
	}
	n.mu.Unlock()
	pkt.Timestamp = time.Now()
	var counter *uint64
	select {
	case <-t.done:
		counter = &n.stats.Blocked
	case t.packetCh <- pkt:
		counter = &n.stats.Delivered
	default:
		counter = &n.stats.Overflow
	}
	n.mu.Lock()
	*counter++
	n.mu.Unlock()
}

// PacketCh delivers received packets.
func (t *Transport) PacketCh() <-chan *memberlist.Packet { return t.packetCh }

// StreamCh delivers accepted stream connections.
func (t *Transport) StreamCh() <-chan net.Conn { return t.streamCh }

// DialTimeout opens a stream to addr.
func (t *Transport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return t.DialAddressTimeout(memberlist.Address{Addr: addr}, timeout)
}

// DialAddressTimeout opens a stream. Setting one up takes a round trip; a
// dial into a partition or to a dead endpoint waits out the timeout, as an
// unanswered SYN does.
func (t *Transport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	n := t.net
	from := t.addr.String()
	n.mu.Lock()
	n.stats.Dials++
	dst, ok := n.endpoints[a.Addr]
	reachable := ok && n.reachableLocked(from, a.Addr)
	rtt := n.delayLocked() + n.delayLocked()
	n.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("dial %s: %w: no endpoint has that address", a.Addr, ErrUnreachable)
	}
	if !reachable || (timeout > 0 && rtt > timeout) {
		t.sleep(timeout)
		n.mu.Lock()
		n.stats.DialsCut++
		n.mu.Unlock()
		return nil, fmt.Errorf("dial %s: %w: timed out after %v", a.Addr, ErrUnreachable, timeout)
	}
	if !t.sleep(rtt) {
		return nil, errors.New("gossipsim: dial on a shut-down transport")
	}

	c1, c2 := net.Pipe()
	local := &simConn{Conn: c1, net: n, local: t.addr, remote: dst.addr}
	remote := &simConn{Conn: c2, net: n, local: dst.addr, remote: t.addr}
	local.peer, remote.peer = remote, local
	n.mu.Lock()
	if !n.reachableLocked(from, a.Addr) {
		n.stats.DialsCut++
		n.mu.Unlock()
		c1.Close()
		c2.Close()
		return nil, fmt.Errorf("dial %s: %w: cut while connecting", a.Addr, ErrUnreachable)
	}
	n.conns[local] = struct{}{}
	n.conns[remote] = struct{}{}
	n.mu.Unlock()

	var expired <-chan time.Time
	if timeout > 0 {
		timer := time.NewTimer(timeout)
		defer timer.Stop()
		expired = timer.C
	}
	select {
	case dst.streamCh <- remote:
		return local, nil
	case <-dst.done:
	case <-t.done:
	case <-expired:
	}
	local.Close()
	remote.Close()
	return nil, fmt.Errorf("dial %s: %w: not accepted", a.Addr, ErrUnreachable)
}

// sleep waits d or until the transport shuts down; it reports whether the
// whole d passed.
func (t *Transport) sleep(d time.Duration) bool {
	if d <= 0 {
		return true
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-t.done:
		return false
	}
}

// Shutdown stops deliveries to the endpoint and frees its address.
func (t *Transport) Shutdown() error {
	t.once.Do(func() {
		close(t.done)
		n := t.net
		n.mu.Lock()
		delete(n.endpoints, t.addr.String())
		for c := range n.conns {
			if c.local == t.addr {
				delete(n.conns, c)
				delete(n.conns, c.peer)
				c.Conn.Close()
				c.peer.Conn.Close()
			}
		}
		n.mu.Unlock()
	})
	return nil
}

// simConn is one end of a stream: a net.Pipe end whose writes take the link's
// latency, plus a retransmission timeout per simulated loss.
type simConn struct {
	net.Conn
	net           *Network
	local, remote *net.UDPAddr
	peer          *simConn
}

func (c *simConn) LocalAddr() net.Addr  { return c.local }
func (c *simConn) RemoteAddr() net.Addr { return c.remote }

func (c *simConn) Write(b []byte) (int, error) {
	n := c.net
	n.mu.Lock()
	delay := n.delayLocked()
	for rto := minRTO; n.link.Loss > 0 && n.rng.Float64() < n.link.Loss; rto *= 2 {
		delay += rto
	}
	n.mu.Unlock()
	if delay > 0 {
		time.Sleep(delay)
	}
	return c.Conn.Write(b)
}

func (c *simConn) Close() error {
	n := c.net
	n.mu.Lock()
	delete(n.conns, c)
	n.mu.Unlock()
	return c.Conn.Close()
}
