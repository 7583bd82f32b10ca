package analysis

import (
	"unicode"
	"unicode/utf8"
)

// charClass is the part a character plays in finding word boundaries: a
// reduced form of the Word_Break property of Unicode UAX #29, keeping only
// the distinctions Lucene's StandardTokenizer acts on.
type charClass uint8

const (
	clsOther     charClass = iota // separates tokens: spaces, most punctuation, symbols
	clsLetter                     // ALetter: letters of alphabetic scripts
	clsDigit                      // Numeric: decimal digits of any script
	clsKatakana                   // joins only other katakana
	clsIdeograph                  // Han and Hiragana: each character is a token of its own
	clsExtend                     // combining marks and format characters: belong to what precedes them
	clsMidLetter                  // joins two letters: ':' '·'
	clsMidNum                     // joins two digits: ',' ';'
	clsMidNumLet                  // joins two letters or two digits: '.' and apostrophes
	clsConnector                  // '_' and other connector punctuation: joins any word characters
)

// maxTokenRunes caps a token's length. Longer runs are cut into pieces of
// this size, as Lucene's StandardTokenizer does with its default limit; the
// cap also bounds the work and memory one hostile "word" can cost.
const maxTokenRunes = 255

// asciiClass classifies ASCII bytes with one lookup, since nearly all of
// the text we index is ASCII. Read-only after initialisation.
var asciiClass = func() (t [utf8.RuneSelf]charClass) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = clsLetter
		t[c-'a'+'A'] = clsLetter
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = clsDigit
	}
	t[':'] = clsMidLetter
	t[','] = clsMidNum
	t[';'] = clsMidNum
	t['.'] = clsMidNumLet
	t['\''] = clsMidNumLet
	t['_'] = clsConnector
	return t
}()

// classOf classifies a non-ASCII rune.
func classOf(r rune) charClass {
	// The explicit lists are the non-ASCII MidLetter, MidNum and MidNumLet
	// characters of UAX #29's WordBreakProperty table; general categories
	// cannot tell them apart from other punctuation.
	switch r {
	case 0x2018, 0x2019, 0x2024, 0xFE52, 0xFF07, 0xFF0E:
		return clsMidNumLet
	case 0x00B7, 0x0387, 0x055F, 0x05F4, 0x2027, 0xFE13, 0xFE55, 0xFF1A:
		return clsMidLetter
	case 0x037E, 0x0589, 0x060C, 0x060D, 0x066C, 0x07F8, 0x2044,
		0xFE10, 0xFE14, 0xFE50, 0xFE54, 0xFF0C, 0xFF1B:
		return clsMidNum
	case 0x200B:
		// ZERO WIDTH SPACE is a format character, but it exists to
		// separate words.
		return clsOther
	case 0x3031, 0x3032, 0x3033, 0x3034, 0x3035, 0x309B, 0x309C, 0x30A0, 0x30FC, 0xFF70:
		// Script=Common marks that Word_Break nonetheless counts as
		// Katakana, such as the prolonged sound mark in "コーヒー".
		return clsKatakana
	}
	switch {
	case unicode.IsLetter(r):
		if unicode.Is(unicode.Han, r) || unicode.Is(unicode.Hiragana, r) {
			return clsIdeograph
		}
		if unicode.Is(unicode.Katakana, r) {
			return clsKatakana
		}
		return clsLetter
	case unicode.IsDigit(r):
		return clsDigit
	case unicode.IsMark(r) || unicode.Is(unicode.Cf, r):
		return clsExtend
	case unicode.Is(unicode.Pc, r):
		return clsConnector
	}
	return clsOther
}

// classAt classifies the character at byte offset i of s and returns its
// width. Invalid UTF-8 bytes separate tokens, so a token is always valid
// UTF-8.
func classAt(s string, i int) (charClass, int) {
	if c := s[i]; c < utf8.RuneSelf {
		return asciiClass[c], 1
	}
	r, size := utf8.DecodeRuneInString(s[i:])
	if r == utf8.RuneError && size == 1 {
		return clsOther, 1
	}
	return classOf(r), size
}

// startsToken reports whether a character of class c can begin a token.
func startsToken(c charClass) bool {
	return c == clsLetter || c == clsDigit || c == clsKatakana || c == clsIdeograph
}

// isMid reports whether class c may sit between two word characters.
func isMid(c charClass) bool {
	return c == clsMidLetter || c == clsMidNum || c == clsMidNumLet
}

// midJoins reports whether the middle character mid keeps the characters
// of classes prev and next in one token (UAX #29 rules WB6, WB7, WB11,
// WB12): letters join across MidLetter, digits across MidNum, both across
// MidNumLet. So "o'neill", "3.5" and "1,000" are single tokens while
// "a9.com" and "3.a" are not.
func midJoins(prev, mid, next charClass) bool {
	switch {
	case prev == clsLetter && next == clsLetter:
		return mid == clsMidLetter || mid == clsMidNumLet
	case prev == clsDigit && next == clsDigit:
		return mid == clsMidNum || mid == clsMidNumLet
	}
	return false
}

// nextToken finds the first token at or after byte offset i of s and
// returns its byte bounds; ok is false when no token remains. The token is
// s[start:end] exactly as written, so callers can use it as a map key
// without copying.
func nextToken(s string, i int) (start, end int, ok bool) {
	var last charClass
	for {
		if i >= len(s) {
			return len(s), len(s), false
		}
		c, size := classAt(s, i)
		if startsToken(c) {
			start, last = i, c
			i += size
			break
		}
		i += size
	}
	for n := 1; i < len(s) && n < maxTokenRunes; n++ {
		c, size := classAt(s, i)
		switch {
		case c == clsExtend:
			// Marks and format characters ride along with whatever they
			// follow (WB4); they never change what may come next.
		case last == clsIdeograph:
			return start, i, true
		case c == clsLetter || c == clsDigit:
			if last == clsKatakana {
				return start, i, true
			}
			last = c
		case c == clsKatakana:
			if last != clsKatakana {
				return start, i, true
			}
		case isMid(c):
			j := i + size
			if j >= len(s) || n+2 > maxTokenRunes {
				return start, i, true
			}
			next, nsize := classAt(s, j)
			if !midJoins(last, c, next) {
				return start, i, true
			}
			i, last, n = j+nsize, next, n+1
			continue
		case c == clsConnector:
			// A run of connectors joins the word characters on either
			// side (WB13a/b: "snake_case"). Lucene also keeps leading and
			// trailing underscores; we drop them so "_id_" matches "id".
			j, runes := i+size, 1
			for j < len(s) {
				cj, sj := classAt(s, j)
				if cj != clsConnector && cj != clsExtend {
					break
				}
				j, runes = j+sj, runes+1
			}
			if j >= len(s) || n+runes+1 > maxTokenRunes {
				return start, i, true
			}
			next, nsize := classAt(s, j)
			if next != clsLetter && next != clsDigit && next != clsKatakana {
				return start, i, true
			}
			i, last, n = j+nsize, next, n+runes
			continue
		default:
			return start, i, true
		}
		i += size
	}
	return start, i, true
}
