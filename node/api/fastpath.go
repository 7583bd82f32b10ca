package api

import (
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// The connection fast path: refusing excess without net/http.
//
// Under a surge of ten times what a node can answer, nine requests in ten
// are refused. Through net/http a refusal costs ~27 µs of the node's CPU
// on a small VM (measured: BenchmarkQueryVsRefusal), most of it net/http's
// request parsing, its Request, header map, context and response writer,
// its deadlines and connection-state bookkeeping; an answer costs ~1 ms.
// Nine such refusals per answer take ~20 % of the CPU from the answers.
//
// So each accepted connection is wrapped: its Read, which net/http calls
// for the next request's bytes, reads the socket into its own small buffer
// and frames each request itself (request line and headers, strictly
// validated; the body by Content-Length). A request that net/http has not
// seen, arriving while net/http has no request of the connection in hand,
// is offered to Server.Shed; when Shed returns a prebuilt refusal (the
// node is saturated, and the request is an authenticated query that would
// be refused anyway), the refusal is written here and the request's bytes
// are dropped: net/http never sees it. Every other request is handed to
// net/http byte for byte, so what it serves is unchanged.
//
// Why at Read, per request, and not per connection or at accept: the
// clients that flood a node hold keep-alive connections opened before the
// surge, so shedding at accept (the connection limits below, the kernel's
// backlog) does not reach them, and a connection cannot be taken back from
// net/http once it serves it. At the Read boundary the bytes belong to the
// fast path until it hands them over, which settles the ownership of the
// bytes net/http would otherwise read ahead into its buffer.
//
// Order on the connection: a refusal may be written only while net/http
// has no response of this connection to write, i.e. when every request
// handed to it has finished (http.Server.ConnState reports StateIdle once
// per finished request). A request that arrives while net/http serves an
// earlier one (read by net/http's background read, or pipelined) is held
// until net/http asks for its next request. For the count to mean that, the fast
// path hands net/http whole requests only, framed exactly as net/http
// frames them; whatever it cannot frame with certainty (chunked bodies,
// bare LFs, folded or duplicate length headers, upgrades, HTTP/1.0, heads
// larger than its buffer) turns the connection to plain pass-through for
// the rest of its life. FuzzParseHead checks the framing against
// net/http's own reader.
//
// What it saves and what it cannot: the refusal's bytes are prebuilt
// (Prebuilt.wire), several pipelined refusals go out in one write, the
// deadlines are renewed at most once a second. What remains are the
// system calls every request costs (a read, a write and the read that
// finds the socket empty) and the wake-up of the connection's goroutine.

// fastBufSize is the fast path's buffer per connection: a request head
// and a small body (a query) fit; anything larger is passed through.
const fastBufSize = 4 << 10

// refusalWriteTimeout bounds the write of a fast refusal: a client that
// does not read its answers loses its connection.
const refusalWriteTimeout = 10 * time.Second

// fastConn is an accepted connection: bounded by the limits (release on
// Close) and, when the server has a Shed function, with the fast path.
type fastConn struct {
	net.Conn
	srv     *Server
	client  string
	once    sync.Once
	release func()

	buf     []byte // buf[r:w] holds bytes read but not yet handed or dropped
	r, w    int
	out     []byte // refusals not yet written
	pending int    // bytes of the current request still to hand to net/http
	// handed counts requests given to net/http, done those it finished;
	// they are equal when net/http holds none of this connection's.
	handed atomic.Int64
	done   atomic.Int64
	// raw: pass everything through (nothing to shed with, a request the
	// fast path could not frame, or a hijacked connection).
	raw atomic.Bool
	// Deadlines the fast path set, renewed at most once a second; zero
	// when net/http set its own since.
	readBy, writeBy time.Time
	headWait        bool // the read deadline is a head deadline
	// owning: the fast path has refused a request since it last handed
	// one to net/http, so the wait for the next is its to bound.
	owning bool
}

func (c *fastConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// connState is the server's http.Server.ConnState: it counts finished
// requests, and lets a hijacked connection go.
func connState(nc net.Conn, st http.ConnState) {
	c, ok := nc.(*fastConn)
	if !ok {
		return
	}
	switch st {
	case http.StateIdle:
		c.done.Add(1)
	case http.StateHijacked:
		c.raw.Store(true)
	}
}

// Read gives net/http the next bytes of the requests it is to serve,
// after refusing, here, those the server's Shed refuses.
func (c *fastConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		raw := c.raw.Load()
		switch {
		case c.r < c.w && raw:
			n := copy(p, c.buf[c.r:c.w])
			c.r += n
			return n, nil
		case c.r < c.w && c.pending > 0:
			n := copy(p, c.buf[c.r:c.r+min(c.w-c.r, c.pending)])
			c.r += n
			c.pending -= n
			return n, nil
		case raw:
			return c.Conn.Read(p)
		case c.pending > 0:
			// The rest of a body the buffer did not hold.
			n, err := c.Conn.Read(p[:min(len(p), c.pending)])
			c.pending -= n
			return n, err
		}
		hold, err := c.next()
		if err != nil || hold {
			return 0, err
		}
	}
}

// next deals with the request at the head of the buffer: refuses it
// (dropping its bytes), hands it to net/http (pending), marks the
// connection raw, or reads more of it. It holds a whole request back
// (hold) while net/http serves an earlier one: the read then is net/http's
// background read, which watches the connection while a handler runs and
// takes (0, nil) as nothing to report; the request is dealt with when
// net/http asks for its next request, so that it can still be refused.
func (c *fastConn) next() (hold bool, err error) {
	if c.buf == nil {
		c.buf = make([]byte, fastBufSize)
	}
	h, st := parseHead(c.buf[c.r:c.w])
	switch {
	case st == headUnframed, st == headMore && c.w-c.r == len(c.buf):
		return false, c.passThrough()
	case st == headMore:
		return false, c.fill()
	case c.handed.Load() != c.done.Load():
		return true, nil
	}
	total := h.size + h.body
	if h.fast && total <= len(c.buf) {
		if p := c.srv.Shed(h.method, h.target, h.auth, c.client); p != nil {
			for c.w-c.r < total {
				if err := c.fill(); err != nil {
					return false, err
				}
			}
			c.r += total
			c.owning = true
			c.srv.fastRefused.Add(1)
			c.out = p.appendWire(c.out, time.Now(), h.requestID)
			if c.r == c.w {
				// Nothing more is buffered: answer now, before waiting
				// for the client's next request.
				return false, c.flush()
			}
			return false, nil
		}
	}
	if err := c.flush(); err != nil {
		return false, err
	}
	c.handed.Add(1)
	c.pending = total
	// net/http sets its own deadlines for the request.
	c.readBy, c.writeBy, c.headWait, c.owning = time.Time{}, time.Time{}, false, false
	return false, nil
}

// passThrough gives up the fast path for this connection: net/http reads
// the buffered bytes and then the socket.
func (c *fastConn) passThrough() error {
	if err := c.flush(); err != nil {
		return err
	}
	c.raw.Store(true)
	return nil
}

// flush writes the refusals not yet written.
func (c *fastConn) flush() error {
	if len(c.out) == 0 {
		return nil
	}
	now := time.Now()
	if now.After(c.writeBy.Add(time.Second - refusalWriteTimeout)) {
		c.writeBy = now.Add(refusalWriteTimeout)
		if err := c.Conn.SetWriteDeadline(c.writeBy); err != nil {
			return err
		}
	}
	_, err := c.Conn.Write(c.out)
	c.out = c.out[:0]
	return err
}

// fill reads more of the request at the head of the buffer. While the
// fast path holds the connection between refusals it keeps net/http's
// deadlines: a whole head within ReadHeaderTimeout of its first bytes,
// the next request within IdleTimeout of the last refusal.
func (c *fastConn) fill() error {
	if c.r > 0 {
		c.w = copy(c.buf, c.buf[c.r:c.w])
		c.r = 0
	}
	if err := c.flush(); err != nil {
		return err
	}
	if err := c.renewReadDeadline(); err != nil {
		return err
	}
	n, err := c.Conn.Read(c.buf[c.w:])
	c.w += n
	if n > 0 {
		return nil
	}
	return err
}

// renewReadDeadline sets the read deadline of the fast path's wait, while
// net/http waits for the connection's next request (in a read from a
// background goroutine net/http's own deadline must stay). A begun head
// must be complete within ReadHeaderTimeout, as net/http requires; after a
// refusal the next request must come within IdleTimeout, renewed at most
// once a second (or a quarter of it), so that an idle client is cut
// between three quarters of IdleTimeout and IdleTimeout after its last
// request. Before any refusal net/http's idle deadline stands.
func (c *fastConn) renewReadDeadline() error {
	if c.handed.Load() != c.done.Load() {
		return nil
	}
	l := &c.srv.limits
	now := time.Now()
	switch {
	case c.w > c.r:
		if c.headWait {
			return nil
		}
		c.headWait = true
		c.readBy = now.Add(l.ReadHeaderTimeout)
	case c.owning && (c.headWait || now.After(c.readBy.Add(min(time.Second, l.IdleTimeout/4)-l.IdleTimeout))):
		c.headWait = false
		c.readBy = now.Add(l.IdleTimeout)
	default:
		return nil
	}
	return c.Conn.SetReadDeadline(c.readBy)
}
