package cliprint

import (
	"fmt"
	"io"
	"strings"

	"github.com/edgerag/edgerag/sync/fleet"
)

// Published says what publishing a shard cut, or that nothing changed.
func Published(w io.Writer, r fleet.Published) {
	if r.Unchanged {
		fmt.Fprintf(w, "shard %s unchanged since version %d: nothing published\n", r.Shard, r.Version)
		return
	}
	fmt.Fprintf(w, "published shard %s version %d: %d chunks (%d new), %d bytes\n", r.Shard, r.Version, r.Chunks, r.NewChunks, r.Bytes)
}

// PublishedConfig says what publishing the fleet config cut.
func PublishedConfig(w io.Writer, r fleet.PublishedConfig) {
	if r.Unchanged {
		fmt.Fprintf(w, "fleet config unchanged since version %d: nothing published\n", r.Version)
		return
	}
	fmt.Fprintf(w, "published fleet config version %d: %d settings\n", r.Version, len(r.Settings))
}

// PublishedModels says what publishing the model set cut.
func PublishedModels(w io.Writer, r fleet.PublishedModels) {
	if r.Unchanged {
		fmt.Fprintf(w, "models unchanged since version %d: nothing published\n", r.Version)
		return
	}
	fmt.Fprintf(w, "published model manifest version %d: %s\n", r.Version, strings.Join(r.Models, ", "))
}
