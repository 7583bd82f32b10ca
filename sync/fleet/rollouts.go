package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/edgerag/edgerag/node/shard"
	"github.com/edgerag/edgerag/sync/rollout"
)

// Staged rollouts on central: an edge's report is stored wherever it
// lands, and only the replica holding the publisher lease (or a central
// without one) moves a rollout's stage on the reports.

func rolloutKey(name string) string    { return "o/" + name }
func ackKey(shard, node string) string { return "a/" + shard + "/" + node }

func (p *Publisher) rolloutState(name string) (rollout.State, bool, error) {
	var st rollout.State
	b, err := p.cfg.KV.Get(rolloutKey(name))
	if errors.Is(err, shard.ErrNotFound) {
		return st, false, nil
	}
	if err != nil {
		return st, false, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, false, fmt.Errorf("rollout of %q: %w", name, err)
	}
	return st, true, nil
}

// ack stores an edge's report and, on the replica that holds the publisher
// lease (or a central without one), lets it advance the shard's rollout in
// the same transaction. A replica without the lease only stores it: the
// holder's AdvanceRollouts reads it from the shared state.
func (p *Publisher) ack(ctx context.Context, a Ack) error {
	p.pubMu.Lock() // a publish may be starting a rollout of this shard
	defer p.pubMu.Unlock()
	b, _ := json.Marshal(a)
	sets := []shard.KV{{Key: ackKey(a.Shard, a.Node), Value: b}}
	if p.mayPublish() == nil {
		next, changed, err := p.advance(a.Shard, &a)
		if err != nil {
			return err
		}
		if changed {
			sets = append(sets, next)
		}
	}
	return p.cfg.KV.Update(ctx, sets, nil)
}

// advance reads shardName's rollout and its canaries' reports (with a, when
// not nil, as the newest of its sender's) and returns the rollout's new
// state as a write, when the reports move it.
func (p *Publisher) advance(shardName string, a *Ack) (shard.KV, bool, error) {
	st, ok, err := p.rolloutState(shardName)
	if err != nil || !ok || st.Stage != rollout.StageCanary {
		return shard.KV{}, false, err
	}
	reports := map[string]rollout.Report{}
	quality := map[string]rollout.CanaryQuality{}
	if a != nil {
		reports[a.Node] = rollout.Report{Version: a.Version, Healthy: a.Healthy, Error: a.Error}
		if a.Quality != nil {
			quality[a.Node] = *a.Quality
		}
	}
	for _, c := range st.Canaries {
		if _, have := reports[c]; have {
			continue
		}
		v, err := p.cfg.KV.Get(ackKey(shardName, c))
		if errors.Is(err, shard.ErrNotFound) {
			continue
		}
		if err != nil {
			return shard.KV{}, false, err
		}
		var ca Ack
		if json.Unmarshal(v, &ca) == nil {
			reports[c] = rollout.Report{Version: ca.Version, Healthy: ca.Healthy, Error: ca.Error}
			if ca.Quality != nil {
				quality[c] = *ca.Quality
			}
		}
	}
	next, changed, err := p.gate(st, reports, quality)
	if err != nil {
		return shard.KV{}, false, err
	}
	if next.Stage == rollout.StageCanary {
		// Not halted by the probes (at most a new reason why it waits):
		// health decides, on the reports the gate let through.
		promoted, moved := next.Advance(reports)
		if moved {
			next, changed = promoted, true
			if next.Stage == rollout.StagePromoted {
				next.Reason += qualitySummary(st, quality, p.cfg.ProbeMargins.WithDefaults())
			}
		}
	}
	if !changed {
		return shard.KV{}, false, nil
	}
	b, _ := json.Marshal(next)
	p.log.Info("fleet sync: rollout "+next.Stage, "shard", shardName, "version", next.To, "reason", next.Reason)
	return shard.KV{Key: rolloutKey(shardName), Value: b}, true, nil
}

// AdvanceRollouts moves every staged rollout its canaries' reports allow.
// The replica holding the publisher lease runs it on a timer: reports that
// reached other replicas are stored there, not acted on, so that no
// replica without the lease ever advances a stage. It returns
// ErrNotHolder's error without the lease.
func (p *Publisher) AdvanceRollouts(ctx context.Context) error {
	if err := p.mayPublish(); err != nil {
		return err
	}
	var names []string
	err := p.cfg.KV.Scan(ctx, "o/", true, func(k string, _ []byte) error {
		names = append(names, strings.TrimPrefix(k, "o/"))
		return nil
	})
	if err != nil {
		return err
	}
	p.pubMu.Lock()
	defer p.pubMu.Unlock()
	var sets []shard.KV
	for _, name := range names {
		next, changed, err := p.advance(name, nil)
		if err != nil {
			return err
		}
		if changed {
			sets = append(sets, next)
		}
	}
	if len(sets) == 0 {
		return nil
	}
	return p.cfg.KV.Update(ctx, sets, nil)
}

// SetRollout promotes ("promote") or halts ("halt") a shard's rollout by
// hand and returns its new state.
func (p *Publisher) SetRollout(ctx context.Context, shardName, action, reason string) (rollout.State, error) {
	if err := p.mayPublish(); err != nil {
		return rollout.State{}, err
	}
	p.pubMu.Lock()
	defer p.pubMu.Unlock()
	st, ok, err := p.rolloutState(shardName)
	if err != nil {
		return st, err
	}
	if !ok {
		return st, fmt.Errorf("%w: shard %q has no staged rollout", rollout.ErrStage, shardName)
	}
	switch action {
	case "promote":
		st, err = st.Promote()
	case "halt":
		st, err = st.Halt(reason)
	default:
		return st, fmt.Errorf("rollout action %q: use promote or halt", action)
	}
	if err != nil {
		return st, err
	}
	b, _ := json.Marshal(st)
	if err := p.cfg.KV.Update(ctx, []shard.KV{{Key: rolloutKey(shardName), Value: b}}, nil); err != nil {
		return st, err
	}
	p.log.Info("fleet sync: rollout "+st.Stage, "shard", shardName, "version", st.To, "reason", st.Reason)
	return st, nil
}
