package node

import (
	"errors"
	"fmt"
	"time"
)

// Kinds of failure a caller can act on. Every error the node returns for a
// bad request or a state it cannot serve wraps one of them (test with
// errors.Is); its message says what was wrong and how to fix it. The node
// knows no status codes: the edges — the HTTP API (api.AsError) and the
// QUIC dispatcher — turn a kind into theirs, through its Kind name.
var (
	ErrInvalid      error = kind("invalid")        // the request is malformed: fix it
	ErrNotFound     error = kind("not_found")      // no such document or shard
	ErrShardNotHeld error = kind("shard_not_held") // this node does not hold the shard asked for; another node may
	ErrNotReady     error = kind("not_ready")      // the node is still loading: retry
	ErrConflict     error = kind("conflict")       // the node's state forbids it now
	ErrTooLarge     error = kind("too_large")      // one document too large to store at once
	ErrFull         error = kind("full")           // a shard cannot take more chunks
	ErrForbidden    error = kind("forbidden")      // the caller's token lacks the role or groups
	ErrOverloaded   error = kind("overloaded")     // too busy to start in time: retry after RetryAfter
	ErrStorageFull  error = kind("storage_full")   // the disk cannot take the write; queries still work
	// ErrModelUnavailable: a model the request needs (the embedder) is down.
	ErrModelUnavailable error = kind("model_unavailable")
)

// kind is a sentinel whose Kind names it for the edges.
type kind string

func (k kind) Error() string { return string(k) }
func (k kind) Kind() string  { return string(k) }

// Error is a failure of one kind with a message for the caller.
type Error struct {
	kind       kind
	msg        string
	retryAfter time.Duration
}

// RetryAfter is how long the caller should wait before retrying; zero when
// the node has no advice.
func (e *Error) RetryAfter() time.Duration { return e.retryAfter }

func (e *Error) Error() string { return e.msg }

// Unwrap returns the kind, so that errors.Is(err, ErrNotFound) holds.
func (e *Error) Unwrap() error { return e.kind }

// Kind names the kind ("not_found", …), for the edges' status codes.
func (e *Error) Kind() string { return string(e.kind) }

// kindOr returns the kind err carries, or def when it carries none.
func kindOr(err, def error) error {
	var e *Error
	if errors.As(err, &e) {
		return e.kind
	}
	return def
}

// errorf returns an error of kind k (one of the Err variables).
func errorf(k error, format string, a ...any) error {
	return &Error{kind: k.(kind), msg: fmt.Sprintf(format, a...)}
}
