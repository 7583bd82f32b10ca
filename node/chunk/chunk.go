// Package chunk turns a document body (plain text, Markdown or HTML) into the
// pieces that retrieval indexes and answers quote, and splits text into
// sentences so the extractive answerer cuts quotations at the same places.
//
// The work happens in two steps: Parse reduces a body to Sections (a heading
// path and its paragraphs, free of markup), and Split packs the paragraphs of
// each section into Pieces that fit a token budget. Chunk does both. The
// package does no I/O, keeps no state between calls and imports nothing of
// the project, so any package may import it.
package chunk

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Format names the markup of a document body.
type Format string

// The formats Parse understands.
const (
	FormatText     Format = "text"
	FormatMarkdown Format = "markdown"
	FormatHTML     Format = "html"
)

// ParseFormat maps the names clients use for a format (including file
// extensions) to a Format. The empty string means plain text, so a client
// that does not care never has to name one.
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "text", "plain", "txt":
		return FormatText, nil
	case "markdown", "md":
		return FormatMarkdown, nil
	case "html", "htm":
		return FormatHTML, nil
	}
	return "", fmt.Errorf("unknown document format %q: use one of text (or plain, txt), markdown (or md), html (or htm)", s)
}

// Section is a run of a document under one heading path.
type Section struct {
	// Headings is the path of enclosing headings from the top of the
	// document ("Install", "On arm64"); empty before the first heading.
	Headings []string
	// Paragraphs are whitespace-normalised and non-empty when they come
	// from Parse; Split copes with any text.
	Paragraphs []string
}

// Parse reduces body to sections of plain paragraphs. Markup that carries no
// words (tags, emphasis markers, link targets) is removed; code is kept.
// Sections without paragraphs are left out. Invalid UTF-8 is replaced with
// U+FFFD so every paragraph can be stored and sent as JSON.
func Parse(f Format, body string) ([]Section, error) {
	body = strings.ToValidUTF8(body, "\uFFFD")
	switch f {
	case FormatText:
		return parseText(body), nil
	case FormatMarkdown:
		return parseMarkdown(body), nil
	case FormatHTML:
		return parseHTML(body), nil
	}
	return nil, fmt.Errorf("cannot parse document format %q: use %q, %q or %q (ParseFormat maps other names)", f, FormatText, FormatMarkdown, FormatHTML)
}

// Default chunk budget. 128 words keeps a chunk near one idea and small enough
// for a small model's context to hold several; it also ranked best on the
// development sets (cranfield nDCG@10 0.355 against 0.349 at 256 words, with
// squad unchanged: BENCHMARKS.md). 32 words of overlap keeps a sentence cut
// at a chunk boundary findable from both sides.
const (
	DefaultMaxTokens     = 128
	DefaultOverlapTokens = 32
)

// Limits on Options.MaxTokens. Below 16 words a chunk is too short to answer
// anything; above 4096 it no longer fits the context of the small models a
// node runs.
const (
	MinMaxTokens = 16
	MaxMaxTokens = 4096
)

// Options set the size of the pieces Split makes.
type Options struct {
	// MaxTokens is the token budget per piece (see CountTokens); 0 means
	// DefaultMaxTokens.
	MaxTokens int
	// OverlapTokens is how many tokens from the end of one piece are
	// repeated at the start of the next when a section needs several
	// pieces. 0 means DefaultOverlapTokens, but never more than a quarter
	// of MaxTokens, so small budgets stay valid; negative means none.
	OverlapTokens int
}

// Validate reports whether the options can be used, saying which value to
// change when not.
func (o Options) Validate() error {
	if o.MaxTokens != 0 && (o.MaxTokens < MinMaxTokens || o.MaxTokens > MaxMaxTokens) {
		return fmt.Errorf("chunk MaxTokens %d is out of range: use 0 for the default (%d) or a value from %d to %d",
			o.MaxTokens, DefaultMaxTokens, MinMaxTokens, MaxMaxTokens)
	}
	budget, _ := o.resolve()
	if o.OverlapTokens > (budget-1)/2 {
		return fmt.Errorf("chunk OverlapTokens %d must be less than half of MaxTokens %d (at most %d): lower it, use 0 for the default or a negative value for no overlap",
			o.OverlapTokens, budget, (budget-1)/2)
	}
	return nil
}

// resolve returns the budget and overlap Split uses, replacing zeros by
// defaults and clamping out-of-range values, so Split never fails even when
// the caller skipped Validate.
func (o Options) resolve() (budget, overlap int) {
	budget = o.MaxTokens
	switch {
	case budget == 0:
		budget = DefaultMaxTokens
	case budget < MinMaxTokens:
		budget = MinMaxTokens
	case budget > MaxMaxTokens:
		budget = MaxMaxTokens
	}
	overlap = o.OverlapTokens
	switch {
	case overlap < 0:
		overlap = 0
	case overlap == 0:
		overlap = min(DefaultOverlapTokens, budget/4)
	case overlap > (budget-1)/2: // overlap < budget/2, without overflowing
		overlap = (budget - 1) / 2
	}
	return budget, overlap
}

// Piece is one chunk of text ready to be stored and indexed.
type Piece struct {
	Heading string // heading path joined with " > ", empty if none
	Text    string // whitespace-normalised, non-empty
}

// HeadingSeparator joins the headings of a path in Piece.Heading.
const HeadingSeparator = " > "

// Chunk parses body and splits it into pieces. It checks the options first,
// so a bad configuration is reported rather than silently clamped.
func Chunk(f Format, body string, o Options) ([]Piece, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	sections, err := Parse(f, body)
	if err != nil {
		return nil, err
	}
	return Split(sections, o), nil
}

// CountTokens counts the budget unit: runs of non-space characters. Words
// are a good enough proxy for model tokens to size chunks, and counting them
// needs no vocabulary on the device.
func CountTokens(s string) int {
	n := 0
	inWord := false
	for i := 0; i < len(s); {
		r, size := rune(s[i]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRuneInString(s[i:])
		}
		i += size
		if unicode.IsSpace(r) {
			inWord = false
			continue
		}
		if !inWord {
			n++
			inWord = true
		}
	}
	return n
}

// normalizeSpace joins the words of s with single spaces, the form every
// paragraph and piece text takes. Text is usually normalised already, so
// that case returns s without copying.
func normalizeSpace(s string) string {
	if isNormalized(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if !unicode.IsSpace(r) {
			b.WriteString(s[i : i+size])
			i += size
			continue
		}
		for i < len(s) {
			r, size := utf8.DecodeRuneInString(s[i:])
			if !unicode.IsSpace(r) {
				break
			}
			i += size
		}
		if b.Len() > 0 && i < len(s) {
			b.WriteByte(' ')
		}
	}
	return b.String()
}

// isNormalized reports whether s has no white space but single ASCII spaces
// between words.
func isNormalized(s string) bool {
	prevSpace := true // a leading space is not normalised
	for i := 0; i < len(s); {
		r, size := rune(s[i]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRuneInString(s[i:])
		}
		i += size
		space := unicode.IsSpace(r)
		if space && (prevSpace || r != ' ') {
			return false
		}
		prevSpace = space
	}
	return !prevSpace || s == ""
}
