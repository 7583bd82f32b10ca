package transport

// Heard reports how many packets the connection to addr (with serverName)
// has received so far, and whether that connection is open. It dials
// nothing: with no connection yet it reports 0 and false.
//
// A caller that notes the count before a call and again after it failed
// can tell a slow peer from a dead one: a live peer's QUIC stack
// acknowledges what it was sent (and answers keep-alives) however busy its
// application is, so the count grows; a killed one sends nothing.
func (c *Client) Heard(addr, serverName string) (received uint64, open bool) {
	c.mu.Lock()
	s := c.conns[connKey{addr, serverName}]
	c.mu.Unlock()
	if s == nil {
		return 0, false
	}
	select {
	case <-s.ready:
	default:
		return 0, false // still dialling
	}
	if s.conn == nil {
		return 0, false
	}
	return s.conn.ConnectionStats().PacketsReceived, s.conn.Context().Err() == nil
}

// hearer is a Caller that reports what its connections heard (Client).
type hearer interface {
	Heard(addr, serverName string) (received uint64, open bool)
}

// Heard sums Client.Heard over the group's addresses: the packets received
// on all their connections, and whether any of them is open. A Caller
// that cannot tell reports 0 and false.
func (g *Group) Heard(serverName string) (received uint64, open bool) {
	h, ok := g.c.(hearer)
	if !ok {
		return 0, false
	}
	g.mu.Lock()
	addrs := g.knownLocked()
	g.mu.Unlock()
	for _, a := range addrs {
		n, o := h.Heard(a, serverName)
		received += n
		open = open || o
	}
	return received, open
}
