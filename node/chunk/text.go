package chunk

import "strings"

// parseText reads plain text: paragraphs are separated by blank lines, and
// the line breaks inside a paragraph are only wrapping, so they become
// spaces. Plain text has no headings, hence at most one section.
func parseText(body string) []Section {
	var paragraphs []string
	var lines []string
	flush := func() {
		if p := normalizeSpace(strings.Join(lines, " ")); p != "" {
			paragraphs = append(paragraphs, p)
		}
		lines = lines[:0]
	}
	for line := range strings.Lines(body) {
		if strings.TrimSpace(line) == "" {
			flush()
			continue
		}
		lines = append(lines, line)
	}
	flush()
	if len(paragraphs) == 0 {
		return nil
	}
	return []Section{{Paragraphs: paragraphs}}
}
