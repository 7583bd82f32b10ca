// Package transport carries request/response calls between edgerag nodes
// over QUIC with mutual TLS. One bidirectional stream carries one call: a
// request frame and a response frame in the sync/wire format, with the
// caller's deadline and request id travelling in the request.
//
// Central fallback, peer routing and fleet sync all sit on top of it: they
// give a Server a Handler and call peers through one Client per node. It
// does not interpret payloads. It may be imported by any package that talks
// to other nodes; it imports sync/wire and sync/pki.
package transport

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/edgerag/edgerag/sync/pki"
	"github.com/edgerag/edgerag/sync/wire"
	"github.com/quic-go/quic-go"
)

// Handler serves one request. The payload it returns becomes the response.
// An error becomes an error response: if it wraps an *Error, that code and
// message are sent; otherwise the peer gets CodeInternal and a pointer to
// the server log, where the full error is written, because error strings
// can leak local details (paths, addresses) that peers have no use for.
//
// ctx carries the caller's deadline, its request id (RequestID) and whether
// the request arrived as replayable 0-RTT data (Early); it is cancelled
// when the caller gives up or the server closes. Handlers must return soon
// after ctx is done: Server.Close waits for them.
type Handler func(ctx context.Context, peer Peer, req wire.Frame) (payload []byte, err error)

// Peer is the authenticated remote end of a call.
type Peer struct {
	Name string   // node name from its fleet certificate
	Role string   // pki.RoleEdge or pki.RoleCentral
	Addr net.Addr // UDP address the connection comes from
	// Groups bounds the document groups the peer may assert for the
	// askers of questions it forwards (from its certificate).
	Groups pki.Groups
}

// Config configures a Server or Client. The zero value of every field but
// Identity is usable.
type Config struct {
	// Identity is the node's fleet certificate; required.
	Identity *pki.Identity
	// KeepAlivePeriod is how often an idle connection sends a packet; 0
	// means 15 s, because NAT bindings on consumer routers expire near 30 s.
	KeepAlivePeriod time.Duration
	// MaxIdleTimeout closes a connection that has heard nothing for this
	// long; 0 means 60 s. It also bounds how long a peer may take to send
	// a request once it has opened a stream.
	MaxIdleTimeout time.Duration
	// HandshakeTimeout bounds a silent handshake; 0 means 5 s.
	HandshakeTimeout time.Duration
	// Limits bounds the payloads this node accepts, requests on a Server,
	// responses on a Client. Zero means the wire registry's limits.
	Limits wire.Limits
	// Logger receives connection and request events; nil discards them.
	Logger *slog.Logger
}

// ErrClosed is returned by calls on a closed Client.
var ErrClosed = errors.New("transport closed")

// initialPacketSize keeps every packet within the 1280-byte IPv6 minimum
// MTU, less the overhead of the VPN tunnels edge sites use; larger first
// packets are silently dropped there and the handshake hangs.
const initialPacketSize = 1200

// Stream and connection error codes sent to peers. Their numbers are part
// of the protocol.
const (
	codeNoError   quic.StreamErrorCode      = 0   // done reading; the rest is not needed
	codeCanceled  quic.StreamErrorCode      = 0x1 // the caller gave up on the call
	codeRefused   quic.StreamErrorCode      = 0x2 // the server refused the request and will not read the rest
	connClosing   quic.ApplicationErrorCode = 0
	connForbidden quic.ApplicationErrorCode = 0x1 // the peer is not a valid fleet member
)

func (c Config) withDefaults() (Config, error) {
	if c.Identity == nil {
		return c, errors.New("transport: Config.Identity is nil; load the node's certificate with pki.LoadIdentity")
	}
	if c.KeepAlivePeriod < 0 || c.MaxIdleTimeout < 0 || c.HandshakeTimeout < 0 {
		return c, errors.New("transport: negative duration in Config; use 0 for the default")
	}
	if c.KeepAlivePeriod == 0 {
		c.KeepAlivePeriod = 15 * time.Second
	}
	if c.MaxIdleTimeout == 0 {
		c.MaxIdleTimeout = 60 * time.Second
	}
	if c.HandshakeTimeout == 0 {
		c.HandshakeTimeout = 5 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

func (c Config) quicConfig(server bool) *quic.Config {
	return &quic.Config{
		HandshakeIdleTimeout:  c.HandshakeTimeout,
		MaxIdleTimeout:        c.MaxIdleTimeout,
		KeepAlivePeriod:       c.KeepAlivePeriod,
		InitialPacketSize:     initialPacketSize,
		MaxIncomingUniStreams: -1, // calls use bidirectional streams only
		Allow0RTT:             server,
	}
}

// Error is a refusal sent by the remote handler: a status code and a
// message for humans. Calls return it wrapped; use errors.As to read it.
// It matches the wire sentinel errors of its code with errors.Is (for
// example CodeTooLarge matches wire.ErrTooLarge), and CodeDeadlineExceeded
// matches context.DeadlineExceeded.
type Error struct {
	Code    wire.Code
	Message string
}

// Errorf returns an *Error for a handler to refuse a request with.
func Errorf(code wire.Code, format string, args ...any) error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

func (e *Error) Error() string {
	if e.Message == "" {
		return "remote: " + e.Code.String()
	}
	return "remote: " + e.Code.String() + ": " + e.Message
}

// Is lets callers test a remote refusal with the same sentinels as a local
// failure.
func (e *Error) Is(target error) bool {
	switch e.Code {
	case wire.CodeTooLarge:
		return target == wire.ErrTooLarge
	case wire.CodeUnknownType:
		return target == wire.ErrUnknownType
	case wire.CodeUnsupported:
		return target == wire.ErrVersion
	case wire.CodeBadRequest:
		return target == wire.ErrMalformed
	case wire.CodeDeadlineExceeded:
		return target == context.DeadlineExceeded
	}
	return false
}

type requestIDKey struct{}
type earlyKey struct{}

// WithRequestID returns a context whose calls carry id as their request id,
// so that one question can be followed through the logs of every node it
// crosses. id must be at most 64 printable ASCII characters.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestID returns the request id in ctx: the one set by WithRequestID, or
// in a Handler the one the caller sent.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// Early reports whether a Handler is serving a request that arrived as
// 0-RTT data before the handshake completed. Such data can be replayed by
// anyone who recorded it; the server only lets idempotent types through
// early, but a handler with side effects on an idempotent type (counting
// queries, say) may want to know.
func Early(ctx context.Context) bool {
	early, _ := ctx.Value(earlyKey{}).(bool)
	return early
}

func newRequestID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// waitHandshake returns once conn's handshake has completed. quic-go closes
// HandshakeComplete only on success, so a failed handshake shows as the
// connection's context ending.
func waitHandshake(ctx context.Context, conn *quic.Conn) error {
	select {
	case <-conn.HandshakeComplete():
		return nil
	case <-conn.Context().Done():
		return fmt.Errorf("handshake failed: %w", context.Cause(conn.Context()))
	case <-ctx.Done():
		return ctxErr(ctx)
	}
}

// ctxErr returns ctx's error, with its cause if that says more, so that
// errors.Is(err, context.DeadlineExceeded) works either way.
func ctxErr(ctx context.Context) error {
	err := ctx.Err()
	if cause := context.Cause(ctx); cause != nil && cause != err {
		return fmt.Errorf("%w: %w", err, cause)
	}
	return err
}

func handshakeDone(conn *quic.Conn) bool {
	select {
	case <-conn.HandshakeComplete():
		return true
	default:
		return false
	}
}
