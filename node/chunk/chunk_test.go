package chunk

import (
	"math"
	"reflect"
	"strings"
	"testing"
)

func TestParseFormat(t *testing.T) {
	tests := []struct {
		in   string
		want Format
	}{
		{"", FormatText},
		{"text", FormatText},
		{"plain", FormatText},
		{"txt", FormatText},
		{"markdown", FormatMarkdown},
		{"md", FormatMarkdown},
		{"MD", FormatMarkdown},
		{"html", FormatHTML},
		{" htm ", FormatHTML},
	}
	for _, tt := range tests {
		got, err := ParseFormat(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseFormat(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestParseFormatRejectsUnknownNamesListingTheAcceptedOnes(t *testing.T) {
	_, err := ParseFormat("pdf")
	if err == nil {
		t.Fatal("ParseFormat(pdf) accepted an unknown format")
	}
	for _, want := range []string{`"pdf"`, "text", "plain", "txt", "markdown", "md", "html", "htm"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}

func TestParseRejectsUnknownFormat(t *testing.T) {
	if _, err := Parse("rtf", "x"); err == nil || !strings.Contains(err.Error(), "rtf") {
		t.Errorf("Parse(rtf) error = %v, want one naming the format", err)
	}
	if _, err := Chunk("rtf", "x", Options{}); err == nil {
		t.Error("Chunk(rtf) accepted an unknown format")
	}
}

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		wantErr []string // substrings of the error; nil means valid
	}{
		{"defaults", Options{}, nil},
		{"smallest budget with default overlap", Options{MaxTokens: 16}, nil},
		{"largest budget", Options{MaxTokens: 4096, OverlapTokens: 2047}, nil},
		{"no overlap", Options{MaxTokens: 64, OverlapTokens: -1}, nil},
		{"overlap just under half", Options{MaxTokens: 64, OverlapTokens: 31}, nil},
		{"budget too small", Options{MaxTokens: 15}, []string{"MaxTokens 15", "16 to 4096", "0 for the default (128)"}},
		{"budget too large", Options{MaxTokens: 5000}, []string{"MaxTokens 5000", "16 to 4096"}},
		{"negative budget", Options{MaxTokens: -1}, []string{"MaxTokens -1"}},
		{"overlap half the budget", Options{MaxTokens: 64, OverlapTokens: 32}, []string{"OverlapTokens 32", "less than half of MaxTokens 64", "at most 31", "negative value for no overlap"}},
		{"huge overlap", Options{OverlapTokens: math.MaxInt}, []string{"less than half"}},
		{"overlap against default budget", Options{OverlapTokens: 64}, []string{"OverlapTokens 64", "MaxTokens 128", "at most 63"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.opts.Validate()
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Validate() = nil, want an error")
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
			if _, cerr := Chunk(FormatText, "some text", tt.opts); cerr == nil {
				t.Error("Chunk accepted options Validate refuses")
			}
		})
	}
}

func TestOptionsDefaults(t *testing.T) {
	tests := []struct {
		opts                 Options
		wantBudget, wantOver int
	}{
		{Options{}, DefaultMaxTokens, DefaultOverlapTokens},
		{Options{MaxTokens: 64}, 64, 16},
		{Options{MaxTokens: 16}, 16, 4},
		{Options{MaxTokens: 64, OverlapTokens: -5}, 64, 0},
		{Options{MaxTokens: 64, OverlapTokens: 10}, 64, 10},
		// Split clamps what Validate refuses.
		{Options{MaxTokens: 3, OverlapTokens: 100}, 16, 7},
		{Options{MaxTokens: 1 << 20}, 4096, 32},
		{Options{MaxTokens: math.MinInt, OverlapTokens: math.MaxInt}, 16, 7},
	}
	for _, tt := range tests {
		budget, overlap := tt.opts.resolve()
		if budget != tt.wantBudget || overlap != tt.wantOver {
			t.Errorf("%+v resolves to budget %d overlap %d, want %d and %d", tt.opts, budget, overlap, tt.wantBudget, tt.wantOver)
		}
	}
}

func TestCountTokens(t *testing.T) {
	tests := []struct {
		in   string
		want int
	}{
		{"", 0},
		{"   \n\t ", 0},
		{"one", 1},
		{" two  words ", 2},
		{"line\nbreak\ttab", 3},
		{"non\u00a0breaking space", 3},
		{"héllo wörld", 2},
		{"a , b .", 4},
	}
	for _, tt := range tests {
		if got := CountTokens(tt.in); got != tt.want {
			t.Errorf("CountTokens(%q) = %d, want %d", tt.in, got, tt.want)
		}
		if got := len(strings.Fields(tt.in)); got != tt.want {
			t.Errorf("test is wrong: %q has %d fields", tt.in, got)
		}
	}
}

func TestParseText(t *testing.T) {
	tests := []struct {
		name string
		body string
		want []Section
	}{
		{"empty", "", nil},
		{"only space", " \n\n\t\n", nil},
		{"one paragraph with wrapped lines", "first line\nsecond  line\r\nthird", []Section{{Paragraphs: []string{"first line second line third"}}}},
		{"blank lines separate paragraphs", "one\n\ntwo\n \t\nthree\n\n\n", []Section{{Paragraphs: []string{"one", "two", "three"}}}},
		{"markup is text", "# not a heading\n\n<b>bold</b>", []Section{{Paragraphs: []string{"# not a heading", "<b>bold</b>"}}}},
		{"invalid utf-8 is replaced", "bad \xff byte", []Section{{Paragraphs: []string{"bad \uFFFD byte"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(FormatText, tt.body)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Parse(text, %q) =\n%#v\nwant\n%#v", tt.body, got, tt.want)
			}
		})
	}
}

func TestChunkEndToEnd(t *testing.T) {
	body := "# Install\n\nRun the **installer**. It asks no questions.\n\n## On arm64\n\nUse the [static build](https://example.com/arm64).\n"
	got, err := Chunk(FormatMarkdown, body, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []Piece{
		{Heading: "Install", Text: "Run the installer. It asks no questions."},
		{Heading: "Install > On arm64", Text: "Use the static build."},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Chunk =\n%#v\nwant\n%#v", got, want)
	}
}

func TestNormalizeSpace(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{" ", ""},
		{"a", "a"},
		{"a b", "a b"},
		{" a b", "a b"},
		{"a b ", "a b"},
		{"a  b", "a b"},
		{"a\tb\nc\r\n", "a b c"},
		{"a\u00a0b\u2003 c", "a b c"},
		{"\xff x", "\xff x"},
		{"é  ü", "é ü"},
	}
	for _, tt := range tests {
		if got := normalizeSpace(tt.in); got != tt.want {
			t.Errorf("normalizeSpace(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if got := strings.Join(strings.Fields(tt.in), " "); got != tt.want {
			t.Errorf("test is wrong for %q: Fields gives %q", tt.in, got)
		}
	}
}
