package cliprint

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/edgerag/edgerag/node/membership"
)

// Members writes the members as a table for a person.
func Members(w io.Writer, f membership.Fleet, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATUS\tROLE\tGOSSIP\tQUIC\tLOAD\tSHARDS\tSYNC\tMODELS\tCHANGED")
	for _, m := range f.Members {
		name := m.Name
		if m.Self {
			name += " *"
		}
		var shards []string
		for _, s := range m.Shards {
			shards = append(shards, fmt.Sprintf("%s@%d", s.Name, s.Version))
		}
		sh := strings.Join(shards, ",")
		switch {
		case m.ShardsPending:
			sh = "(fetching)"
		case sh == "":
			sh = "-"
		}
		models := strings.Join(m.Models, ",")
		if models == "" {
			models = "-"
		}
		changed := "-"
		if !m.LastChange.IsZero() {
			changed = now.Sub(m.LastChange).Round(time.Second).String() + " ago"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%.1f\t%s\t%s\t%s\t%s\n", name, m.Status, orDash(m.Role, "?"), m.GossipAddr,
			orDash(m.QUICAddr, "-"), m.Load, sh, syncCell(m), models, changed)
	}
	tw.Flush()
	fmt.Fprintf(w, "\n%d members · profile %s · * is %s\n", len(f.Members), f.Profile, f.Self)
}

// syncCell summarises a member's fleet sync: its health, and which shards
// (or the config) failed when its shard list says.
func syncCell(m membership.Member) string {
	if m.SyncHealth == "" {
		return "-"
	}
	if m.Sync == nil || m.SyncHealth == "healthy" {
		cell := m.SyncHealth
		if m.Sync != nil && m.Sync.Config > 0 {
			cell += fmt.Sprintf(" (config v%d)", m.Sync.Config)
		}
		return cell
	}
	var bad []string
	for _, s := range m.Sync.Shards {
		if !s.Healthy {
			bad = append(bad, s.Name)
		}
	}
	if m.Sync.ConfigError != "" {
		bad = append(bad, "config")
	}
	return "FAILING: " + strings.Join(bad, ",")
}

func orDash(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
