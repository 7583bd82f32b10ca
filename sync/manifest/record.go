package manifest

import (
	"fmt"
	"slices"
	"strings"
)

// Record is one chunk as central ships it: its text with the provenance of
// the document it came from, which is all an edge needs to store the chunk,
// cite it and rebuild its BM25 term vectors with its own analyzer. A shard
// manifest lists records by the hash of their canonical encoding.
type Record struct {
	DocID    string
	Title    string
	Source   string
	Position int // 0-based position of the chunk within its document
	Heading  string
	Text     string            // normalised chunk text
	Metadata map[string]string // the document's metadata (repeated on each of its chunks)
}

const recordFormat = 1

// Marshal returns the canonical encoding of r.
func (r *Record) Marshal() ([]byte, error) {
	if r.DocID == "" || r.Position < 0 {
		return nil, fmt.Errorf("chunk record: document id %q position %d: need an id and a position >= 0", r.DocID, r.Position)
	}
	e := enc{b: make([]byte, 0, 16+len(r.DocID)+len(r.Title)+len(r.Source)+len(r.Heading)+len(r.Text))}
	e.byte1(recordFormat)
	e.str(r.DocID)
	e.str(r.Title)
	e.str(r.Source)
	e.uvarint(uint64(r.Position))
	e.str(r.Heading)
	e.str(r.Text)
	keys := make([]string, 0, len(r.Metadata))
	for k := range r.Metadata {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	e.uvarint(uint64(len(keys)))
	for _, k := range keys {
		e.str(k)
		e.str(r.Metadata[k])
	}
	if len(e.b) > MaxChunkSize {
		return nil, fmt.Errorf("chunk record of document %q: %d bytes, at most %d", r.DocID, len(e.b), MaxChunkSize)
	}
	return e.b, nil
}

// UnmarshalRecord decodes a chunk record.
func UnmarshalRecord(b []byte) (Record, error) {
	if len(b) > MaxChunkSize {
		return Record{}, fmt.Errorf("%w: chunk record of %d bytes, at most %d", ErrMalformed, len(b), MaxChunkSize)
	}
	d := dec{b: b}
	var r Record
	if f := d.byte1("format"); d.err == nil && f != recordFormat {
		return r, fmt.Errorf("%w: chunk record format %d, this build reads %d", ErrMalformed, f, recordFormat)
	}
	r.DocID = d.str("document id", 256)
	r.Title = d.str("title", MaxChunkSize)
	r.Source = d.str("source", MaxChunkSize)
	pos := d.uvarint("position")
	if pos > 1<<31 {
		d.fail("position %d out of range", pos)
	}
	r.Position = int(pos)
	r.Heading = d.str("heading", MaxChunkSize)
	r.Text = d.str("text", MaxChunkSize)
	n := d.count("metadata", MaxEntries, 2)
	prev := ""
	for i := 0; i < n && d.err == nil; i++ {
		k := d.str("metadata key", MaxString)
		v := d.str("metadata value", MaxChunkSize)
		if i > 0 && strings.Compare(prev, k) >= 0 {
			d.fail("metadata keys must be sorted and unique (%q after %q)", k, prev)
		}
		if r.Metadata == nil {
			r.Metadata = make(map[string]string, n)
		}
		r.Metadata[k], prev = v, k
	}
	if err := d.end("chunk record"); err != nil {
		return Record{}, err
	}
	if r.DocID == "" {
		return Record{}, fmt.Errorf("%w: chunk record without a document id", ErrMalformed)
	}
	return r, nil
}
