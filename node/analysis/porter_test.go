package analysis

import (
	"strings"
	"testing"
)

func TestStem(t *testing.T) {
	tests := []struct{ word, want string }{
		// Step 1a: plurals.
		{"caresses", "caress"}, {"ponies", "poni"}, {"ties", "ti"},
		{"caress", "caress"}, {"cats", "cat"},
		// Step 1b: -eed, -ed, -ing and the repairs after them.
		{"feed", "feed"}, {"agreed", "agre"}, {"plastered", "plaster"},
		{"bled", "bled"}, {"motoring", "motor"}, {"sing", "sing"},
		{"conflated", "conflat"}, {"troubled", "troubl"}, {"sized", "size"},
		{"hopping", "hop"}, {"tanned", "tan"}, {"falling", "fall"},
		{"hissing", "hiss"}, {"fizzed", "fizz"}, {"failing", "fail"},
		{"filing", "file"}, {"matting", "mat"}, {"mating", "mate"},
		{"meeting", "meet"}, {"milling", "mill"}, {"messing", "mess"},
		{"meetings", "meet"}, {"disabled", "disabl"},
		// Step 1c: y to i after a vowel in the stem.
		{"happy", "happi"}, {"sky", "sky"},
		// Step 2: double suffixes.
		{"relational", "relat"}, {"conditional", "condit"}, {"rational", "ration"},
		{"valenci", "valenc"}, {"hesitanci", "hesit"}, {"digitizer", "digit"},
		{"conformabli", "conform"}, {"radicalli", "radic"}, {"differentli", "differ"},
		{"vileli", "vile"}, {"analogousli", "analog"}, {"vietnamization", "vietnam"},
		{"predication", "predic"}, {"operator", "oper"}, {"feudalism", "feudal"},
		{"decisiveness", "decis"}, {"hopefulness", "hope"}, {"callousness", "callous"},
		{"formaliti", "formal"}, {"sensitiviti", "sensit"}, {"sensibiliti", "sensibl"},
		// Step 3.
		{"triplicate", "triplic"}, {"formative", "form"}, {"formalize", "formal"},
		{"electriciti", "electr"}, {"electrical", "electr"}, {"hopeful", "hope"},
		{"goodness", "good"},
		// Step 4.
		{"revival", "reviv"}, {"allowance", "allow"}, {"inference", "infer"},
		{"airliner", "airlin"}, {"gyroscopic", "gyroscop"}, {"adjustable", "adjust"},
		{"defensible", "defens"}, {"irritant", "irrit"}, {"replacement", "replac"},
		{"adjustment", "adjust"}, {"dependent", "depend"}, {"adoption", "adopt"},
		{"homologou", "homolog"}, {"communism", "commun"}, {"activate", "activ"},
		{"angulariti", "angular"}, {"homologous", "homolog"}, {"effective", "effect"},
		{"bowdlerize", "bowdler"}, {"champion", "champion"},
		// Step 5.
		{"probate", "probat"}, {"rate", "rate"}, {"cease", "ceas"},
		{"controll", "control"}, {"roll", "roll"},
		// Whole words through several steps.
		{"generalizations", "gener"}, {"oscillators", "oscil"},
		{"aerodynamic", "aerodynam"}, {"slipstream", "slipstream"},
		{"experimental", "experiment"}, {"connections", "connect"},
		{"connected", "connect"}, {"connecting", "connect"},
		// Porter's published departures from the 1980 paper, as in
		// Lucene: -bli → -ble and -logi → -log.
		{"possibly", "possibl"}, {"analogy", "analog"}, {"archaeology", "archaeolog"},
		// 'y' is a consonant at the start and after a vowel.
		{"yelling", "yell"}, {"toying", "toi"}, {"syzygy", "syzygi"},
		// Short words, numbers and odd input are left alone or barely touched.
		{"", ""}, {"a", "a"}, {"is", "is"}, {"as", "as"}, {"ies", "i"},
		{"1990s", "1990"}, {"3.5", "3.5"}, {"don't", "don't"}, {"u.s", "u."},
	}
	for _, tt := range tests {
		if got := Stem(tt.word); got != tt.want {
			t.Errorf("Stem(%q) = %q, want %q", tt.word, got, tt.want)
		}
	}
}

// Non-ASCII letters count as one consonant each, as Lucene's chars do,
// and the result stays valid UTF-8.
func TestStemNonASCII(t *testing.T) {
	tests := []struct{ word, want string }{
		{"naïve", "naïv"},
		{"cafés", "café"},
		{"résumés", "résumé"},
		{"señoritas", "señorita"},
		{"übersetzungen", "übersetzungen"},
		{"москва", "москва"},
	}
	for _, tt := range tests {
		if got := Stem(tt.word); got != tt.want {
			t.Errorf("Stem(%q) = %q, want %q", tt.word, got, tt.want)
		}
	}
}

// A long run of y's alternates consonant and vowel; it must neither hang
// nor blow the stack.
func TestStemLongWord(t *testing.T) {
	w := strings.Repeat("y", 10000) + "ing"
	if got := Stem(w); len(got) > len(w) {
		t.Fatalf("Stem grew a %d-byte word to %d bytes", len(w), len(got))
	}
}

func BenchmarkStem(b *testing.B) {
	words := []string{"generalizations", "oscillators", "running", "relational",
		"happiness", "cat", "experimental", "predication", "the", "connections"}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		Stem(words[i%len(words)])
	}
}
