package node_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/edgerag/edgerag/node/api"
)

// TestRollbackNeverMovesForward: a rollback returns to the previous
// version; a second one, with nothing older kept, is refused instead of
// returning to the version just rolled back from.
func TestRollbackNeverMovesForward(t *testing.T) {
	n := newNode(t, t.TempDir())
	ctx := context.Background()
	applyVersion(t, n, 1, syncDocs(4))
	applyVersion(t, n, 2, syncDocs(6))
	from, to, err := n.RollbackShard(ctx, "manuals", nil)
	if err != nil || from != 2 || to != 1 {
		t.Fatalf("first rollback: %d → %d, %v", from, to, err)
	}
	_, _, err = n.RollbackShard(ctx, "manuals", nil)
	if e := api.AsError(err); err == nil || e.Status != http.StatusConflict || !strings.Contains(e.Message, "already rolled back to version 1") {
		t.Fatalf("second rollback: %v", err)
	}
	if p, _ := n.SyncPointer("manuals"); p.Current != 1 {
		t.Errorf("the shard is at version %d after a refused rollback", p.Current)
	}
	// A newer version applies normally and can be rolled back again.
	applyVersion(t, n, 3, syncDocs(5))
	if from, to, err := n.RollbackShard(ctx, "manuals", nil); err != nil || from != 3 || to != 1 {
		t.Fatalf("rollback after v3: %d → %d, %v", from, to, err)
	}
}
