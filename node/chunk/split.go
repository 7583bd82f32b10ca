package chunk

import (
	"strings"
)

// Split packs the paragraphs of each section into pieces of at most
// o.MaxTokens tokens. Out-of-range options are clamped rather than refused
// (Chunk refuses them); check them with Validate first.
//
// Paragraphs stay whole when they fit in a piece. A longer paragraph is cut
// between sentences, and a sentence longer than a piece between words. When
// a section needs several pieces, each next piece starts with the last
// OverlapTokens tokens of the one before, whole sentences where they fit,
// so a passage cut at a boundary can still be found and quoted whole. Pieces
// never span two sections, and a section without words gives none. The
// overlap counts toward the budget.
func Split(sections []Section, o Options) []Piece {
	budget, overlap := o.resolve()
	var pieces []Piece
	for _, s := range sections {
		heading := joinHeadings(s.Headings)
		p := packer{budget: budget, overlap: overlap}
		for _, para := range s.Paragraphs {
			p.addParagraph(para)
		}
		p.flush()
		for _, text := range p.texts {
			pieces = append(pieces, Piece{Heading: heading, Text: text})
		}
	}
	return pieces
}

func joinHeadings(headings []string) string {
	var parts []string
	for _, h := range headings {
		if h = normalizeSpace(h); h != "" {
			parts = append(parts, h)
		}
	}
	return strings.Join(parts, HeadingSeparator)
}

// segment is a run of words that overlap selection treats as a whole: a
// sentence, or a part of a sentence too long for one piece.
type segment []string

// packer fills the pieces of one section.
type packer struct {
	budget  int // tokens per piece
	overlap int // tokens repeated from the previous piece

	current []segment // the piece being filled
	size    int       // tokens in current
	fresh   bool      // whether current holds words not in the previous piece
	texts   []string  // finished pieces
}

// addParagraph adds one paragraph, keeping it in one piece when it fits in
// what a piece has room for after the overlap.
func (p *packer) addParagraph(para string) {
	room := p.budget - p.overlap
	var sentences []segment
	total := 0
	for _, span := range Sentences(para) {
		words := strings.Fields(para[span.Start:span.End])
		sentences = append(sentences, words)
		total += len(words)
	}
	if total == 0 {
		return
	}
	if total <= room {
		p.add(sentences, total)
		return
	}
	for _, s := range sentences {
		if len(s) <= room {
			p.add([]segment{s}, len(s))
			continue
		}
		for len(s) > 0 {
			n := min(room, len(s))
			p.add([]segment{s[:n]}, n)
			s = s[n:]
		}
	}
}

// add appends a unit of size tokens that must not be cut, starting a new
// piece when it does not fit. Units are at most budget-overlap tokens, so
// one always fits after the overlap.
func (p *packer) add(unit []segment, size int) {
	if p.fresh && p.size+size > p.budget {
		p.flush()
		p.current = tail(p.current, p.overlap)
		p.size = 0
		for _, s := range p.current {
			p.size += len(s)
		}
	}
	p.current = append(p.current, unit...)
	p.size += size
	p.fresh = true
}

// flush finishes the current piece if it has new words.
func (p *packer) flush() {
	if !p.fresh {
		return
	}
	var b strings.Builder
	for _, s := range p.current {
		for _, w := range s {
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(w)
		}
	}
	p.texts = append(p.texts, b.String())
	p.fresh = false
}

// tail returns the overlap for the piece after segments: the longest run of
// whole trailing segments within n tokens, or, when even the last segment
// is longer, its last n words.
func tail(segments []segment, n int) []segment {
	if n <= 0 || len(segments) == 0 {
		return nil
	}
	from, size := len(segments), 0
	for from > 0 && size+len(segments[from-1]) <= n {
		from--
		size += len(segments[from])
	}
	if from == len(segments) {
		last := segments[len(segments)-1]
		return []segment{last[len(last)-n:]}
	}
	// A new slice: the caller appends to it while segments may still be
	// shared with the piece just finished.
	return append([]segment(nil), segments[from:]...)
}
