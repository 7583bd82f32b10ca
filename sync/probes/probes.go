// Package probes is the pure core of a shard's probe set: the questions
// central trusts its own answers to (escalations it answered surely, and
// questions an operator added), kept per shard and bounded, which a canary
// edge answers locally before and after it applies a new version of the
// shard so that a rollout can be judged on answer quality
// (sync/rollout.Gate). It does no I/O; sync/fleet stores sets and carries
// them to canaries.
package probes

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/edgerag/edgerag/models/confidence"
)

// Where a probe came from.
const (
	FromEscalation = "escalation" // central answered an edge's escalation surely
	FromOperator   = "operator"   // an operator added it ('edgerag probes add')
)

// Bounds of a set.
const (
	// MaxPerShard bounds a shard's set: enough probes that one unlucky
	// question moves agreement by a few points, few enough that a canary
	// answers them all in seconds and the set fits one etcd value.
	MaxPerShard = 48
	// MaxQuestion bounds a probe's question, in bytes.
	MaxQuestion = 1000
	// MaxDocs is how many of central's documents a probe keeps:
	// confidence.Agreed compares at most its first five.
	MaxDocs = 5
)

// Probe is one question with the documents central cited answering it,
// best first: the trusted answer a canary's own answer is compared with.
type Probe struct {
	ID       string    `json:"id"`
	Question string    `json:"question"`
	Docs     []string  `json:"docs"`
	Source   string    `json:"source"`
	Added    time.Time `json:"added"`
}

// Set is one shard's probes, oldest first.
type Set struct {
	Shard  string  `json:"shard"`
	Probes []Probe `json:"probes"`
}

// ID names a probe by its normalised question, so the same question asked
// twice is one probe.
func ID(question string) string {
	sum := sha256.Sum256([]byte(normalize(question)))
	return hex.EncodeToString(sum[:8])
}

func normalize(q string) string { return strings.ToLower(strings.Join(strings.Fields(q), " ")) }

// Errors of New.
var (
	ErrQuestion = errors.New("probe question")
	ErrNoAnswer = errors.New("no trusted answer")
)

// New makes a probe of a question and the documents central cited for
// it, keeping at most MaxDocs distinct ones.
func New(question string, docs []string, source string, now time.Time) (Probe, error) {
	q := strings.TrimSpace(question)
	switch {
	case q == "":
		return Probe{}, fmt.Errorf("%w: empty; give the question to ask", ErrQuestion)
	case len(q) > MaxQuestion:
		return Probe{}, fmt.Errorf("%w: %d bytes, over the %d a probe may have", ErrQuestion, len(q), MaxQuestion)
	case !utf8.ValidString(q):
		return Probe{}, fmt.Errorf("%w: not valid UTF-8", ErrQuestion)
	}
	var keep []string
	for _, d := range docs {
		if d != "" && !slices.Contains(keep, d) {
			keep = append(keep, d)
		}
		if len(keep) == MaxDocs {
			break
		}
	}
	if len(keep) == 0 {
		return Probe{}, fmt.Errorf("%w: central cited no document for %q, so nothing could be compared", ErrNoAnswer, q)
	}
	return Probe{ID: ID(q), Question: q, Docs: keep, Source: source, Added: now.UTC()}, nil
}

// Add puts p into s, replacing a probe of the same question, and keeps the
// set within max probes (MaxPerShard when max ≤ 0). When full, the oldest
// probe learnt from an escalation goes first: an operator's probes were
// chosen on purpose, and a new escalation is a sample of what users ask
// now. Only when every probe is an operator's does the oldest of those go.
// It returns the set and whether it changed.
func Add(s Set, p Probe, max int) (Set, bool) {
	if max <= 0 {
		max = MaxPerShard
	}
	out := Set{Shard: s.Shard, Probes: slices.Clone(s.Probes)}
	if i := slices.IndexFunc(out.Probes, func(o Probe) bool { return o.ID == p.ID }); i >= 0 {
		old := out.Probes[i]
		if old.Source == FromOperator && p.Source != FromOperator {
			return s, false // an escalation does not overwrite the operator's answer
		}
		out.Probes = slices.Delete(out.Probes, i, i+1)
	}
	for len(out.Probes) >= max {
		i := slices.IndexFunc(out.Probes, func(o Probe) bool { return o.Source != FromOperator })
		if i < 0 {
			if p.Source != FromOperator {
				return s, false // full of the operator's probes: they stay
			}
			i = 0
		}
		out.Probes = slices.Delete(out.Probes, i, i+1)
	}
	out.Probes = append(out.Probes, p)
	return out, true
}

// Remove drops the probe with the given id (or whose question has that
// id), reporting whether there was one.
func Remove(s Set, id string) (Set, bool) {
	i := slices.IndexFunc(s.Probes, func(o Probe) bool { return o.ID == id || o.ID == ID(id) })
	if i < 0 {
		return s, false
	}
	return Set{Shard: s.Shard, Probes: slices.Delete(slices.Clone(s.Probes), i, i+1)}, true
}

// Agrees reports whether an answer (the documents it cited, best first)
// agrees with a probe's trusted one, by the same rule online
// recalibration labels escalations with (confidence.Agreed). An
// abstention agrees with nothing.
func Agrees(p Probe, docs []string, abstained bool) bool {
	return !abstained && confidence.Agreed(docs, p.Docs)
}

// Tally counts a canary's answers to a probe set.
type Tally struct {
	Probes, Agreed, Abstained int
}

// Add counts one answer to p.
func (t *Tally) Add(p Probe, docs []string, abstained bool) {
	t.Probes++
	if abstained {
		t.Abstained++
	}
	if Agrees(p, docs, abstained) {
		t.Agreed++
	}
}
