package chunk

import (
	"strings"
)

// parseMarkdown reads Markdown line by line. It understands the block
// structure that decides where sections and paragraphs begin (headings,
// fences, lists, quotes, tables, thematic breaks) and leaves the rest as
// text; it is not a full CommonMark parser, because retrieval only needs the
// words and their heading path, and a line-based reader stays linear on any
// input.
func parseMarkdown(body string) []Section {
	var p mdParser
	for line := range strings.Lines(skipFrontMatter(body)) {
		p.line(strings.TrimRight(line, "\r\n"))
	}
	if p.fence != "" {
		p.endCode() // an unclosed fence runs to the end of the document
	}
	p.endParagraph()
	p.endSection()
	return p.sections
}

// blockKind tells what the paragraph being read is, because that decides
// which lines continue it.
type blockKind int

const (
	blockPlain blockKind = iota
	blockListItem
	blockQuote
)

// mdParser holds the state of one parseMarkdown call.
type mdParser struct {
	outline

	lines []string  // lines of the paragraph being read
	kind  blockKind // what those lines are

	fence string   // the marker that opened the code block being read, "" outside one
	code  []string // its lines
}

// line consumes one line without its line ending.
func (p *mdParser) line(line string) {
	if p.fence != "" {
		if isClosingFence(line, p.fence) {
			p.endCode()
		} else {
			p.code = append(p.code, line)
		}
		return
	}
	indent, rest := splitIndent(line)
	if rest == "" {
		p.endParagraph()
		return
	}
	// Fences are recognised at any indentation, unlike CommonMark, so code
	// inside nested list items is never read for headings.
	if fence := openingFence(rest); fence != "" {
		p.endParagraph()
		p.fence = fence
		return
	}
	if indent < 4 {
		if p.blockLine(rest) {
			return
		}
	}
	if item, ok := listItem(rest, p.kind == blockPlain && len(p.lines) > 0); ok {
		p.endParagraph()
		p.kind = blockListItem
		p.lines = append(p.lines, item)
		return
	}
	if len(p.lines) == 0 {
		p.kind = blockPlain
	}
	// A line that is none of the above continues the open paragraph, list
	// item or quote, as CommonMark's lazy continuation does.
	p.lines = append(p.lines, strings.TrimSuffix(rest, "\\"))
}

// blockLine handles the constructs that may only be indented up to three
// spaces and reports whether line was one of them.
func (p *mdParser) blockLine(line string) bool {
	if level, text, ok := atxHeading(line); ok {
		p.endParagraph()
		p.startSection(level, stripInline(text))
		return true
	}
	// A setext underline turns the plain paragraph above it into a heading;
	// after anything else "---" is a thematic break.
	if p.kind == blockPlain && len(p.lines) > 0 {
		if level := setextLevel(line); level > 0 {
			text := strings.Join(p.lines, " ")
			p.lines = p.lines[:0]
			p.startSection(level, stripInline(text))
			return true
		}
	}
	if isThematicBreak(line) {
		p.endParagraph()
		return true
	}
	if len(p.lines) == 0 && isLinkDefinition(line) {
		return true // "[id]: https://..." is a link target, not text
	}
	if isTableDelimiter(line) {
		return true
	}
	if line[0] == '|' {
		// Each table row is its own paragraph, so a row's cells stay together.
		p.endParagraph()
		p.lines = append(p.lines, strings.ReplaceAll(line, "|", " "))
		p.endParagraph()
		return true
	}
	if line[0] == '>' {
		text := stripQuoteMarkers(line)
		if text == "" {
			p.endParagraph()
			return true
		}
		if p.kind != blockQuote {
			p.endParagraph()
			p.kind = blockQuote
		}
		p.lines = append(p.lines, text)
		return true
	}
	return false
}

func (p *mdParser) endParagraph() {
	if len(p.lines) > 0 {
		p.addParagraph(stripInline(strings.Join(p.lines, " ")))
	}
	p.lines = p.lines[:0]
	p.kind = blockPlain
}

// endCode keeps a fenced block as one paragraph, verbatim apart from white
// space: identifiers and punctuation in code are what users search for.
func (p *mdParser) endCode() {
	p.addParagraph(strings.Join(p.code, "\n"))
	p.code = p.code[:0]
	p.fence = ""
}

// splitIndent returns the width of line's leading white space (a tab
// counting to the next multiple of four, as in CommonMark) and the line
// without it or trailing white space.
func splitIndent(line string) (int, string) {
	width, i := 0, 0
	for ; i < len(line); i++ {
		switch line[i] {
		case ' ':
			width++
			continue
		case '\t':
			width += 4 - width%4
			continue
		}
		break
	}
	return width, strings.TrimRight(line[i:], " \t")
}

// skipFrontMatter drops a YAML front matter block ("---" ... "---" or "...")
// at the very start of a document: it is metadata, and left in place its
// closing line would read as a setext underline.
func skipFrontMatter(body string) string {
	if !strings.HasPrefix(body, "---\n") && !strings.HasPrefix(body, "---\r\n") {
		return body
	}
	offset := 0
	first := true
	for line := range strings.Lines(body) {
		offset += len(line)
		if first {
			first = false
			continue
		}
		if l := strings.TrimRight(line, " \t\r\n"); l == "---" || l == "..." {
			return body[offset:]
		}
	}
	return body
}

// atxHeading parses "## Title ##": one to six '#', a space, the text and an
// optional closing run of '#'.
func atxHeading(line string) (level int, text string, ok bool) {
	for level < len(line) && line[level] == '#' {
		level++
	}
	if level == 0 || level > 6 {
		return 0, "", false
	}
	rest := line[level:]
	if rest != "" && rest[0] != ' ' && rest[0] != '\t' {
		return 0, "", false // "#hashtag" is text
	}
	rest = strings.TrimSpace(rest)
	closing := strings.TrimRight(rest, "#")
	if closing == "" {
		return level, "", true
	}
	if strings.HasSuffix(closing, " ") || strings.HasSuffix(closing, "\t") {
		rest = closing
	}
	return level, strings.TrimSpace(rest), true
}

// setextLevel returns 1 for a "===" underline, 2 for "---", 0 otherwise.
func setextLevel(line string) int {
	switch {
	case strings.Trim(line, "=") == "":
		return 1
	case strings.Trim(line, "-") == "":
		return 2
	}
	return 0
}

// isThematicBreak reports "***", "- - -", "___" and the like.
func isThematicBreak(line string) bool {
	var mark byte
	n := 0
	for i := 0; i < len(line); i++ {
		switch c := line[i]; c {
		case ' ', '\t':
		case '*', '-', '_':
			if mark != 0 && c != mark {
				return false
			}
			mark = c
			n++
		default:
			return false
		}
	}
	return n >= 3
}

// openingFence returns the fence marker ("```", "~~~~") that line opens, or
// "" when it opens none.
func openingFence(line string) string {
	if len(line) < 3 || (line[0] != '`' && line[0] != '~') {
		return ""
	}
	n := 0
	for n < len(line) && line[n] == line[0] {
		n++
	}
	if n < 3 {
		return ""
	}
	if line[0] == '`' && strings.IndexByte(line[n:], '`') >= 0 {
		return "" // "```code```" is an inline code span
	}
	return line[:n]
}

// isClosingFence reports whether line closes a block opened by fence: the
// same character, at least as many times, and nothing else.
func isClosingFence(line, fence string) bool {
	_, rest := splitIndent(line)
	if len(rest) < len(fence) {
		return false
	}
	return strings.Trim(rest, fence[:1]) == ""
}

// listItem returns the text of a list item line without its marker ("- ",
// "* ", "+ ", "1. ", "1) "). Inside a paragraph only bullets and "1." start
// a list, as in CommonMark, so a wrapped line beginning "2020. " stays text.
func listItem(line string, inParagraph bool) (string, bool) {
	if line == "" {
		return "", false
	}
	i := 0
	switch line[0] {
	case '-', '*', '+':
		i = 1
	default:
		for i < len(line) && i < 9 && line[i] >= '0' && line[i] <= '9' {
			i++
		}
		if i == 0 || i == len(line) || (line[i] != '.' && line[i] != ')') {
			return "", false
		}
		if inParagraph && line[:i] != "1" {
			return "", false
		}
		i++
	}
	if i < len(line) && line[i] != ' ' && line[i] != '\t' {
		return "", false
	}
	return strings.TrimSpace(line[i:]), true
}

// stripQuoteMarkers removes the '>' markers of a (possibly nested) block
// quote line.
func stripQuoteMarkers(line string) string {
	for strings.HasPrefix(line, ">") {
		line = strings.TrimLeft(line[1:], " \t")
	}
	return line
}

// isLinkDefinition reports a link reference definition, "[id]: target".
func isLinkDefinition(line string) bool {
	if line[0] != '[' {
		return false
	}
	end := strings.Index(line, "]:")
	return end > 1 && !strings.ContainsAny(line[1:end], "[]")
}

// isTableDelimiter reports the row under a table header, "|---|:--:|".
func isTableDelimiter(line string) bool {
	if !strings.Contains(line, "|") || !strings.Contains(line, "-") {
		return false
	}
	return strings.Trim(line, "|-: \t") == ""
}
