package analysis

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"unsafe"
)

func TestTerms(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		// Empty input.
		{"empty", "", nil},
		{"whitespace only", " \t\r\n\u00a0\u3000 ", nil},
		{"punctuation only", "!!! --- ... ''' ,,, ___", nil},

		// Stopwords and stemming.
		{"sentence", "The cats are sitting on the mats.", []string{"cat", "sit", "mat"}},
		{"only stopwords", "To be or not to be: that is the question", []string{"question"}},
		{"stopwords in capitals", "THE END OF AN ERA", []string{"end", "era"}},
		{"stopwords go before stemming", "ats", []string{"at"}},
		{"question words kept", "How and when was it built?", []string{"how", "when", "built"}},

		// Possessives.
		{"possessive", "John's book", []string{"john", "book"}},
		{"possessive capital S", "JOHN'S BOOK", []string{"john", "book"}},
		{"possessive curly", "James’s car", []string{"jame", "car"}},
		{"possessive fullwidth apostrophe", "Mary＇s lamb", []string{"mari", "lamb"}},
		{"plural possessive", "the students' grades", []string{"student", "grade"}},
		{"possessive of stopword", "it's there", nil},

		// Apostrophes inside words.
		{"contraction", "don't stop", []string{"don't", "stop"}},
		{"curly contraction matches straight", "don’t", []string{"don't"}},
		{"name", "Shaquille O'Neill", []string{"shaquil", "o'neil"}},
		{"quoted word", "'quoted'", []string{"quot"}},
		{"decade", "the 1990's", []string{"1990", "s"}},

		// Numbers.
		{"decimal", "3.5 million", []string{"3.5", "million"}},
		{"thousands", "1,000 people", []string{"1,000", "peopl"}},
		{"money", "$1,234.56", []string{"1,234.56"}},
		{"version", "version 1.2.3", []string{"version", "1.2.3"}},
		{"en dash score", "won 24–10", []string{"won", "24", "10"}},
		{"hyphen range", "pages 10-20", []string{"page", "10", "20"}},
		{"time splits", "10:30", []string{"10", "30"}},
		{"letters and digits join", "mp3 and 1990s", []string{"mp3", "1990"}},
		{"trailing comma", "1, 2, 3,", []string{"1", "2", "3"}},
		{"percent", "50% off", []string{"50", "off"}},

		// Punctuation.
		{"comma and bang", "Hello, world!", []string{"hello", "world"}},
		{"hyphenated", "state-of-the-art", []string{"state", "art"}},
		{"acronym keeps dots", "U.S. policy", []string{"u.", "polici"}},
		{"domain", "see example.com", []string{"see", "example.com"}},
		{"digit before dot splits", "a9.com", []string{"a9", "com"}},
		{"email", "john@example.com", []string{"john", "example.com"}},
		{"url", "https://go.dev/doc", []string{"http", "go.dev", "doc"}},
		{"symbols", "C++ & C#", []string{"c", "c"}},
		{"underscore joins", "snake_case __init__", []string{"snake_cas", "init"}},
		{"colon between letters", "Note:this", []string{"note:thi"}},
		{"double dot splits", "wait..what", []string{"wait", "what"}},
		{"brackets", "(alpha) [beta] {gamma}", []string{"alpha", "beta", "gamma"}},
		{"slash", "and/or", nil},

		// Unicode.
		{"accents", "Café CAFÉ naïve", []string{"café", "café", "naïv"}},
		{"combining mark", "cafe\u0301", []string{"cafe\u0301"}},
		{"greek", "ΑΘΗΝΑ", []string{"αθηνα"}},
		{"cyrillic", "Москва", []string{"москва"}},
		{"kelvin sign", "\u212Aelvin", []string{"kelvin"}},
		{"dotted capital I", "İstanbul", []string{"istanbul"}},
		{"soft hyphen dropped", "co\u00ADoperation", []string{"cooper"}},
		{"zero width space splits", "foo\u200Bbar", []string{"foo", "bar"}},
		{"han one per character", "北京大学", []string{"北", "京", "大", "学"}},
		{"hiragana one per character", "ひらがな", []string{"ひ", "ら", "が", "な"}},
		{"katakana run", "コーヒー", []string{"コーヒー"}},
		{"katakana and latin split", "カタカナabc", []string{"カタカナ", "abc"}},
		{"arabic-indic digits", "٣٤٥", []string{"٣٤٥"}},
		{"fullwidth", "ＡＢＣ１２３", []string{"ａｂｃ１２３"}},
		{"emoji separates", "pizza🍕time", []string{"pizza", "time"}},
		{"invalid utf-8 separates", "abc\xffdef", []string{"abc", "def"}},
	}
	a := New()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := a.Terms(tt.in); !slices.Equal(got, tt.want) {
				t.Errorf("Terms(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestOptions(t *testing.T) {
	const text = "The Running of the Bulls"
	tests := []struct {
		name string
		opts Options
		want []string
	}{
		{"defaults", Options{}, []string{"run", "bull"}},
		{"keep stopwords", Options{KeepStopwords: true}, []string{"the", "run", "of", "the", "bull"}},
		{"no stem", Options{NoStem: true}, []string{"running", "bulls"}},
		{"neither", Options{KeepStopwords: true, NoStem: true}, []string{"the", "running", "of", "the", "bulls"}},
		{"no cache", Options{CacheSize: -1}, []string{"run", "bull"}},
		{"tiny cache", Options{CacheSize: 1}, []string{"run", "bull"}},
	}
	if got, want := new(Analyzer).Terms(text), []string{"run", "bull"}; !slices.Equal(got, want) {
		t.Errorf("zero Analyzer: Terms(%q) = %q, want %q", text, got, want)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := NewWithOptions(tt.opts)
			for range 2 { // cold, then warm cache
				if got := a.Terms(text); !slices.Equal(got, tt.want) {
					t.Fatalf("Terms(%q) = %q, want %q", text, got, tt.want)
				}
			}
		})
	}
}

func TestAppendTermsAppends(t *testing.T) {
	a := New()
	dst := []string{"existing"}
	got := a.AppendTerms(dst, "Wolves howling")
	if want := []string{"existing", "wolv", "howl"}; !slices.Equal(got, want) {
		t.Fatalf("AppendTerms = %q, want %q", got, want)
	}
}

func TestIsStopword(t *testing.T) {
	for _, w := range strings.Fields("a an and are as at be but by for if in into is it no not of on or such that the their then there these they this to was will with") {
		if !IsStopword(w) {
			t.Errorf("IsStopword(%q) = false, want true", w)
		}
	}
	if n := len(stopwords); n != 33 {
		t.Errorf("stop set has %d words, want Lucene's 33", n)
	}
	for _, w := range []string{"The", "us", "how", "what", "which", "from", "", "thee"} {
		if IsStopword(w) {
			t.Errorf("IsStopword(%q) = true, want false", w)
		}
	}
}

// Lucene cuts tokens longer than 255 characters into pieces.
func TestLongTokenIsCut(t *testing.T) {
	long := strings.Repeat("x", 600)
	got := New().Terms(long)
	want := []string{strings.Repeat("x", 255), strings.Repeat("x", 255), strings.Repeat("x", 90)}
	if !slices.Equal(got, want) {
		t.Fatalf("600-letter word gave terms of lengths %v, want 255, 255, 90", lengths(got))
	}
	// Multi-byte characters count once each.
	got = New().Terms(strings.Repeat("é", 300))
	if len(got) != 2 || len([]rune(got[0])) != 255 || len([]rune(got[1])) != 45 {
		t.Fatalf("300 é gave terms of byte lengths %v, want 255 and 45 characters", lengths(got))
	}
}

// pointsInto reports whether s's bytes lie inside text's.
func pointsInto(s, text string) bool {
	p := uintptr(unsafe.Pointer(unsafe.StringData(s)))
	lo := uintptr(unsafe.Pointer(unsafe.StringData(text)))
	return p >= lo && p < lo+uintptr(len(text))
}

func lengths(terms []string) []int {
	n := make([]int, len(terms))
	for i, t := range terms {
		n[i] = len(t)
	}
	return n
}

// The cache must stop growing at its bound however many distinct words
// arrive, and must not change any result once full.
func TestCacheIsBounded(t *testing.T) {
	const size = 1000
	a := NewWithOptions(Options{CacheSize: size})
	plain := NewWithOptions(Options{CacheSize: -1})
	var sb strings.Builder
	for i := range 20000 {
		fmt.Fprintf(&sb, "word%dings ", i)
	}
	text := sb.String()
	got := a.Terms(text)
	if n := a.cache.len(); n > size {
		t.Fatalf("cache holds %d entries, bound is %d", n, size)
	}
	if want := plain.Terms(text); !slices.Equal(got, want) {
		t.Fatal("terms with a full cache differ from terms without a cache")
	}
	if got2 := a.Terms(text); !slices.Equal(got, got2) {
		t.Fatal("second analysis with a full cache differs from the first")
	}
}

// Terms handed out must not keep the analysed text alive: callers index
// them for a long time while the text is discarded.
func TestTermsDoNotAliasText(t *testing.T) {
	a := New()
	buf := []byte("alpha beta")
	text := string(buf)
	terms := a.Terms(text)
	for _, term := range terms {
		if pointsInto(term, text) {
			t.Fatalf("term %q points into the input text", term)
		}
	}
}

func TestConcurrentUse(t *testing.T) {
	texts := []string{
		"The quick brown fox jumps over the lazy dog.",
		"Generalizations about oscillators are experimental.",
		"It's the students' right to question the U.S. government's policies.",
		"北京大学 and カタカナ with naïve cafés and 3.5 million people",
		"Running runners run; connected connections connect.",
	}
	plain := NewWithOptions(Options{CacheSize: -1})
	want := make([][]string, len(texts))
	for i, s := range texts {
		want[i] = plain.Terms(s)
	}
	// A small cache keeps filling, missing and hitting at once.
	for _, a := range []*Analyzer{New(), NewWithOptions(Options{CacheSize: 70})} {
		var wg sync.WaitGroup
		errs := make(chan string, 8)
		for g := range 8 {
			wg.Go(func() {
				var dst []string
				for i := range 300 {
					k := (g + i) % len(texts)
					dst = a.AppendTerms(dst[:0], texts[k])
					if !slices.Equal(dst, want[k]) {
						errs <- fmt.Sprintf("goroutine %d: Terms(%q) = %q, want %q", g, texts[k], dst, want[k])
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Error(e)
		}
	}
}

// Analysing familiar words must not allocate: this is what lets a node
// ingest tens of thousands of chunks a second.
func TestAppendTermsWarmDoesNotAllocate(t *testing.T) {
	a := New()
	dst := a.AppendTerms(nil, paragraph)
	allocs := testing.AllocsPerRun(50, func() {
		dst = a.AppendTerms(dst[:0], paragraph)
	})
	if allocs != 0 {
		t.Fatalf("AppendTerms on a warm cache made %v allocations per call, want 0", allocs)
	}
}
