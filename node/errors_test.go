package node_test

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/edgerag/edgerag/node"
	"github.com/edgerag/edgerag/node/api"
)

// TestErrorKindsReachTheAPI: every kind of the core's errors gets its HTTP
// status at the API edge, through wrapping, and keeps its message; none
// falls through to a 500.
func TestErrorKindsReachTheAPI(t *testing.T) {
	for _, tc := range []struct {
		kind   error
		status int
	}{
		{node.ErrInvalid, http.StatusBadRequest},
		{node.ErrNotFound, http.StatusNotFound},
		{node.ErrShardNotHeld, http.StatusNotFound},
		{node.ErrNotReady, http.StatusServiceUnavailable},
		{node.ErrConflict, http.StatusConflict},
		{node.ErrTooLarge, http.StatusRequestEntityTooLarge},
		{node.ErrFull, http.StatusInsufficientStorage},
		{node.ErrForbidden, http.StatusForbidden},
		{node.ErrOverloaded, http.StatusTooManyRequests},
		{node.ErrStorageFull, http.StatusInsufficientStorage},
		{node.ErrModelUnavailable, http.StatusServiceUnavailable},
	} {
		err := fmt.Errorf("while asking: %w", tc.kind)
		if got := api.AsError(err); got.Status != tc.status || got.Message != err.Error() {
			t.Errorf("%v: status %d message %q; want %d and the error's message", tc.kind, got.Status, got.Message, tc.status)
		}
		if !errors.Is(err, tc.kind) {
			t.Errorf("%v does not match itself through wrapping", tc.kind)
		}
	}
}
