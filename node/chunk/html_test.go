package chunk

import (
	"reflect"
	"testing"
)

func TestParseHTML(t *testing.T) {
	tests := []struct {
		name string
		body string
		want []Section
	}{
		{"empty", "", nil},
		{"text only", "just text", []Section{sec(nil, "just text")}},
		{
			"main wins over the rest of the body",
			`<body><nav>Home | About</nav><div>sidebar text</div><main><h1>Guide</h1><p>Main text.</p></main><p>after main</p></body>`,
			[]Section{sec(path("Guide"), "Main text.")},
		},
		{
			"article when there is no main",
			`<body><p>teaser</p><article><p>Story.</p></article></body>`,
			[]Section{sec(nil, "Story.")},
		},
		{
			"the first of main and article",
			`<article><p>first</p></article><main><p>second</p></main>`,
			[]Section{sec(nil, "first")},
		},
		{
			"articles inside main are part of it",
			`<main><article><p>one</p></article><article><p>two</p></article></main>`,
			[]Section{sec(nil, "one", "two")},
		},
		{
			"an empty main falls back to the body",
			`<body><main></main><p>rendered by hand</p></body>`,
			[]Section{sec(nil, "rendered by hand")},
		},
		{
			"a hidden main is not the main text",
			`<main hidden><p>old</p></main><p>body text</p>`,
			[]Section{sec(nil, "body text")},
		},
		{
			"page furniture and code are dropped",
			`<html><head><title>T</title><style>p{color:red}</style><script>var a = "<p>x</p>";</script></head>
			<body><header><h1>Site</h1></header><nav><a href="/">Home</a></nav><aside>Ads</aside>
			<noscript>Enable JS</noscript><template><p>tpl</p></template><svg><text>chart</text></svg>
			<form><label>Name</label><input name=q></form><iframe src="x">frame</iframe>
			<p>Kept.</p><footer>Copyright</footer></body></html>`,
			[]Section{sec(nil, "Kept.")},
		},
		{
			"hidden elements are dropped",
			`<p>shown</p><div hidden><p>secret</p></div><p hidden>also secret</p><p>again</p>`,
			[]Section{sec(nil, "shown", "again")},
		},
		{
			"self-closing script still hides its content",
			`<p>a</p><script/>alert(1)</script><p>b</p>`,
			[]Section{sec(nil, "a", "b")},
		},
		{
			"headings build a path",
			`<h1>A</h1><p>a</p><h2>B</h2><p>b</p><h3>C</h3><p>c</p><h2>D</h2><p>d</p><h1>E</h1><p>e</p>`,
			[]Section{
				sec(path("A"), "a"), sec(path("A", "B"), "b"), sec(path("A", "B", "C"), "c"),
				sec(path("A", "D"), "d"), sec(path("E"), "e"),
			},
		},
		{
			"heading markup and whitespace",
			"<h2>\n  Install <code>edgerag</code>\n <a href=x>now</a></h2><p>x</p>",
			[]Section{sec(path("Install edgerag now"), "x")},
		},
		{
			"unclosed heading ends at the next block",
			`<h2>Title<p>text</p>`,
			[]Section{sec(path("Title"), "text")},
		},
		{
			"block inside a heading",
			`<h2><div>Title</div></h2><p>text</p>`,
			[]Section{sec(path("Title"), "text")},
		},
		{
			"blocks become paragraphs",
			`<div>one<p>two</p>three</div><ul><li>four<li>five</ul><table><tr><td>six</td><td>seven</td></tr></table><pre>eight
			  nine</pre><blockquote>ten</blockquote>`,
			[]Section{sec(nil, "one", "two", "three", "four", "five", "six", "seven", "eight nine", "ten")},
		},
		{
			"inline elements join words",
			`<p>un<b>believ</b><i>able</i> <span>words</span><br>after break</p>`,
			[]Section{sec(nil, "unbelievable words after break")},
		},
		{
			"entities are decoded",
			`<p>Fish &amp; chips &lt;3 &eacute;t&eacute; &#8212; &#x41;&nbsp;B &bogus;</p>`,
			[]Section{sec(nil, "Fish & chips <3 \u00e9t\u00e9 \u2014 A B &bogus;")},
		},
		{
			"invalid html keeps its text",
			`<div><p>one</span></p></div></div></li><p>two<p>three</b></i><table><td>four`,
			[]Section{sec(nil, "one", "two", "three", "four")},
		},
		{
			"unclosed dropped element hides only its parent's rest",
			`<div><p>in</p><nav>menu</div><p>out</p>`,
			[]Section{sec(nil, "in", "out")},
		},
		{
			"comments and doctype",
			`<!DOCTYPE html><!-- note --><p>text<!-- inline --> more</p>`,
			[]Section{sec(nil, "text more")},
		},
		{
			"invalid utf-8",
			"<p>bad \xff byte</p>",
			[]Section{sec(nil, "bad \uFFFD byte")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(FormatHTML, tt.body)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Parse(html, %q) =\n%#v\nwant\n%#v", tt.body, got, tt.want)
			}
		})
	}
}

func TestTitle(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"none", "<p>no title</p>", ""},
		{"empty", "<title></title>", ""},
		{"normalised and decoded", "<head><title>\n  Fish &amp; Chips\n</title></head>", "Fish & Chips"},
		{"first wins", "<title>One</title><title>Two</title>", "One"},
		{"svg titles are not the page's", "<svg><title>chart</title></svg><title>Page</title>", "Page"},
		{"tags inside are text", "<title>a <b>b</b></title>", "a <b>b</b>"},
		{"unclosed", "<title>Runs on", "Runs on"},
	}
	for _, tt := range tests {
		if got := Title(tt.body); got != tt.want {
			t.Errorf("%s: Title(%q) = %q, want %q", tt.name, tt.body, got, tt.want)
		}
	}
}
