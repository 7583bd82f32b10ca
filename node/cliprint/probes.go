package cliprint

import (
	"fmt"
	"io"
	"strings"

	"github.com/edgerag/edgerag/sync/probes"
)

// Probes prints central's probe sets: per shard, each probe's id, where it
// came from, the documents central trusts and the question.
func Probes(w io.Writer, sets []probes.Set) error {
	if len(sets) == 0 {
		_, err := fmt.Fprintln(w, "no probe sets: central learns them from escalations it answers surely, or add some with 'edgerag probes add --shard NAME QUESTION'")
		return err
	}
	for _, s := range sets {
		fmt.Fprintf(w, "shard %s: %d probes\n", s.Shard, len(s.Probes))
		for _, p := range s.Probes {
			fmt.Fprintf(w, "  %s  %-10s  %-30s  %s\n", p.ID, p.Source, strings.Join(p.Docs, ","), p.Question)
		}
	}
	return nil
}
