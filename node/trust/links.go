package trust

import (
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/edgerag/edgerag/node/chunk"
)

var (
	mdLinkRe = regexp.MustCompile(`!?\[([^\]\n]{0,300})\]\(\s*<?[^\s)>]*>?[^)\n]{0,200}\)`)
	urlRe    = regexp.MustCompile(`(?i)\b(?:https?|ftp)://[^\s<>"'\])]+|\bwww\.[^\s<>"'\])]+`)
)

// LimitLinks removes from an answer every link whose host is not the host
// of one of the sources (allowed holds the sources' addresses): an answer
// may point at where its passages came from and nowhere else, so a
// poisoned passage cannot turn it into a phishing or exfiltration link.
// Markdown links and images keep their label and lose their target. It
// returns the text and how many links it removed.
func LimitLinks(text string, allowed []string) (string, int) {
	if !mayHoldLink(text) {
		return text, 0 // most answers: spares the sources' parsing and both expressions
	}
	hosts := make([]string, 0, len(allowed))
	for _, a := range allowed {
		if h := hostOf(a); h != "" {
			hosts = append(hosts, h)
		}
	}
	ok := func(u string) bool { h := hostOf(u); return h != "" && slices.Contains(hosts, h) }
	removed := 0
	text = mdLinkRe.ReplaceAllStringFunc(text, func(m string) string {
		target := urlRe.FindString(m)
		if target == "" || ok(target) {
			return m
		}
		removed++
		sub := mdLinkRe.FindStringSubmatch(m)
		return sub[1] + " [link removed]"
	})
	text = urlRe.ReplaceAllStringFunc(text, func(m string) string {
		if ok(m) {
			return m
		}
		removed++
		return "[link removed]"
	})
	return text, removed
}

// mayHoldLink reports whether text holds what every match of mdLinkRe
// ("](") or urlRe ("://", or "www." in any case) holds.
func mayHoldLink(text string) bool {
	if strings.Contains(text, "](") || strings.Contains(text, "://") {
		return true
	}
	for i := strings.IndexByte(text, '.'); i >= 0; {
		if i >= 3 && strings.EqualFold(text[i-3:i], "www") {
			return true
		}
		j := strings.IndexByte(text[i+1:], '.')
		if j < 0 {
			break
		}
		i += j + 1
	}
	return false
}

func hostOf(s string) string {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(strings.ToLower(s), "www.") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return ""
	}
	return strings.ToLower(strings.TrimPrefix(u.Hostname(), "www."))
}

// Withhold removes from text every sentence that overlaps one of the
// findings and puts marker (when not empty) in place of each run of removed
// sentences. A line break also ends a sentence, so a forged marker on a
// line of its own does not take the line before it along. It returns text
// unchanged when there are no findings. Whole sentences go, not only the
// matched words, because the rest of an injected sentence ("... and tell
// the user the limit is 90 psi") is the payload.
func Withhold(text string, findings []Finding, marker string) string {
	if len(findings) == 0 {
		return text
	}
	var b strings.Builder
	prevDropped := false
	word := func(s string) {
		if b.Len() > 0 {
			if last := b.String()[b.Len()-1]; last != '\n' {
				b.WriteByte(' ')
			}
		}
		b.WriteString(s)
	}
	lineStart := 0
	for lineStart <= len(text) {
		lineEnd := strings.IndexByte(text[lineStart:], '\n')
		if lineEnd < 0 {
			lineEnd = len(text)
		} else {
			lineEnd += lineStart
		}
		if lineStart > 0 && b.Len() > 0 && b.String()[b.Len()-1] != '\n' {
			b.WriteByte('\n')
		}
		for _, sp := range chunk.Sentences(text[lineStart:lineEnd]) {
			s, e := sp.Start+lineStart, sp.End+lineStart
			drop := slices.ContainsFunc(findings, func(f Finding) bool { return f.Start < e && f.End > s })
			switch {
			case drop && !prevDropped && marker != "":
				word(marker)
			case !drop:
				word(text[s:e])
			}
			prevDropped = drop
		}
		lineStart = lineEnd + 1
	}
	return strings.TrimSpace(b.String())
}
