package chunk

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Span is a half-open range of byte offsets [Start, End) into a text.
type Span struct{ Start, End int }

// Sentences splits text into sentences. The spans are in order, do not
// overlap, are trimmed of surrounding white space, are never empty and
// together cover every non-space character of text.
//
// A sentence ends at '.', '!' or '?' (or a run such as "?!" or "...",
// optionally followed by closing quotes or brackets) when white space and
// then an upper-case letter, digit, quote or opening bracket follow. A period
// after a common abbreviation ("Dr.", "e.g.", "U.S.", the "J." of
// "J. Smith") does not end one. A terminator written after a space, as the
// Cranfield collection does ("slipstream . an experimental study"), ends a
// sentence whatever follows, and so does a blank line.
func Sentences(text string) []Span {
	var spans []Span
	start := 0
	cut := func(end int) {
		if end <= start {
			return
		}
		if s, ok := trimSpan(text, start, end); ok {
			spans = append(spans, s)
		}
		start = end
	}
	for i := 0; i < len(text); {
		c := text[i]
		if c == '.' || c == '!' || c == '?' {
			end := i + 1
			for end < len(text) && isTerminator(text[end]) {
				end++
			}
			runEnd := end
			for end < len(text) {
				r, size := utf8.DecodeRuneInString(text[end:])
				if !isCloser(r) {
					break
				}
				end += size
			}
			if endsSentence(text, i, runEnd, end) {
				cut(end)
			}
			i = end
			continue
		}
		r, size := rune(c), 1
		if c >= utf8.RuneSelf {
			r, size = utf8.DecodeRuneInString(text[i:])
		}
		if !unicode.IsSpace(r) {
			i += size
			continue
		}
		// A run of white space: it ends a sentence when it holds a blank
		// line, which separates paragraphs in plain text.
		j, newlines := i, 0
		for j < len(text) {
			r, size := utf8.DecodeRuneInString(text[j:])
			if !unicode.IsSpace(r) {
				break
			}
			if r == '\n' {
				newlines++
			}
			j += size
		}
		if newlines >= 2 {
			cut(i)
		}
		i = j
	}
	cut(len(text))
	return spans
}

// endsSentence decides whether the terminator run text[at:runEnd], followed
// by closers up to end, ends a sentence.
func endsSentence(text string, at, runEnd, end int) bool {
	if end == len(text) {
		return true
	}
	r, _ := utf8.DecodeRuneInString(text[end:])
	if !unicode.IsSpace(r) {
		return false // "3.5", "example.com", "a.b"
	}
	if at > 0 {
		if prev, _ := utf8.DecodeLastRuneInString(text[:at]); unicode.IsSpace(prev) {
			return true // Cranfield style: "word . next"
		}
	}
	next := end
	for next < len(text) {
		r, size := utf8.DecodeRuneInString(text[next:])
		if !unicode.IsSpace(r) {
			break
		}
		next += size
	}
	if next == len(text) {
		return true
	}
	first, _ := utf8.DecodeRuneInString(text[next:])
	if !startsSentence(first) {
		return false
	}
	// Only a lone period right after a word can be an abbreviation; "?!",
	// "..." and closing quotes always end the sentence.
	if runEnd-at == 1 && end == runEnd && text[at] == '.' {
		return !isAbbreviation(wordBefore(text, at), first)
	}
	return true
}

func isTerminator(c byte) bool { return c == '.' || c == '!' || c == '?' }

func isCloser(r rune) bool {
	switch r {
	case '"', '\'', ')', ']', '}', '\u201d', '\u2019', '\u00bb':
		return true
	}
	return false
}

// startsSentence reports whether r can begin a sentence.
func startsSentence(r rune) bool {
	if unicode.IsUpper(r) || unicode.IsTitle(r) || unicode.IsDigit(r) {
		return true
	}
	switch r {
	case '"', '\'', '(', '[', '{', '\u201c', '\u2018', '\u00ab', '\u201e':
		return true
	}
	return false
}

// wordBefore returns the run of non-space characters ending at text[at],
// without leading opening quotes or brackets. Abbreviations are short, so the
// search gives up after a few bytes, which keeps long unbroken runs linear.
func wordBefore(text string, at int) string {
	const longest = 16
	from := at
	for from > 0 {
		r, size := utf8.DecodeLastRuneInString(text[:from])
		if unicode.IsSpace(r) {
			break
		}
		if at-from+size > longest {
			return "" // longer than any abbreviation
		}
		from -= size
	}
	return strings.TrimLeft(text[from:at], "\"'([{")
}

// isAbbreviation reports whether word, written just before a period that
// next follows, is an abbreviation rather than the end of a sentence.
func isAbbreviation(word string, next rune) bool {
	if word == "" {
		return false
	}
	// "J. Smith": a single capital letter is an initial, except the pronoun
	// "I", which ends sentences far more often than it abbreviates a name.
	if len(word) == 1 && word[0] >= 'A' && word[0] <= 'Z' && word[0] != 'I' {
		return true
	}
	lower := strings.ToLower(word)
	switch lower {
	case "mr", "mrs", "ms", "dr", "prof", "st", "sr", "jr", "rev", "gen",
		"capt", "lt", "col", "sgt", "mt", "vs", "etc", "cf", "approx", "dept", "univ":
		return true
	case "fig", "figs", "eq", "eqs", "no", "nos", "vol", "pp", "p", "sec",
		"ch", "ref", "refs", "art":
		// These precede a number ("Fig. 3", "No. 5"); followed by a word
		// they more likely end a sentence.
		return unicode.IsDigit(next)
	}
	return isDotted(word)
}

// isDotted reports whether word is letters separated by periods, one or two
// letters each, as in "e.g", "i.e", "U.S" or "Ph.D" (the final period is
// the one being judged).
func isDotted(word string) bool {
	if !strings.Contains(word, ".") {
		return false
	}
	for part := range strings.SplitSeq(word, ".") {
		if len(part) == 0 || len(part) > 2 {
			return false
		}
		for i := 0; i < len(part); i++ {
			c := part[i] | 0x20
			if c < 'a' || c > 'z' {
				return false
			}
		}
	}
	return true
}

// trimSpan trims white space from both ends of text[start:end] and reports
// whether anything is left.
func trimSpan(text string, start, end int) (Span, bool) {
	for start < end {
		r, size := utf8.DecodeRuneInString(text[start:end])
		if !unicode.IsSpace(r) {
			break
		}
		start += size
	}
	for end > start {
		r, size := utf8.DecodeLastRuneInString(text[start:end])
		if !unicode.IsSpace(r) {
			break
		}
		end -= size
	}
	return Span{start, end}, end > start
}
