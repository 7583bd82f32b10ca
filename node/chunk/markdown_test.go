package chunk

import (
	"reflect"
	"testing"
)

// sec builds a Section, keeping the expectations in the tables short.
func sec(headings []string, paragraphs ...string) Section {
	return Section{Headings: headings, Paragraphs: paragraphs}
}

func path(h ...string) []string { return h }

func TestParseMarkdown(t *testing.T) {
	tests := []struct {
		name string
		body string
		want []Section
	}{
		{"empty", "", nil},
		{
			"text before the first heading has no path",
			"intro\n\n# A\nbody",
			[]Section{sec(nil, "intro"), sec(path("A"), "body")},
		},
		{
			"ATX headings nest and unwind",
			"# A\na\n## B\nb\n### C\nc\n## D\nd\n# E\ne",
			[]Section{
				sec(path("A"), "a"), sec(path("A", "B"), "b"), sec(path("A", "B", "C"), "c"),
				sec(path("A", "D"), "d"), sec(path("E"), "e"),
			},
		},
		{
			"skipped levels",
			"# A\n### C\nc\n## B\nb",
			[]Section{sec(path("A", "C"), "c"), sec(path("A", "B"), "b")},
		},
		{
			"closing hashes and indentation",
			"  ## Install ##  \nx\n# C# #\ny\n### Deep ###not closing\nz",
			[]Section{sec(path("Install"), "x"), sec(path("C#"), "y"), sec(path("C#", "Deep ###not closing"), "z")},
		},
		{
			"not headings",
			"#hashtag\n####### seven\n    # indented code",
			[]Section{sec(nil, "#hashtag ####### seven # indented code")},
		},
		{
			"headings without text stay out of the path",
			"# A\n##\ntext",
			[]Section{sec(path("A"), "text")},
		},
		{
			"sections without paragraphs are left out",
			"# A\n## B\n\n# C\ntext",
			[]Section{sec(path("C"), "text")},
		},
		{
			"setext headings",
			"Title\n=====\n\nbody\n\nSub *part*\n---\nmore\n\nOther\n===\nlast",
			[]Section{sec(path("Title"), "body"), sec(path("Title", "Sub part"), "more"), sec(path("Other"), "last")},
		},
		{
			"multi-line setext heading",
			"A long\ntitle\n---\ntext",
			[]Section{sec(path("A long title"), "text")},
		},
		{
			"thematic breaks are not headings",
			"para\n\n---\n\nnext\n\n***\n- - -\nlast",
			[]Section{sec(nil, "para", "next", "last")},
		},
		{
			"dashes under a list item are a break",
			"- item\n---\nafter",
			[]Section{sec(nil, "item", "after")},
		},
		{
			"fenced code is one paragraph and never a heading",
			"# A\nbefore\n```go\n# not a heading\nfunc *main*() {}\n\n[x](y)\n```\nafter",
			[]Section{sec(path("A"), "before", "# not a heading func *main*() {} [x](y)", "after")},
		},
		{
			"tilde fence closed only by tildes",
			"~~~\n```\n# still code\n~~~~\ntext",
			[]Section{sec(nil, "``` # still code", "text")},
		},
		{
			"longer fence needs a closing run as long",
			"````\n```\n# code\n````\n# Real\nx",
			[]Section{sec(nil, "``` # code"), sec(path("Real"), "x")},
		},
		{
			"unclosed fence runs to the end",
			"text\n```\n# code\nmore",
			[]Section{sec(nil, "text", "# code more")},
		},
		{
			"indented fence in a list item",
			"- step\n    ```\n    # comment\n    ```",
			[]Section{sec(nil, "step", "# comment")},
		},
		{
			"inline backticks are not a fence",
			"```inline``` text\n# H\nx",
			[]Section{sec(nil, "inline text"), sec(path("H"), "x")},
		},
		{
			"list items are paragraphs without markers",
			"- one\n- two\n  continued\n* three\n+ four\n1. first\n2) second",
			[]Section{sec(nil, "one", "two continued", "three", "four", "first", "second")},
		},
		{
			"a year at the start of a wrapped line is not a list",
			"It happened in\n2020. Then more.",
			[]Section{sec(nil, "It happened in 2020. Then more.")},
		},
		{
			"block quotes are text",
			"> quoted\n> > nested\nlazy\n>\n> second",
			[]Section{sec(nil, "quoted nested lazy", "second")},
		},
		{
			"inline markup is stripped",
			"Some *emphasis*, **strong**, _under_ and __double__ and ~~gone~~ and ***both***.",
			[]Section{sec(nil, "Some emphasis, strong, under and double and gone and both.")},
		},
		{
			"markers inside words and between spaces stay",
			"snake_case_name and 2*3 and a * b and ~5 min",
			[]Section{sec(nil, "snake_case_name and 2*3 and a * b and ~5 min")},
		},
		{
			"links and images keep their words",
			"See [the docs](https://x.org/a_(b) \"Docs\") and ![a diagram](img.png), [ref link][r] and [plain] <https://auto.link/x>.",
			[]Section{sec(nil, "See the docs and a diagram, ref link and [plain] https://auto.link/x.")},
		},
		{
			"nested link and image",
			"[![badge](b.svg)](https://ci) done",
			[]Section{sec(nil, "badge done")},
		},
		{
			"code spans keep their content verbatim",
			"Run `go test ./...` then ``a `tick` b`` and `*not emphasis*`.",
			[]Section{sec(nil, "Run go test ./... then a `tick` b and *not emphasis*.")},
		},
		{
			"escapes and entities",
			`\*literal\* and \[x\](y) &amp; &copy; &#8212; &bogus; AT&T`,
			[]Section{sec(nil, "*literal* and [x](y) & \u00a9 \u2014 &bogus; AT&T")},
		},
		{
			"HTML tags and comments are dropped, comparisons kept",
			"<p align=\"center\"><img src=\"logo.png\" alt=\"Logo\"></p>\n\nText<br>with <kbd>Ctrl</kbd>+C <!-- note --> and a < b, c > d, x<y.",
			[]Section{sec(nil, "Text with Ctrl +C and a < b, c > d, x<y.")},
		},
		{
			"front matter is skipped",
			"---\ntitle: Doc\ntags: [a]\n---\n# Real\nbody",
			[]Section{sec(path("Real"), "body")},
		},
		{
			"tables become one paragraph per row",
			"| Name | Size |\n|------|:----:|\n| a | 1 |\n| b | 2 |",
			[]Section{sec(nil, "Name Size", "a 1", "b 2")},
		},
		{
			"link definitions are dropped",
			"text [x][1]\n\n[1]: https://example.com \"title\"\n",
			[]Section{sec(nil, "text x")},
		},
		{
			"CRLF line endings",
			"# A\r\nline one\r\nline two\r\n",
			[]Section{sec(path("A"), "line one line two")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(FormatMarkdown, tt.body)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Parse(markdown, %q) =\n%#v\nwant\n%#v", tt.body, got, tt.want)
			}
		})
	}
}

func TestMarkdownHeadingMarkupIsStripped(t *testing.T) {
	got, err := Parse(FormatMarkdown, "## Install `edgerag` on *arm64* ([guide](x))\ntext")
	if err != nil {
		t.Fatal(err)
	}
	want := []Section{sec(path("Install edgerag on arm64 (guide)"), "text")}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v, want %#v", got, want)
	}
}
