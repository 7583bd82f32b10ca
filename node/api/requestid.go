package api

import (
	"context"
	"log/slog"
)

// MaxRequestIDLen is the longest X-Request-Id the API takes from a client.
// It matches what a QUIC frame can carry (sync/wire.MaxRequestID), so an id
// accepted here travels unchanged to every node the query reaches.
const MaxRequestIDLen = 64

// ValidRequestID reports whether a client's X-Request-Id can be used as is:
// 1 to 64 bytes of printable ASCII without spaces. Anything else would be
// refused by the transport on escalation or would garble a log line, so the
// handler replaces it with a fresh id instead.
func ValidRequestID(id string) bool {
	if id == "" || len(id) > MaxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c < 0x21 || c > 0x7e {
			return false
		}
	}
	return true
}

// NewLogHandler wraps h so that a record logged with a context carrying a
// request id (logger.InfoContext(ctx, ...)) gets a request_id attribute,
// unless it already has one. That is what lets an operator grep one query
// across the edge, a peer and central: every node logs the same id.
func NewLogHandler(h slog.Handler) slog.Handler { return requestIDHandler{h} }

type requestIDHandler struct{ next slog.Handler }

func (h requestIDHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

func (h requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := RequestID(ctx); id != "" {
		has := false
		r.Attrs(func(a slog.Attr) bool {
			has = a.Key == "request_id"
			return !has
		})
		if !has {
			r = r.Clone()
			r.AddAttrs(slog.String("request_id", id))
		}
	}
	return h.next.Handle(ctx, r)
}

func (h requestIDHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return requestIDHandler{h.next.WithAttrs(as)}
}

func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h.next.WithGroup(name)}
}
