package node

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/edgerag/edgerag/models"
	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/node/shard"
	"github.com/edgerag/edgerag/node/shardstore"
	"github.com/edgerag/edgerag/node/trust"
)

// This file is the query side of trust: passages are loaded with their
// provenance, ranked with their trust, stripped of flagged sentences,
// checked for disagreement, and the answer's links are limited to the
// sources' own addresses.

// trustDepth is how many candidates past k a query retrieves, so that a
// trusted passage just below the cut can move above an untrusted one.
const trustDepth = 5

// Marks left where flagged sentences were taken out.
const (
	withheldSnippet = "[flagged text withheld]"
	// flagDisputed marks the citation of a passage that disagrees with one
	// the answer prefers; it is set per answer, never stored.
	flagDisputed   = "disputed"
	reasonConflict = "conflicting_sources"
	reasonLinks    = "links_removed"
	reasonWithheld = "flagged_text_withheld"
	// conflictPenalty scales the confidence of an answer whose sources
	// disagree: it is still given, but sooner escalated or abstained.
	conflictPenalty = 0.6
)

// candidate is a retrieved chunk with what trust needs to know of it.
type candidate struct {
	hit      Hit
	title    string
	source   string
	text     string // as stored
	clean    string // without flagged sentences
	level    trust.Level
	flags    []string
	findings []trust.Finding
	flagged  bool // withheld from the answer
	asks     bool // holds a question (see trust.AsksQuestion)
	ingested time.Time
	adjusted float64 // retrieval score weighed by trust
	loser    bool    // disagrees with a preferred passage
}

// loadCandidates reads the provenance of hits, and the texts of those that
// can still be among the k passages an answer keeps. A chunk whose record
// was screened uses the stored findings; one stored before the screen
// existed is screened now, so nothing escapes it.
//
// The k best unflagged candidates by trust-weighted score are the answer's
// passages whenever there are k of them (rankByTrust puts flagged ones
// last), and an unflagged candidate's weighted score is known from its
// document record alone. So the texts of those k are read and screened
// first, and the rest only when one of them turns out flagged: most
// questions read and screen k texts, not k + trustDepth. What is returned
// is in the order of hits, as rankByTrust expects.
func (n *Node) loadCandidates(hits []Hit, k int) ([]candidate, error) {
	out := make([]candidate, len(hits))
	docs := make([]shardstore.DocMeta, len(hits))
	for i, h := range hits {
		d, err := n.store.Doc(h.storeName(), h.DocID)
		if err != nil {
			return nil, fmt.Errorf("load citation: %w", err)
		}
		docs[i] = d
		out[i] = candidate{hit: h, title: d.Title, source: d.Source, level: trust.StoredLevel(d.Trust), ingested: d.IngestedAt}
		out[i].adjusted = h.Score * trust.Weight(out[i].level, false)
	}
	order := make([]int, len(hits))
	for i := range order {
		order[i] = i
	}
	// The order rankByTrust gives unflagged candidates: weighted score,
	// ties kept in retrieval order.
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(out[b].adjusted, out[a].adjusted) })
	first := make([]int, 0, k)
	for _, i := range order {
		if len(first) == k {
			break
		}
		if !storedFlagged(docs[i], hits[i]) {
			first = append(first, i)
		}
	}
	if err := n.screenCandidates(out, docs, first); err != nil {
		return nil, err
	}
	if len(first) == k && !slices.ContainsFunc(first, func(i int) bool { return out[i].flagged }) {
		slices.Sort(first)
		kept := make([]candidate, len(first))
		for j, i := range first {
			kept[j] = out[i]
		}
		return kept, nil
	}
	var rest []int
	for i := range hits {
		if !slices.Contains(first, i) {
			rest = append(rest, i)
		}
	}
	if err := n.screenCandidates(out, docs, rest); err != nil {
		return nil, err
	}
	return out, nil
}

// storedFlagged says whether a hit's record alone marks it withheld: a
// flag on its document, or findings stored for its chunk.
func storedFlagged(d shardstore.DocMeta, h Hit) bool {
	if d.Released {
		return false
	}
	if len(d.Flags) > 0 {
		return true
	}
	return d.Screened && h.Position < len(d.Chunks) && d.Chunks[h.Position].ID == h.ChunkID.String() && len(d.Chunks[h.Position].Spans) > 0
}

// screenCandidates reads the texts of the candidates at idx (in one
// transaction) and sets what trust knows of each.
func (n *Node) screenCandidates(out []candidate, docs []shardstore.DocMeta, idx []int) error {
	if len(idx) == 0 {
		return nil
	}
	ids := make([]shard.ChunkID, len(idx))
	for j, i := range idx {
		ids[j] = out[i].hit.ChunkID
	}
	texts, err := n.store.Texts(ids)
	if err != nil {
		return err
	}
	for j, i := range idx {
		c, d, h := &out[i], docs[i], out[i].hit
		c.text = texts[j]
		var findings []trust.Finding
		switch {
		case d.Screened && h.Position < len(d.Chunks) && d.Chunks[h.Position].ID == h.ChunkID.String():
			cm := d.Chunks[h.Position]
			c.flags = slices.Clone(cm.Flags)
			for _, sp := range cm.Spans {
				findings = append(findings, trust.Finding{Start: sp[0], End: sp[1]})
			}
		case !d.Screened:
			findings = trust.Detect(c.text)
			c.flags = trust.Names(findings)
		}
		for _, f := range d.Flags {
			if !slices.Contains(c.flags, f) {
				c.flags = append(c.flags, f)
			}
		}
		slices.Sort(c.flags)
		// A flagged chunk is withheld from the answer whole, not only its
		// flagged sentences: the rest of a chunk written to attack (the
		// restated question of a PoisonedRAG passage, the lead-in to an
		// injection) is there to be retrieved and quoted. A flag on the
		// document (instructions hidden in its markup) withholds all its
		// chunks. The citation stays, marked.
		c.flagged = (len(findings) > 0 || len(d.Flags) > 0) && !d.Released
		c.findings, c.clean = findings, c.text
		if c.flagged {
			c.clean = ""
		}
		c.adjusted = h.Score * trust.Weight(c.level, c.flagged)
		c.asks = trust.AsksQuestion(c.text)
	}
	return nil
}

// rankByTrust orders candidates by their trust-weighted scores, flagged
// ones after all others (what is left of them once their flagged sentences
// are out is rarely worth more than a clean passage), keeps k,
// then moves every passage that disagrees with a preferred one behind the
// others and drops its disagreeing sentence from what the answer is built
// from. It returns the conflicts, indexed in the final order.
func (n *Node) rankByTrust(question string, cands []candidate, k int) ([]candidate, []api.Conflict) {
	slices.SortStableFunc(cands, func(a, b candidate) int {
		if a.flagged != b.flagged {
			if a.flagged {
				return 1
			}
			return -1
		}
		return cmp.Compare(b.adjusted, a.adjusted)
	})
	cands = cands[:min(k, len(cands))]
	texts := make([]string, len(cands))
	for i, c := range cands {
		texts[i] = c.clean
	}
	found := n.checker.Conflicts(question, texts)
	if len(found) == 0 {
		return cands, nil
	}
	type pair struct {
		win, lose int
		k         trust.Conflict
	}
	pairs := make([]pair, 0, len(found))
	for _, k := range found {
		p := pair{win: k.A, lose: k.B, k: k}
		if prefer(cands[k.B], cands[k.A], k.B, k.A) {
			p.win, p.lose = k.B, k.A
		}
		pairs = append(pairs, p)
	}
	cut := make(map[int]bool)
	for _, p := range pairs {
		cands[p.lose].loser = true
		if !slices.Contains(cands[p.lose].flags, flagDisputed) {
			cands[p.lose].flags = append(cands[p.lose].flags, flagDisputed)
			slices.Sort(cands[p.lose].flags)
		}
		cut[p.lose] = true
	}
	// A losing passage is kept out of the answer's own claim, whole, for
	// the reason flagged ones are; the note and its citation still show
	// it.
	shown := make([]string, len(cands))
	for i := range cands {
		shown[i] = cands[i].clean
		if _, ok := cut[i]; ok {
			cands[i].clean = ""
		}
	}
	order := make([]int, len(cands))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		switch {
		case cands[a].loser == cands[b].loser:
			return 0
		case cands[a].loser:
			return 1
		}
		return -1
	})
	pos := make([]int, len(cands))
	sorted := make([]candidate, len(cands))
	for newPos, old := range order {
		pos[old] = newPos
		sorted[newPos] = cands[old]
	}
	conflicts := make([]api.Conflict, 0, len(pairs))
	for _, p := range pairs {
		va, vb := p.k.ValuesA, p.k.ValuesB
		if p.win == p.k.B {
			va, vb = vb, va
		}
		if p.k.Kind == trust.ConflictYesNo {
			va, vb = sentenceOf(shown[p.win], p.k, p.win == p.k.A), sentenceOf(shown[p.lose], p.k, p.lose == p.k.A)
		}
		conflicts = append(conflicts, api.Conflict{Kind: p.k.Kind, Citations: [2]int{pos[p.win] + 1, pos[p.lose] + 1}, Values: [2]string{va, vb}})
	}
	return sorted, conflicts
}

func sentenceOf(text string, k trust.Conflict, a bool) string {
	s := k.Sentence[1]
	if a {
		s = k.Sentence[0]
	}
	return snippet(s, 160)
}

// prefer says whether a should be believed over b: more trusted, then not
// flagged, then not shaped like a planted answer (it asks a question), then
// stored earlier (a passage written to contradict an established one comes
// after it), then better ranked.
func prefer(a, b candidate, ra, rb int) bool {
	if a.level != b.level {
		return a.level > b.level
	}
	if a.flagged != b.flagged {
		return !a.flagged
	}
	if a.asks != b.asks {
		return !a.asks
	}
	if !a.ingested.Equal(b.ingested) {
		return a.ingested.Before(b.ingested)
	}
	return ra < rb
}

// toPassages numbers candidates from 1 for the answerer and the response.
func toPassages(cands []candidate) ([]models.Passage, []api.Citation) {
	ps := make([]models.Passage, len(cands))
	cs := make([]api.Citation, len(cands))
	for i, c := range cands {
		h := c.hit
		ps[i] = models.Passage{N: i + 1, ChunkID: h.ChunkID.String(), DocumentID: h.DocID, Title: c.title, Source: c.source,
			Text: c.clean, Score: h.Score, Trust: c.level.String(), Flags: c.flags}
		snip := c.text
		if c.flagged {
			snip = trust.Withhold(c.text, c.findings, withheldSnippet)
			if len(c.findings) == 0 {
				snip = withheldSnippet // flagged as a whole document
			}
		}
		cs[i] = api.Citation{N: i + 1, DocumentID: h.DocID, ChunkID: h.ChunkID.String(), Shard: h.Shard, Source: c.source, Title: c.title,
			Score: h.Score, Snippet: snippet(snip, 240), Trust: c.level.String(), Flags: c.flags}
	}
	return ps, cs
}

// finishTrusted applies conflicts and the link limit to an answer.
func (n *Node) finishTrusted(resp *api.QueryResponse, conflicts []api.Conflict, withheld bool) {
	if withheld {
		resp.Reasons = append(resp.Reasons, reasonWithheld)
	}
	if len(conflicts) > 0 && !resp.Abstained {
		var b strings.Builder
		b.WriteString(resp.Answer)
		b.WriteString("\n\nThe sources disagree:")
		for _, c := range conflicts {
			a, l := resp.Citations[c.Citations[0]-1], resp.Citations[c.Citations[1]-1]
			fmt.Fprintf(&b, " [%d] (%s) says %q, while [%d] (%s) says %q.", c.Citations[0], a.Trust, c.Values[0], c.Citations[1], l.Trust, c.Values[1])
			resp.Citations[c.Citations[0]-1].Cited = true
			resp.Citations[c.Citations[1]-1].Cited = true
		}
		resp.Answer = b.String()
		resp.Conflicts = conflicts
		resp.Reasons = append(resp.Reasons, reasonConflict)
		n.metrics.Conflicts.Inc()
	}
	sources := make([]string, 0, len(resp.Citations))
	for _, c := range resp.Citations {
		sources = append(sources, c.Source)
	}
	if text, removed := trust.LimitLinks(resp.Answer, sources); removed > 0 {
		resp.Answer = text
		resp.Reasons = append(resp.Reasons, reasonLinks)
	}
}
