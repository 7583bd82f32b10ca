// Package analysis turns English text into the terms that BM25 indexes and
// searches. Index and query must use the same analysis for their terms to
// meet, so every part of the node that touches terms goes through an
// Analyzer; any package may import it. It depends on nothing but the
// standard library.
//
// The pipeline copies Lucene's EnglishAnalyzer, because the project's
// quality bar is a set of reference BM25 scores made with it:
//
//  1. split the text into tokens at word boundaries (below);
//  2. drop an English possessive: "John's" and "John’s" become "John";
//  3. lower-case, by Unicode simple case mapping;
//  4. drop Lucene's 33 English stopwords ("the", "of", "is", ...);
//  5. stem with the Porter stemmer ("connections" → "connect").
//
// Tokens follow Lucene's StandardTokenizer, which implements the word
// boundaries of Unicode UAX #29. A token is a run of letters and digits,
// with combining marks kept on the letter they follow, and also keeps:
//
//   - an apostrophe, '.' or ':' between two letters: "don't", "o'neill",
//     "U.S.A" (the final '.' of "U.S.A." is outside), "example.com";
//   - '.', ',', ';' or an apostrophe between two digits: "3.5", "1,000";
//   - '_' between word characters: "snake_case".
//
// Everything else separates tokens: spaces, hyphens and dashes ("24–10"
// gives "24" and "10"), other punctuation and symbols, and invalid UTF-8.
// Letters beside digits join ("mp3", "1990s"), but a '.' between a digit and
// a letter splits ("a9.com" gives "a9" and "com"). Each Han ideograph and
// hiragana character is a token by itself and katakana runs are tokens,
// as in Lucene, so CJK text yields usable terms without a dictionary.
// Tokens longer than 255 characters are cut into pieces of at most 255.
//
// Keeping '.' between letters follows Lucene: "U.S." analyses to "u." (the
// stemmer takes the "s" of "u.s" for a plural), the same term for the index
// and the question, where splitting would give the one-letter terms "u" and
// "s". Deliberate departures from Lucene, none
// of which changes where tokens begin or end in ordinary English: ’ and ＇
// (and ‘) inside a token are written as ', so "don’t" and "don't" match;
// invisible format characters such as the soft hyphen are dropped from
// terms; leading and trailing underscores are not part of a token; emoji
// are not tokens; and the Hebrew and Southeast Asian special cases of
// UAX #29 are not implemented (those letters join like any others).
package analysis

import (
	"unicode"
	"unicode/utf8"
)

// DefaultCacheSize is how many distinct surface forms an Analyzer remembers
// unless told otherwise: enough for the vocabulary of a large corpus, in
// roughly 15 MB.
const DefaultCacheSize = 200_000

// Options change an Analyzer's behaviour. The zero value is Lucene's
// EnglishAnalyzer.
type Options struct {
	KeepStopwords bool // default false: drop Lucene's 33 English stopwords
	NoStem        bool // default false: apply the Porter stemmer
	// CacheSize bounds how many distinct surface forms ("Running", "the")
	// the analyzer remembers the terms of. 0 means DefaultCacheSize; a
	// negative value turns the cache off, which costs speed, never
	// correctness.
	CacheSize int
}

// Analyzer turns text into index terms. Safe for concurrent use. Create one
// per node and share it: its cache of analysed words is what makes it
// fast, and each Analyzer has its own. The zero value analyses like New()
// but without a cache.
type Analyzer struct {
	keepStopwords bool
	noStem        bool
	cache         *termCache // nil when turned off
}

// New returns an Analyzer with the English defaults: stopwords dropped,
// terms stemmed.
func New() *Analyzer {
	return NewWithOptions(Options{})
}

// NewWithOptions returns an Analyzer configured by o.
func NewWithOptions(o Options) *Analyzer {
	a := &Analyzer{keepStopwords: o.KeepStopwords, noStem: o.NoStem}
	switch {
	case o.CacheSize == 0:
		a.cache = newTermCache(DefaultCacheSize)
	case o.CacheSize > 0:
		a.cache = newTermCache(o.CacheSize)
	}
	return a
}

// Terms returns the terms of text in text order, repeats included.
func (a *Analyzer) Terms(text string) []string {
	// About one term per eight bytes of English prose, so most texts need
	// a single allocation.
	return a.AppendTerms(make([]string, 0, len(text)/8+1), text)
}

// AppendTerms appends the terms of text to dst in text order, repeats
// included, and returns the extended slice. Reusing dst across calls makes
// analysis of familiar words allocation-free. The appended strings are
// shared and immutable; they never refer to text's memory.
func (a *Analyzer) AppendTerms(dst []string, text string) []string {
	for pos := 0; ; {
		start, end, ok := nextToken(text, pos)
		if !ok {
			return dst
		}
		pos = end
		if term := a.term(text[start:end]); term != "" {
			dst = append(dst, term)
		}
	}
}

// term returns the term a token analyses to, or "" if it yields none.
func (a *Analyzer) term(surface string) string {
	if a.cache == nil || len(surface) > maxCachedLen {
		return a.analyze(surface)
	}
	if term, ok := a.cache.get(surface); ok {
		return term
	}
	term := a.analyze(surface)
	a.cache.put(surface, term)
	return term
}

// analyze runs steps 2 to 5 of the pipeline on one token. The result is a
// newly allocated string, or "" when the token is a stopword.
func (a *Analyzer) analyze(surface string) string {
	// Most words fit this buffer, which stays on the stack.
	var scratch [64]byte
	b := fold(scratch[:0], surface)
	// Lucene removes the possessive before lower-casing and checks for 's'
	// or 'S'; nothing but 'S' lower-cases to 's', so the order is
	// immaterial.
	if n := len(b); n >= 2 && b[n-2] == '\'' && b[n-1] == 's' {
		b = b[:n-2]
	}
	if len(b) == 0 {
		return ""
	}
	if !a.keepStopwords && IsStopword(string(b)) {
		return ""
	}
	if !a.noStem {
		b = stemInPlace(b)
	}
	return string(b)
}

// fold appends the lower-cased form of s to dst, writing the typographic
// apostrophes ’ ‘ ＇ as ' and leaving out invisible format characters
// (soft hyphen, zero-width joiners), so spellings that look the same
// analyse the same.
func fold(dst []byte, s string) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			dst = append(dst, c)
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == '\u2019' || r == '\u2018' || r == '\uFF07':
			dst = append(dst, '\'')
		case unicode.Is(unicode.Cf, r):
			// Dropped: it changes nothing a reader sees.
		default:
			dst = utf8.AppendRune(dst, unicode.ToLower(r))
		}
	}
	return dst
}
