package node

import (
	"context"
	"fmt"
	"time"

	"github.com/edgerag/edgerag/node/admission"
)

// Admit implements api.Admitter: it admits a request of one class
// (admission.Retrieval, Generation or Ingest), or refuses it at once with a
// 429 carrying Retry-After, or a 503 while the node is not ready.
func (n *Node) Admit(ctx context.Context, class string) (func(), error) {
	if !n.Ready() {
		return nil, &Error{kind: ErrNotReady.(kind), msg: "the node is still loading its index", retryAfter: time.Second}
	}
	release, err := n.adm.Acquire(ctx, class)
	if err != nil {
		return nil, n.refusal(err)
	}
	return release, nil
}

// refusal turns an admission refusal into the API's 429; other errors (the
// client went away while waiting) pass through.
func (n *Node) refusal(err error) error {
	r, ok := admission.IsRefusal(err)
	if !ok {
		return err
	}
	n.metrics.Shed.WithLabelValues(r.Class, r.Reason).Inc()
	return &Error{kind: ErrOverloaded.(kind), retryAfter: r.RetryAfter, msg: fmt.Sprintf(
		"the node is busy: %s cannot start in time (%s); retry after %d s, or ask another node", r.Class, r.Reason, int(max(1, r.RetryAfter.Seconds())))}
}

// Admission returns the state of the node's admission gates.
func (n *Node) Admission() []admission.Stats { return n.adm.Stats() }
