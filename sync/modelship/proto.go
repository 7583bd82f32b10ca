// Package modelship ships Ollama models from central to edges that have no
// internet: central serves a signed model manifest (sync/manifest's Models)
// and byte ranges of the model blobs over the QUIC transport, and the edge
// stages missing blobs under its data directory, resuming a broken transfer
// from the bytes it already holds, checks each against its digest, hands it
// to its local Ollama (POST /api/blobs/:digest) and recreates the model with
// /api/create, then checks that the result has central's manifest digest.
//
// Central reads its models straight from its Ollama models directory
// (OLLAMA_MODELS, ~/.ollama/models by default), because Ollama's API has no
// call that returns a blob or a model's layer list.
//
// Wire types: 10 (model-manifest) and 11 (model-blob) of sync/wire.
package modelship

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/edgerag/edgerag/sync/wire"
)

// Range sizes. A range is one message held whole in memory on both ends,
// so it is bounded by the wire limit; 1 MiB keeps an edge's memory small
// and makes a lost range cheap to fetch again on a flaky link.
const (
	DefaultRange = 1 << 20
	MaxRange     = wire.MaxBlobRange
)

// ErrBadRequest reports a range request that is not well formed.
var ErrBadRequest = errors.New("malformed model blob request")

// RangeRequest asks for Length bytes of the blob Digest from Offset on.
// The response is the raw bytes: exactly Length of them, or fewer only when
// the blob ends first.
type RangeRequest struct {
	Digest [32]byte // SHA-256 of the blob
	Offset uint64
	Length uint32
}

// rangeFormat is the first byte of a request, so the layout can change.
const rangeFormat = 1

// maxOffset bounds an offset: no blob is larger than 2^50 bytes (1 PiB),
// and the bound keeps offset+length far from overflow.
const maxOffset = 1 << 50

// Marshal encodes r: format byte, 32 digest bytes, uvarint offset, uvarint
// length.
func (r RangeRequest) Marshal() []byte {
	b := make([]byte, 0, 1+32+2*binary.MaxVarintLen64)
	b = append(b, rangeFormat)
	b = append(b, r.Digest[:]...)
	b = binary.AppendUvarint(b, r.Offset)
	return binary.AppendUvarint(b, uint64(r.Length))
}

// ParseRangeRequest decodes and checks a request from a peer.
func ParseRangeRequest(b []byte) (RangeRequest, error) {
	var r RangeRequest
	if len(b) < 1+32+2 {
		return r, fmt.Errorf("%w: %d bytes, want at least 35", ErrBadRequest, len(b))
	}
	if b[0] != rangeFormat {
		return r, fmt.Errorf("%w: format %d, this build reads %d: upgrade the node", ErrBadRequest, b[0], rangeFormat)
	}
	copy(r.Digest[:], b[1:33])
	rest := b[33:]
	off, n := uvarint(rest)
	if n <= 0 {
		return r, fmt.Errorf("%w: bad offset varint", ErrBadRequest)
	}
	rest = rest[n:]
	length, n := uvarint(rest)
	if n <= 0 {
		return r, fmt.Errorf("%w: bad length varint", ErrBadRequest)
	}
	if n != len(rest) {
		return r, fmt.Errorf("%w: %d trailing bytes", ErrBadRequest, len(rest)-n)
	}
	switch {
	case off > maxOffset:
		return r, fmt.Errorf("%w: offset %d over %d", ErrBadRequest, off, uint64(maxOffset))
	case length == 0 || length > MaxRange:
		return r, fmt.Errorf("%w: length %d; ask for 1 to %d bytes", ErrBadRequest, length, MaxRange)
	}
	r.Offset, r.Length = off, uint32(length)
	return r, nil
}

// uvarint reads a minimally encoded uvarint, so that one request has one
// encoding; n <= 0 means malformed.
func uvarint(b []byte) (uint64, int) {
	v, n := binary.Uvarint(b)
	if n <= 0 || n != len(binary.AppendUvarint(nil, v)) {
		return 0, -1
	}
	return v, n
}

// ParseDigest checks an Ollama digest ("sha256:" and 64 lower-case hex
// digits) and returns its bytes. Digests name files on both ends, so
// nothing else may pass: no path can be smuggled in as a digest.
func ParseDigest(d string) ([32]byte, error) {
	var out [32]byte
	h, ok := strings.CutPrefix(d, "sha256:")
	if !ok || len(h) != 64 || strings.ToLower(h) != h {
		return out, fmt.Errorf("digest %q: want \"sha256:\" and 64 lower-case hex digits", d)
	}
	if _, err := hex.Decode(out[:], []byte(h)); err != nil {
		return out, fmt.Errorf("digest %q: %w", d, err)
	}
	return out, nil
}

// digestString is the inverse of ParseDigest.
func digestString(d [32]byte) string { return "sha256:" + hex.EncodeToString(d[:]) }

// blobFile is the file name a blob is kept under: Ollama's own
// "sha256-<hex>", built from the parsed bytes, never from peer text.
func blobFile(d [32]byte) string { return "sha256-" + hex.EncodeToString(d[:]) }
