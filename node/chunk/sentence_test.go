package chunk

import (
	"reflect"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func sentenceTexts(text string) []string {
	var out []string
	for _, s := range Sentences(text) {
		out = append(out, text[s.Start:s.End])
	}
	return out
}

func TestSentences(t *testing.T) {
	tests := []struct {
		name string
		text string
		want []string
	}{
		{"empty", "", nil},
		{"only space", " \n\t ", nil},
		{"no terminator", "  just words  ", []string{"just words"}},
		{"simple", "One. Two! Three? Four", []string{"One.", "Two!", "Three?", "Four"}},
		{"runs of terminators", "Really?! Yes... And then", []string{"Really?!", "Yes...", "And then"}},
		{"lower case after period is the same sentence", "It ends here. but not here", []string{"It ends here. but not here"}},
		{"digit starts a sentence", "We tested it. 42 nodes passed.", []string{"We tested it.", "42 nodes passed."}},
		{"quote starts a sentence", `He left. "Why?" she asked.`, []string{"He left.", `"Why?" she asked.`}},
		{"bracket starts a sentence", "Done. (See below.) Next", []string{"Done.", "(See below.)", "Next"}},
		{"closing quote stays with its sentence", `She said "stop." Then left.`, []string{`She said "stop."`, "Then left."}},
		{"no space after period", "Visit example.com. Then go.", []string{"Visit example.com.", "Then go."}},
		{"decimal numbers", "The ratio is 3.5 today. It was 2.25 before.", []string{"The ratio is 3.5 today.", "It was 2.25 before."}},
		{"titles", "Mr. Jones met Mrs. Smith and Dr. Who at St. Ives. They talked.", []string{"Mr. Jones met Mrs. Smith and Dr. Who at St. Ives.", "They talked."}},
		{"latin abbreviations", "Use tools, e.g. Go or Rust, i.e. Compiled ones. Apples vs. Oranges etc. Fine.", []string{"Use tools, e.g. Go or Rust, i.e. Compiled ones.", "Apples vs. Oranges etc. Fine."}},
		{"dotted initialism", "He moved to the U.S. Army base. It was big.", []string{"He moved to the U.S. Army base.", "It was big."}},
		{"initial", "A paper by J. Smith and R. K. Jones. Read it.", []string{"A paper by J. Smith and R. K. Jones.", "Read it."}},
		{"pronoun I ends a sentence", "So did I. Then we left.", []string{"So did I.", "Then we left."}},
		{"number abbreviations before digits", "See Fig. 3 and No. 5. Then stop.", []string{"See Fig. 3 and No. 5.", "Then stop."}},
		{"number abbreviation before a word ends a sentence", "He said no. Then left.", []string{"He said no.", "Then left."}},
		{"abbreviation in brackets", "Ask (Dr. Who) about it.", []string{"Ask (Dr. Who) about it."}},
		{"cranfield period before lower case", "slipstream . an experimental study of the wing . the results", []string{"slipstream .", "an experimental study of the wing .", "the results"}},
		{"cranfield at the end", "what is the drag ?", []string{"what is the drag ?"}},
		{"blank line ends a sentence", "first paragraph without stop\n\nsecond one\nwrapped line", []string{"first paragraph without stop", "second one\nwrapped line"}},
		{"blank line with spaces", "one\n  \t\ntwo", []string{"one", "two"}},
		{"single newline does not", "one\ntwo", []string{"one\ntwo"}},
		{"unicode capitals", "Fin. Élan vital. Ωmega.", []string{"Fin.", "Élan vital.", "Ωmega."}},
		{"curly quotes", "Stop. \u201cGo,\u201d he said.", []string{"Stop.", "\u201cGo,\u201d he said."}},
		{"leading terminator", ". Start", []string{".", "Start"}},
		{"non-breaking space counts as space", "One.\u00a0Two.", []string{"One.", "Two."}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := sentenceTexts(tt.text)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Sentences(%q) =\n%q\nwant\n%q", tt.text, got, tt.want)
			}
			checkSpans(t, tt.text, Sentences(tt.text))
		})
	}
}

// checkSpans asserts what every caller of Sentences relies on: spans in
// bounds, in order, not overlapping, trimmed, non-empty and covering all
// non-space text.
func checkSpans(t *testing.T, text string, spans []Span) {
	t.Helper()
	prev := 0
	for i, s := range spans {
		if s.Start < prev || s.End > len(text) || s.Start >= s.End {
			t.Fatalf("span %d %v out of order or empty (previous end %d, text length %d)", i, s, prev, len(text))
		}
		if gap := text[prev:s.Start]; strings.TrimSpace(gap) != "" {
			t.Fatalf("span %d: non-space text %q left out", i, gap)
		}
		part := text[s.Start:s.End]
		first, _ := utf8.DecodeRuneInString(part)
		last, _ := utf8.DecodeLastRuneInString(part)
		if unicode.IsSpace(first) || unicode.IsSpace(last) {
			t.Fatalf("span %d %q is not trimmed", i, part)
		}
		prev = s.End
	}
	if rest := text[prev:]; strings.TrimSpace(rest) != "" {
		t.Fatalf("non-space text %q after the last span", rest)
	}
}
