package fleet_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/edgerag/edgerag/node/agent"
	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/node/nodetest"
	"github.com/edgerag/edgerag/sync/fleet"
	"github.com/edgerag/edgerag/sync/probes"
)

// addProbes records central's own answers to "how do I reset unitN?" as
// operator probes of the shard.
func (c *central) addProbes(t *testing.T, ids []int) {
	t.Helper()
	ctx := context.Background()
	for _, i := range ids {
		q := fmt.Sprintf("How do I reset unit%d?", i)
		docs, abstained, err := c.n.AnswerProbe(ctx, shardName, q)
		if err != nil || abstained {
			t.Fatalf("central on %q: %v (abstained %v)", q, err, abstained)
		}
		p, err := probes.New(q, docs, probes.FromOperator, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.pub.AddProbe(ctx, shardName, p); err != nil {
			t.Fatal(err)
		}
	}
}

func ackOf(st fleet.CentralStatus, node string) fleet.Ack {
	for _, a := range st.Edges {
		if a.Node == node && a.Shard == shardName {
			return a
		}
	}
	return fleet.Ack{}
}

// TestRolloutGatedOnProbes: with a probe set, a canary answers it on the
// version it holds and on the new one; a version that answers as well is
// promoted with the figures in its reason, and one whose documents were
// replaced by unrelated text halts the rollout with the figures, leaving
// the other edge on the version before.
func TestRolloutGatedOnProbes(t *testing.T) {
	ctx := context.Background()
	p := nodetest.StartFleet(t)
	c := startCentralWith(t, p, func(cfg *agent.Config) { cfg.Sync.Canary = 0.5 }) // one canary of two edges
	c.ingest(t, rangeInts(0, 10), "blue")
	c.publish(t)
	es := map[string]*edge{"edge-a": startEdge(t, p, c, "edge-a"), "edge-b": startEdge(t, p, c, "edge-b")}
	for _, e := range es {
		if err := e.s.SyncOnce(ctx); err != nil {
			t.Fatal(err)
		}
	}
	c.addProbes(t, rangeInts(0, 8))

	// A good version: one document's wording changes.
	c.ingest(t, []int{1}, "orange")
	v2 := c.publish(t)
	canary := v2.Rollout.Canaries[0]
	if err := es[canary].s.SyncOnce(ctx); err != nil {
		t.Fatal(err)
	}
	st := c.pubStatus(t)
	q := ackOf(st, canary).Quality
	if q == nil || q.Previous.Probes != 8 || q.Next.Version != v2.Version {
		t.Fatalf("the canary's report carries no probe figures for v%d: %+v", v2.Version, q)
	}
	if q.Previous.Agreed < 7 || q.Next.Agreed < 7 {
		t.Fatalf("the canary does not answer the probes on a sound shard: %+v", *q)
	}
	if len(st.Rollouts) != 1 || st.Rollouts[0].Stage != "promoted" || !strings.Contains(st.Rollouts[0].Reason, "probe set within the margins") {
		t.Fatalf("a version answering as well was not promoted on its figures: %+v", st.Rollouts)
	}
	for _, e := range es {
		if err := e.s.SyncOnce(ctx); err != nil {
			t.Fatal(err)
		}
	}

	// A bad version: every document's text replaced by unrelated text.
	var docs []api.Document
	for i := range 10 {
		docs = append(docs, api.Document{ID: fmt.Sprintf("doc-%04d", i), Shard: shardName, Title: "Cafeteria",
			Body: "The cafeteria serves soup on Fridays. Parking is free after six."})
	}
	if _, err := c.n.Ingest(ctx, docs); err != nil {
		t.Fatal(err)
	}
	v3 := c.publish(t)
	canary = v3.Rollout.Canaries[0]
	if err := es[canary].s.SyncOnce(ctx); err != nil {
		t.Fatal(err)
	}
	st = c.pubStatus(t)
	if len(st.Rollouts) != 1 || st.Rollouts[0].Stage != "halted" {
		t.Fatalf("a version that no longer answers the probes was not halted: %+v", st.Rollouts)
	}
	reason := st.Rollouts[0].Reason
	for _, want := range []string{canary, "answers the probe set worse", "agreement", "abstention", fmt.Sprintf("versions %d → %d", v2.Version, v3.Version)} {
		if !strings.Contains(reason, want) {
			t.Errorf("the halt's reason %q lacks %q", reason, want)
		}
	}
	if q := es[canary].status().Probes; q == nil || q.Next.Agreed > 1 {
		t.Errorf("the canary's own status shows %+v; want its figures with agreement near 0", q)
	}
	for name, e := range es {
		if name == canary {
			continue
		}
		if err := e.s.SyncOnce(ctx); err != nil {
			t.Fatal(err)
		}
		if got := e.status().Applied; got != v2.Version {
			t.Errorf("%s applied v%d of a halted rollout; want v%d", name, got, v2.Version)
		}
	}
	t.Logf("halted: %s", reason)
}

// TestLearnProbe: central keeps a question it answered for an edge as a
// probe only when the answer was sure and its shard is published, at most
// one per shard per interval.
func TestLearnProbe(t *testing.T) {
	ctx := context.Background()
	p := nodetest.StartFleet(t)
	c := startCentral(t, p)
	c.ingest(t, rangeInts(0, 3), "blue")
	c.publish(t)
	for _, tc := range []struct {
		name       string
		shard      string
		docs       []string
		confidence float64
		abstained  bool
		kept       bool
	}{
		{"abstention", shardName, []string{"doc-0001"}, 0.9, true, false},
		{"unsure", shardName, []string{"doc-0001"}, 0.2, false, false},
		{"no document", shardName, nil, 0.9, false, false},
		{"unpublished shard", "other", []string{"x"}, 0.9, false, false},
		{"sure", shardName, []string{"doc-0001", "doc-0002"}, 0.9, false, true},
		{"sure, but one was just learnt", shardName, []string{"doc-0002"}, 0.9, false, false},
	} {
		kept, err := c.pub.LearnProbe(ctx, "question "+tc.name, tc.shard, tc.docs, tc.confidence, tc.abstained)
		if err != nil || kept != tc.kept {
			t.Errorf("%s: kept %v (%v), want %v", tc.name, kept, err, tc.kept)
		}
	}
	set, err := c.pub.ProbeSet(shardName)
	if err != nil || len(set.Probes) != 1 || set.Probes[0].Source != probes.FromEscalation || set.Probes[0].Docs[0] != "doc-0001" {
		t.Fatalf("probe set after learning: %+v %v", set, err)
	}
}

// TestEscalationBecomesAProbe: a question an edge escalates, which central
// answers surely from a published shard, joins that shard's probe set
// with central's documents as the trusted answer.
func TestEscalationBecomesAProbe(t *testing.T) {
	ctx := context.Background()
	p := nodetest.StartFleet(t)
	c := startCentral(t, p)
	c.ingest(t, rangeInts(0, 10), "blue")
	c.publish(t)
	e := p.StartEdge(t, "edge-x", c.addr, nil) // holds nothing: it escalates
	resp, err := e.Node().Query(ctx, api.QueryRequest{Question: "How do I reset unit3?"})
	if err != nil || resp.Route != "central" || resp.Abstained {
		t.Fatalf("escalation: %+v %v", resp, err)
	}
	set, err := c.pub.ProbeSet(shardName)
	if err != nil || len(set.Probes) != 1 {
		t.Fatalf("probe set after central answered at confidence %.2f: %+v %v", resp.Confidence, set, err)
	}
	if pr := set.Probes[0]; pr.Question != "How do I reset unit3?" || pr.Source != probes.FromEscalation || pr.Docs[0] != "doc-0003" {
		t.Errorf("learnt probe %+v", pr)
	}
}

// TestRolloutWaitsForProbeFigures: while the shard has a probe set, a
// canary that reports the new version healthy but sends no figures (an
// older edge) does not promote the rollout; the reason says what it waits
// for, and the operator may still promote by hand.
func TestRolloutWaitsForProbeFigures(t *testing.T) {
	ctx := context.Background()
	p := nodetest.StartFleet(t)
	c := startCentralWith(t, p, func(cfg *agent.Config) { cfg.Sync.Canary = 1 })
	c.ingest(t, rangeInts(0, 10), "blue")
	c.publish(t)
	e := startEdge(t, p, c, "edge-old")
	e.noProbes = true
	e.newSyncer()
	if err := e.s.SyncOnce(ctx); err != nil {
		t.Fatal(err)
	}
	c.addProbes(t, rangeInts(0, 6))
	c.ingest(t, []int{1}, "orange")
	v2 := c.publish(t)
	if err := e.s.SyncOnce(ctx); err != nil {
		t.Fatal(err)
	}
	st := c.pubStatus(t)
	if len(st.Rollouts) != 1 || st.Rollouts[0].Stage != "canary" || !strings.Contains(st.Rollouts[0].Reason, "edge-old (no probe figures)") {
		t.Fatalf("a canary without figures: %+v; want the rollout waiting, saying why", st.Rollouts)
	}
	if a := ackOf(st, "edge-old"); a.Version != v2.Version || !a.Healthy {
		t.Fatalf("the canary's report: %+v", a)
	}
	if next, err := c.pub.SetRollout(ctx, shardName, "promote", ""); err != nil || next.Stage != "promoted" {
		t.Fatalf("promote by hand: %+v %v", next, err)
	}
}
