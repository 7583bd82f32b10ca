package trust

import (
	"regexp"
	"strings"
	"unicode/utf8"
)

// Hidden is text a document's markup hides from a reader: the content of a
// comment, of an element styled invisible (display:none, visibility:hidden,
// zero size or opacity, white text on no dark background) or of a markdown
// comment line. Chunking may keep it (a style attribute is not parsed) or
// drop it (comments); Locate finds where it landed.
type Hidden struct {
	Rule string // comment, style_hidden, white_text, md_comment
	Text string // the hidden text, white space collapsed
	// Instruction is true when the hidden text also trips Detect: hiding
	// is then plainly aimed at a model, even if chunking dropped it.
	Instruction bool
}

var (
	htmlComment = regexp.MustCompile(`(?s)<!--(.*?)-->`)
	styledOpen  = regexp.MustCompile(`(?i)<([a-z][a-z0-9]*)\b[^>]*?\bstyle\s*=\s*(?:"([^"]*)"|'([^']*)')[^>]*>`)
	fontWhite   = regexp.MustCompile(`(?i)<(font)\b[^>]*?\bcolor\s*=\s*["']?(?:white|#fff(?:fff)?)\b[^>]*>`)
	hideStyle   = regexp.MustCompile(`(?i)display\s*:\s*none|visibility\s*:\s*hidden|font-size\s*:\s*0(?:\.0+)?(?:px|pt|em|rem|%)?\s*(?:;|!|$)|opacity\s*:\s*0(?:\.0+)?\s*(?:;|!|$)|(?:left|top|text-indent)\s*:\s*-\d{3,}`)
	whiteText   = regexp.MustCompile(`(?i)(?:^|[;\s])color\s*:\s*(?:white|#fff\b|#ffffff\b|rgba?\(\s*255\s*,\s*255\s*,\s*255)`)
	darkBack    = regexp.MustCompile(`(?i)background(?:-color)?\s*:\s*(?:black|#000|#[0-3][0-9a-f]{2}\b|#[0-3][0-9a-f]{5}\b|rgba?\(\s*[0-9]{1,2}\s*,|navy|darkblue|darkgr[ae]y|dimgr[ae]y)`)
	mdComment   = regexp.MustCompile(`(?m)^\s*\[(?://|comment|_)\]:\s*(?:#|<>)\s*\((.*)\)\s*$`)
	innerTags   = regexp.MustCompile(`<[^>]*>`)
)

// DetectMarkup lists the hidden text of a document's raw body. It looks at
// the markup only; what the hidden text says is Detect's business.
func DetectMarkup(body string) []Hidden {
	var out []Hidden
	add := func(rule, text string) {
		text = strings.Join(strings.Fields(innerTags.ReplaceAllString(text, " ")), " ")
		if len(text) < 3 {
			return
		}
		out = append(out, Hidden{Rule: rule, Text: text, Instruction: len(Detect(text)) > 0})
	}
	for _, m := range htmlComment.FindAllStringSubmatch(body, -1) {
		add("comment", m[1])
	}
	for _, m := range mdComment.FindAllStringSubmatch(body, -1) {
		add("md_comment", m[1])
	}
	for _, m := range styledOpen.FindAllStringSubmatchIndex(body, -1) {
		style := ""
		if m[4] >= 0 {
			style = body[m[4]:m[5]]
		} else if m[6] >= 0 {
			style = body[m[6]:m[7]]
		}
		rule := ""
		switch {
		case hideStyle.MatchString(style):
			rule = "style_hidden"
		case whiteText.MatchString(style) && !darkBack.MatchString(style):
			rule = "white_text"
		default:
			continue
		}
		add(rule, elementText(body, m[1], body[m[2]:m[3]]))
	}
	for _, m := range fontWhite.FindAllStringSubmatchIndex(body, -1) {
		add("white_text", elementText(body, m[1], body[m[2]:m[3]]))
	}
	return out
}

// elementText returns the text from an opening tag's end to its element's
// closing tag, or the next 2,000 bytes when it is never closed. Nested
// elements of the same name close early; the first part is what matters.
func elementText(body string, from int, tag string) string {
	rest := body[from:]
	end := strings.Index(strings.ToLower(rest), "</"+strings.ToLower(tag))
	if end < 0 {
		end = min(len(rest), 2000)
	}
	return rest[:end]
}

// Locate returns the span of hidden text h in a chunk's text, if chunking
// kept it there. Chunk text has its white space collapsed, as h.Text has.
func Locate(chunkText string, h Hidden) (Finding, bool) {
	probe := h.Text
	if len(probe) > 48 {
		probe = probe[:48]
		for !utf8.ValidString(probe) {
			probe = probe[:len(probe)-1]
		}
	}
	i := strings.Index(chunkText, probe)
	if i < 0 {
		return Finding{}, false
	}
	return Finding{Flag: FlagHidden, Rule: h.Rule, Start: i, End: min(len(chunkText), i+len(h.Text))}, true
}
