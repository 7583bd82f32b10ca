package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"sync"
	"time"

	"github.com/edgerag/edgerag/sync/pki"
	"github.com/edgerag/edgerag/sync/wire"
	"github.com/quic-go/quic-go"
)

// Server accepts calls from fleet members and hands each to its Handler on
// its own goroutine.
type Server struct {
	cfg Config
	h   Handler
	log *slog.Logger

	udp net.PacketConn // closed by Close when the server opened it
	tr  *quic.Transport
	ln  *quic.EarlyListener

	// ctx is the parent of every handler context; Close cancels it.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // accept loop, connection and stream goroutines

	mu      sync.Mutex
	closing bool
	conns   map[*quic.Conn]struct{}

	closeOnce sync.Once
	closeErr  error
}

// Listen opens a UDP socket on addr ("host:port"; port 0 picks one) and
// serves calls on it until Close. ctx bounds the setup only.
func Listen(ctx context.Context, addr string, cfg Config, h Handler) (*Server, error) {
	var lc net.ListenConfig
	udp, err := lc.ListenPacket(ctx, "udp", addr)
	if err != nil {
		return nil, fmt.Errorf("transport: listen on %s: %w", addr, err)
	}
	s, err := newServer(ctx, udp, cfg, h)
	if err != nil {
		udp.Close()
		return nil, err
	}
	s.udp = udp
	return s, nil
}

// ListenPacket serves calls on conn until Close, which does not close conn.
// Tests use it to put a lossy or delaying link under the server.
func ListenPacket(ctx context.Context, conn net.PacketConn, cfg Config, h Handler) (*Server, error) {
	return newServer(ctx, conn, cfg, h)
}

func newServer(ctx context.Context, conn net.PacketConn, cfg Config, h Handler) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if h == nil {
		return nil, errors.New("transport: nil Handler")
	}
	// The stateless reset key is derived from the node key, not random, so
	// that after a restart this node can still tell peers that their old
	// connections are gone; they then redial at once instead of waiting
	// out the idle timeout.
	resetKey := quic.StatelessResetKey(cfg.Identity.DeriveSecret("quic stateless reset key"))
	tr := &quic.Transport{Conn: conn, StatelessResetKey: &resetKey}
	ln, err := tr.ListenEarly(cfg.Identity.ServerTLS(), cfg.quicConfig(true))
	if err != nil {
		tr.Close()
		return nil, fmt.Errorf("transport: listen on %s: %w", conn.LocalAddr(), err)
	}
	s := &Server{
		cfg:   cfg,
		h:     h,
		log:   cfg.Logger.With("node", cfg.Identity.Name()),
		tr:    tr,
		ln:    ln,
		conns: make(map[*quic.Conn]struct{}),
	}
	// Keep ctx's values (trace ids, loggers) for handlers, not its
	// cancellation: the server lives until Close.
	s.ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	s.wg.Add(1)
	go s.acceptLoop()
	return s, nil
}

// Addr returns the UDP address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Close stops accepting connections, cancels the contexts of running
// handlers, closes every connection and waits for all goroutines.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closing = true
		conns := make([]*quic.Conn, 0, len(s.conns))
		for c := range s.conns {
			conns = append(conns, c)
		}
		s.mu.Unlock()

		err := s.ln.Close()
		s.cancel()
		for _, c := range conns {
			c.CloseWithError(connClosing, "server shutting down")
		}
		s.wg.Wait()
		err = errors.Join(err, s.tr.Close())
		if s.udp != nil {
			err = errors.Join(err, s.udp.Close())
		}
		if err != nil {
			s.closeErr = fmt.Errorf("transport: close server: %w", err)
		}
	})
	return s.closeErr
}

func (s *Server) acceptLoop() {
	defer s.wg.Done()
	for {
		conn, err := s.ln.Accept(s.ctx)
		if err != nil {
			if s.ctx.Err() == nil {
				s.log.Error("accepting connections failed; server stops serving", "err", err)
			}
			return
		}
		s.mu.Lock()
		if s.closing {
			s.mu.Unlock()
			conn.CloseWithError(connClosing, "server shutting down")
			continue
		}
		s.conns[conn] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serveConn(conn)
	}
}

func (s *Server) serveConn(conn *quic.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, conn)
		s.mu.Unlock()
	}()
	peer, err := s.identify(conn)
	if err != nil {
		if s.ctx.Err() == nil {
			s.log.Warn("refused connection", "remote", conn.RemoteAddr(), "err", err)
			conn.CloseWithError(connForbidden, "not a fleet member")
		}
		return
	}
	log := s.log.With("peer", peer.Name, "remote", peer.Addr)
	log.Debug("connection accepted", "resumed", conn.ConnectionState().TLS.DidResume, "0rtt", conn.ConnectionState().Used0RTT)
	for {
		str, err := conn.AcceptStream(s.ctx)
		if err != nil {
			if s.ctx.Err() == nil {
				log.Debug("connection ended", "err", context.Cause(conn.Context()))
			}
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serveStream(conn, peer, str, log)
		}()
	}
}

// identify returns the authenticated peer of conn. The listener hands out
// connections before their handshake completes, so that 0-RTT requests can
// be served at once; a resumed session already carries the verified client
// certificate then, while a full handshake has to finish first.
func (s *Server) identify(conn *quic.Conn) (Peer, error) {
	cs := conn.ConnectionState().TLS
	if len(cs.VerifiedChains) == 0 {
		ctx, cancel := context.WithTimeout(s.ctx, 2*s.cfg.HandshakeTimeout)
		err := waitHandshake(ctx, conn)
		cancel()
		if err != nil {
			return Peer{}, err
		}
		cs = conn.ConnectionState().TLS
	}
	name, role, err := pki.PeerName(cs)
	if err != nil {
		return Peer{}, err
	}
	return Peer{Name: name, Role: role, Addr: conn.RemoteAddr(), Groups: pki.GroupsOf(cs.PeerCertificates[0])}, nil
}

func (s *Server) serveStream(conn *quic.Conn, peer Peer, str *quic.Stream, log *slog.Logger) {
	start := time.Now()
	// A peer that opens a stream and goes quiet must not hold a goroutine
	// for as long as it keeps the connection alive.
	str.SetReadDeadline(start.Add(s.cfg.MaxIdleTimeout))
	req, err := wire.ReadFrame(str, s.cfg.Limits)
	switch {
	case err == io.EOF:
		str.Close()
		return
	case err != nil && wire.CodeOf(err) == wire.CodeInternal:
		// Not a bad frame but a broken stream (reset, timeout): there is
		// nobody to answer.
		log.Debug("reading request failed", "err", err)
		str.CancelRead(codeCanceled)
		str.CancelWrite(codeCanceled)
		return
	case err != nil:
		s.refuse(str, req, wire.CodeOf(err), err.Error(), log)
		return
	case req.IsResponse():
		s.refuse(str, req, wire.CodeBadRequest, "got a response frame where a request was expected", log)
		return
	case s.revoked(conn):
		// The handshake checked the revocation list of its time; a list
		// applied since must also cut off connections already open.
		s.refuse(str, req, wire.CodeUnauthorized, "the certificate of "+peer.Name+" was revoked; enroll the device again", log)
		return
	}
	// The whole request is in; the rest of the stream (normally just its
	// end) is of no interest.
	str.CancelRead(codeNoError)

	early := !handshakeDone(conn)
	if early && !req.Type.Idempotent() {
		// Anyone who recorded the 0-RTT packets can replay them; only a
		// completed handshake proves the peer is live.
		if err := waitHandshake(str.Context(), conn); err != nil {
			str.CancelWrite(codeCanceled)
			return
		}
		early = false
	}

	ctx, cancel := context.WithCancelCause(s.ctx)
	defer cancel(nil)
	// The stream's context ends when the caller cancels its read side or
	// the connection closes.
	stop := context.AfterFunc(str.Context(), func() { cancel(errors.New("caller went away")) })
	defer stop()
	if dl, ok := req.DeadlineTime(); ok {
		var cancelDL context.CancelFunc
		ctx, cancelDL = context.WithDeadline(ctx, dl)
		defer cancelDL()
	}
	ctx = context.WithValue(WithRequestID(ctx, req.RequestID), earlyKey{}, early)

	payload, herr := s.call(ctx, peer, req)
	var resp wire.Frame
	switch {
	case herr != nil:
		code, msg := s.refusal(ctx, req, herr)
		log.Info("request failed", "type", req.Type, "request_id", req.RequestID, "code", code, "err", herr, "took", time.Since(start))
		resp = wire.ErrorResponse(req, code, msg)
	case len(payload) > s.cfg.Limits.MaxPayload(req.Type):
		log.Error("handler response over the payload limit", "type", req.Type, "request_id", req.RequestID, "size", len(payload))
		resp = wire.ErrorResponse(req, wire.CodeInternal, fmt.Sprintf("the %s response is %d bytes, over the limit of %d", req.Type, len(payload), s.cfg.Limits.MaxPayload(req.Type)))
	default:
		log.Debug("request served", "type", req.Type, "request_id", req.RequestID, "early", early, "took", time.Since(start))
		resp = wire.Response(req, payload)
	}
	if str.Context().Err() != nil {
		return // the caller is gone
	}
	str.SetWriteDeadline(time.Now().Add(s.cfg.MaxIdleTimeout))
	if err := wire.WriteFrame(str, resp); err != nil {
		log.Debug("writing response failed", "type", req.Type, "request_id", req.RequestID, "err", err)
		str.CancelWrite(codeCanceled)
		return
	}
	str.Close()
}

// revoked reports whether the fleet revoked the certificate conn's peer
// presented.
func (s *Server) revoked(conn *quic.Conn) bool {
	certs := conn.ConnectionState().TLS.PeerCertificates
	return len(certs) > 0 && s.cfg.Identity.Revoked(certs[0])
}

// call runs the handler, turning a panic into an error so that one bad
// request cannot take the node down.
func (s *Server) call(ctx context.Context, peer Peer, req wire.Frame) (payload []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("handler panicked", "type", req.Type, "request_id", req.RequestID, "panic", r, "stack", string(debug.Stack()))
			err = fmt.Errorf("handler panicked: %v", r)
		}
	}()
	return s.h(ctx, peer, req)
}

// refusal picks the code and message a failed handler's caller sees.
func (s *Server) refusal(ctx context.Context, req wire.Frame, err error) (wire.Code, string) {
	var te *Error
	switch {
	case errors.As(err, &te):
		return te.Code, te.Message
	case s.ctx.Err() != nil:
		return wire.CodeUnavailable, "the node is shutting down; retry the request elsewhere or later"
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil:
		return wire.CodeDeadlineExceeded, "the request deadline passed while the server was handling it"
	case errors.Is(err, context.Canceled) && ctx.Err() != nil:
		return wire.CodeCanceled, "the request was canceled"
	}
	return wire.CodeInternal, fmt.Sprintf("internal error on %s; look for request id %q in its log", s.cfg.Identity.Name(), req.RequestID)
}

// refuse answers a request that never reached the handler. It stops
// reading first, so that a peer still sending an oversize payload is told
// to stop rather than being read to the end.
func (s *Server) refuse(str *quic.Stream, req wire.Frame, code wire.Code, msg string, log *slog.Logger) {
	log.Warn("refused request", "type", req.Type, "request_id", req.RequestID, "code", code, "reason", msg)
	str.CancelRead(codeRefused)
	str.SetWriteDeadline(time.Now().Add(s.cfg.MaxIdleTimeout))
	if err := wire.WriteFrame(str, wire.ErrorResponse(req, code, msg)); err != nil {
		str.CancelWrite(codeRefused)
		return
	}
	str.Close()
}
