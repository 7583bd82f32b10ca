package analysis

import (
	"unicode/utf8"
)

// This file implements the Porter stemmer: M.F. Porter, "An algorithm for
// suffix stripping", Program 14(3), 1980, as Porter's own C and Java
// reference versions and Lucene's PorterStemmer (which EnglishAnalyzer
// uses) run it. Those versions depart from the paper in three places, and
// so does this one, because the reference BM25 numbers were made with
// Lucene:
//
//   - step 2 maps "-bli" to "-ble" (the paper has "-abli" to "-able"), so
//     "possibly" stems to "possibl" rather than "possibli";
//   - step 2 also maps "-logi" to "-log", so "biology" stems to "biolog";
//   - steps 2 and 4 guard against one-letter stems, and step 4 only strips
//     "-ion" when a letter precedes it (the "Bug 1" and "Bug 2" fixes).
//
// Step names follow the paper: 1a/1b (plurals, -ed, -ing), 1c (y to i),
// 2 and 3 (suffix-to-suffix maps), 4 (suffix removal), 5 (final -e, -ll).
// Characters other than a, e, i, o, u (and y after a consonant) count as
// consonants, digits and non-ASCII letters included, as in Lucene.

// wordChar is what the stemmer works on: bytes for ASCII words (the fast,
// common case) and runes for the rest, so a multi-byte character counts as
// one letter, as Lucene's UTF-16 chars do.
type wordChar interface{ ~byte | ~rune }

// porter holds the state of one stemming: the word b[0..k] and, after a
// successful ends, the end j of the stem that precedes the suffix.
type porter[T wordChar] struct {
	b    []T
	j, k int
}

// porterStem stems w in place and returns the stem's length; the stem is
// w[:n]. Words of one or two letters are left alone.
func porterStem[T wordChar](w []T) int {
	if len(w) <= 2 {
		return len(w)
	}
	p := porter[T]{b: w, k: len(w) - 1}
	p.step1ab()
	p.step1c()
	p.step2()
	p.step3()
	p.step4()
	p.step5()
	return p.k + 1
}

// consAfter reports whether b[i] is a consonant, given whether b[i-1] is.
// A 'y' is a consonant at the start of a word or after a vowel ("yes",
// "toy"), a vowel after a consonant ("sky"). Scanning left to right with
// it keeps the work linear even in a word made of y's.
func (p *porter[T]) consAfter(i int, prevCons bool) bool {
	switch p.b[i] {
	case 'a', 'e', 'i', 'o', 'u':
		return false
	case 'y':
		return i == 0 || !prevCons
	}
	return true
}

// cons reports whether b[i] is a consonant.
func (p *porter[T]) cons(i int) bool {
	// Only the y's right before i can change the answer; start the scan
	// at the first of them, whose left neighbour is a plain letter.
	s := i
	for s > 0 && p.b[s-1] == 'y' {
		s--
	}
	c := s > 0 && p.consAfter(s-1, false)
	for ; s <= i; s++ {
		c = p.consAfter(s, c)
	}
	return c
}

// m is Porter's measure of the stem b[0..j]: writing it as [C](VC){m}[V],
// with C a run of consonants and V a run of vowels, m counts the VC pairs.
// "tree" and "by" have m=0, "trouble" and "oats" m=1, "private" m=2.
func (p *porter[T]) m() int {
	n, prevCons := 0, false
	for i := 0; i <= p.j; i++ {
		c := p.consAfter(i, prevCons)
		if c && i > 0 && !prevCons {
			n++ // a consonant after a vowel completes a VC pair
		}
		prevCons = c
	}
	return n
}

// vowelInStem reports whether the stem b[0..j] contains a vowel.
func (p *porter[T]) vowelInStem() bool {
	c := false
	for i := 0; i <= p.j; i++ {
		if c = p.consAfter(i, c); !c {
			return true
		}
	}
	return false
}

// doubleCons reports whether b[i-1..i] is a double consonant ("tt", "ss").
func (p *porter[T]) doubleCons(i int) bool {
	return i >= 1 && p.b[i] == p.b[i-1] && p.cons(i)
}

// cvc reports whether b[i-2..i] is consonant-vowel-consonant with the last
// consonant not w, x or y: the shape of short words that lost an 'e'
// ("hop(e)", "cav(e)") but not of "snow", "box" or "tray".
func (p *porter[T]) cvc(i int) bool {
	if i < 2 || !p.cons(i) || p.cons(i-1) || !p.cons(i-2) {
		return false
	}
	c := p.b[i]
	return c != 'w' && c != 'x' && c != 'y'
}

// ends reports whether b[0..k] ends with suffix and, if so, sets j to the
// end of what precedes it.
func (p *porter[T]) ends(suffix string) bool {
	o := p.k - len(suffix) + 1
	if o < 0 {
		return false
	}
	for i := 0; i < len(suffix); i++ {
		if p.b[o+i] != T(suffix[i]) {
			return false
		}
	}
	p.j = p.k - len(suffix)
	return true
}

// setTo replaces b[j+1..k] with s. Every replacement is no longer than the
// suffix it replaces, so it fits in the word's buffer.
func (p *porter[T]) setTo(s string) {
	for i := 0; i < len(s); i++ {
		p.b[p.j+1+i] = T(s[i])
	}
	p.k = p.j + len(s)
}

// replace is setTo guarded by m() > 0, the condition of steps 2 and 3.
func (p *porter[T]) replace(s string) {
	if p.m() > 0 {
		p.setTo(s)
	}
}

// step1ab removes plurals and -ed or -ing: caresses→caress, ponies→poni,
// cats→cat, agreed→agree, plastered→plaster, motoring→motor, and tidies
// what is left: conflat(ed)→conflate, hopp(ing)→hop, fil(ing)→file.
func (p *porter[T]) step1ab() {
	if p.b[p.k] == 's' {
		switch {
		case p.ends("sses"):
			p.k -= 2
		case p.ends("ies"):
			p.setTo("i")
		case p.b[p.k-1] != 's':
			p.k--
		}
	}
	if p.ends("eed") {
		if p.m() > 0 {
			p.k--
		}
		return
	}
	if !((p.ends("ed") || p.ends("ing")) && p.vowelInStem()) {
		return
	}
	p.k = p.j
	switch {
	case p.ends("at"):
		p.setTo("ate")
	case p.ends("bl"):
		p.setTo("ble")
	case p.ends("iz"):
		p.setTo("ize")
	case p.doubleCons(p.k):
		if c := p.b[p.k]; c != 'l' && c != 's' && c != 'z' {
			p.k--
		}
	case p.m() == 1 && p.cvc(p.k):
		p.setTo("e")
	}
}

// step1c turns a final y into i when the stem has a vowel: happy→happi,
// but sky stays.
func (p *porter[T]) step1c() {
	if p.ends("y") && p.vowelInStem() {
		p.b[p.k] = 'i'
	}
}

// suffixRule maps a suffix to its replacement.
type suffixRule struct{ suffix, replacement string }

// step2Rules map double suffixes to single ones (-ization = -ize + -ation
// becomes -ize). Order matters where one suffix ends another: "ational"
// must be tried before "tional".
var step2Rules = [...]suffixRule{
	{"ational", "ate"}, {"tional", "tion"},
	{"enci", "ence"}, {"anci", "ance"},
	{"izer", "ize"},
	{"bli", "ble"}, {"alli", "al"}, {"entli", "ent"}, {"eli", "e"}, {"ousli", "ous"},
	{"ization", "ize"}, {"ation", "ate"}, {"ator", "ate"},
	{"alism", "al"}, {"iveness", "ive"}, {"fulness", "ful"}, {"ousness", "ous"},
	{"aliti", "al"}, {"iviti", "ive"}, {"biliti", "ble"},
	{"logi", "log"},
}

// step3Rules strip or shorten -ic-, -ful, -ness and the like.
var step3Rules = [...]suffixRule{
	{"icate", "ic"}, {"ative", ""}, {"alize", "al"},
	{"iciti", "ic"},
	{"ical", "ic"}, {"ful", ""},
	{"ness", ""},
}

// applyFirst applies the first rule whose suffix the word ends with, if
// the stem before it has m() > 0. Only the first match counts even when
// its condition fails, as in the reference implementations.
func (p *porter[T]) applyFirst(rules []suffixRule) {
	for _, r := range rules {
		if p.ends(r.suffix) {
			p.replace(r.replacement)
			return
		}
	}
}

func (p *porter[T]) step2() {
	if p.k == 0 {
		return
	}
	p.applyFirst(step2Rules[:])
}

func (p *porter[T]) step3() {
	p.applyFirst(step3Rules[:])
}

// step4Suffixes are removed when the stem before them has m() > 1, so the
// word keeps at least "<c>vcvc<v>": allowance→allow, adjustment→adjust.
// "ement" and "ment" come before "ent" so the longest is tried first.
var step4Suffixes = [...]string{
	"al", "ance", "ence", "er", "ic", "able", "ible", "ant", "ement", "ment", "ent",
	"ion", "ou", "ism", "ate", "iti", "ous", "ive", "ize",
}

func (p *porter[T]) step4() {
	if p.k == 0 {
		return
	}
	for _, s := range step4Suffixes {
		if !p.ends(s) {
			continue
		}
		// -ion goes only after s or t: adoption→adopt, but not
		// "champion".
		if s == "ion" && (p.j < 0 || (p.b[p.j] != 's' && p.b[p.j] != 't')) {
			return
		}
		if p.m() > 1 {
			p.k = p.j
		}
		return
	}
}

// step5 removes a final -e when m() > 1, or when m() = 1 and the word does
// not end in cvc (probate→probat, cease→ceas, but rate stays), and turns
// -ll into -l when m() > 1 (controll→control, but roll stays).
func (p *porter[T]) step5() {
	p.j = p.k
	if p.b[p.k] == 'e' {
		if a := p.m(); a > 1 || a == 1 && !p.cvc(p.k-1) {
			p.k--
		}
	}
	if p.b[p.k] == 'l' && p.doubleCons(p.k) && p.m() > 1 {
		p.k--
	}
}

// Stem returns the Porter stem of a lower-case word: "relational" gives
// "relat", "hopping" gives "hop". It implements the 1980 algorithm with
// the departures of Porter's reference code and Lucene's PorterStemmer
// ("-bli"→"-ble", "-logi"→"-log"), matching Lucene term for term. Words of
// one or two characters, and anything the rules do not cover (numbers,
// most non-English words), come back unchanged. Upper-case letters are
// treated as consonants, so lower-case the word first.
func Stem(word string) string {
	if len(word) <= 2 {
		return word
	}
	b := stemInPlace([]byte(word))
	if string(b) == word {
		return word
	}
	return string(b)
}

// stemInPlace stems the UTF-8 word in b, overwriting it, and returns the
// stem as a prefix of b.
func stemInPlace(b []byte) []byte {
	if isASCII(b) {
		return b[:porterStem(b)]
	}
	// Rare: the word has a non-ASCII letter. Stem by runes so each character
	// counts once, then re-encode; the stemmer only shortens the word and
	// only writes ASCII, so the result fits in b.
	rs := []rune(string(b))
	rs = rs[:porterStem(rs)]
	out := b[:0]
	for _, r := range rs {
		out = utf8.AppendRune(out, r)
	}
	return out
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
