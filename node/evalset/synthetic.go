package evalset

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// Synthetic generates a reproducible corpus for speed and size benchmarks:
// documents of several Markdown sections, each a paragraph of about
// wordsPerSection words drawn from a Zipf-distributed vocabulary, so that
// term statistics look like natural text (a few very common words, a long
// tail). It is not meant for quality measurements.
type Synthetic struct {
	Docs            int // documents to generate
	SectionsPerDoc  int // Markdown sections per document; each becomes a chunk at the default budget
	WordsPerSection int
	Vocabulary      int    // distinct words
	Seed            uint64 // same seed, same corpus
}

// Generate calls fn with each document in turn.
func (s Synthetic) Generate(fn func(Doc) error) error {
	rng := rand.New(rand.NewPCG(s.Seed, 0x5eed))
	words := s.vocab()
	zipf := rand.NewZipf(rand.New(rand.NewPCG(s.Seed, 0x21bf)), 1.07, 2, uint64(len(words)-1))
	var b strings.Builder
	for d := range s.Docs {
		b.Reset()
		title := fmt.Sprintf("%s %s manual", words[zipf.Uint64()], words[zipf.Uint64()])
		for sec := range s.SectionsPerDoc {
			fmt.Fprintf(&b, "## Section %d %s\n\n", sec+1, words[zipf.Uint64()])
			for w := 0; w < s.WordsPerSection; {
				n := min(8+rng.IntN(12), s.WordsPerSection-w)
				for i := range n {
					if i > 0 {
						b.WriteByte(' ')
					}
					b.WriteString(words[zipf.Uint64()])
				}
				b.WriteString(". ")
				w += n
			}
			b.WriteString("\n\n")
		}
		if err := fn(Doc{ID: fmt.Sprintf("syn-%07d", d), Title: title, Text: b.String()}); err != nil {
			return err
		}
	}
	return nil
}

// Query returns a question made of a few words of document d's text, the
// way a user would pick words from a passage they half remember.
func (s Synthetic) Query(rng *rand.Rand, text string) string {
	fields := strings.Fields(strings.NewReplacer(".", "", "#", "").Replace(text))
	if len(fields) == 0 {
		return "manual"
	}
	n := 3 + rng.IntN(4)
	start := rng.IntN(max(1, len(fields)-n))
	return strings.Join(fields[start:min(len(fields), start+n)], " ")
}

// vocab makes pronounceable pseudo-words: the stemmer and stopword list
// then treat them like ordinary English words.
func (s Synthetic) vocab() []string {
	syll := []string{"ka", "to", "ri", "men", "sor", "lu", "va", "pel", "dri", "on", "sta", "gu", "fer", "mi", "ne", "bra", "quo", "tic", "zen", "ar"}
	// Real text spends about half its words on a few function words, which
	// the analyzer drops; putting them at the head of the Zipf ranks gives
	// posting lists of realistic length.
	out := []string{"the", "of", "and", "to", "a", "in", "is", "it", "that", "for", "on", "with", "as", "was",
		"be", "by", "this", "are", "or", "at", "from", "which", "an", "not", "but", "its", "can", "have", "has", "their"}
	seen := make(map[string]bool, s.Vocabulary)
	for _, w := range out {
		seen[w] = true
	}
	rng := rand.New(rand.NewPCG(s.Seed, 0x70c4))
	for len(out) < s.Vocabulary {
		n := 1 + rng.IntN(4)
		var b strings.Builder
		for range n {
			b.WriteString(syll[rng.IntN(len(syll))])
		}
		if w := b.String(); !seen[w] {
			seen[w] = true
			out = append(out, w)
		}
	}
	return out
}
