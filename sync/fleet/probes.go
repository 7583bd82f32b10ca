package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/edgerag/edgerag/node/shard"
	"github.com/edgerag/edgerag/sync/probes"
	"github.com/edgerag/edgerag/sync/rollout"
	"github.com/edgerag/edgerag/sync/wire"
)

// Rollouts gated on answer quality. Central keeps a probe set per shard
// (sync/probes) at q/<shard>: questions it answered surely when edges
// escalated them, and questions an operator added, each with the documents
// central cited. A canary fetches the set over the sync RPC (manifest kind
// "probes"), answers it locally on the version it holds, applies the new
// version, answers it again, and reports both figures with its health.
// The lease holder halts the rollout when a canary's figures fall outside
// the margins (rollout.State.GateCanaries) and, while the shard has a probe
// set large enough to judge, promotes only once every canary's pass.
//
// The baseline is the canary's own run on the previous version, just
// before it applies the new one: the same node, models, configuration and
// probe set, minutes apart, so that the only thing that differs between
// the two figures is the shard version. Figures central kept from the
// previous rollout's canaries would mix in other edges, older probe sets
// and model changes since.

func probeKey(shardName string) string { return "q/" + shardName }

// Defaults of the publisher's probe settings.
const (
	defaultLearnAbove = 0.5
	defaultLearnEvery = 10 * time.Second
)

// ProbeSet returns a shard's probe set (empty when it has none).
func (p *Publisher) ProbeSet(shardName string) (probes.Set, error) {
	s := probes.Set{Shard: shardName}
	b, err := p.cfg.KV.Get(probeKey(shardName))
	if errors.Is(err, shard.ErrNotFound) {
		return s, nil
	}
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("probe set of %q: %w", shardName, err)
	}
	return s, nil
}

// ProbeSets returns every shard's probe set, by shard name.
func (p *Publisher) ProbeSets(ctx context.Context) ([]probes.Set, error) {
	var out []probes.Set
	err := p.cfg.KV.Scan(ctx, "q/", false, func(k string, v []byte) error {
		var s probes.Set
		if err := json.Unmarshal(v, &s); err != nil {
			return fmt.Errorf("probe set %q: %w", k, err)
		}
		out = append(out, s)
		return nil
	})
	return out, err
}

// changeProbes reads a shard's set, lets change edit it and stores the
// result when it changed. One replica's read and write are serialised by
// probeMu; two replicas writing the same shard's set at once may lose one
// probe, which only makes the sample smaller.
func (p *Publisher) changeProbes(ctx context.Context, shardName string, change func(probes.Set) (probes.Set, bool)) (probes.Set, bool, error) {
	if err := shard.ValidName(shardName); err != nil {
		return probes.Set{}, false, err
	}
	p.probeMu.Lock()
	defer p.probeMu.Unlock()
	s, err := p.ProbeSet(shardName)
	if err != nil {
		return s, false, err
	}
	next, changed := change(s)
	if !changed {
		return s, false, nil
	}
	var sets []shard.KV
	var deletes []string
	if len(next.Probes) == 0 {
		deletes = []string{probeKey(shardName)}
	} else {
		b, _ := json.Marshal(next)
		sets = []shard.KV{{Key: probeKey(shardName), Value: b}}
	}
	if err := p.cfg.KV.Update(ctx, sets, deletes); err != nil {
		return s, false, err
	}
	return next, true, nil
}

// AddProbe adds (or replaces) a probe in a shard's set.
func (p *Publisher) AddProbe(ctx context.Context, shardName string, pr probes.Probe) (probes.Set, error) {
	s, _, err := p.changeProbes(ctx, shardName, func(s probes.Set) (probes.Set, bool) {
		return probes.Add(s, pr, p.cfg.MaxProbes)
	})
	return s, err
}

// ErrNoProbe reports a probe that is not in the set.
var ErrNoProbe = errors.New("no such probe")

// RemoveProbe drops the probe with the given id, or question, from a
// shard's set.
func (p *Publisher) RemoveProbe(ctx context.Context, shardName, id string) (probes.Set, error) {
	s, changed, err := p.changeProbes(ctx, shardName, func(s probes.Set) (probes.Set, bool) { return probes.Remove(s, id) })
	if err == nil && !changed {
		err = fmt.Errorf("%w %q in shard %q ('edgerag probes list --shard %s' shows their ids)", ErrNoProbe, id, shardName, shardName)
	}
	return s, err
}

// LearnProbe keeps a question central answered for an edge as a probe of
// the shard it answered from, when the answer was sure (not an abstention,
// confidence at least the configured bar) and the shard is published. At
// most one is learnt per shard per LearnProbeEvery, so that a busy central
// writes its store rarely and the set samples questions over time rather
// than one burst. It reports whether it kept it.
func (p *Publisher) LearnProbe(ctx context.Context, question, shardName string, docs []string, confidence float64, abstained bool) (bool, error) {
	if abstained || confidence < p.cfg.LearnProbesAbove || shardName == "" || len(docs) == 0 {
		return false, nil
	}
	now := p.cfg.Now()
	p.learnMu.Lock()
	if last, ok := p.learnt[shardName]; ok && now.Sub(last) < p.cfg.LearnProbeEvery {
		p.learnMu.Unlock()
		return false, nil
	}
	if len(p.learnt) >= maxTransfers {
		clear(p.learnt)
	}
	p.learnt[shardName] = now
	p.learnMu.Unlock()
	if v, err := p.latest(shardName); err != nil || v == 0 {
		return false, err // only published shards roll out
	}
	pr, err := probes.New(question, docs, probes.FromEscalation, now)
	if err != nil {
		return false, nil // nothing to compare with: not a probe
	}
	_, changed, err := p.changeProbes(ctx, shardName, func(s probes.Set) (probes.Set, bool) { return probes.Add(s, pr, p.cfg.MaxProbes) })
	if changed {
		p.log.Debug("fleet sync: probe learnt from an escalation", "shard", shardName, "probe", pr.ID)
	}
	return changed, err
}

// serveProbes answers a canary's request for a shard's probe set.
func (p *Publisher) serveProbes(name string) ([]byte, error) {
	if err := shard.ValidName(name); err != nil {
		return nil, badRequest("probes request: %v", err)
	}
	s, err := p.ProbeSet(name)
	if err != nil {
		return nil, err
	}
	return json.Marshal(s)
}

// gate applies the probe gate to a rollout in its canary stage: it halts
// st when a canary answers the probe set worse on the new version, and
// otherwise holds back from reports the healthy report of every canary
// whose figures do not pass yet, while the shard has enough probes to
// judge, so that Advance promotes only on health and quality together.
// A shard with too few probes rolls out on health alone, as before.
//
// A canary that reported the new version healthy but without figures that
// pass (it runs an older edgerag, held no previous version to measure, or
// answered too few probes) holds the rollout in its canary stage, with the
// reason saying so in 'sync status', until an operator promotes or halts it.
func (p *Publisher) gate(st rollout.State, reports map[string]rollout.Report, quality map[string]rollout.CanaryQuality) (rollout.State, bool, error) {
	m := p.cfg.ProbeMargins.WithDefaults()
	if next, halted := st.GateCanaries(quality, m); halted {
		return next, true, nil
	}
	set, err := p.ProbeSet(st.Shard)
	if err != nil || len(set.Probes) < m.MinProbes {
		return st, false, err
	}
	var held []string
	for _, c := range st.Canaries {
		r, ok := reports[c]
		if !ok || !r.Healthy || r.Version < st.To {
			continue // not there yet; or unhealthy, which halts it whatever the probes say
		}
		if q, ok := quality[c]; !ok || q.Next.Version != st.To {
			held = append(held, c+" (no probe figures)")
			delete(reports, c)
		} else if v, why := rollout.Gate(q, m); v != rollout.GatePass {
			held = append(held, c+" ("+why+")")
			delete(reports, c)
		}
	}
	if len(held) == 0 {
		return st, false, nil
	}
	next := st
	next.Reason = fmt.Sprintf("waiting for probe-set figures that pass from %s; promote or halt by hand if they cannot come", strings.Join(held, ", "))
	return next, next.Reason != st.Reason, nil
}

// qualitySummary is the figures of the canaries that passed, for the
// reason of a promotion.
func qualitySummary(st rollout.State, quality map[string]rollout.CanaryQuality, m rollout.Margins) string {
	var parts []string
	for _, c := range st.Canaries {
		if q, ok := quality[c]; ok && q.Next.Version == st.To {
			_, why := rollout.Gate(q, m)
			parts = append(parts, c+": "+why)
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return "; probe set within the margins: " + strings.Join(parts, "; ")
}

// Edge side.

// fetchProbes asks central for a shard's probe set.
func (s *Syncer) fetchProbes(ctx context.Context, name string) (probes.Set, error) {
	req, _ := json.Marshal(manifestRequest{Kind: "probes", Name: name})
	b, err := s.cfg.Client.Call(ctx, s.cfg.Central, s.cfg.CentralName, wire.TypeManifest, req)
	if err != nil {
		return probes.Set{}, fmt.Errorf("fetch the probe set: %w", err)
	}
	var set probes.Set
	if err := json.Unmarshal(b, &set); err != nil {
		return set, fmt.Errorf("probe set of %q: %w", name, err)
	}
	if len(set.Probes) > 4*probes.MaxPerShard {
		set.Probes = set.Probes[:4*probes.MaxPerShard] // a canary's run stays bounded whatever central sends
	}
	return set, nil
}

// probeTimeout bounds one probe's answer: a canary must not stall its
// sync on a question its answerer cannot finish.
const probeTimeout = 20 * time.Second

// runProbes answers set with the version of the shard queries see now and
// counts how the answers agree with central's.
func (s *Syncer) runProbes(ctx context.Context, name string, version uint64, set probes.Set) rollout.Quality {
	start := time.Now()
	var t probes.Tally
	failed := 0
	for _, pr := range set.Probes {
		pctx, cancel := context.WithTimeout(ctx, probeTimeout)
		docs, abstained, err := s.cfg.AnswerProbe(pctx, name, pr.Question)
		cancel()
		if err != nil {
			// Left out, not counted as an abstention: a node too busy for
			// one probe says nothing about the version, and the shares
			// stay comparable. A version that fails every probe leaves
			// too few answered for the gate, which then holds the
			// rollout rather than promote it.
			failed++
			if ctx.Err() != nil {
				break
			}
			continue
		}
		t.Add(pr, docs, abstained)
	}
	s.log.Info("fleet sync: probe set answered", "shard", name, "version", version, "probes", t.Probes,
		"agreed", t.Agreed, "abstained", t.Abstained, "failed", failed, "ms", time.Since(start).Milliseconds())
	return rollout.Quality{Version: version, Probes: t.Probes, Agreed: t.Agreed, Abstained: t.Abstained}
}

// probeBefore runs the probe set on the version the canary holds, before
// it applies a new one; nil when this edge is no canary of the shard's
// rollout, cannot answer locally, holds no version yet or central has no
// probes for the shard.
func (s *Syncer) probeBefore(ctx context.Context, name string, current uint64) *probeRun {
	s.mu.Lock()
	canary := s.canary[name]
	s.mu.Unlock()
	if !canary || s.cfg.AnswerProbe == nil || current == 0 {
		return nil
	}
	set, err := s.fetchProbes(ctx, name)
	if err != nil {
		s.log.Warn("fleet sync: canary without a probe set", "shard", name, "err", err)
		return nil
	}
	if len(set.Probes) == 0 {
		return nil
	}
	return &probeRun{set: set, before: s.runProbes(ctx, name, current, set)}
}

// probeRun is a canary's probe set and its figures on the previous version.
type probeRun struct {
	set    probes.Set
	before rollout.Quality
}

// after answers the set again on the version just applied.
func (s *Syncer) probeAfter(ctx context.Context, name string, version uint64, run *probeRun) *rollout.CanaryQuality {
	if run == nil {
		return nil
	}
	q := &rollout.CanaryQuality{Previous: run.before, Next: s.runProbes(ctx, name, version, run.set)}
	s.update(name, func(st *ShardStatus) { st.Probes = q })
	return q
}

// checkQuality refuses probe figures no canary could have measured: counts
// below zero or above the probes asked, or figures for another version
// than the one reported.
func checkQuality(q *rollout.CanaryQuality, version uint64) error {
	if q == nil {
		return nil
	}
	if q.Next.Version != version {
		return fmt.Errorf("probe figures for version %d sent with a report of version %d", q.Next.Version, version)
	}
	for _, f := range []rollout.Quality{q.Previous, q.Next} {
		if f.Probes < 0 || f.Agreed < 0 || f.Abstained < 0 || f.Agreed > f.Probes || f.Abstained > f.Probes {
			return fmt.Errorf("probe figures %+v do not add up: agreed and abstained must be between 0 and the probes asked", f)
		}
	}
	return nil
}
