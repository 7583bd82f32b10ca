package cliprint

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/edgerag/edgerag/sync/fleet"
	"github.com/edgerag/edgerag/sync/rollout"
)

// SyncStatus prints the fleet sync status raw as GET /v1/sync sent it:
// central's view of the fleet, or an edge's progress per shard.
func SyncStatus(w io.Writer, raw []byte) error {
	var probe struct {
		Role string `json:"role"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil {
		return fmt.Errorf("sync status: %w", err)
	}
	if probe.Role == "central" {
		return printCentralSync(w, raw)
	}
	return printEdgeSync(w, raw)
}

// printCentralSync prints central's side: what is published, transfers
// under way, rollouts and each edge's last report.
func printCentralSync(w io.Writer, raw []byte) error {
	var st fleet.CentralStatus
	if err := json.Unmarshal(raw, &st); err != nil {
		return fmt.Errorf("sync status: %w", err)
	}
	fmt.Fprintln(w, "published:")
	for _, v := range st.Published {
		fmt.Fprintf(w, "  %-24s version %d\n", v.Shard, v.Version)
	}
	if st.Config > 0 {
		fmt.Fprintf(w, "  %-24s version %d\n", "(fleet config)", st.Config)
	}
	if st.Models > 0 {
		fmt.Fprintf(w, "  %-24s version %d\n", "(models)", st.Models)
	}
	fmt.Fprintf(w, "served: %d manifests, %d chunks, %d bytes\n", st.ManifestsServed, st.ChunksServed, st.BytesServed)
	if len(st.Transfers) > 0 {
		fmt.Fprintln(w, "transfers under way:")
	}
	for _, t := range st.Transfers {
		fmt.Fprintf(w, "  %-16s %-24s → %-6d %s  %d/%d chunks  %s\n", t.Node, t.Shard, t.Target,
			progressBar(t.BytesDone, t.BytesTotal), t.ChunksDone, t.ChunksTotal, t.State)
	}
	for _, r := range st.Rollouts {
		fmt.Fprintf(w, "rollout %-16s %d → %d: %s, canaries %s", r.Shard, r.From, r.To, r.Stage, strings.Join(r.Canaries, ", "))
		if r.Reason != "" {
			fmt.Fprintf(w, " (%s)", r.Reason)
		}
		fmt.Fprintln(w)
	}
	if len(st.Edges) > 0 {
		fmt.Fprintln(w, "edges (last report):")
	}
	latest := map[string]uint64{}
	for _, v := range st.Published {
		latest[v.Shard] = v.Version
	}
	for _, a := range st.Edges {
		health := "healthy"
		if !a.Healthy {
			health = "UNHEALTHY " + a.Error
		}
		behind := "" // a staged rollout may hold an edge back on purpose
		if a.Version < latest[a.Shard] {
			behind = fmt.Sprintf(" (latest %d)", latest[a.Shard])
		}
		fmt.Fprintf(w, "  %-16s %-24s version %-6d %s%s  %s\n", a.Node, a.Shard, a.Version, health, behind, a.At.Format(time.RFC3339))
		if q := a.Quality; q != nil {
			fmt.Fprintf(w, "  %-16s probe set: %s\n", "", probeFigures(*q))
		}
	}
	return nil
}

// printEdgeSync prints an edge's side: each shard, the fleet config and the
// models it applied.
func printEdgeSync(w io.Writer, raw []byte) error {
	var st fleet.EdgeStatus
	if err := json.Unmarshal(raw, &st); err != nil {
		return fmt.Errorf("sync status: %w", err)
	}
	fmt.Fprintf(w, "central: %s", st.Central)
	if !st.LastPoll.IsZero() {
		fmt.Fprintf(w, " · last poll %s", st.LastPoll.Format(time.RFC3339))
	}
	fmt.Fprintln(w)
	if st.PollError != "" {
		fmt.Fprintf(w, "poll error: %s\n", st.PollError)
	}
	for _, s := range st.Shards {
		fmt.Fprintf(w, "%-24s applied %d (previous %d)  %s", s.Shard, s.Applied, s.Previous, s.State)
		if s.Target != 0 && s.State == "paging" {
			fmt.Fprintf(w, " → %d  manifest pages %d fetched of %d", s.Target, s.PagesFetched, s.PagesTotal)
		} else if s.Target != 0 && s.State != "idle" && s.State != "error" {
			fmt.Fprintf(w, " → %d  %s  %d/%d chunks", s.Target, progressBar(s.BytesDone, s.BytesTotal), s.ChunksDone, s.ChunksTotal)
		}
		fmt.Fprintln(w)
		if s.LastError != "" {
			fmt.Fprintf(w, "  last error (%s): %s\n", s.LastErrorAt.Format(time.RFC3339), s.LastError)
		}
	}
	if c := st.Config; c != nil {
		if c.Applied > 0 {
			fmt.Fprintf(w, "fleet config: version %d applied %s\n", c.Applied, c.AppliedAt.Format(time.RFC3339))
		} else {
			fmt.Fprintln(w, "fleet config: none applied")
		}
		for _, x := range c.Settings {
			fmt.Fprintf(w, "  %-18s %-10s %s\n", x.Name, x.Value, x.Source)
		}
		if c.LastError != "" {
			fmt.Fprintf(w, "  last error (%s): %s\n", c.LastErrorAt.Format(time.RFC3339), c.LastError)
		}
	}
	if m := st.Models; m != nil {
		if m.Applied > 0 {
			prev := ""
			if m.Previous > 0 {
				prev = fmt.Sprintf(" (previous %d)", m.Previous)
			}
			fmt.Fprintf(w, "models: version %d%s applied %s  %s", m.Applied, prev, m.AppliedAt.Format(time.RFC3339), m.State)
		} else {
			fmt.Fprintf(w, "models: none applied  %s", m.State)
		}
		if m.Target != 0 {
			fmt.Fprintf(w, " → %d", m.Target)
		}
		fmt.Fprintln(w)
		for _, x := range m.Models {
			fmt.Fprintf(w, "  %-32s %s\n", x.Name, x.Role)
		}
		if m.LastError != "" {
			fmt.Fprintf(w, "  last error (%s): %s\n", m.LastErrorAt.Format(time.RFC3339), m.LastError)
		}
	}
	return nil
}

// progressBar draws done of total as 20 cells and a percentage.
func progressBar(done, total int64) string {
	frac := 1.0
	if total > 0 {
		frac = min(1, max(0, float64(done)/float64(total)))
	}
	n := int(frac * 20)
	return strings.Repeat("█", n) + strings.Repeat("░", 20-n) + fmt.Sprintf(" %3.0f%%", 100*frac)
}

// ModelsHistory prints central's model manifests as GET /v1/models/history
// sent them: every version, newest first, its rollout and each edge's last
// report.
func ModelsHistory(w io.Writer, raw []byte) error {
	var h fleet.ModelsHistory
	if err := json.Unmarshal(raw, &h); err != nil {
		return fmt.Errorf("models history: %w", err)
	}
	if len(h.Versions) == 0 {
		fmt.Fprintln(w, "no model manifest published yet ('edgerag publish --models NAME,...')")
		return nil
	}
	for _, v := range h.Versions {
		mark := ""
		if v.Latest {
			mark = " (latest)"
		}
		fmt.Fprintf(w, "version %d%s  %s\n", v.Version, mark, v.Created.Format(time.RFC3339))
		for _, m := range v.Models {
			fmt.Fprintf(w, "  %s\n", m)
		}
	}
	if r := h.Rollout; r != nil {
		fmt.Fprintf(w, "rollout %d → %d: %s, canaries %s", r.From, r.To, r.Stage, strings.Join(r.Canaries, ", "))
		if r.Reason != "" {
			fmt.Fprintf(w, " (%s)", r.Reason)
		}
		fmt.Fprintln(w)
	}
	if len(h.Edges) > 0 {
		fmt.Fprintln(w, "edges (last report):")
	}
	for _, a := range h.Edges {
		health := "healthy"
		if !a.Healthy {
			health = "UNHEALTHY " + a.Error
		}
		fmt.Fprintf(w, "  %-16s version %-6d %s  %s\n", a.Node, a.Version, health, a.At.Format(time.RFC3339))
	}
	return nil
}

// probeFigures is a canary's probe-set figures on the previous version and
// the new one.
func probeFigures(q rollout.CanaryQuality) string {
	return fmt.Sprintf("agreement %.2f → %.2f, abstention %.2f → %.2f on %d probes (versions %d → %d)",
		q.Previous.Agreement(), q.Next.Agreement(), q.Previous.Abstention(), q.Next.Abstention(), q.Next.Probes, q.Previous.Version, q.Next.Version)
}
