package cliprint

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/node/auth"
)

// JSON writes v indented, as the commands' --json prints a whole answer.
func JSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// Document writes a document: what it is, then each chunk.
func Document(w io.Writer, d api.DocumentDetail) {
	fmt.Fprintf(w, "%s (shard %s, %d chunks, ingested %s)\n", d.ID, d.Shard, d.Chunks, d.IngestedAt.Format("2006-01-02 15:04:05Z07:00"))
	if d.Title != "" {
		fmt.Fprintf(w, "title: %s\n", d.Title)
	}
	if d.Source != "" {
		fmt.Fprintf(w, "source: %s\n", d.Source)
	}
	for k, v := range d.Metadata {
		fmt.Fprintf(w, "%s: %s\n", k, v)
	}
	for _, ch := range d.ChunkTexts {
		heading := ""
		if ch.Heading != "" {
			heading = " · " + ch.Heading
		}
		fmt.Fprintf(w, "\n--- chunk %d%s\n%s\n", ch.Position, heading, ch.Text)
	}
}

// Documents writes a table of documents, a title on one line.
func Documents(w io.Writer, docs []api.DocumentInfo) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tCHUNKS\tTITLE")
	for _, d := range docs {
		fmt.Fprintf(tw, "%s\t%d\t%s\n", d.ID, d.Chunks, strings.Join(strings.Fields(d.Title), " "))
	}
	return tw.Flush()
}

// Flagged writes the chunks the injection screen flagged, each text cut
// to one short line.
func Flagged(w io.Writer, l api.FlaggedList) error {
	if len(l.Chunks) == 0 {
		_, err := fmt.Fprintln(w, "no flagged chunks")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SHARD\tDOCUMENT\tPOS\tTRUST\tFLAGS\tRELEASED\tTEXT")
	for _, ch := range l.Chunks {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%v\t%s\n", ch.Shard, ch.DocumentID, ch.Position, ch.Trust, strings.Join(ch.Flags, ","), ch.Released, oneLineCut(ch.Snippet, 60))
	}
	return tw.Flush()
}

// oneLineCut is s on one line, cut to n bytes at a rune boundary.
func oneLineCut(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut] + "…"
}

// Shards writes the shards a node holds, with the sync state of those an
// edge follows.
func Shards(w io.Writer, st api.Status) error {
	syncState := map[string]string{}
	for _, s := range st.Sync {
		v := s.State
		if s.Previous > 0 {
			v += fmt.Sprintf(" (rollback: %d)", s.Previous)
		}
		if s.LastError != "" {
			v += ": " + s.LastError
		}
		syncState[s.Shard] = v
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SHARD\tVERSION\tDOCUMENTS\tCHUNKS\tUPDATED\tSYNC")
	for _, s := range st.Shards {
		sync := syncState[s.Name]
		if sync == "" {
			sync = "-"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%s\n", s.Name, s.Version, s.Documents, s.Chunks, s.UpdatedAt.UTC().Format(time.DateTime), sync)
	}
	if len(st.Shards) == 0 {
		fmt.Fprintln(tw, "(none: edgerag ingest adds documents)")
	}
	return tw.Flush()
}

// Tokens writes the API tokens of a node (never their secrets).
func Tokens(w io.Writer, tokens []auth.TokenInfo) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tROLE\tGROUPS\tCREATED\tBY")
	for _, t := range tokens {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.Name, t.Role, strings.Join(t.Groups, ","), t.CreatedAt.Format(time.RFC3339), t.CreatedBy)
	}
	return tw.Flush()
}

// AuditEvent writes one event of the audit log on a line.
func AuditEvent(w io.Writer, e auth.Event) {
	line := fmt.Sprintf("%d %s %-10s %-20s %s", e.Seq, e.At.Format(time.RFC3339), e.Kind, e.Principal, e.Action)
	if e.Detail != "" {
		line += " · " + e.Detail
	}
	if e.Remote != "" {
		line += " · from " + e.Remote
	}
	if e.Suppressed > 0 {
		line += fmt.Sprintf(" · %d more suppressed", e.Suppressed)
	}
	fmt.Fprintln(w, line)
}
