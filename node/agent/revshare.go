package agent

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/edgerag/edgerag/node/shard"
	"github.com/edgerag/edgerag/sync/lease"
	"github.com/edgerag/edgerag/sync/pki"
)

// revocationsKey is where central replicas keep the fleet's newest signed
// revocation list in etcd, beside the publisher lease.
const revocationsKey = "revocations"

// sharedList is the value at revocationsKey.
type sharedList struct {
	Number uint64 `json:"number"`
	Signed []byte `json:"signed"`
}

// sharedRevocations makes every central replica enforce and serve the
// same revocation list: a replica whose CA registry (--ca) revoked a
// certificate writes its list to etcd; every replica applies a newer list
// it finds there to its own QUIC identity, which refuses the revoked peer
// from then on, and serves it to edges on fleet sync. A list is checked
// against the fleet CA before it is applied, so etcd cannot revoke or
// unrevoke anyone by itself.
type sharedRevocations struct {
	state *lease.State
	id    *pki.Identity
	own   func() (uint64, []byte) // the CA registry's list; nil without --ca
	dir   string                  // where the node keeps the list it applied
	log   *slog.Logger

	mu      sync.Mutex
	learned sharedList // the newest list read from etcd and applied
}

// current returns the newest list this replica knows: its registry's or
// one another replica wrote. It is the publisher's Revocations.
func (s *sharedRevocations) current() (uint64, []byte) {
	var n uint64
	var b []byte
	if s.own != nil {
		n, b = s.own()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.learned.Number > n {
		return s.learned.Number, s.learned.Signed
	}
	return n, b
}

// run exchanges lists with etcd every second until ctx ends.
func (s *sharedRevocations) run(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		if err := s.step(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("shared revocation list", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *sharedRevocations) step(ctx context.Context) error {
	var shared sharedList
	b, err := s.state.Get(revocationsKey)
	switch {
	case errors.Is(err, shard.ErrNotFound):
	case err != nil:
		return err
	default:
		if err := json.Unmarshal(b, &shared); err != nil {
			return err
		}
	}
	if s.own != nil {
		if n, signed := s.own(); n > shared.Number {
			v, _ := json.Marshal(sharedList{Number: n, Signed: signed})
			if err := s.state.Update(ctx, []shard.KV{{Key: revocationsKey, Value: v}}, nil); err != nil {
				return err
			}
			s.log.Info("revocation list shared with the other replicas", "list", n)
			return nil
		}
	}
	if shared.Number <= s.id.Revocations().Number {
		return nil
	}
	n, err := s.id.SetRevocations(shared.Signed)
	if err != nil {
		return err // not signed by the fleet CA: never applied, never served
	}
	s.mu.Lock()
	s.learned = sharedList{Number: n, Signed: shared.Signed}
	s.mu.Unlock()
	s.log.Warn("revocation list from another replica applied: revoked nodes are refused", "list", n, "revoked", len(s.id.Revocations().Revoked))
	return pki.ReplaceFile(filepath.Join(s.dir, revocationsFile), shared.Signed, 0o644)
}
