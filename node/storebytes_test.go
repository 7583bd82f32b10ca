package node_test

import (
	"context"
	"strings"
	"testing"

	"github.com/edgerag/edgerag/node/api"
)

// TestStoreBytesAtOnce: /v1/status and /metrics report the store's size as
// soon as the node runs and after an ingest, not 0 until Badger's
// once-a-minute refresh.
func TestStoreBytesAtOnce(t *testing.T) {
	n := newNode(t, t.TempDir())
	ctx := context.Background()
	st, err := n.Status(ctx)
	if err != nil || st.StoreBytes <= 0 {
		t.Fatalf("a new node: store_bytes %d (%v)", st.StoreBytes, err)
	}
	before := st.StoreBytes
	body := strings.Repeat("Hold the reset button for five seconds to reset the pump. ", 2000)
	if _, err := n.Ingest(ctx, []api.Document{{ID: "pump", Body: body}}); err != nil {
		t.Fatal(err)
	}
	if st, _ = n.Status(ctx); st.StoreBytes <= before {
		t.Errorf("store_bytes %d after a %d-byte ingest, %d before", st.StoreBytes, len(body), before)
	}
}
