// Package cliprint prints what a node's HTTP API answers for a person at
// a terminal: an answer with its sources, the fleet sync status, the gossip
// members, tokens, audit events, documents, flagged chunks and shards. The
// commands of the edgerag binary import it; with --json they print the
// answer as it came instead.
package cliprint

import (
	"fmt"
	"io"
	"strings"

	"github.com/edgerag/edgerag/node/api"
)

// Answer writes an answer for a person: the text, then the sources.
func Answer(w io.Writer, r api.QueryResponse) {
	fmt.Fprintf(w, "%s\n\n", r.Answer)
	fmt.Fprintf(w, "mode: %s · route: %s · confidence: %.2f · %.1f ms\n", r.Mode, r.Route, r.Confidence, r.Timings.TotalMS)
	if r.Degraded {
		// The answer is not the one the node wanted to give: say so, and why.
		fmt.Fprintf(w, "degraded: %s\n", strings.Join(r.Reasons, ", "))
	} else if len(r.Reasons) > 0 {
		fmt.Fprintf(w, "reasons: %s\n", strings.Join(r.Reasons, ", "))
	}
	if len(r.Citations) == 0 {
		return
	}
	fmt.Fprintln(w, "\nSources:")
	for _, c := range r.Citations {
		mark := " "
		if c.Cited {
			mark = "*"
		}
		title := c.Title
		if title == "" {
			title = c.DocumentID
		}
		prov := ""
		if c.Trust != "" && c.Trust != "local" {
			prov = ", " + c.Trust
		}
		if len(c.Flags) > 0 {
			prov += ", flagged: " + strings.Join(c.Flags, ",")
		}
		fmt.Fprintf(w, "%s[%d] %s (%s, score %.2f%s)\n", mark, c.N, title, c.DocumentID, c.Score, prov)
	}
}
