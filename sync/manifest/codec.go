package manifest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"unicode/utf8"
)

// ErrMalformed reports bytes that are not a valid encoding. The wrapping
// error says what exactly was wrong.
var ErrMalformed = errors.New("malformed manifest")

// Limits on decoded fields. They bound what a hostile or corrupt input can
// make a decoder allocate.
const (
	// MaxChunks bounds the chunks of a single-body shard manifest
	// (format 1); paged manifests go up to MaxShardChunks.
	MaxChunks = 1 << 20
	// MaxString bounds a name, model, analyzer or setting.
	MaxString = 4 << 10
	// MaxChunkSize bounds one chunk record.
	MaxChunkSize = 4 << 20
	// MaxEntries bounds the models, blobs per model, or settings of a
	// model or config manifest.
	MaxEntries = 4096
)

// enc appends the canonical encoding: every integer a minimal uvarint, every
// string its byte length then its bytes, floats as IEEE-754 bits in 8 bytes.
type enc struct{ b []byte }

func (e *enc) uvarint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *enc) str(s string)     { e.uvarint(uint64(len(s))); e.b = append(e.b, s...) }
func (e *enc) bytes(p []byte)   { e.b = append(e.b, p...) }
func (e *enc) float(f float64)  { e.b = binary.BigEndian.AppendUint64(e.b, math.Float64bits(f)) }
func (e *enc) varint(v int64)   { e.b = binary.AppendVarint(e.b, v) }
func (e *enc) u32(v uint32)     { e.b = binary.BigEndian.AppendUint32(e.b, v) }
func (e *enc) byte1(v byte)     { e.b = append(e.b, v) }
func (e *enc) fixed(p []byte, n int) {
	if len(p) != n {
		panic("manifest: fixed field of wrong length")
	}
	e.b = append(e.b, p...)
}

// dec reads what enc writes. The first error sticks; later reads return zero
// values, so decoders check err once at the end of a section.
type dec struct {
	b   []byte
	err error
}

func (d *dec) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
	}
}

func (d *dec) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("%s: bad or truncated integer", what)
		return 0
	}
	// Canonical means minimal: a padded varint would give the same value
	// two encodings and so two signatures.
	if n != len(binary.AppendUvarint(nil, v)) {
		d.fail("%s: integer not minimally encoded", what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) varint(what string) int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 || n != len(binary.AppendVarint(nil, v)) {
		d.fail("%s: bad, truncated or padded integer", what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) take(what string, n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b) {
		d.fail("%s: truncated (want %d bytes, %d left)", what, n, len(d.b))
		return nil
	}
	p := d.b[:n:n]
	d.b = d.b[n:]
	return p
}

func (d *dec) str(what string, max int) string {
	n := d.uvarint(what)
	if d.err != nil {
		return ""
	}
	if n > uint64(max) {
		d.fail("%s: %d bytes, at most %d", what, n, max)
		return ""
	}
	p := d.take(what, int(n))
	if d.err == nil && !utf8.Valid(p) {
		d.fail("%s: not valid UTF-8", what)
		return ""
	}
	return string(p)
}

func (d *dec) float(what string) float64 {
	p := d.take(what, 8)
	if d.err != nil {
		return 0
	}
	f := math.Float64frombits(binary.BigEndian.Uint64(p))
	if math.IsNaN(f) || math.IsInf(f, 0) {
		d.fail("%s: not a finite number", what)
		return 0
	}
	return f
}

func (d *dec) u32(what string) uint32 {
	p := d.take(what, 4)
	if d.err != nil {
		return 0
	}
	return binary.BigEndian.Uint32(p)
}

func (d *dec) byte1(what string) byte {
	p := d.take(what, 1)
	if d.err != nil {
		return 0
	}
	return p[0]
}

// count reads a length and checks it against max and against the bytes left
// (each element takes at least minSize bytes), so a short input cannot make
// the decoder allocate a huge slice.
func (d *dec) count(what string, max, minSize int) int {
	n := d.uvarint(what)
	if d.err != nil {
		return 0
	}
	if n > uint64(max) {
		d.fail("%s: %d entries, at most %d", what, n, max)
		return 0
	}
	if n*uint64(minSize) > uint64(len(d.b)) {
		d.fail("%s: %d entries cannot fit in the %d bytes left", what, n, len(d.b))
		return 0
	}
	return int(n)
}

func (d *dec) end(what string) error {
	if d.err == nil && len(d.b) != 0 {
		d.fail("%s: %d bytes of trailing data", what, len(d.b))
	}
	return d.err
}
