package trust

import (
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/edgerag/edgerag/node/analysis"
	"github.com/edgerag/edgerag/node/chunk"
)

// Conflict kinds.
const (
	ConflictNumber   = "number"   // the same quantity with different values
	ConflictInterval = "interval" // "every N hours" with different N
	ConflictYesNo    = "yes_no"   // the same statement, once negated
)

// Conflict is a disagreement between two passages that both answer a
// question. A and B index the passages given; the spans are the sentences
// that disagree.
type Conflict struct {
	Kind     string
	A, B     int
	SpanA    chunk.Span
	SpanB    chunk.Span
	Unit     string // the unit both quantities are in, for number and interval
	ValuesA  string // the disagreeing values as written, for the answer's note
	ValuesB  string
	Sentence [2]string // the two sentences
}

// Checker finds conflicts. It is safe for concurrent use.
type Checker struct {
	an   *analysis.Analyzer
	skip []string
}

// NewChecker returns a checker that compares terms as an analyses them.
func NewChecker(an *analysis.Analyzer) *Checker {
	return &Checker{an: an, skip: an.Terms("what which who when where why how often long many much does do did is are should must can value")}
}

// quantity is a number (or a range) with a unit, as written.
type quantity struct {
	lo, hi   float64
	unit     string
	interval bool
	text     string
}

var quantityRe = regexp.MustCompile(`(?i)(\b(?:every|each|per|intervals?\s+of|after)\s+)?\b([0-9]+(?:[.,][0-9]+)*)(?:\s*(?:-|–|to|and)\s*([0-9]+(?:[.,][0-9]+)*))?\s*(?:(?:operating|running|engine|flight|service|calendar|working)\s+)?(n[·.\s-]?m\b|newton[\s-]?met(?:er|re)s?|flight\s+hours?|hours?\b|hrs?\b|h\b|minutes?\b|mins?\b|seconds?\b|secs?\b|days?\b|weeks?\b|months?\b|years?\b|km\b|kilomet(?:er|re)s?|miles?\b|mm\b|millimet(?:er|re)s?|cm\b|met(?:er|re)s?\b|m\b|psi\b|bar\b|kpa\b|mpa\b|°\s*[cf]\b|degrees?\s*(?:c|f|celsius|fahrenheit)\b|degrees?\b|°|volts?\b|v\b|amps?\b|amperes?\b|a\b|watts?\b|w\b|kw\b|lit(?:er|re)s?\b|l\b|ml\b|gallons?\b|gal\b|kg\b|g\b|lbs?\b|pounds?\b|%|percent\b|rpm\b|cycles?\b|liters?\b)`)

var unitNames = map[string]string{
	"nm": "N·m", "newtonmeter": "N·m", "newtonmetre": "N·m", "newtonmeters": "N·m", "newtonmetres": "N·m",
	"hour": "h", "hours": "h", "hr": "h", "hrs": "h", "h": "h", "flighthour": "h", "flighthours": "h",
	"minute": "min", "minutes": "min", "min": "min", "mins": "min",
	"second": "s", "seconds": "s", "sec": "s", "secs": "s",
	"day": "day", "days": "day", "week": "week", "weeks": "week", "month": "month", "months": "month", "year": "year", "years": "year",
	"km": "km", "kilometer": "km", "kilometre": "km", "kilometers": "km", "kilometres": "km", "mile": "mi", "miles": "mi",
	"mm": "mm", "millimeter": "mm", "millimetre": "mm", "millimeters": "mm", "millimetres": "mm", "cm": "cm",
	"m": "m", "meter": "m", "metre": "m", "meters": "m", "metres": "m",
	"psi": "psi", "bar": "bar", "kpa": "kPa", "mpa": "MPa",
	"°c": "°C", "°f": "°F", "degree": "°", "degrees": "°", "°": "°", "degreec": "°C", "degreesc": "°C", "degreecelsius": "°C", "degreescelsius": "°C", "degreef": "°F", "degreesf": "°F", "degreesfahrenheit": "°F", "degreefahrenheit": "°F",
	"v": "V", "volt": "V", "volts": "V", "a": "A", "amp": "A", "amps": "A", "ampere": "A", "amperes": "A",
	"w": "W", "watt": "W", "watts": "W", "kw": "kW",
	"l": "l", "liter": "l", "litre": "l", "liters": "l", "litres": "l", "ml": "ml", "gallon": "gal", "gallons": "gal", "gal": "gal",
	"kg": "kg", "g": "g", "lb": "lb", "lbs": "lb", "pound": "lb", "pounds": "lb", "%": "%", "percent": "%", "rpm": "rpm", "cycle": "cycle", "cycles": "cycle",
}

func canonicalUnit(u string) string {
	k := strings.ToLower(u)
	k = strings.NewReplacer(" ", "", "-", "", "·", "", ".", "", "\t", "").Replace(k)
	if c, ok := unitNames[k]; ok {
		return c
	}
	return k
}

// scale puts units of one kind on one scale, so "12 months" and "1 year"
// agree and "12 months" and "5 years" do not. Operating hours and calendar
// time are different kinds and never compared.
var scale = map[string]struct {
	unit   string
	factor float64
}{
	"day": {"day", 1}, "week": {"day", 7}, "month": {"day", 30.4}, "year": {"day", 365},
	"min": {"h", 1.0 / 60}, "s": {"h", 1.0 / 3600},
	"cm": {"mm", 10}, "m": {"mm", 1000}, "km": {"mm", 1e6},
	"kPa": {"bar", 0.01}, "MPa": {"bar", 10},
	"ml": {"l", 0.001}, "g": {"kg", 0.001}, "kW": {"W", 1000},
}

// hasDigit is the cheap test that spares the quantity expression most
// sentences.
func hasDigit(s string) bool {
	return strings.ContainsAny(s, "0123456789")
}

func quantities(s string) []quantity {
	if !hasDigit(s) {
		return nil
	}
	var out []quantity
	for _, m := range quantityRe.FindAllStringSubmatchIndex(s, -1) {
		lo, err := parseNumber(s[m[4]:m[5]])
		if err != nil {
			continue
		}
		hi := lo
		if m[6] >= 0 {
			if v, err := parseNumber(s[m[6]:m[7]]); err == nil && v >= lo {
				hi = v
			}
		}
		unit := canonicalUnit(s[m[8]:m[9]])
		// A lower-case "a" after a number is the article ("5 a day").
		if s[m[8]:m[9]] == "a" {
			continue
		}
		if sc, ok := scale[unit]; ok {
			unit, lo, hi = sc.unit, lo*sc.factor, hi*sc.factor
		}
		out = append(out, quantity{lo: lo, hi: hi, unit: unit, interval: m[2] >= 0, text: strings.TrimSpace(s[m[4]:m[1]])})
	}
	return out
}

var thousands = regexp.MustCompile(`^[0-9]{1,3}(?:,[0-9]{3})+$`)

// parseNumber reads "2,000" as two thousand and "2,5" as two and a half.
func parseNumber(s string) (float64, error) {
	if thousands.MatchString(s) {
		s = strings.ReplaceAll(s, ",", "")
	} else {
		s = strings.ReplaceAll(s, ",", ".")
	}
	return strconv.ParseFloat(s, 64)
}

var negRe = regexp.MustCompile(`(?i)\b(?:not|never|no|cannot|can't|don't|doesn't|isn't|aren't|mustn't|shouldn't|won't|without|prohibited|forbidden)\b`)

// sentence is one sentence with its content terms.
type sentence struct {
	span  chunk.Span
	text  string
	terms []string // distinct, without numbers and question words
	// negs is how many negations text holds, plus one; 0 until counted.
	// Counted on demand, once per sentence however many it is compared
	// with: the expression is slow, and passages that restate each other
	// compare every sentence pair.
	negs int
}

// negations returns how many negations s.text holds.
func (s *sentence) negations() int {
	if s.negs == 0 {
		s.negs = len(negRe.FindAllStringIndex(s.text, -1)) + 1
	}
	return s.negs - 1
}

// sentences returns the statements of text; questions assert nothing, so
// they are left out.
func (c *Checker) sentences(text string) []sentence {
	var out []sentence
	for _, sp := range chunk.Sentences(text) {
		s := text[sp.Start:sp.End]
		if strings.HasSuffix(s, "?") {
			continue
		}
		// Units and figures are what may differ; the rest says what the
		// sentence is about.
		about := s
		if hasDigit(s) {
			about = quantityRe.ReplaceAllString(s, " ")
		}
		out = append(out, sentence{span: sp, text: s, terms: c.content(about)})
	}
	return out
}

func (c *Checker) content(s string) []string {
	var out []string
	for _, t := range c.an.Terms(s) {
		if strings.IndexFunc(t, func(r rune) bool { return r >= '0' && r <= '9' }) >= 0 || slices.Contains(c.skip, t) || slices.Contains(out, t) {
			continue
		}
		out = append(out, t)
	}
	return out
}

func shared(a, b []string) int {
	n := 0
	for _, t := range a {
		if slices.Contains(b, t) {
			n++
		}
	}
	return n
}

// Conflicts compares the passages that answer question (sentences that
// share two or more of its content terms, all when it has fewer, and most
// of their own terms with each other) and reports
// each pair that disagrees: different figures for the same unit in
// sentences about the same thing, or the same statement once negated.
// Pairs are reported once, A < B, in order.
func (c *Checker) Conflicts(question string, texts []string) []Conflict {
	q := c.content(question)
	if len(q) == 0 {
		return nil
	}
	need := min(2, len(q))
	answering := make([][]sentence, len(texts))
	for i, t := range texts {
		for _, s := range c.sentences(t) {
			if shared(q, s.terms) >= need {
				answering[i] = append(answering[i], s)
			}
		}
	}
	var out []Conflict
	for a := range texts {
		for b := a + 1; b < len(texts); b++ {
			if k, ok := firstDisagreement(q, answering[a], answering[b]); ok {
				k.A, k.B = a, b
				out = append(out, k)
			}
		}
	}
	return out
}

// firstDisagreement compares sentences that answer q about the same
// thing: of the question's terms, they may differ in one at most ("the
// E-20 filter" and "the filter" are one subject; "the D-4 engine oil" and
// "the L-8 transmission oil" are two).
func firstDisagreement(q []string, as, bs []sentence) (Conflict, bool) {
	for ai := range as {
		sa := &as[ai]
		for bi := range bs {
			sb := &bs[bi]
			diff := 0
			for _, t := range q {
				if slices.Contains(sa.terms, t) != slices.Contains(sb.terms, t) {
					diff++
				}
			}
			if diff > 1 {
				continue
			}
			if k, ok := disagree(sa, sb, 0.6); ok {
				return k, true
			}
		}
	}
	return Conflict{}, false
}

// Contradicts reports whether newText restates a sentence of oldText (most
// of the shorter one's content terms, at least three) with different
// figures or the opposite polarity, and where in newText it does.
func (c *Checker) Contradicts(newText, oldText string) (Conflict, bool) {
	ns, os := c.sentences(newText), c.sentences(oldText)
	for ni := range ns {
		sn := &ns[ni]
		if len(sn.terms) < 3 {
			continue
		}
		for oi := range os {
			so := &os[oi]
			if k, ok := disagree(sn, so, 0.75); ok {
				return k, true
			}
		}
	}
	return Conflict{}, false
}

// overlaps says whether two quantities of one unit can be the same value,
// within 2% (a month is not exactly a twelfth of a year).
func overlaps(x, y quantity) bool {
	return y.lo <= x.hi*1.02 && x.lo <= y.hi*1.02
}

// disagree compares two sentences about the same thing: they must share
// at least the given part of the shorter one's content terms.
func disagree(a, b *sentence, part float64) (Conflict, bool) {
	small := min(len(a.terms), len(b.terms))
	if small < 2 || float64(shared(a.terms, b.terms)) < part*float64(small) {
		return Conflict{}, false
	}
	k := Conflict{SpanA: a.span, SpanB: b.span, Sentence: [2]string{a.text, b.text}}
	qa, qb := quantities(a.text), quantities(b.text)
	for _, x := range qa {
		var same []quantity
		for _, y := range qb {
			if y.unit == x.unit {
				same = append(same, y)
			}
		}
		if len(same) == 0 {
			continue
		}
		if !slices.ContainsFunc(same, func(y quantity) bool { return overlaps(x, y) }) &&
			!slices.ContainsFunc(qa, func(x2 quantity) bool {
				return x2.unit == x.unit && slices.ContainsFunc(same, func(y quantity) bool { return overlaps(x2, y) })
			}) {
			k.Kind, k.Unit, k.ValuesA, k.ValuesB = ConflictNumber, x.unit, x.text, same[0].text
			if x.interval || same[0].interval {
				k.Kind = ConflictInterval
			}
			return k, true
		}
	}
	if len(qa) == 0 && len(qb) == 0 && small >= 3 && float64(shared(a.terms, b.terms)) >= 0.8*float64(small) &&
		a.negations()%2 != b.negations()%2 {
		k.Kind = ConflictYesNo
		return k, true
	}
	return Conflict{}, false
}

// HasClaim reports whether text states a figure with a unit or a negation,
// the only statements Contradicts can find at odds; callers skip the rest.
func HasClaim(text string) bool {
	return hasDigit(text) && quantityRe.MatchString(text) || negRe.MatchString(text)
}

// Claims returns the sentences of text that state a figure with a unit or
// a negation, joined, at most max of them: what a caller searches with to
// find the stored passages a new one might contradict.
func Claims(text string, max int) string {
	var b strings.Builder
	n := 0
	for _, sp := range chunk.Sentences(text) {
		s := text[sp.Start:sp.End]
		if strings.HasSuffix(s, "?") || !HasClaim(s) {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(s)
		if n++; n == max {
			break
		}
	}
	return b.String()
}

// AsksQuestion reports whether text holds a question. Manuals state; a
// passage that asks the question it then answers is the shape PoisonedRAG
// gives its passages, so between two equally trusted passages that
// disagree, the one that asks is believed less.
func AsksQuestion(text string) bool {
	if strings.IndexByte(text, '?') < 0 {
		return false // no sentence can end with one
	}
	for _, sp := range chunk.Sentences(text) {
		if strings.HasSuffix(text[sp.Start:sp.End], "?") {
			return true
		}
	}
	return false
}
