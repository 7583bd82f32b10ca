package agent

import (
	"context"
	"log/slog"
	"slices"

	"github.com/edgerag/edgerag/sync/fleet"
)

// publishedScope lists the shards a central that publishes (--sync-key)
// lets edges' questions search: those with a published version, which
// edges may fetch anyway, and those the operator shares with --share.
// Drafts — shards ingested on central but never published — stay
// central's own. all is true with --share all. Until the publisher is up,
// or when its versions cannot be read, only --share counts: failing
// closed keeps a draft from leaking through a passing storage error.
func publishedScope(ctx context.Context, c Config, pub *fleet.Publisher, log *slog.Logger) (names []string, all bool) {
	if slices.Contains(c.Auth.Share, "all") {
		return nil, true
	}
	names = slices.Clone(c.Auth.Share)
	if pub == nil {
		return names, false
	}
	vs, err := pub.Versions(ctx)
	if err != nil {
		log.Warn("edge question scoped to --share only: published versions unreadable", "err", err)
		return names, false
	}
	for _, v := range vs {
		names = append(names, v.Shard)
	}
	return names, false
}
