package chunk

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// checkSections asserts what Parse promises for any body: every heading
// and paragraph is valid UTF-8, whitespace-normalised and non-empty, and
// every section has a paragraph.
func checkSections(t *testing.T, sections []Section) {
	t.Helper()
	for i, s := range sections {
		if len(s.Paragraphs) == 0 {
			t.Fatalf("section %d %q has no paragraphs", i, s.Headings)
		}
		for _, text := range append(append([]string(nil), s.Headings...), s.Paragraphs...) {
			if text == "" || text != normalizeSpace(text) || !utf8.ValidString(text) {
				t.Fatalf("section %d: %q is empty, not normalised or not UTF-8", i, text)
			}
		}
	}
}

var markdownSeeds = []string{
	"# A\ntext\n## B\nmore *em* [link](u \"t\") ![img](i) `code`",
	"Title\n===\n\nSub\n---\n- item\n> quote\n\n```\n# code\n```\n~~~\nx",
	"---\nfront: matter\n---\n| a | b |\n|---|---|\n[1]: http://x\n\\*x\\* &amp; <http://a>",
	"[[[a](b)](c)](d) ``x` `` __a__b_c ~~s~~ ***x***",
	"1. one\n2) two\n    ```\n    # c\n",
}

func FuzzParseMarkdown(f *testing.F) {
	for _, s := range markdownSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		sections, err := Parse(FormatMarkdown, body)
		if err != nil {
			t.Fatal(err)
		}
		checkSections(t, sections)
		o := Options{MaxTokens: 16, OverlapTokens: 4}
		checkSplit(t, sections, o, Split(sections, o))
	})
}

var htmlSeeds = []string{
	"<html><head><title>T &amp; U</title></head><body><nav>n</nav><main><h1>A</h1><p>x&lt;y</p></main></body></html>",
	"<article><h2>B<p>c<div hidden>d</div><script/>e</script><svg><title>s</title></svg>",
	"<table><td>a<td>b</table><ul><li>1<li>2</ul><pre>p\n q</pre><br><hr>",
	"</div></p><p><b><i>x</b></i></p><h1><h2>y</h2></h1><template><p>t</p></template>",
	"<p \xff>bad\x00</p><!-- c --><!DOCTYPE x><plaintext><p>raw",
}

func FuzzParseHTML(f *testing.F) {
	for _, s := range htmlSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		sections, err := Parse(FormatHTML, body)
		if err != nil {
			t.Fatal(err)
		}
		checkSections(t, sections)
		o := Options{MaxTokens: 16, OverlapTokens: 4}
		checkSplit(t, sections, o, Split(sections, o))
		if title := Title(body); title != normalizeSpace(title) || !utf8.ValidString(title) {
			t.Fatalf("Title = %q, not normalised or not UTF-8", title)
		}
	})
}

// FuzzSplit reads text as sections separated by '#' and paragraphs
// separated by blank lines, and checks the invariants of Split for any
// options, including ones Validate refuses (Split clamps them).
func FuzzSplit(f *testing.F) {
	f.Add("One. Two! Three?\n\nFour five six.#Next section . lower case", 16, 4)
	f.Add(strings.Repeat("word ", 100)+"\n\n"+strings.Repeat("Dr. A b. ", 30), 20, 9)
	f.Add("a\n\nb\n\nc", 0, 0)
	f.Add("x y z", -5, 1000)
	f.Fuzz(func(t *testing.T, text string, maxTokens, overlap int) {
		var sections []Section
		for part := range strings.SplitSeq(text, "#") {
			sections = append(sections, Section{
				Headings:   []string{part[:min(len(part), 8)]},
				Paragraphs: strings.Split(part, "\n\n"),
			})
		}
		o := Options{MaxTokens: maxTokens, OverlapTokens: overlap}
		checkSplit(t, sections, o, Split(sections, o))
	})
}

func FuzzSentences(f *testing.F) {
	for _, s := range []string{
		"Dr. Smith arrived. He left at 3.5 p.m. on the U.S. Army base! Why?! \"Because.\" (Fine.)",
		"slipstream . an experimental study ?\n\nnext paragraph",
		"e.g. i.e. etc. J. Smith. ... !!! ???",
		"\xff. \u00a0Ωmega. \u201cQuote.\u201d",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		checkSpans(t, text, Sentences(text))
	})
}
