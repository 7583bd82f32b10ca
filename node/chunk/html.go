package chunk

import (
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// parseHTML reduces a page to its main text. It reads tokens rather than
// building the HTML5 tree: the tree builder's scope checks walk the stack of
// open elements for every tag, which is quadratic on deeply nested input,
// while this reader does constant work per token. The price is that it
// closes elements only at their end tags (or an ancestor's) rather than by
// HTML5's implied-end rules ("<p>a<div>" closes the p); for extracting text
// that hardly matters, because every block start breaks the paragraph
// anyway.
//
// The page's main text is the first <main> or <article> when there is one
// with text, otherwise everything outside <head>; navigation, scripts,
// forms and hidden elements are dropped wherever they are.
func parseHTML(body string) []Section {
	r := htmlReader{open: map[string]int{}}
	z := html.NewTokenizer(strings.NewReader(body))
	for {
		switch tt := z.Next(); tt {
		case html.ErrorToken:
			// The reader never fails, so this is the end of the input.
			for len(r.stack) > 0 {
				r.pop()
			}
			r.page.finish()
			r.main.finish()
			if len(r.main.sections) > 0 {
				return r.main.sections
			}
			return r.page.sections
		case html.TextToken:
			if r.dropped == 0 {
				r.write(string(z.Text()))
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			hidden := false
			for hasAttr {
				var key []byte
				key, _, hasAttr = z.TagAttr()
				if string(key) == "hidden" {
					hidden = true
				}
			}
			a := atom.Lookup(name)
			r.start(a, tagName(a, name), tt == html.SelfClosingTagToken, hidden)
		case html.EndTagToken:
			name, _ := z.TagName()
			r.end(tagName(atom.Lookup(name), name))
		}
	}
}

// tagName returns the lower-case name the tokenizer gives, without
// allocating for the names HTML defines.
func tagName(a atom.Atom, name []byte) string {
	if a != 0 {
		return a.String()
	}
	return string(name)
}

// Where a reader stands with respect to the first <main> or <article>.
const (
	mainNotSeen = iota
	mainOpen
	mainClosed
)

// htmlReader holds the state of one parseHTML call.
type htmlReader struct {
	stack   []openElement
	open    map[string]int // open elements by name, so a stray end tag costs O(1)
	dropped int            // open elements whose content is dropped

	mainState int
	mainDepth int // index in stack of the main element while it is open

	page htmlOutline // everything outside <head>
	main htmlOutline // the first <main> or <article>
}

type openElement struct {
	atom atom.Atom // 0 for names HTML does not define
	name string
	drop bool
}

// write, breakParagraph, startHeading and endHeading send the reader's
// events to the page outline, and to the main outline while inside the
// main element.
func (r *htmlReader) write(text string) {
	r.page.write(text)
	if r.mainState == mainOpen {
		r.main.write(text)
	}
}

func (r *htmlReader) breakParagraph() {
	r.page.breakParagraph()
	if r.mainState == mainOpen {
		r.main.breakParagraph()
	}
}

func (r *htmlReader) startHeading(level int) {
	r.page.startHeading(level)
	if r.mainState == mainOpen {
		r.main.startHeading(level)
	}
}

func (r *htmlReader) endHeading() {
	r.page.endHeading()
	if r.mainState == mainOpen {
		r.main.endHeading()
	}
}

func (r *htmlReader) start(a atom.Atom, name string, selfClosing, hidden bool) {
	switch a {
	case atom.Html, atom.Head, atom.Body:
		// Transparent: <head>'s content is script, style, metadata and
		// <title>, all dropped on their own, and never putting <head> on
		// the stack spares the implied-end-tag rules for it.
		return
	case atom.Br:
		if r.dropped == 0 {
			r.write(" ")
		}
	}
	// The tokenizer reads the content of raw-text elements such as
	// <script/> up to their end tag whatever the slash says, so only other
	// elements can close themselves.
	if (selfClosing && !isRawText(a)) || isVoid(a) {
		if r.dropped == 0 && isBlock(a) {
			r.breakParagraph() // <hr>
		}
		return
	}
	drop := hidden || isDropped(a)
	r.stack = append(r.stack, openElement{a, name, drop})
	r.open[name]++
	if drop {
		r.dropped++
	}
	if r.dropped > 0 {
		return
	}
	if (a == atom.Main || a == atom.Article) && r.mainState == mainNotSeen {
		r.mainState = mainOpen
		r.mainDepth = len(r.stack) - 1
	}
	if level := headingLevel(a); level > 0 {
		r.startHeading(level)
	} else if isBlock(a) {
		r.breakParagraph()
	}
}

// end closes the innermost open element called name and every element
// opened inside it; an end tag with nothing to close is ignored, as
// browsers do.
func (r *htmlReader) end(name string) {
	if r.open[name] == 0 {
		return
	}
	for {
		if r.pop() == name {
			return
		}
	}
}

// pop closes the innermost open element and returns its name.
func (r *htmlReader) pop() string {
	el := r.stack[len(r.stack)-1]
	r.stack = r.stack[:len(r.stack)-1]
	r.open[el.name]--
	if el.drop {
		r.dropped--
		return el.name
	}
	if r.dropped > 0 {
		return el.name
	}
	if headingLevel(el.atom) > 0 {
		r.endHeading()
	} else if isBlock(el.atom) {
		r.breakParagraph()
	}
	if r.mainState == mainOpen && len(r.stack) == r.mainDepth {
		r.mainState = mainClosed
	}
	return el.name
}

// htmlOutline turns the reader's events into sections.
type htmlOutline struct {
	outline
	para    strings.Builder // text of the paragraph being read
	heading strings.Builder // text of the heading being read
	level   int             // level of the heading being read, 0 outside one
}

func (b *htmlOutline) write(text string) {
	if b.level > 0 {
		b.heading.WriteString(text)
	} else {
		b.para.WriteString(text)
	}
}

// breakParagraph ends the paragraph being read. Inside a heading it ends the
// heading once it has text: "<h2>Title<p>text" forgot "</h2>", while
// "<h2><span>Title</span></h2>" did not.
func (b *htmlOutline) breakParagraph() {
	if b.level > 0 {
		if strings.TrimSpace(b.heading.String()) != "" {
			b.endHeading()
		}
		return
	}
	if b.para.Len() > 0 {
		b.addParagraph(b.para.String())
		b.para.Reset()
	}
}

func (b *htmlOutline) startHeading(level int) {
	b.endHeading()
	b.breakParagraph()
	b.level = level
}

func (b *htmlOutline) endHeading() {
	if b.level == 0 {
		return
	}
	level := b.level
	b.level = 0
	b.startSection(level, b.heading.String())
	b.heading.Reset()
}

func (b *htmlOutline) finish() {
	b.endHeading()
	b.breakParagraph()
	b.endSection()
}

// Title returns the text of an HTML page's <title>, whitespace-normalised,
// or "" if it has none, so ingest can name a document its client did not
// name. A <title> inside inline SVG names the drawing, not the page, and is
// skipped.
func Title(body string) string {
	z := html.NewTokenizer(strings.NewReader(strings.ToValidUTF8(body, "\uFFFD")))
	svg := 0
	for {
		switch z.Next() {
		case html.ErrorToken:
			return ""
		case html.StartTagToken:
			name, _ := z.TagName()
			switch atom.Lookup(name) {
			case atom.Svg:
				svg++
			case atom.Title:
				if svg > 0 {
					continue
				}
				if z.Next() != html.TextToken {
					return ""
				}
				return normalizeSpace(string(z.Text()))
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			if atom.Lookup(name) == atom.Svg && svg > 0 {
				svg--
			}
		}
	}
}

// isDropped reports elements whose content is not part of a page's text:
// code, styling, navigation, page furniture and forms.
func isDropped(a atom.Atom) bool {
	switch a {
	case atom.Script, atom.Style, atom.Noscript, atom.Template, atom.Svg,
		atom.Nav, atom.Header, atom.Footer, atom.Aside, atom.Form, atom.Iframe,
		atom.Title, atom.Math, atom.Canvas, atom.Object, atom.Select, atom.Button,
		atom.Noembed, atom.Noframes, atom.Textarea:
		return true
	}
	return false
}

// isRawText reports the elements whose content the tokenizer returns as one
// text token, up to their end tag.
func isRawText(a atom.Atom) bool {
	switch a {
	case atom.Iframe, atom.Noembed, atom.Noframes, atom.Noscript, atom.Plaintext,
		atom.Script, atom.Style, atom.Textarea, atom.Title, atom.Xmp:
		return true
	}
	return false
}

// isBlock reports elements that separate paragraphs.
func isBlock(a atom.Atom) bool {
	switch a {
	case atom.P, atom.Div, atom.Li, atom.Td, atom.Th, atom.Tr, atom.Table,
		atom.Caption, atom.Pre, atom.Blockquote, atom.Ul, atom.Ol, atom.Dl,
		atom.Dt, atom.Dd, atom.Section, atom.Article, atom.Main, atom.Figure,
		atom.Figcaption, atom.Address, atom.Details, atom.Summary, atom.Hr,
		atom.Fieldset, atom.Legend, atom.Center, atom.Hgroup, atom.Body:
		return true
	}
	return false
}

func headingLevel(a atom.Atom) int {
	switch a {
	case atom.H1:
		return 1
	case atom.H2:
		return 2
	case atom.H3:
		return 3
	case atom.H4:
		return 4
	case atom.H5:
		return 5
	case atom.H6:
		return 6
	}
	return 0
}

// isVoid reports elements that never have content or an end tag.
func isVoid(a atom.Atom) bool {
	switch a {
	case atom.Area, atom.Base, atom.Br, atom.Col, atom.Embed, atom.Hr,
		atom.Img, atom.Input, atom.Link, atom.Meta, atom.Param, atom.Source,
		atom.Track, atom.Wbr:
		return true
	}
	return false
}
