package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"

	"github.com/edgerag/edgerag/sync/wire"
	"github.com/quic-go/quic-go"
)

// Client makes calls to other nodes. A node needs one: it keeps one
// connection per remote node and address and reuses it for every call,
// because a QUIC handshake costs a round trip and CPU an edge device would
// rather spend answering. It is safe for concurrent use.
type Client struct {
	cfg    Config
	cfgErr error
	log    *slog.Logger
	// Shared by every dial, so that a reconnect resumes the TLS session
	// (cheaper, and it makes 0-RTT possible) and skips address validation.
	sessions tls.ClientSessionCache
	tokens   quic.TokenStore
	// closeCtx ends when Close is called, to abort dials in progress.
	closeCtx context.Context
	closeAll context.CancelFunc

	mu     sync.Mutex
	closed bool
	tr     *quic.Transport // created on first use
	udp    net.PacketConn  // closed by Close when the client opened it
	ownsTr bool
	conns  map[connKey]*slot
}

type connKey struct{ addr, serverName string }

// slot holds one connection, or the dial that will produce it, so that
// concurrent first calls to a node share one handshake.
type slot struct {
	ready chan struct{} // closed when the dial has finished
	conn  *quic.Conn    // set before ready is closed; nil if the dial failed
	err   error
}

// NewClient returns a client that dials from its own UDP socket, opened on
// the first call. A bad cfg is reported by every call.
func NewClient(cfg Config) *Client {
	c := newClient(cfg)
	c.ownsTr = true
	return c
}

// NewClientConn returns a client that dials from conn, which it does not
// close. Tests use it to put a lossy link under the client.
func NewClientConn(conn net.PacketConn, cfg Config) *Client {
	c := newClient(cfg)
	c.tr = &quic.Transport{Conn: conn}
	c.ownsTr = true
	return c
}

// NewClient returns a client that dials from the server's own UDP socket:
// replies then come back through the port peers already know, and a NATed
// node keeps a single binding alive. The client stops working when the
// server closes.
func (s *Server) NewClient() *Client {
	c := newClient(s.cfg)
	c.tr = s.tr
	return c
}

func newClient(cfg Config) *Client {
	cfg, err := cfg.withDefaults()
	c := &Client{
		cfg:      cfg,
		cfgErr:   err,
		sessions: tls.NewLRUClientSessionCache(64),
		tokens:   quic.NewLRUTokenStore(64, 4),
		conns:    make(map[connKey]*slot),
	}
	c.closeCtx, c.closeAll = context.WithCancel(context.Background())
	if err == nil {
		c.log = cfg.Logger.With("node", cfg.Identity.Name())
	}
	return c
}

// Close closes every connection and the client's socket. Calls in progress
// fail; later calls return ErrClosed.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.closeAll()
	slots := c.conns
	c.conns = nil
	c.mu.Unlock()

	for _, s := range slots {
		select {
		case <-s.ready:
			if s.conn != nil {
				s.conn.CloseWithError(connClosing, "client closing")
			}
		default: // the dialer sees closed and closes its connection itself
		}
	}
	var err error
	if c.ownsTr && c.tr != nil {
		err = c.tr.Close()
		if c.udp != nil {
			err = errors.Join(err, c.udp.Close())
		}
	}
	if err != nil {
		return fmt.Errorf("transport: close client: %w", err)
	}
	return nil
}

// Call sends a request of type typ to the node serverName at addr
// ("host:port") and returns the response payload. The request carries ctx's
// deadline and request id (WithRequestID; a random one otherwise).
//
// A refusal by the remote handler is returned as a wrapped *Error. When ctx
// ends first, the stream is cancelled, which cancels the handler's context
// too, and the error wraps ctx.Err().
//
// Idempotent types go out as 0-RTT data on a resumed connection, saving a
// round trip on reconnect, and are retried once on a fresh connection when
// a reused one turns out to be dead (the peer restarted, say). Other types
// wait for a full handshake and are retried only if they cannot have
// reached the peer.
func (c *Client) Call(ctx context.Context, addr, serverName string, typ wire.Type, payload []byte) ([]byte, error) {
	if c.cfgErr != nil {
		return nil, c.cfgErr
	}
	info, ok := wire.Lookup(wire.Version, typ)
	if !ok {
		return nil, fmt.Errorf("%s call to %s: %w: not in the registry of wire version %d", typ, serverName, wire.ErrUnknownType, wire.Version)
	}
	if max := c.cfg.Limits.MaxPayload(typ); len(payload) > max {
		return nil, fmt.Errorf("%s call to %s: %w: payload is %d bytes, the limit is %d; split it", typ, serverName, wire.ErrTooLarge, len(payload), max)
	}
	id := RequestID(ctx)
	if id == "" {
		id = newRequestID()
	} else if err := wire.ValidRequestID(id); err != nil {
		return nil, fmt.Errorf("%s call to %s: request id from the context: %w", typ, serverName, err)
	}
	dl, hasDL := ctx.Deadline()
	req := wire.Frame{Type: typ, RequestID: id, Deadline: wire.DeadlineFrom(dl, hasDL), Payload: payload}
	key := connKey{addr: addr, serverName: serverName}
	fail := func(err error) ([]byte, error) {
		return nil, fmt.Errorf("%s call to %s at %s (request %s): %w", typ, serverName, addr, id, err)
	}

	for attempt := 0; ; attempt++ {
		conn, fresh, err := c.conn(ctx, key, info.Idempotent)
		if err != nil {
			return fail(fmt.Errorf("connect: %w", err))
		}
		resp, sent, err := c.roundTrip(ctx, conn, req)
		if errors.Is(err, quic.Err0RTTRejected) {
			// The server discarded all 0-RTT data (its session ticket key
			// changed, typically after a restart), so the request was
			// never processed: resend it once the handshake is done.
			if _, err = conn.NextConnection(ctx); err == nil {
				resp, sent, err = c.roundTrip(ctx, conn, req)
			}
		}
		if err == nil {
			if resp.Status != wire.CodeOK {
				return fail(&Error{Code: resp.Status, Message: resp.Message()})
			}
			return resp.Payload, nil
		}
		if ctx.Err() != nil {
			return fail(ctxErr(ctx))
		}
		// quic-go fails streams before it cancels the connection's
		// context, so a closed connection shows first in the error.
		if conn.Context().Err() == nil && !errors.Is(err, net.ErrClosed) {
			return fail(err)
		}
		c.forget(key, conn)
		if attempt > 0 || fresh || (sent && !info.Idempotent) {
			return fail(err)
		}
		c.log.Debug("connection died; redialling", "server", serverName, "addr", addr, "request_id", id, "err", err)
	}
}

// roundTrip makes one call on conn. sent reports whether any of the request
// may have reached the peer.
func (c *Client) roundTrip(ctx context.Context, conn *quic.Conn, req wire.Frame) (resp wire.Frame, sent bool, err error) {
	if !req.Type.Idempotent() {
		// Until the handshake completes, stream data goes out as 0-RTT,
		// which an attacker could replay.
		if err := waitHandshake(ctx, conn); err != nil {
			return resp, false, err
		}
	}
	str, err := conn.OpenStreamSync(ctx)
	if err != nil {
		return resp, false, fmt.Errorf("open stream: %w", err)
	}
	if !handshakeDone(conn) {
		// quic-go v0.65 reads the server's transport parameters when it
		// opens a 0-RTT stream, unsynchronised with the handshake that
		// replaces them (github.com/quic-go/quic-go/issues/4303).
		// ConnectionState takes the lock the handshake takes just before
		// the replacement, which orders our read first unless the server's
		// reply is processed in the instant between the two calls.
		conn.ConnectionState()
	}
	// Cancelling both directions resets the stream; the server sees its
	// stream context end and cancels the handler.
	stop := context.AfterFunc(ctx, func() {
		str.CancelWrite(codeCanceled)
		str.CancelRead(codeCanceled)
	})
	defer stop()

	werr := wire.WriteFrame(str, req)
	if werr == nil {
		werr = str.Close()
	} else {
		str.CancelWrite(codeCanceled)
	}
	// Read even if the write failed: a server refusing a request (too
	// large, say) stops our write and explains why in its response.
	resp, rerr := wire.ReadFrame(str, c.cfg.Limits)
	if rerr != nil {
		str.CancelRead(codeCanceled)
		if werr != nil {
			return resp, true, fmt.Errorf("send request: %w", werr)
		}
		return resp, true, fmt.Errorf("read response: %w", rerr)
	}
	str.CancelRead(codeNoError) // releases the stream even if its end is still in flight
	if !resp.IsResponse() {
		return resp, true, fmt.Errorf("%w: the server sent a request frame as its response", wire.ErrMalformed)
	}
	// A refusal of a frame the server could not parse may lack its type
	// and id; a success must match.
	if resp.Status == wire.CodeOK && (resp.Type != req.Type || resp.RequestID != req.RequestID) {
		return resp, true, fmt.Errorf("%w: response of type %s for request %q does not match", wire.ErrMalformed, resp.Type, resp.RequestID)
	}
	return resp, true, nil
}

// conn returns a live connection for key, dialling if there is none. fresh
// reports whether it was dialled for this call. early dials with 0-RTT.
func (c *Client) conn(ctx context.Context, key connKey, early bool) (conn *quic.Conn, fresh bool, err error) {
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return nil, false, ErrClosed
		}
		s := c.conns[key]
		if s != nil {
			select {
			case <-s.ready:
				if s.conn != nil && s.conn.Context().Err() == nil {
					c.mu.Unlock()
					return s.conn, false, nil
				}
				delete(c.conns, key) // dead: dial a new one below
			default:
				c.mu.Unlock()
				select {
				case <-s.ready:
				case <-ctx.Done():
					return nil, false, ctxErr(ctx)
				}
				// A dial abandoned because its caller gave up says nothing
				// about the peer: try again with this caller's context.
				if s.err != nil && !errors.Is(s.err, context.Canceled) && !errors.Is(s.err, context.DeadlineExceeded) {
					return nil, false, s.err
				}
				continue
			}
		}
		s = &slot{ready: make(chan struct{})}
		c.conns[key] = s
		tr, err := c.transportLocked()
		c.mu.Unlock()

		var dialled *quic.Conn
		if err == nil {
			dialled, err = c.dial(ctx, tr, key, early)
		}
		c.mu.Lock()
		s.conn, s.err = dialled, err
		if s.err != nil && c.conns[key] == s {
			delete(c.conns, key)
		}
		if c.closed && s.conn != nil {
			s.conn.CloseWithError(connClosing, "client closing")
			s.conn, s.err = nil, ErrClosed
		}
		conn, err = s.conn, s.err
		close(s.ready)
		c.mu.Unlock()
		return conn, true, err
	}
}

// transportLocked returns the QUIC transport, opening the UDP socket on
// first use. c.mu must be held.
func (c *Client) transportLocked() (*quic.Transport, error) {
	if c.tr != nil {
		return c.tr, nil
	}
	udp, err := net.ListenUDP("udp", nil)
	if err != nil {
		return nil, fmt.Errorf("open UDP socket: %w", err)
	}
	c.udp = udp
	c.tr = &quic.Transport{Conn: udp}
	return c.tr, nil
}

func (c *Client) dial(ctx context.Context, tr *quic.Transport, key connKey, early bool) (*quic.Conn, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(c.closeCtx, cancel)
	defer stop()

	addr, err := resolve(ctx, key.addr)
	if err != nil {
		return nil, err
	}
	tlsConf := c.cfg.Identity.ClientTLS(key.serverName)
	tlsConf.ClientSessionCache = c.sessions
	qconf := c.cfg.quicConfig(false)
	qconf.TokenStore = c.tokens
	var conn *quic.Conn
	if early {
		conn, err = tr.DialEarly(ctx, addr, tlsConf, qconf)
	} else {
		conn, err = tr.Dial(ctx, addr, tlsConf, qconf)
	}
	if err != nil {
		if c.closeCtx.Err() != nil {
			return nil, ErrClosed
		}
		if ctx.Err() != nil {
			return nil, ctxErr(ctx)
		}
		return nil, err
	}
	c.log.Debug("connected", "server", key.serverName, "addr", addr, "resumed", conn.ConnectionState().TLS.DidResume)
	// Drop the connection from the pool once it dies, so that a node
	// never called again does not keep it.
	context.AfterFunc(conn.Context(), func() { c.forget(key, conn) })
	return conn, nil
}

// forget drops conn from the pool if it is still there, so that the next
// call dials afresh.
func (c *Client) forget(key connKey, conn *quic.Conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.conns[key]; s != nil && s.conn == conn {
		delete(c.conns, key)
	}
}

// resolve turns "host:port" into a UDP address, looking names up under ctx
// so that a slow resolver cannot outlast the call.
func resolve(ctx context.Context, addr string) (*net.UDPAddr, error) {
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		return net.UDPAddrFromAddrPort(ap), nil
	}
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("bad address %q: %w; want host:port", addr, err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("bad port in address %q; want a number from 0 to 65535", addr)
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, fmt.Errorf("resolve %q: %w", host, err)
	}
	return net.UDPAddrFromAddrPort(netip.AddrPortFrom(ips[0].Unmap(), uint16(port))), nil
}
