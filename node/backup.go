package node

import (
	"context"
	"io"
)

// Backup implements api.BackupService: a consistent copy of the store.
// Everything else under the data directory is rebuilt from it at start.
func (n *Node) Backup(_ context.Context, w io.Writer) (int64, error) {
	return n.store.Backup(w)
}
