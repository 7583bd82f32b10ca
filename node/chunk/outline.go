package chunk

// outline collects sections as a document is read: the path of open
// headings and the paragraphs under the current one. The Markdown and HTML
// readers differ in how they find headings and paragraphs, not in how those
// become sections.
type outline struct {
	sections []Section
	path     []openHeading // enclosing headings, outermost first
	paras    []string      // paragraphs of the current section
}

type openHeading struct {
	level int
	text  string
}

// startSection closes the current section and opens one under a heading at
// level (1 is the top), dropping headings at that level or deeper from the
// path. text must already be free of markup.
func (o *outline) startSection(level int, text string) {
	o.endSection()
	for len(o.path) > 0 && o.path[len(o.path)-1].level >= level {
		o.path = o.path[:len(o.path)-1]
	}
	o.path = append(o.path, openHeading{level, normalizeSpace(text)})
}

// addParagraph adds text to the current section unless it is blank.
func (o *outline) addParagraph(text string) {
	if text = normalizeSpace(text); text != "" {
		o.paras = append(o.paras, text)
	}
}

// endSection keeps the current section if it has paragraphs. Empty headings
// ("<h2></h2>", a lone "#") still start sections but are left out of paths,
// where they would read as "A >  > B".
func (o *outline) endSection() {
	if len(o.paras) == 0 {
		return
	}
	var headings []string
	for _, h := range o.path {
		if h.text != "" {
			headings = append(headings, h.text)
		}
	}
	o.sections = append(o.sections, Section{Headings: headings, Paragraphs: o.paras})
	o.paras = nil
}
