package chunk

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// words returns "w1 w2 ... wn" (numbered from first), text whose every word
// is distinct so tests can see exactly where pieces start and end.
func words(first, n int) string {
	var b strings.Builder
	for i := first; i < first+n; i++ {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "w%d", i)
	}
	return b.String()
}

// sentence returns "S<k> w... w." with n words in all.
func sentence(k, n int) string {
	return fmt.Sprintf("S%d %s.", k, words(k*100, n-1))
}

func sentences(from, to, n int) string {
	var parts []string
	for k := from; k <= to; k++ {
		parts = append(parts, sentence(k, n))
	}
	return strings.Join(parts, " ")
}

func TestSplit(t *testing.T) {
	tests := []struct {
		name     string
		sections []Section
		opts     Options
		want     []Piece
	}{
		{"nothing", nil, Options{}, nil},
		{"empty sections give nothing", []Section{sec(path("A")), sec(path("B"), "", "  \n ")}, Options{}, nil},
		{
			"a small section is one piece with its heading path",
			[]Section{sec(path("Install", " On  arm64 "), "first  paragraph\n", "second")},
			Options{},
			[]Piece{{Heading: "Install > On arm64", Text: "first paragraph second"}},
		},
		{
			"pieces never cross sections",
			[]Section{sec(path("A"), "one"), sec(path("A"), "two"), sec(nil, "three")},
			Options{},
			[]Piece{{Heading: "A", Text: "one"}, {Heading: "A", Text: "two"}, {Text: "three"}},
		},
		{
			"paragraphs that fit are packed, ones that do not move whole",
			[]Section{sec(nil, words(0, 10), words(10, 10), words(20, 5))},
			Options{MaxTokens: 16, OverlapTokens: -1},
			[]Piece{{Text: words(0, 10)}, {Text: words(10, 15)}},
		},
		{
			"a long paragraph is cut between sentences",
			[]Section{sec(nil, sentences(1, 5, 6))},
			Options{MaxTokens: 16, OverlapTokens: -1},
			[]Piece{{Text: sentences(1, 2, 6)}, {Text: sentences(3, 4, 6)}, {Text: sentence(5, 6)}},
		},
		{
			"overlap repeats whole sentences",
			[]Section{sec(nil, sentences(1, 4, 6))},
			Options{MaxTokens: 16, OverlapTokens: 7},
			[]Piece{{Text: sentences(1, 2, 6)}, {Text: sentences(2, 3, 6)}, {Text: sentences(3, 4, 6)}},
		},
		{
			"overlap takes as many whole sentences as fit",
			[]Section{sec(nil, sentences(1, 6, 3))},
			Options{MaxTokens: 16, OverlapTokens: 7},
			[]Piece{{Text: sentences(1, 5, 3)}, {Text: sentences(4, 6, 3)}},
		},
		{
			"overlap cuts a sentence longer than itself",
			[]Section{sec(nil, sentence(1, 10), sentence(2, 10))},
			Options{MaxTokens: 16, OverlapTokens: 4},
			[]Piece{{Text: sentence(1, 10)}, {Text: words(105, 4) + ". " + sentence(2, 10)}},
		},
		{
			"overlap repeats the end of the previous paragraph",
			[]Section{sec(nil, sentence(1, 6), sentence(2, 6), sentence(3, 6))},
			Options{MaxTokens: 16, OverlapTokens: 7},
			[]Piece{{Text: sentences(1, 2, 6)}, {Text: sentences(2, 3, 6)}},
		},
		{
			"a paragraph that does not fit beside the overlap is cut",
			[]Section{sec(nil, "One. Two.", words(0, 15))},
			Options{MaxTokens: 16, OverlapTokens: 2},
			[]Piece{{Text: "One. Two. " + words(0, 14)}, {Text: words(12, 3)}},
		},
		{
			"a sentence longer than a piece is cut between words",
			[]Section{sec(nil, words(0, 40))},
			Options{MaxTokens: 16, OverlapTokens: 4},
			[]Piece{{Text: words(0, 12)}, {Text: words(8, 16)}, {Text: words(20, 16)}, {Text: words(32, 8)}},
		},
		{
			"no overlap without a split",
			[]Section{sec(nil, words(0, 16)), sec(nil, words(16, 16))},
			Options{MaxTokens: 16, OverlapTokens: 4},
			[]Piece{{Text: words(0, 16)}, {Text: words(16, 16)}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Split(tt.sections, tt.opts)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Split =\n%q\nwant\n%q", got, tt.want)
			}
			checkSplit(t, tt.sections, tt.opts, got)
		})
	}
}

// checkSplit asserts the promises of Split that hold for any input: pieces
// are normalised, non-empty and within budget; the pieces of each section
// come from that section alone; and reading a section's pieces in order,
// each dropping the overlap it repeats from the previous one (at most
// OverlapTokens, and some whenever overlap is on), gives back exactly the
// section's words.
func checkSplit(t *testing.T, sections []Section, o Options, pieces []Piece) {
	t.Helper()
	budget, overlap := o.resolve()
	var bySection [][]Piece
	for _, s := range sections {
		bySection = append(bySection, Split([]Section{s}, o))
	}
	var joined []Piece
	for _, ps := range bySection {
		joined = append(joined, ps...)
	}
	if !reflect.DeepEqual(pieces, joined) && !(len(pieces) == 0 && len(joined) == 0) {
		t.Fatalf("splitting sections together gives other pieces than one at a time:\n%q\n%q", pieces, joined)
	}
	for _, p := range pieces {
		if p.Text == "" || p.Text != normalizeSpace(p.Text) {
			t.Fatalf("piece text %q is empty or not normalised", p.Text)
		}
		if n := CountTokens(p.Text); n > budget {
			t.Fatalf("piece has %d tokens, budget %d: %q", n, budget, p.Text)
		}
		if p.Heading != normalizeSpace(p.Heading) || strings.Contains(p.Heading, " >  > ") {
			t.Fatalf("heading %q is not normalised", p.Heading)
		}
	}
	for i, s := range sections {
		var want []string
		for _, para := range s.Paragraphs {
			want = append(want, strings.Fields(para)...)
		}
		if !coversInOrder(want, bySection[i], overlap) {
			t.Fatalf("section %d: pieces %q do not give back its words %q with overlap %d", i, bySection[i], want, overlap)
		}
	}
}

// coversInOrder reports whether pieces, read in order and each without a
// prefix it repeats from the previous piece, spell exactly words. Text may
// repeat words, so several readings can be valid at once; it tracks every
// position a reading could have reached, comparing runs of words by hash so
// that highly repetitive fuzz inputs stay cheap.
func coversInOrder(words []string, pieces []Piece, overlap int) bool {
	if len(pieces) == 0 {
		return len(words) == 0
	}
	h := newRunHasher(words)
	reached := []int{0}
	seen := make([]bool, len(words)+1) // start positions tried for one piece
	for i, p := range pieces {
		pw := strings.Fields(p.Text)
		want := h.hashOf(pw)
		lo, hi := 0, 0 // how many words this piece may repeat
		if i > 0 && overlap > 0 {
			lo, hi = 1, min(overlap, len(pw)-1)
		}
		var tried, next []int
		for _, pos := range reached {
			for k := lo; k <= hi; k++ {
				from := pos - k
				if from < 0 || from+len(pw) > len(words) || seen[from] {
					continue
				}
				seen[from] = true
				tried = append(tried, from)
				if h.run(from, from+len(pw)) == want {
					next = append(next, from+len(pw))
				}
			}
		}
		for _, from := range tried {
			seen[from] = false
		}
		if len(next) == 0 {
			return false
		}
		slices.Sort(next)
		reached = slices.Compact(next)
	}
	return slices.Contains(reached, len(words))
}

// runHasher hashes runs of words in O(1) after O(n) preparation, with two
// polynomial hashes so that a collision needs two at once.
type runHasher struct {
	bases  [2]uint64
	ids    map[string]uint64
	prefix [2][]uint64 // prefix[j][i] hashes words[:i]
	power  [2][]uint64
}

func newRunHasher(words []string) *runHasher {
	h := &runHasher{bases: [2]uint64{0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F}, ids: map[string]uint64{}}
	for j, base := range h.bases {
		h.prefix[j] = make([]uint64, len(words)+1)
		h.power[j] = make([]uint64, len(words)+1)
		h.power[j][0] = 1
		for i, w := range words {
			h.prefix[j][i+1] = h.prefix[j][i]*base + h.id(w)
			h.power[j][i+1] = h.power[j][i] * base
		}
	}
	return h
}

func (h *runHasher) id(w string) uint64 {
	id, ok := h.ids[w]
	if !ok {
		id = uint64(len(h.ids))*0xBF58476D1CE4E5B9 + 1
		h.ids[w] = id
	}
	return id
}

func (h *runHasher) run(from, to int) [2]uint64 {
	var out [2]uint64
	for j := range h.bases {
		out[j] = h.prefix[j][to] - h.prefix[j][from]*h.power[j][to-from]
	}
	return out
}

func (h *runHasher) hashOf(words []string) [2]uint64 {
	var out [2]uint64
	for j, base := range h.bases {
		for _, w := range words {
			out[j] = out[j]*base + h.id(w)
		}
	}
	return out
}

func TestCoversInOrderCatchesBrokenPieces(t *testing.T) {
	words := strings.Fields("a b c d e f")
	pieces := func(texts ...string) []Piece {
		var ps []Piece
		for _, text := range texts {
			ps = append(ps, Piece{Text: text})
		}
		return ps
	}
	tests := []struct {
		name    string
		pieces  []Piece
		overlap int
		want    bool
	}{
		{"exact, no overlap", pieces("a b c", "d e f"), 0, true},
		{"exact, with overlap", pieces("a b c d", "c d e f"), 2, true},
		{"a word lost", pieces("a b c", "e f"), 0, false},
		{"a word lost at the end", pieces("a b c", "d e"), 0, false},
		{"repeated without overlap", pieces("a b c", "c d e f"), 0, false},
		{"overlap longer than allowed", pieces("a b c d", "b c d e f"), 2, false},
		{"no overlap where one is due", pieces("a b c", "d e f"), 2, false},
		{"pieces out of order", pieces("d e f", "a b c"), 0, false},
		{"a word that is not in the text", pieces("a b c", "d x f"), 0, false},
		{"nothing for nothing", nil, 2, false},
	}
	for _, tt := range tests {
		if got := coversInOrder(words, tt.pieces, tt.overlap); got != tt.want {
			t.Errorf("%s: coversInOrder = %v, want %v", tt.name, got, tt.want)
		}
	}
	if !coversInOrder(nil, nil, 3) {
		t.Error("no pieces should cover no words")
	}
}

func TestSplitProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	vocabulary := []string{"the", "wing", "flow", "Mach", "3.5", "e.g.", "Dr.", "U.S.", "end.", "Why?", "(see", "it).", ".", "\u00e9t\u00e9", "x"}
	randomParagraph := func() string {
		n := rng.IntN(120)
		var b strings.Builder
		for range n {
			b.WriteString(vocabulary[rng.IntN(len(vocabulary))])
			if rng.IntN(30) == 0 {
				b.WriteString("\n")
			} else {
				b.WriteString(" ")
			}
		}
		return b.String()
	}
	for trial := range 300 {
		var sections []Section
		for range rng.IntN(4) {
			s := Section{Headings: path(fmt.Sprint("H", trial))}
			for range rng.IntN(6) {
				s.Paragraphs = append(s.Paragraphs, randomParagraph())
			}
			sections = append(sections, s)
		}
		budget := 16 + rng.IntN(100)
		o := Options{MaxTokens: budget, OverlapTokens: rng.IntN(budget/2) - 2}
		if err := o.Validate(); err != nil {
			t.Fatalf("trial %d: %v", trial, err)
		}
		checkSplit(t, sections, o, Split(sections, o))
	}
}
