package chunk

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/html"
)

// removed marks output bytes that a later part of the line showed to be
// markup (the '[' of a link is only known to be one at its "](url)"). It is
// never part of valid UTF-8, and Parse makes its input valid first.
const removed = 0xFF

// stripInline removes Markdown inline markup that is noise for retrieval
// while keeping every word: emphasis markers, link and image syntax (the
// text or alt text stays), code span backticks (the code stays), backslash
// escapes, autolink brackets, HTML tags and comments; entities are decoded.
//
// Every scan forward stops at the next bracket or space, or after a fixed
// number of bytes, so the cost stays linear on hostile input.
func stripInline(s string) string {
	if !strings.ContainsAny(s, "\\`*_~[]<&") {
		return s
	}
	codeEnd := matchCodeSpans(s)
	out := make([]byte, 0, len(s))
	var openers []int // output offsets of unmatched '[', innermost last
	var comments commentFinder
	needsFilter := false
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s) && isASCIIPunct(s[i+1]):
			out = append(out, s[i+1])
			i += 2

		case c == '`':
			n := runLength(s, i, '`')
			if end, ok := codeEnd[i]; ok {
				out = append(out, s[i+n:end]...)
				i = end + n
			} else {
				out = append(out, s[i:i+n]...)
				i += n
			}

		case c == '[':
			openers = append(openers, len(out))
			out = append(out, c)
			i++

		case c == ']' && len(openers) > 0:
			open := openers[len(openers)-1]
			openers = openers[:len(openers)-1]
			next, ok := linkTail(s, i+1)
			if !ok {
				out = append(out, c) // "[text]" without a target is text
				i++
				continue
			}
			out[open] = removed
			if open > 0 && out[open-1] == '!' {
				out[open-1] = removed // image: keep the alt text
			}
			needsFilter = true
			i = next

		case c == '<':
			if end := autolinkEnd(s, i); end > 0 {
				out = append(out, s[i+1:end]...)
				i = end + 1
			} else if next := comments.end(s, i); next > 0 {
				out = append(out, ' ')
				i = next
			} else if next := htmlTagEnd(s, i); next > 0 {
				// READMEs use tags for layout (<br>, <p align=center>,
				// <img>); a space keeps the words on either side apart.
				out = append(out, ' ')
				i = next
			} else {
				out = append(out, c)
				i++
			}

		case c == '&':
			if decoded, next := entity(s, i); next > 0 {
				out = append(out, decoded...)
				i = next
			} else {
				out = append(out, c)
				i++
			}

		case c == '*' || c == '_' || c == '~':
			n := runLength(s, i, c)
			if !isEmphasisMarker(s, i, n) {
				out = append(out, s[i:i+n]...)
			}
			i += n

		default:
			out = append(out, c)
			i++
		}
	}
	if needsFilter {
		kept := out[:0]
		for _, b := range out {
			if b != removed {
				kept = append(kept, b)
			}
		}
		out = kept
	}
	return string(out)
}

// matchCodeSpans pairs backtick runs of equal length, as CommonMark does,
// and returns for each opening run's offset the offset of its closing run.
// Escaped backticks open nothing. Pairing from the right with the last seen
// run of each length keeps this linear however many runs there are.
func matchCodeSpans(s string) map[int]int {
	type run struct{ at, n int }
	var runs []run
	for i := 0; i < len(s); {
		switch s[i] {
		case '\\':
			i += 2
		case '`':
			n := runLength(s, i, '`')
			runs = append(runs, run{i, n})
			i += n
		default:
			i++
		}
	}
	if len(runs) < 2 {
		return nil
	}
	// nextSame[k] is the index of the next run with the length of run k.
	nextSame := make([]int, len(runs))
	lastOfLength := map[int]int{}
	for k := len(runs) - 1; k >= 0; k-- {
		next, ok := lastOfLength[runs[k].n]
		if !ok {
			next = -1
		}
		nextSame[k] = next
		lastOfLength[runs[k].n] = k
	}
	ends := map[int]int{}
	for k := 0; k < len(runs); {
		if nextSame[k] < 0 {
			k++
			continue
		}
		ends[runs[k].at] = runs[nextSame[k]].at
		k = nextSame[k] + 1 // runs inside a code span are code
	}
	return ends
}

func runLength(s string, i int, c byte) int {
	n := 0
	for i+n < len(s) && s[i+n] == c {
		n++
	}
	return n
}

// linkTail recognises what follows the ']' of a link: "(target)",
// "(target "title")" or "[ref]". It returns the offset after it.
func linkTail(s string, i int) (int, bool) {
	if i >= len(s) {
		return 0, false
	}
	switch s[i] {
	case '[':
		// Reference link: the label ends at the next ']' and holds no '['.
		for j := i + 1; j < len(s); j++ {
			switch s[j] {
			case ']':
				return j + 1, true
			case '[':
				return 0, false
			}
		}
		return 0, false
	case '(':
	default:
		return 0, false
	}
	// The target: no spaces or brackets, balanced parentheses.
	depth := 0
	j := i + 1
	for ; j < len(s); j++ {
		switch s[j] {
		case '(':
			depth++
			continue
		case ')':
			if depth == 0 {
				return j + 1, true
			}
			depth--
			continue
		case '[', ']', '\n':
			return 0, false
		}
		if s[j] == ' ' || s[j] == '\t' {
			break
		}
	}
	// An optional title in quotes or parentheses, then ')'. Titles are
	// short; a long run without the closing mark is not a link.
	for j < len(s) && (s[j] == ' ' || s[j] == '\t') {
		j++
	}
	if j >= len(s) {
		return 0, false
	}
	closer := byte(0)
	switch s[j] {
	case ')':
		return j + 1, true
	case '"', '\'':
		closer = s[j]
	case '(':
		closer = ')'
	default:
		return 0, false
	}
	const longestTitle = 512
	end := strings.IndexByte(s[j+1:min(len(s), j+1+longestTitle)], closer)
	if end < 0 {
		return 0, false
	}
	j += end + 2
	for j < len(s) && (s[j] == ' ' || s[j] == '\t') {
		j++
	}
	if j < len(s) && s[j] == ')' {
		return j + 1, true
	}
	return 0, false
}

// autolinkEnd returns the offset of the '>' closing an autolink such as
// <https://example.com> that starts at i, or 0.
func autolinkEnd(s string, i int) int {
	rest := s[i+1:]
	ok := false
	for _, scheme := range []string{"http://", "https://", "ftp://", "mailto:"} {
		if len(rest) >= len(scheme) && strings.EqualFold(rest[:len(scheme)], scheme) {
			ok = true
			break
		}
	}
	if !ok {
		return 0
	}
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '>':
			return j
		case '<', ' ', '\t', '\n':
			return 0
		}
	}
	return 0
}

// htmlTagEnd returns the offset after an HTML tag such as <br>, </div> or
// <img src="x.png" alt="logo"/> starting at i, or 0. The tag must close
// within a short distance and before the next '<', which keeps "a < b" and
// hostile input from costing more than a bounded scan.
func htmlTagEnd(s string, i int) int {
	j := i + 1
	if j < len(s) && s[j] == '/' {
		j++
	}
	if j >= len(s) || !isASCIILetter(s[j]) {
		return 0
	}
	for j < len(s) && (isASCIIAlnum(s[j]) || s[j] == '-') {
		j++
	}
	if j >= len(s) || (s[j] != '>' && s[j] != ' ' && s[j] != '/' && s[j] != '\t') {
		return 0
	}
	const longestTag = 1024
	for limit := min(len(s), i+longestTag); j < limit; j++ {
		switch s[j] {
		case '>':
			return j + 1
		case '<':
			return 0
		}
	}
	return 0
}

// commentFinder finds the ends of HTML comments ("<!-- toc -->"). It
// remembers where the next "-->" is, so that many comment openings with no
// end cost one scan rather than one each.
type commentFinder struct {
	searched bool
	close    int // offset of the next "-->" at or after the last search, -1 if none
}

// end returns the offset after the comment starting at i, or 0.
func (c *commentFinder) end(s string, i int) int {
	if !strings.HasPrefix(s[i:], "<!--") {
		return 0
	}
	from := i + len("<!--")
	if !c.searched || (c.close >= 0 && c.close < from) {
		c.searched = true
		c.close = strings.Index(s[from:], "-->")
		if c.close >= 0 {
			c.close += from
		}
	}
	if c.close < 0 {
		return 0
	}
	return c.close + len("-->")
}

// entity decodes an HTML character reference ("&amp;", "&#8212;") starting
// at i and returns it with the offset after it, or next == 0 if there is
// none.
func entity(s string, i int) (decoded string, next int) {
	const longest = 32 // "&CounterClockwiseContourIntegral;" is the longest name
	for j := i + 1; j < len(s) && j-i <= longest; j++ {
		c := s[j]
		if c == ';' {
			if j == i+1 {
				return "", 0
			}
			ref := s[i : j+1]
			if d := html.UnescapeString(ref); d != ref {
				return d, j + 1
			}
			return "", 0
		}
		if c != '#' && !isASCIIAlnum(c) {
			return "", 0
		}
	}
	return "", 0
}

// isEmphasisMarker reports whether the run s[i:i+n] of '*', '_' or '~' is
// emphasis markup rather than text. Like CommonMark it asks whether the run
// opens or closes a word ("*word*", "**bold**,") and leaves runs inside a
// word ("snake_case", "2*3") or between spaces ("a * b") alone. A single
// '~' is text ("~5 minutes"); strikethrough uses two.
func isEmphasisMarker(s string, i, n int) bool {
	if n > 3 || (s[i] == '~' && n != 2) {
		return false
	}
	before, after := ' ', ' '
	if i > 0 {
		before, _ = utf8.DecodeLastRuneInString(s[:i])
	}
	if i+n < len(s) {
		after, _ = utf8.DecodeRuneInString(s[i+n:])
	}
	opens := !unicode.IsSpace(after) && (unicode.IsSpace(before) || isPunct(before))
	closes := !unicode.IsSpace(before) && (unicode.IsSpace(after) || isPunct(after))
	return opens || closes
}

func isPunct(r rune) bool { return unicode.IsPunct(r) || unicode.IsSymbol(r) }

func isASCIIPunct(c byte) bool {
	return c > ' ' && c < 0x7f && !isASCIIAlnum(c)
}

func isASCIILetter(c byte) bool {
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isASCIIAlnum(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}
