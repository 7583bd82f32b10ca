// Package trust decides what answers may be built from. It holds the pure
// rules, with no I/O, clocks or globals: trust levels and who may set them,
// the injection and poisoning detector that flags passages at ingest and at
// sync, redaction of personal data and named secrets before a question
// leaves the node, conflict detection between passages that answer the same
// question, and the link filter for answers. The node package and central's
// publisher import it; it imports only the standard library and the pure
// node/analysis and node/chunk packages.
package trust

import (
	"errors"
	"fmt"
	"strings"
)

// Level is how far a passage's origin is trusted. Higher is more trusted;
// the zero value is Untrusted, so a record that says nothing is never
// trusted by accident.
type Level int

// Trust levels, lowest first.
const (
	// Untrusted: crawled or uploaded text nobody vouched for.
	Untrusted Level = iota
	// Local: ingested on this node by a caller holding a token.
	Local
	// Central: delivered by fleet sync in a version central signed.
	Central
)

// String returns the level's name as the API shows it.
func (l Level) String() string {
	switch l {
	case Central:
		return "central"
	case Local:
		return "local"
	default:
		return "untrusted"
	}
}

// ParseLevel reads a level's name; "" is an error, so callers decide the
// default.
func ParseLevel(s string) (Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "central":
		return Central, nil
	case "local":
		return Local, nil
	case "untrusted":
		return Untrusted, nil
	}
	return Untrusted, fmt.Errorf("trust %q: use central, local or untrusted", s)
}

// StoredLevel reads a level from a stored record. Records written before
// trust existed have none; they were ingested locally, so they are Local.
func StoredLevel(s string) Level {
	if s == "" {
		return Local
	}
	l, err := ParseLevel(s)
	if err != nil {
		return Untrusted
	}
	return l
}

// ErrRaise reports a request for more trust than the caller's origin gives.
var ErrRaise = errors.New("raising trust above what the origin gives needs an admin token")

// Resolve returns the level a document gets: the origin's level, or the
// requested one when it is lower. A request above the origin's level is
// allowed only when admin is true (the caller proved an admin role); the
// role check itself belongs to the caller's authentication.
func Resolve(origin Level, requested string, admin bool) (Level, error) {
	if requested == "" {
		return origin, nil
	}
	want, err := ParseLevel(requested)
	if err != nil {
		return origin, err
	}
	if want > origin && !admin {
		return origin, fmt.Errorf("trust %q above %q: %w", want, origin, ErrRaise)
	}
	return want, nil
}

// Weight is the factor a retrieval score is multiplied by when answers are
// ranked: trusted passages come first among near-equals, and a flagged
// passage falls behind an unflagged one unless it is far more relevant.
func Weight(l Level, flagged bool) float64 {
	w := 1.0
	switch l {
	case Local:
		w = 0.9
	case Untrusted:
		w = 0.7
	}
	if flagged {
		w *= 0.5
	}
	return w
}

// ReleasedKey is the metadata key central adds to the records of a document
// an admin released, so that edges, which screen what they receive again,
// do not withhold what central's admin judged harmless. Ingest refuses it
// (and every key starting with ReservedPrefix) from callers.
const (
	ReservedPrefix = "edgerag:"
	ReleasedKey    = ReservedPrefix + "released"
)
