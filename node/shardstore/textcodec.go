package shardstore

import (
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"io"
	"sync"
)

// Chunk texts are the largest part of a store (about half of it, measured
// at 100k and 1M chunks), and text compresses about 1.8× even one chunk at
// a time, so each is stored deflated when that is smaller. A deflated text
// starts with textDeflated, a byte no UTF-8 text starts with (the node
// stores only valid UTF-8), so texts written before, stored as they are,
// read unchanged. Deflate at its fastest level: about 20 µs of CPU a chunk
// here, against ~200 µs of ingest CPU a chunk; level 6 gained 4% for twice
// the time, and zstd compressed these short texts less (1.72×).
const textDeflated = 0xff

// minDeflate is the shortest text worth deflating: below it the saving is
// a few bytes at best.
const minDeflate = 64

type deflater struct {
	buf bytes.Buffer
	w   *flate.Writer
}

var deflaters = sync.Pool{New: func() any {
	d := new(deflater)
	d.w, _ = flate.NewWriter(&d.buf, flate.BestSpeed) // only fails for a bad level
	return d
}}

var errCorruptText = errors.New("corrupt chunk text")

var inflaters = sync.Pool{New: func() any { return flate.NewReader(bytes.NewReader(nil)) }}

// encodeText returns the stored form of a chunk's text: deflated behind a
// textDeflated byte when that is shorter, else the text itself.
func encodeText(text string) []byte {
	if len(text) < minDeflate {
		return []byte(text)
	}
	d := deflaters.Get().(*deflater)
	defer deflaters.Put(d)
	d.buf.Reset()
	d.buf.WriteByte(textDeflated)
	d.w.Reset(&d.buf)
	_, err := io.WriteString(d.w, text)
	if err == nil {
		err = d.w.Close()
	}
	if err != nil || d.buf.Len() >= len(text) {
		return []byte(text)
	}
	return bytes.Clone(d.buf.Bytes())
}

// decodeText returns the text encodeText stored as v.
func decodeText(v []byte) (string, error) {
	if len(v) == 0 || v[0] != textDeflated {
		return string(v), nil
	}
	r := inflaters.Get().(io.ReadCloser)
	defer inflaters.Put(r)
	if err := r.(flate.Resetter).Reset(bytes.NewReader(v[1:]), nil); err != nil {
		return "", fmt.Errorf("%w: %w", errCorruptText, err)
	}
	var b bytes.Buffer
	b.Grow(2 * len(v))
	if _, err := b.ReadFrom(r); err != nil {
		return "", fmt.Errorf("%w: %w", errCorruptText, err)
	}
	return b.String(), nil
}
