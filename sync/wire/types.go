// Package wire defines how one request or one response is framed on a QUIC
// stream between edgerag nodes: a small binary header (magic, version, type,
// flags, status, request id, deadline, payload length) followed by an opaque
// payload that callers fill with JSON.
//
// It is pure: it reads from an io.Reader and writes to an io.Writer and does
// nothing else, so it can be fuzzed and reused by any transport. The message
// type registry here is the single list of what the fleet may say to itself;
// sync/transport and every package that sends or serves fleet messages may
// import it. It imports nothing of the project.
package wire

import (
	"fmt"
	"strconv"
)

// Version is the frame layout this package writes and the only one it reads.
// A frame with another version is refused with ErrVersion so that a peer
// running newer software gets a clear error instead of a misparse.
const Version = 1

// Type identifies what a message asks for. The same type is echoed in the
// response so that logs on both ends name the operation.
type Type uint16

// The message types of wire version 1. Numbers are part of the protocol:
// never renumber or reuse one; add new types at the end.
const (
	// TypePing checks that a peer is reachable and measures round trips.
	TypePing Type = 1
	// TypeQuery asks a peer or the central node to answer a question.
	TypeQuery Type = 2
	// TypeShardList asks which shards, at which versions, a node holds.
	TypeShardList Type = 3
	// TypeManifest fetches the signed manifest of one shard version.
	TypeManifest Type = 4
	// TypeChunks fetches a batch of chunks by content id.
	TypeChunks Type = 5
	// TypeReport acknowledges an applied shard version or reports node
	// state; it changes state on the receiver, so it is not idempotent.
	TypeReport Type = 6

	// TypeSyncVersions asks central for the latest published version of
	// each shard (fleet sync's poll).
	TypeSyncVersions Type = 7

	// Numbers 8-9 are kept for fleet sync, 10-11 for model blobs and 12-13
	// for membership, so that work on them can land in any order.

	// TypeModelManifest fetches central's signed model manifest: the
	// Ollama models every edge must hold (sync/modelship).
	TypeModelManifest Type = 10
	// TypeModelBlob fetches one byte range of a model blob named by its
	// digest (sync/modelship), so a broken transfer resumes where it was.
	TypeModelBlob Type = 11
)

// maxType is the highest number Types scans; raise it when adding a type.
const maxType Type = 16

// Payload size limits, in bytes.
const (
	// DefaultMaxPayload bounds a payload when nothing larger is registered.
	// Payloads are held in memory whole, and edge nodes have little of it.
	DefaultMaxPayload = 1 << 20
	// MaxChunkBatch bounds a chunk batch, the largest message the fleet sends.
	MaxChunkBatch = 8 << 20
	// MaxManifest bounds a shard manifest (one entry per chunk of a shard).
	MaxManifest = 4 << 20
	// MaxBlobRange bounds one range of a model blob: models are gigabytes,
	// so they travel in many bounded ranges, never whole.
	MaxBlobRange = 4 << 20
	// MaxMessage bounds the human-readable message of an error response.
	MaxMessage = 4 << 10
	// MaxRequestID bounds a request id; ids only tie log lines together.
	MaxRequestID = 64
)

// TypeInfo describes one registered message type.
type TypeInfo struct {
	Type Type
	Name string
	// Since is the first wire version that knows the type; a frame of an
	// older version that carries it is refused as an unknown type.
	Since uint8
	// MaxPayload bounds the payload of requests and responses of this type
	// unless Limits overrides it.
	MaxPayload int
	// Idempotent types may be sent in 0-RTT data, which an attacker can
	// replay, and may be retried after a connection failure.
	Idempotent bool
}

// registry lists every known type. It is a function over a switch rather
// than a package-level map so that nothing can modify it at run time.
func registry(t Type) (TypeInfo, bool) {
	switch t {
	case TypePing:
		return TypeInfo{t, "ping", 1, DefaultMaxPayload, true}, true
	case TypeQuery:
		return TypeInfo{t, "query", 1, DefaultMaxPayload, true}, true
	case TypeShardList:
		return TypeInfo{t, "shard-list", 1, DefaultMaxPayload, true}, true
	case TypeManifest:
		return TypeInfo{t, "manifest", 1, MaxManifest, true}, true
	case TypeChunks:
		return TypeInfo{t, "chunks", 1, MaxChunkBatch, true}, true
	case TypeReport:
		return TypeInfo{t, "report", 1, DefaultMaxPayload, false}, true
	case TypeSyncVersions:
		return TypeInfo{t, "sync-versions", 1, DefaultMaxPayload, true}, true
	case TypeModelManifest:
		return TypeInfo{t, "model-manifest", 1, MaxManifest, true}, true
	case TypeModelBlob:
		return TypeInfo{t, "model-blob", 1, MaxBlobRange, true}, true
	}
	return TypeInfo{}, false
}

// Lookup returns the registered description of t as known to wire version
// version.
func Lookup(version uint8, t Type) (TypeInfo, bool) {
	info, ok := registry(t)
	if !ok || info.Since > version {
		return TypeInfo{}, false
	}
	return info, true
}

// Types returns every type known to this version, in numeric order.
func Types() []TypeInfo {
	var out []TypeInfo
	for t := Type(1); t <= maxType; t++ {
		if info, ok := Lookup(Version, t); ok {
			out = append(out, info)
		}
	}
	return out
}

// String returns the registered name, or the number for an unknown type.
func (t Type) String() string {
	if info, ok := registry(t); ok {
		return info.Name
	}
	return "type-" + strconv.Itoa(int(t))
}

// Idempotent reports whether t is registered as safe to replay.
func (t Type) Idempotent() bool {
	info, ok := registry(t)
	return ok && info.Idempotent
}

// Limits bounds the payload sizes a decoder accepts. The zero value applies
// the registered limit of each type.
type Limits struct {
	// Payload overrides the registered maximum payload size for the types it
	// lists; values <= 0 are ignored.
	Payload map[Type]int
}

// MaxPayload returns the largest payload accepted for type t.
func (l Limits) MaxPayload(t Type) int {
	if n, ok := l.Payload[t]; ok && n > 0 {
		return n
	}
	if info, ok := registry(t); ok {
		return info.MaxPayload
	}
	return DefaultMaxPayload
}

// Code is the status of a response. Codes are part of the protocol: never
// renumber one. Decoders accept unknown codes so that newer peers can add
// some; treat an unknown code like CodeInternal.
type Code uint16

// Status codes.
const (
	CodeOK               Code = 0
	CodeBadRequest       Code = 1  // the request frame or payload was malformed
	CodeUnknownType      Code = 2  // the server does not know the message type
	CodeTooLarge         Code = 3  // the payload exceeds the server's limit
	CodeUnsupported      Code = 4  // the server does not speak the frame version
	CodeUnauthorized     Code = 5  // the peer's role may not make this request
	CodeNotFound         Code = 6  // the named shard, manifest or chunk is absent
	CodeUnavailable      Code = 7  // overloaded or shutting down; retry later
	CodeDeadlineExceeded Code = 8  // the request deadline passed on the server
	CodeCanceled         Code = 9  // the request was cancelled
	CodeInternal         Code = 10 // the handler failed; see the server log
)

func (c Code) String() string {
	switch c {
	case CodeOK:
		return "ok"
	case CodeBadRequest:
		return "bad request"
	case CodeUnknownType:
		return "unknown type"
	case CodeTooLarge:
		return "too large"
	case CodeUnsupported:
		return "unsupported version"
	case CodeUnauthorized:
		return "unauthorized"
	case CodeNotFound:
		return "not found"
	case CodeUnavailable:
		return "unavailable"
	case CodeDeadlineExceeded:
		return "deadline exceeded"
	case CodeCanceled:
		return "canceled"
	case CodeInternal:
		return "internal error"
	}
	return fmt.Sprintf("code %d", uint16(c))
}
