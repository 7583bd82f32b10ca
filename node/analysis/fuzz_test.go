package analysis

import (
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// FuzzAnalyzer feeds arbitrary text, as documents and questions from the
// outside are, and checks what every caller relies on: no panic, terms
// that are non-empty, valid, lower-case and bounded in length, no
// stopwords before stemming, and the same terms every time whatever the
// cache holds.
func FuzzAnalyzer(f *testing.F) {
	for _, s := range []string{
		"", " ", paragraph, question, "U.S. John's don't 3.5 1,000 24–10",
		"北京大学 カタカナabc naïve cafe\u0301 co\u00ADoperate", "abc\xffdef",
		"a'b'c'd 1'000 x_y__z _ __ a.b.c. ...", strings.Repeat("ab", 200),
		"IT'S THE END'S", "İSTANBUL \u212Aelvin ΣΟΦΙΑ",
	} {
		f.Add(s)
	}
	warm := New()
	tiny := NewWithOptions(Options{CacheSize: 64})
	plain := NewWithOptions(Options{CacheSize: -1})
	unstemmed := NewWithOptions(Options{NoStem: true})
	raw := NewWithOptions(Options{KeepStopwords: true, NoStem: true, CacheSize: -1})
	f.Fuzz(func(t *testing.T, text string) {
		got := warm.Terms(text)
		for _, term := range got {
			switch {
			case term == "":
				t.Fatalf("empty term from %q", text)
			case !utf8.ValidString(term):
				t.Fatalf("invalid UTF-8 term %q from %q", term, text)
			case strings.ToLower(term) != term:
				t.Fatalf("term %q from %q is not lower-case", term, text)
			case strings.IndexFunc(term, unicode.IsSpace) >= 0:
				t.Fatalf("term %q from %q contains a space", term, text)
			case utf8.RuneCountInString(term) > maxTokenRunes:
				t.Fatalf("term %q from %q is longer than %d characters", term, text, maxTokenRunes)
			}
		}
		// Stopwords go before stemming, as in Lucene, so a stem may be a
		// stopword ("ats" → "at"); an unstemmed term never is.
		for _, term := range unstemmed.Terms(text) {
			if IsStopword(term) {
				t.Fatalf("stopword %q from %q", term, text)
			}
		}
		for name, other := range map[string][]string{
			"again":      warm.Terms(text),
			"tiny cache": tiny.Terms(text),
			"no cache":   plain.Terms(text),
		} {
			if !slices.Equal(got, other) {
				t.Fatalf("Terms(%q) = %q, but %s gives %q", text, got, name, other)
			}
		}
		if n := len(raw.Terms(text)); n < len(got) {
			t.Fatalf("keeping stopwords gave fewer terms (%d) than dropping them (%d) for %q", n, len(got), text)
		}
	})
}
