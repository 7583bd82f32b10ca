// Package extractive is the embedded default answerer: when no model server
// is available, it answers a question by quoting the sentences of the
// retrieved passages that together cover most of the question's terms, each
// followed by its citation mark [n]. It never writes a word of its own, so
// its answers are only as good as retrieval, and it abstains rather than
// quote text that misses the question.
//
// It is part of the pure core: no I/O, no clocks, no globals. The node's
// query path imports it; it imports the project's models, node/analysis and
// node/chunk packages and the standard library.
package extractive

import (
	"math"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/edgerag/edgerag/models"
	"github.com/edgerag/edgerag/node/analysis"
	"github.com/edgerag/edgerag/node/chunk"
)

// AbstainText is the answer text when the passages do not answer the
// question. Clients may match on it, so it does not change.
const AbstainText = "not in the local index"

// Signal names this answerer reports in models.Answer.Signals.
const (
	// SignalCoverage is the share of the question's distinct content terms
	// (stopwords and question words left out) that the chosen sentences
	// contain, 0..1.
	SignalCoverage = "answer_coverage"
	// SignalSentences is the number of sentences quoted over MaxSentences,
	// 0..1; 0 when the answerer abstained.
	SignalSentences = "answer_sentences"
)

// Defaults for Options fields left zero.
const (
	DefaultMaxSentences = 3
	DefaultMinCoverage  = 0.2
)

// maxQueryTerms bounds the distinct question terms tracked, so coverage fits
// one uint64 bit set. Questions with more content terms than that are rare;
// the terms past the 64th are ignored.
const maxQueryTerms = 64

// questionWords ask rather than say: interrogatives, auxiliaries and the
// phrasing of requests. Lucene's stopword list keeps them because they help
// nothing and hurt little in BM25, but answer sentences almost never contain
// them ("What does a valve do?" is answered by "A valve controls flow."), so
// counting them would cap coverage of every question well below 1 and make
// the abstain threshold depend on how a question was phrased.
const questionWords = `what which who whom whose when where why how
	do does did can could should would shall might must have has had
	i me my you your we our tell explain describe please many much`

// Options tune an Answerer.
type Options struct {
	// MaxSentences is the most sentences quoted; 0 means
	// DefaultMaxSentences. Three sentences answer most factual questions
	// while staying short enough to read on a small screen.
	MaxSentences int
	// MinCoverage is the least share of question terms the chosen sentences
	// must contain, below which the answerer abstains; 0 means
	// DefaultMinCoverage, a negative value never abstains on coverage.
	MinCoverage float64
}

// Answerer answers questions extractively. It is safe for concurrent use.
type Answerer struct {
	an   *analysis.Analyzer
	opts Options
	skip []string // analysed questionWords
	// pool recycles per-call buffers, because Answer runs on every query and
	// the buffers would otherwise be most of its garbage.
	pool sync.Pool
}

// IsQuestionWord reports whether an analysed term is one of the words that
// ask rather than say ("how", "do", "i"): no answer contains them, so they
// count in no coverage of the question, here or in the confidence signals.
func (x *Answerer) IsQuestionWord(term string) bool { return slices.Contains(x.skip, term) }

// New returns an Answerer that analyses text with a, which must be the same
// analysis the index uses so question and sentence terms match.
func New(a *analysis.Analyzer, opts Options) *Answerer {
	if opts.MaxSentences <= 0 {
		opts.MaxSentences = DefaultMaxSentences
	}
	if opts.MinCoverage == 0 || math.IsNaN(opts.MinCoverage) {
		opts.MinCoverage = DefaultMinCoverage
	}
	x := &Answerer{an: a, opts: opts, skip: distinct(nil, nil, a.Terms(questionWords))}
	x.pool.New = func() any { return new(scratch) }
	return x
}

// scratch is the reusable state of one Answer call.
type scratch struct {
	terms  []string    // analysed terms of a sentence
	query  []string    // distinct question terms, at most maxQueryTerms
	cands  []candidate // sentences that contain at least one question term
	chosen []int       // indexes into cands, in the order picked
	// passTerms is the set of question terms each passage holds.
	passTerms []uint64
}

// maxSteps bounds the sentences a procedure adds after the sentence that
// introduced it: enough for a reset or start-up sequence, not a manual.
const maxSteps = 4

// withSteps adds, after each chosen sentence that starts a procedure, the
// sentences of the same passage that continue it: a sentence ending in ':'
// is followed by what it announces, and sentences that open with a step
// word ("Then", "Next", "Finally") or a list marker ("2.", "-") continue the
// one before them.
func (x *Answerer) withSteps(passages []models.Passage, cands []candidate, chosen []int) []int {
	n := len(chosen)
	for _, ci := range chosen[:n] {
		c := cands[ci]
		colon := strings.HasSuffix(strings.TrimSpace(passages[c.passage].Text[c.start:c.end]), ":")
		for k, j := 0, c.next; j >= 0 && k < maxSteps; k, j = k+1, cands[j].next {
			// A matching heading answers with its section, up to the next.
			section := c.heading && !cands[j].heading
			if !(section || cands[j].step || (colon && k == 0)) {
				break
			}
			if !slices.Contains(chosen, j) {
				chosen = append(chosen, j)
			}
		}
	}
	return chosen
}

// stepWords open a sentence that continues a procedure.
var stepWords = []string{"then", "next", "finally", "afterwards", "after that", "lastly", "second", "third", "now"}

// isStep reports whether sentence continues a procedure: it opens with a
// step word or a list marker.
func isStep(sentence string) bool {
	t := strings.TrimSpace(sentence)
	if t == "" {
		return false
	}
	switch t[0] {
	case '-', '*':
		return true
	}
	if i := strings.IndexFunc(t, func(r rune) bool { return r < '0' || r > '9' }); i > 0 && (t[i] == '.' || t[i] == ')') {
		return true
	}
	low := strings.ToLower(t)
	for _, w := range stepWords {
		if strings.HasPrefix(low, w) && (len(low) == len(w) || low[len(w)] == ' ' || low[len(w)] == ',') {
			return true
		}
	}
	return strings.HasPrefix(t, "•")
}

// candidate is one sentence that shares terms with the question.
type candidate struct {
	passage    int // index into the passages, i.e. rank (0 = best)
	start, end int // byte span in the passage text
	terms      uint64
	next       int  // index in cands of the passage's next sentence, -1 if none
	step       bool // a step of a procedure: continues the sentence before it
	heading    bool // opens with a Markdown heading: a section starts here
	hits       int  // occurrences of question terms, repeats included
}

// Answer quotes the sentences of passages that best cover the question,
// given analysed: question holds its terms as the Analyzer given to New
// makes them (in any order, repeats and question words included), which
// the node's query path already has from retrieval, so a question is
// analysed once per node, not again here. Passages are taken in rank order, best first; a passage whose N is not
// positive is cited by its 1-based position instead, so a mark is always
// a valid number.
//
// Sentences are picked greedily: each time the one that adds the most
// question terms not yet covered, ties going to the better-ranked passage and
// then to the earlier sentence, until MaxSentences are picked or no sentence
// adds anything. Greedy selection reaches at least 1−1/e of the best
// possible coverage and, unlike ranking sentences independently, never
// quotes a sentence that only repeats terms already covered.
func (x *Answerer) Answer(question []string, passages []models.Passage) models.Answer {
	if len(passages) == 0 {
		return abstain(0)
	}
	s := x.pool.Get().(*scratch)
	defer x.pool.Put(s)

	s.query = distinct(s.query[:0], x.skip, question)
	if len(s.query) == 0 {
		// Only stopwords and question words: there is nothing to match,
		// so anything quoted would be chosen at random.
		return abstain(0)
	}

	// Every sentence is kept, matching or not, since the steps of a
	// procedure often repeat none of the question's words.
	s.cands = s.cands[:0]
	s.passTerms = s.passTerms[:0]
	for i, p := range passages {
		var pt uint64
		prev := -1
		for _, whole := range chunk.Sentences(p.Text) {
			for _, sp := range splitHeadings(p.Text, whole) {
				s.terms = x.an.AppendTerms(s.terms[:0], p.Text[sp.Start:sp.End])
				m, hits := termSet(s.query, s.terms)
				pt |= m
				if prev >= 0 {
					s.cands[prev].next = len(s.cands)
				}
				prev = len(s.cands)
				text := p.Text[sp.Start:sp.End]
				s.cands = append(s.cands, candidate{passage: i, start: sp.Start, end: sp.End, terms: m, next: -1,
					step: isStep(text), heading: strings.HasPrefix(text, "#"), hits: hits})
			}
		}
		s.passTerms = append(s.passTerms, pt)
	}
	// Only passages that match the question about as well as the best one
	// may give sentences: a passage that shares one common word with the
	// question ("uses") answers another question.
	bestPass := 0
	for _, pt := range s.passTerms {
		bestPass = max(bestPass, bits.OnesCount64(pt))
	}

	var covered uint64
	s.chosen = s.chosen[:0]
	for len(s.chosen) < x.opts.MaxSentences {
		best, gain, hits := -1, 0, 0
		// cands are in passage then sentence order, so keeping the first
		// of equal gains is exactly the tie-break the doc promises.
		for i, c := range s.cands {
			if 3*bits.OnesCount64(s.passTerms[c.passage]) < 2*bestPass {
				continue
			}
			if g := bits.OnesCount64(c.terms &^ covered); g > gain || (g == gain && g > 0 && c.hits > hits) {
				best, gain, hits = i, g, c.hits
			}
		}
		if best < 0 {
			break
		}
		covered |= s.cands[best].terms
		s.chosen = append(s.chosen, best)
	}
	s.chosen = x.withSteps(passages, s.cands, s.chosen)
	// Document order: passages by rank, sentences as written, so that steps
	// read in the order they are done.
	slices.Sort(s.chosen)

	coverage := float64(bits.OnesCount64(covered)) / float64(len(s.query))
	if len(s.chosen) == 0 || coverage < x.opts.MinCoverage {
		return abstain(coverage)
	}
	text, cited := render(passages, s.cands, s.chosen)
	return models.Answer{
		Text:  text,
		Mode:  models.ModeExtractive,
		Cited: cited,
		Signals: map[string]float64{
			SignalCoverage:  coverage,
			SignalSentences: min(1, float64(len(s.chosen))/float64(x.opts.MaxSentences)),
		},
	}
}

func abstain(coverage float64) models.Answer {
	return models.Answer{
		Text:      AbstainText,
		Mode:      models.ModeExtractive,
		Abstained: true,
		Signals:   map[string]float64{SignalCoverage: coverage, SignalSentences: 0},
	}
}

// distinct appends to dst the terms neither already in it nor in skip, in
// first-seen order, up to maxQueryTerms. Questions have a handful of terms,
// so a linear scan beats hashing.
func distinct(dst, skip, terms []string) []string {
	for _, t := range terms {
		if len(dst) == maxQueryTerms {
			break
		}
		if !slices.Contains(dst, t) && !slices.Contains(skip, t) {
			dst = append(dst, t)
		}
	}
	return dst
}

// termSet returns the bit set of query terms that occur in terms, where a
// term counts once however often it repeats, so a sentence cannot win by
// repeating one word; and the occurrences counted with repeats, which only
// break ties between sentences that add as many terms.
func termSet(query, terms []string) (uint64, int) {
	var m uint64
	hits := 0
	for _, t := range terms {
		if i := slices.Index(query, t); i >= 0 {
			m |= 1 << i
			hits++
		}
	}
	return m, hits
}

// splitHeadings cuts a sentence span before each Markdown heading marker in
// it ("… hear it. ## Resetting the pump …"): chunk text keeps headings
// inline, and a heading starts a new section, never continues a sentence.
func splitHeadings(text string, sp chunk.Span) []chunk.Span {
	var out []chunk.Span
	start := sp.Start
	for i := sp.Start + 1; i < sp.End-1; i++ {
		if text[i] == '#' && text[i-1] == ' ' {
			if end := strings.TrimRight(text[start:i], " "); end != "" {
				out = append(out, chunk.Span{Start: start, End: start + len(end)})
			}
			start = i
			for i < sp.End && text[i] == '#' {
				i++
			}
		}
	}
	return append(out, chunk.Span{Start: start, End: sp.End})
}

// render joins the chosen sentences, each followed by " [n]", and returns
// the text with the sorted distinct citation numbers. The text is sized
// first so it is built in one allocation.
func render(passages []models.Passage, cands []candidate, chosen []int) (string, []int) {
	cited := make([]int, 0, len(chosen))
	size := 0
	for _, ci := range chosen {
		c := cands[ci]
		n := citation(passages, c.passage)
		size += c.end - c.start + len(" []") + decimalLen(n) + 1
		if !slices.Contains(cited, n) {
			cited = append(cited, n)
		}
	}
	slices.Sort(cited)
	var b strings.Builder
	b.Grow(size)
	var num [20]byte
	for i, ci := range chosen {
		c := cands[ci]
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(passages[c.passage].Text[c.start:c.end])
		b.WriteString(" [")
		b.Write(strconv.AppendInt(num[:0], int64(citation(passages, c.passage)), 10))
		b.WriteByte(']')
	}
	return b.String(), cited
}

func citation(passages []models.Passage, i int) int {
	if n := passages[i].N; n > 0 {
		return n
	}
	return i + 1
}

func decimalLen(n int) int {
	l := 1
	for n >= 10 {
		n /= 10
		l++
	}
	return l
}
