package ollama

import (
	"bytes"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// citationMark matches "[3]" and lists such as "[1, 4]" or "[2,3]", the
// forms models write when asked for [n] citations.
var citationMark = regexp.MustCompile(`\[\s*\d+(?:\s*,\s*\d+)*\s*\]`)

// ValidateCitations checks the [k] marks in a generated answer against the
// n passages it was given. Marks citing a passage outside 1..n are
// hallucinated: they are removed (with the space before them) and counted in
// invalid. In a list such as "[1, 9]" only the bad numbers go. cited lists
// the valid passage numbers, ascending, each once.
func ValidateCitations(text string, n int) (clean string, cited []int, invalid int) {
	// Removing a mark can join its neighbours into a new one ("[1[9]]"
	// becomes "[1]"), so repeat until a pass removes nothing. Each pass that
	// removes something shortens the text, so this ends.
	for {
		var bad int
		text, cited, bad = validateOnce(text, n)
		invalid += bad
		if bad == 0 {
			return text, cited, invalid
		}
	}
}

func validateOnce(text string, n int) (clean string, cited []int, invalid int) {
	out := make([]byte, 0, len(text))
	last := 0
	for _, m := range citationMark.FindAllStringIndex(text, -1) {
		out = append(out, text[last:m[0]]...)
		last = m[1]

		mark := text[m[0]:m[1]]
		var keep []string
		for _, f := range strings.Split(strings.Trim(mark, "[]"), ",") {
			f = strings.TrimSpace(f)
			k, err := strconv.Atoi(f)
			if err != nil || k < 1 || k > n {
				invalid++
				continue
			}
			keep = append(keep, f)
			cited = append(cited, k)
		}

		switch {
		case len(keep) == strings.Count(mark, ",")+1:
			out = append(out, mark...) // all valid: leave it as written
		case len(keep) > 0:
			out = append(out, "["+strings.Join(keep, ", ")+"]"...)
		default:
			var skip int
			out, skip = dropMark(out, text[last:])
			last += skip
		}
	}
	out = append(out, text[last:]...)

	slices.Sort(cited)
	return string(out), slices.Compact(cited), invalid
}

// dropMark removes the spaces written before a removed mark ("see [9]." ->
// "see."), but leaves one where two words would otherwise join ("a [9]b" ->
// "a b"). At the start of the text or of a line it skips the spaces after
// the mark instead, reporting how many bytes of rest to skip.
func dropMark(out []byte, rest string) ([]byte, int) {
	trimmed := bytes.TrimRight(out, " \t")
	if len(trimmed) == 0 || trimmed[len(trimmed)-1] == '\n' {
		return trimmed, len(rest) - len(strings.TrimLeft(rest, " \t"))
	}
	prev, _ := utf8.DecodeLastRune(trimmed)
	next, _ := utf8.DecodeRuneInString(rest)
	if isWordRune(prev) && isWordRune(next) {
		trimmed = append(trimmed, ' ')
	}
	return trimmed, 0
}

func isWordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }
