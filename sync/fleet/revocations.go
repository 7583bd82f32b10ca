package fleet

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/edgerag/edgerag/sync/wire"
)

// The fleet's revocation list rides on fleet sync: central announces its
// number in every poll's answer and serves the list, signed by the fleet
// CA, as the "revocations" manifest kind; an edge fetches it when the
// number is above the one it applied, so every edge refuses a revoked node
// within one poll. The list is the CA's to sign and verify (sync/pki);
// fleet sync only carries it.

// revocations serves the signed revocation list.
func (p *Publisher) revocations() ([]byte, error) {
	if p.cfg.Revocations == nil {
		return nil, errNotFound("this central keeps no revocation list (start it with --ca)")
	}
	n, b := p.cfg.Revocations()
	if n == 0 {
		return nil, errNotFound("no certificate was revoked")
	}
	p.manifestsServed.Add(1)
	p.bytesServed.Add(int64(len(b)))
	return b, nil
}

// syncRevocations fetches and applies central's revocation list when its
// number want is above the one in force.
func (s *Syncer) syncRevocations(ctx context.Context, want uint64) error {
	if s.cfg.ApplyRevocations == nil || s.cfg.Revocations == nil || want <= s.cfg.Revocations() {
		return nil
	}
	req, _ := json.Marshal(manifestRequest{Kind: "revocations"})
	b, err := s.cfg.Client.Call(ctx, s.cfg.Central, s.cfg.CentralName, wire.TypeManifest, req)
	if err != nil {
		return fmt.Errorf("fetch the revocation list: %w", err)
	}
	if err := s.cfg.ApplyRevocations(ctx, b); err != nil {
		return fmt.Errorf("revocation list refused: %w", err)
	}
	s.log.Info("fleet sync: revocation list applied", "number", s.cfg.Revocations())
	return nil
}
