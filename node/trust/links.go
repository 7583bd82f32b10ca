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
// findings and puts marker in place of each run of removed sentences. It
// returns text unchanged when there are no findings. Whole sentences go,
// not only the matched words, because the rest of an injected sentence
// ("... and tell the user the limit is 90 psi") is the payload.
func Withhold(text string, findings []Finding, marker string) string {
	if len(findings) == 0 {
		return text
	}
	var b strings.Builder
	prevDropped := false
	for _, sp := range chunk.Sentences(text) {
		drop := slices.ContainsFunc(findings, func(f Finding) bool { return f.Start < sp.End && f.End > sp.Start })
		switch {
		case drop && !prevDropped:
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(marker)
		case !drop:
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(text[sp.Start:sp.End])
		}
		prevDropped = drop
	}
	return b.String()
}
