package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"
	"unicode/utf8"
)

// Frame layout, all integers big-endian:
//
//	offset size field
//	0      2    magic 0xE2 0x52
//	2      1    version
//	3      1    flags
//	4      2    type
//	6      2    status (0 in requests)
//	8      8    deadline, unix nanoseconds, 0 = none
//	16     4    payload length
//	20     1    request id length (0..64)
//	21     n    request id (printable ASCII)
//	21+n   m    payload
//
// A fixed-size header keeps the decoder simple and lets it check every limit
// before it allocates anything for the payload.
const (
	magic0, magic1 = 0xE2, 0x52
	prefixLen      = 3  // magic + version: read first, so that another version's layout is never parsed
	headerLen      = 21 // fixed part, including prefixLen
)

// Flags qualify a frame.
type Flags uint8

// FlagResponse marks a response; without it the frame is a request. The
// other bits are reserved and must be zero.
const FlagResponse Flags = 1 << 0

// Errors ReadFrame and AppendFrame return. Test with errors.Is; the wrapping
// error's message says what exactly was wrong.
var (
	ErrMalformed   = errors.New("malformed frame")
	ErrTruncated   = errors.New("truncated frame")
	ErrVersion     = errors.New("unsupported wire version")
	ErrUnknownType = errors.New("unknown message type")
	ErrTooLarge    = errors.New("payload too large")
)

// Frame is one request or response.
type Frame struct {
	Type  Type
	Flags Flags
	// Status is CodeOK in requests. In a response with another status the
	// payload is a UTF-8 message for humans of at most MaxMessage bytes.
	Status Code
	// RequestID ties together the log lines of one request on every node it
	// crosses: at most MaxRequestID printable ASCII characters.
	RequestID string
	// Deadline is when the caller stops waiting, in unix nanoseconds; 0 means
	// none. Wall-clock time, so it is only as good as both nodes' clocks.
	Deadline int64
	Payload  []byte
}

// IsResponse reports whether f is a response.
func (f Frame) IsResponse() bool { return f.Flags&FlagResponse != 0 }

// DeadlineTime returns the deadline as a time, and false if there is none.
func (f Frame) DeadlineTime() (time.Time, bool) {
	if f.Deadline == 0 {
		return time.Time{}, false
	}
	return time.Unix(0, f.Deadline), true
}

// DeadlineFrom converts a context-style deadline to the frame's form.
func DeadlineFrom(t time.Time, ok bool) int64 {
	if !ok || t.UnixNano() <= 0 {
		return 0
	}
	return t.UnixNano()
}

// Message returns the error message of an error response, or "".
func (f Frame) Message() string {
	if !f.IsResponse() || f.Status == CodeOK {
		return ""
	}
	return string(f.Payload)
}

// Response builds the successful response to req.
func Response(req Frame, payload []byte) Frame {
	return Frame{Type: req.Type, Flags: FlagResponse, RequestID: req.RequestID, Payload: payload}
}

// ErrorResponse builds a refusal of req with code and msg. The message is cut
// to MaxMessage bytes and made valid UTF-8; CodeOK becomes CodeInternal,
// because a refusal must not read as success.
func ErrorResponse(req Frame, code Code, msg string) Frame {
	if code == CodeOK {
		code = CodeInternal
	}
	msg = strings.ToValidUTF8(msg, "?")
	if len(msg) > MaxMessage {
		cut := MaxMessage
		for cut > 0 && !utf8.RuneStart(msg[cut]) {
			cut--
		}
		msg = msg[:cut]
	}
	return Frame{Type: req.Type, Flags: FlagResponse, Status: code, RequestID: req.RequestID, Payload: []byte(msg)}
}

// ValidRequestID reports whether id can travel in a frame.
func ValidRequestID(id string) error {
	if len(id) > MaxRequestID {
		return fmt.Errorf("%w: request id is %d bytes, at most %d allowed", ErrMalformed, len(id), MaxRequestID)
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c < 0x21 || c > 0x7e {
			return fmt.Errorf("%w: request id %q has byte 0x%02x at %d; use printable ASCII without spaces", ErrMalformed, id, c, i)
		}
	}
	return nil
}

// check reports what makes f impossible to encode. It does not consult the
// type registry: the decoder on the other end enforces that, and tests and
// newer peers need to send types this build does not know.
func (f Frame) check() error {
	if f.Flags&^FlagResponse != 0 {
		return fmt.Errorf("%w: reserved flag bits 0x%02x set", ErrMalformed, uint8(f.Flags&^FlagResponse))
	}
	if !f.IsResponse() && f.Status != CodeOK {
		return fmt.Errorf("%w: request carries status %d; only responses have a status", ErrMalformed, f.Status)
	}
	if f.Deadline < 0 {
		return fmt.Errorf("%w: negative deadline %d", ErrMalformed, f.Deadline)
	}
	if err := ValidRequestID(f.RequestID); err != nil {
		return err
	}
	if f.IsResponse() && f.Status != CodeOK && len(f.Payload) > MaxMessage {
		return fmt.Errorf("%w: error message is %d bytes, at most %d allowed", ErrTooLarge, len(f.Payload), MaxMessage)
	}
	if uint64(len(f.Payload)) > math.MaxUint32 {
		return fmt.Errorf("%w: payload is %d bytes, the frame format allows %d", ErrTooLarge, len(f.Payload), uint32(math.MaxUint32))
	}
	return nil
}

// AppendFrame appends the encoding of f to dst.
func AppendFrame(dst []byte, f Frame) ([]byte, error) {
	if err := f.check(); err != nil {
		return dst, err
	}
	dst = appendHeader(dst, f)
	return append(dst, f.Payload...), nil
}

func appendHeader(dst []byte, f Frame) []byte {
	dst = append(dst, magic0, magic1, Version, byte(f.Flags))
	dst = binary.BigEndian.AppendUint16(dst, uint16(f.Type))
	dst = binary.BigEndian.AppendUint16(dst, uint16(f.Status))
	dst = binary.BigEndian.AppendUint64(dst, uint64(f.Deadline))
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(f.Payload)))
	dst = append(dst, byte(len(f.RequestID)))
	return append(dst, f.RequestID...)
}

// smallFrame is the payload size up to which WriteFrame copies the payload
// next to the header, so that small frames leave in one Write (one QUIC
// STREAM frame) and big ones are not copied.
const smallFrame = 16 << 10

// WriteFrame writes f to w.
func WriteFrame(w io.Writer, f Frame) error {
	if err := f.check(); err != nil {
		return err
	}
	n := headerLen + len(f.RequestID)
	if len(f.Payload) <= smallFrame {
		n += len(f.Payload)
	}
	buf := appendHeader(make([]byte, 0, n), f)
	if len(f.Payload) <= smallFrame {
		buf = append(buf, f.Payload...)
	}
	if _, err := w.Write(buf); err != nil {
		return fmt.Errorf("write %s frame: %w", f.Type, err)
	}
	if len(f.Payload) > smallFrame {
		if _, err := w.Write(f.Payload); err != nil {
			return fmt.Errorf("write %s payload: %w", f.Type, err)
		}
	}
	return nil
}

// ReadFrame reads one frame from r, checking it against the registry and
// limits before it reads the payload, so an oversize or unknown frame costs
// no allocation.
//
// It returns io.EOF, unwrapped, if r ends before the first byte. On any other
// error the returned Frame holds the header fields decoded so far (never a
// payload), so that a server can address its refusal to the right type and
// request id. Error responses are not checked against the registry: a server
// refusing an unknown type echoes that type back.
func ReadFrame(r io.Reader, limits Limits) (Frame, error) {
	var f Frame
	// One buffer for header and id: it escapes to the heap through r, so
	// one allocation instead of two.
	var buf [headerLen + MaxRequestID]byte
	hdr := buf[:headerLen]
	if n, err := io.ReadFull(r, hdr[:prefixLen]); err != nil {
		if n == 0 && errors.Is(err, io.EOF) {
			return f, io.EOF
		}
		return f, readErr("header", err)
	}
	if hdr[0] != magic0 || hdr[1] != magic1 {
		return f, fmt.Errorf("%w: starts with 0x%02x%02x, not the edgerag magic 0x%02x%02x; the peer is not speaking the edgerag protocol", ErrMalformed, hdr[0], hdr[1], magic0, magic1)
	}
	if hdr[2] != Version {
		return f, fmt.Errorf("%w: frame version %d, this node speaks version %d; run the same edgerag release on both nodes", ErrVersion, hdr[2], Version)
	}
	if _, err := io.ReadFull(r, hdr[prefixLen:]); err != nil {
		return f, readErr("header", err)
	}
	f.Flags = Flags(hdr[3])
	f.Type = Type(binary.BigEndian.Uint16(hdr[4:]))
	f.Status = Code(binary.BigEndian.Uint16(hdr[6:]))
	f.Deadline = int64(binary.BigEndian.Uint64(hdr[8:]))
	size := binary.BigEndian.Uint32(hdr[16:])
	idLen := int(hdr[20])

	if idLen > MaxRequestID {
		return f, fmt.Errorf("%w: request id length %d exceeds %d", ErrMalformed, idLen, MaxRequestID)
	}
	if idLen > 0 {
		id := buf[headerLen : headerLen+idLen]
		if _, err := io.ReadFull(r, id); err != nil {
			return f, readErr("request id", err)
		}
		f.RequestID = string(id)
	}
	// Checked only after the id is read, so that even a refusal of a
	// malformed frame can name the request in the peer's log.
	if err := f.check(); err != nil {
		return f, err
	}

	limit, what := MaxMessage, "error message"
	if !f.IsResponse() || f.Status == CodeOK {
		if _, ok := Lookup(Version, f.Type); !ok {
			return f, fmt.Errorf("%w %d: this node's wire version %d does not know it; upgrade this node or stop sending %d", ErrUnknownType, f.Type, Version, f.Type)
		}
		limit, what = limits.MaxPayload(f.Type), f.Type.String()+" payload"
	}
	if uint64(size) > uint64(limit) {
		return f, fmt.Errorf("%w: %s of %d bytes exceeds the limit of %d bytes; send it in smaller batches", ErrTooLarge, what, size, limit)
	}
	if size == 0 {
		return f, nil
	}
	payload, err := readPayload(r, int(size))
	if err != nil {
		return f, fmt.Errorf("%s payload of %d bytes: %w", f.Type, size, err)
	}
	f.Payload = payload
	return f, nil
}

// readPayload reads exactly n bytes, growing its buffer as data arrives, so
// that a frame claiming a large payload but cut short allocates in
// proportion to what was actually sent.
func readPayload(r io.Reader, n int) ([]byte, error) {
	const first = 64 << 10
	buf := make([]byte, 0, min(n, first))
	for len(buf) < n {
		if len(buf) == cap(buf) {
			bigger := make([]byte, len(buf), min(n, 2*cap(buf)))
			copy(bigger, buf)
			buf = bigger
		}
		k, err := io.ReadFull(r, buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+k]
		if err != nil {
			return nil, readErr("payload", err)
		}
	}
	return buf, nil
}

// readErr classifies a read failure: the reader ending early is a truncated
// frame; anything else (a reset stream, a timeout) is passed on as is.
func readErr(part string, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: input ended inside the %s", ErrTruncated, part)
	}
	return fmt.Errorf("read frame %s: %w", part, err)
}

// CodeOf maps a decoding error to the status a server should refuse with.
func CodeOf(err error) Code {
	switch {
	case err == nil:
		return CodeOK
	case errors.Is(err, ErrTooLarge):
		return CodeTooLarge
	case errors.Is(err, ErrUnknownType):
		return CodeUnknownType
	case errors.Is(err, ErrVersion):
		return CodeUnsupported
	case errors.Is(err, ErrMalformed), errors.Is(err, ErrTruncated):
		return CodeBadRequest
	}
	return CodeInternal
}
