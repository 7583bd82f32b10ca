package agent

import (
	"bytes"
	"context"
	"time"

	"github.com/edgerag/edgerag/sync/fleet"
	"github.com/edgerag/edgerag/sync/lease"
)

// followModels keeps a central replica serving the model manifest the
// replicas share: with a publisher lease the manifest published last and
// its version live in etcd (statekv.go), the holder publishes
// --publish-models there, and every replica serves whatever is there
// (blobs from its own Ollama directory), so an edge gets the same models
// whichever replica it asks. It runs until ctx ends.
func (ms *modelShip) followModels(ctx context.Context, p *fleet.Publisher, l *lease.Lease, names []string) {
	var served []byte
	published := len(names) == 0
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		if !published && l.Check() == nil {
			if _, err := ms.publish(ctx, p, names); err != nil {
				ms.log.Warn("--publish-models", "err", err)
			} else {
				published = true
			}
		}
		env, _, err := p.LatestModels()
		switch {
		case err != nil:
			ms.log.Warn("model manifest the replicas share", "err", err)
		case env != nil && !bytes.Equal(env, served):
			if _, err := ms.central.Serve(env); err != nil {
				ms.log.Warn("model manifest the replicas share", "err", err)
			} else {
				served = env
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
