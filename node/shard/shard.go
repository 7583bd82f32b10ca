// Package shard holds the leaf types every part of a node shares: shard names,
// content-addressed chunk identifiers, documents and their chunks. It does no
// I/O and imports nothing of the project, so storage, retrieval, routing and
// fleet sync can all depend on it.
package shard

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// DefaultName is the shard a document goes to when none is named.
const DefaultName = "default"

// Limits on names and ids; they keep keys short and make routing tags bounded.
const (
	MaxNameLen = 64
	MaxIDLen   = 256
)

// ErrNotFound reports a key, document or shard the store does not hold.
// The store returns it wrapped; fleet sync tests for it without importing
// the store.
var ErrNotFound = errors.New("not found")

// KV is one key and its value in the store's fleet-sync key space.
type KV struct {
	Key   string
	Value []byte
}

// ErrBadName reports a shard name that does not follow ValidName's rules.
var ErrBadName = errors.New("bad shard name")

// ValidName reports whether name can name a shard: 1–64 characters of
// lower-case ASCII letters, digits, '-', '_' and '.', starting with a letter
// or digit. Names appear in Badger keys, Serf tags and URLs, so they are kept
// to characters that need no escaping anywhere.
func ValidName(name string) error {
	if name == "" || len(name) > MaxNameLen {
		return fmt.Errorf("%w %q: must be 1 to %d characters", ErrBadName, name, MaxNameLen)
	}
	for i, r := range name {
		ok := (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || (i > 0 && (r == '-' || r == '_' || r == '.'))
		if !ok {
			return fmt.Errorf("%w %q: use lower-case letters, digits, '-', '_' and '.', starting with a letter or digit", ErrBadName, name)
		}
	}
	return nil
}

// ValidID reports whether id can identify a document: 1–256 bytes of valid
// UTF-8 without control characters.
func ValidID(id string) error {
	if id == "" || len(id) > MaxIDLen {
		return fmt.Errorf("document id must be 1 to %d bytes, got %d", MaxIDLen, len(id))
	}
	if !utf8.ValidString(id) {
		return errors.New("document id is not valid UTF-8")
	}
	for _, r := range id {
		if unicode.IsControl(r) {
			return errors.New("document id contains a control character")
		}
	}
	return nil
}

// ChunkID is the content address of a chunk: the first 16 bytes of the
// SHA-256 of its normalised text. 128 bits keep keys short while making an
// accidental collision across a fleet's lifetime negligible.
type ChunkID [16]byte

// String returns the id as 32 lower-case hex digits.
func (id ChunkID) String() string { return hex.EncodeToString(id[:]) }

// ParseChunkID parses the form String returns.
func ParseChunkID(s string) (ChunkID, error) {
	var id ChunkID
	if len(s) != 2*len(id) {
		return id, fmt.Errorf("chunk id %q: want %d hex digits", s, 2*len(id))
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, fmt.Errorf("chunk id %q: %w", s, err)
	}
	return id, nil
}

// Normalize folds the differences in a chunk's text that do not change its
// content: runs of white space become one space and the ends are trimmed.
// Case is kept, because answers quote the text.
func Normalize(text string) string {
	return strings.Join(strings.Fields(text), " ")
}

// HashText returns the content address of text after Normalize.
func HashText(text string) ChunkID {
	sum := sha256.Sum256([]byte(Normalize(text)))
	var id ChunkID
	copy(id[:], sum[:len(id)])
	return id
}

// Chunk is one piece of a document as it is stored and retrieved.
type Chunk struct {
	ID       ChunkID // HashText(Text)
	Position int     // 0-based position of the chunk within its document
	Heading  string  // heading path the chunk sits under, if any ("A > B")
	Text     string  // normalised text
}

// Document is the unit of ingest: replacing or deleting a document replaces
// or deletes all its chunks at once.
type Document struct {
	Shard      string            // shard name
	ID         string            // caller's document id, unique within the shard
	Title      string            // title, indexed with every chunk
	Source     string            // source URI
	Metadata   map[string]string // caller's metadata, stored and returned as is
	IngestedAt time.Time         // when this version of the document was stored
	Chunks     []Chunk           // in document order
}

// Info summarises a shard for status pages and membership tags.
type Info struct {
	Name      string    `json:"name"`
	Version   uint64    `json:"version"`   // increases whenever the content changes
	Documents int       `json:"documents"` // documents held
	Chunks    int       `json:"chunks"`    // chunks held
	UpdatedAt time.Time `json:"updated_at"`
}
