package evalrun

import (
	"context"
	"fmt"
	"io"
	"iter"
	"math/rand/v2"
	"os"
	"slices"
	"time"

	"github.com/edgerag/edgerag/models/confidence"
	"github.com/edgerag/edgerag/node"
	"github.com/edgerag/edgerag/node/answereval"
	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/node/evalset"
	"github.com/edgerag/edgerag/node/lexical"
	"github.com/edgerag/edgerag/node/nodetest"
	"github.com/edgerag/edgerag/node/route"
	"github.com/edgerag/edgerag/sync/pki"
)

// FleetReport is what 'edgerag eval --fleet N' prints.
type FleetReport struct {
	Dataset               string  `json:"dataset"`
	Retrieval             string  `json:"retrieval"`
	Edges                 int     `json:"edges"`
	Queries               int     `json:"queries"`
	NDCG10                float64 `json:"ndcg@10"`
	CentralNDCG10         float64 `json:"central_ndcg@10"`
	Ratio                 float64 `json:"ndcg_ratio"`
	HomeLocalShare        float64 `json:"home_local_share"`
	ForeignEscalatedShare float64 `json:"foreign_escalated_share"`
	LocalShare            float64 `json:"local_share"`
	Escalations           int     `json:"escalations"`
	NeedlessEscalations   int     `json:"needless_escalations"`
	P50MS                 float64 `json:"p50_ms"`
	P99MS                 float64 `json:"p99_ms"`
	EscalateBelow         float64 `json:"escalate_below"`
	// Warmup is how many questions were asked before the measured ones
	// (not scored), so that the edges could learn from central's answers.
	Warmup int `json:"warmup_queries"`
	// Recalibrated says whether the edges recalibrated their confidence
	// online; Edge has what each learned by the end.
	Recalibrated bool          `json:"recalibrated"`
	Edge         []EdgeLearned `json:"edge_recalibration,omitempty"`
	// HomeLocalAbstained is the share of home questions the home edge
	// kept and abstained on, its route confidence saying central would
	// not answer better (counted in HomeLocalShare too).
	HomeLocalAbstained float64 `json:"home_local_abstained_share"`
}

// EdgeLearned is one edge's recalibration at the end of a fleet run.
type EdgeLearned struct {
	Scale     float64 `json:"scale"`
	Offset    float64 `json:"offset"`
	Threshold float64 `json:"raw_threshold"`
	Labels    int64   `json:"labels"`
	Agreed    float64 `json:"agreed_share"`
}

// Print writes the report for a person.
func (r FleetReport) Print(w io.Writer) {
	fmt.Fprintf(w, "dataset                  %s, %d edges + central, %d queries\n", r.Dataset, r.Edges, r.Queries)
	fmt.Fprintf(w, "nDCG@10 end to end       %.4f (central alone %.4f, ratio %.3f)\n", r.NDCG10, r.CentralNDCG10, r.Ratio)
	fmt.Fprintf(w, "home queries local       %.3f (abstained %.3f)\nforeign queries escalated %.3f\nlocal share              %.3f\n", r.HomeLocalShare, r.HomeLocalAbstained, r.ForeignEscalatedShare, r.LocalShare)
	fmt.Fprintf(w, "escalations              %d (needless %d)\nlatency                  p50 %.3f ms, p99 %.3f ms\n", r.Escalations, r.NeedlessEscalations, r.P50MS, r.P99MS)
	if r.Warmup > 0 {
		fmt.Fprintf(w, "warm-up                  %d questions before the measured ones\n", r.Warmup)
	}
	for i, e := range r.Edge {
		fmt.Fprintf(w, "edge-%d recalibration     scale %.2f offset %+.2f, escalates below raw %.3f (%d labels, %.2f agreed)\n", i, e.Scale, e.Offset, e.Threshold, e.Labels, e.Agreed)
	}
}

// FleetOptions configure a fleet run.
type FleetOptions struct {
	Edges         int
	BM25          lexical.Params
	EscalateBelow float64 // edges ask central below this confidence
	Limit         int     // ask only the first Limit queries (0: all)
	Seed          uint64  // of the query-to-edge assignment
	// Warmup is the share of the questions (drawn with Seed) asked first
	// and not scored: their escalations teach the edges (0: none).
	Warmup float64
	// NoRecalibration keeps every edge's confidence as the model was
	// fitted, as a baseline for the recalibrated run.
	NoRecalibration bool
	// Recalibration bounds the edges' recalibration; zero: the default.
	Recalibration confidence.OnlineOptions
}

// fleetTally counts where the fleet answered.
type fleetTally struct {
	home, homeLocal, homeAbstained, foreign, foreignEsc, local int
	lat                                                        []time.Duration
}

// Fleet models knowledge that is local to sites: central holds the whole
// dataset, each of o.Edges edges one partition (documents that belong
// together stay together), all on loopback over real QUIC with mutual TLS.
// Each query goes to its home edge with probability 0.8, else to another.
func Fleet(ctx context.Context, dir string, o FleetOptions) (FleetReport, Run, error) {
	rep := FleetReport{Dataset: dir, Retrieval: "bm25", Edges: o.Edges, EscalateBelow: o.EscalateBelow}
	ds, err := evalset.Open(dir)
	if err != nil {
		return rep, Run{}, err
	}
	var docs []evalset.Doc
	if err := ds.Corpus(func(d evalset.Doc) error { docs = append(docs, d); return nil }); err != nil {
		return rep, Run{}, err
	}
	assign, err := evalset.Partition(docs, ds.Queries, ds.Qrels, o.Edges)
	if err != nil {
		return rep, Run{}, err
	}
	tmp, err := os.MkdirTemp("", "edgerag-fleet-")
	if err != nil {
		return rep, Run{}, err
	}
	defer os.RemoveAll(tmp)
	central, edges, closeFleet, err := startFleet(ctx, tmp, docs, assign, o)
	if err != nil {
		return rep, Run{}, err
	}
	defer closeFleet()

	queries := firstN(ds.Queries, o.Limit)
	rng := rand.New(rand.NewPCG(o.Seed, 0xf1ee7))
	warm, queries := splitWarmup(queries, o.Warmup, o.Seed)
	rep.Warmup, rep.Recalibrated = len(warm), !o.NoRecalibration
	for _, q := range warm {
		if err := warmUp(ctx, edges, q, ds.Qrels, assign, rng); err != nil {
			return rep, Run{}, err
		}
	}
	run, centralRun := newRun(len(queries)), newRun(len(queries))
	qrels := make(evalset.Qrels, len(queries))
	var t fleetTally
	for i, q := range queries {
		if i%256 == 0 && ctx.Err() != nil {
			return rep, Run{}, ctx.Err()
		}
		homeEdge, ok := evalset.HomePartition(q, ds.Qrels, assign)
		if !ok {
			continue // unjudged: no home, nothing to score
		}
		qrels[q.ID] = ds.Qrels[q.ID]
		target := homeEdge
		if rng.Float64() >= 0.8 && o.Edges > 1 {
			target = (homeEdge + 1 + rng.IntN(o.Edges-1)) % o.Edges
		}
		local, abstained, lat, err := askFleet(ctx, central, edges[target], target, q, qrels[q.ID], &run, &centralRun, &rep)
		if err != nil {
			return rep, Run{}, err
		}
		t.add(target == homeEdge, local, abstained, lat)
	}
	m, cm := evalset.Score(run.Rankings, qrels), evalset.Score(centralRun.Rankings, qrels)
	rep.Queries = m.Queries
	rep.NDCG10, rep.CentralNDCG10 = m.NDCG10, cm.NDCG10
	if cm.NDCG10 > 0 {
		rep.Ratio = m.NDCG10 / cm.NDCG10
	}
	rep.HomeLocalShare = share(t.homeLocal, t.home)
	rep.HomeLocalAbstained = share(t.homeAbstained, t.home)
	rep.ForeignEscalatedShare = share(t.foreignEsc, t.foreign)
	rep.LocalShare = share(t.local, t.home+t.foreign)
	slices.Sort(t.lat)
	rep.P50MS, rep.P99MS = msf(evalset.Percentile(t.lat, 50)), msf(evalset.Percentile(t.lat, 99))
	if !o.NoRecalibration {
		for _, e := range edges {
			on := e.Recalibration()
			rep.Edge = append(rep.Edge, EdgeLearned{Scale: on.Scale, Offset: on.Offset, Threshold: on.Threshold(o.EscalateBelow),
				Labels: on.Labels, Agreed: on.AgreedShare()})
		}
	}
	return rep, run, nil
}

// splitWarmup draws share of the questions (with seed) to be asked first
// and not scored; the rest keep their order.
func splitWarmup(qs []evalset.Query, share float64, seed uint64) (warm, rest []evalset.Query) {
	n := int(share*float64(len(qs)) + 0.5)
	if n <= 0 {
		return nil, qs
	}
	n = min(n, len(qs))
	idx := rand.New(rand.NewPCG(seed, 0x3a4e)).Perm(len(qs))
	pick := make([]bool, len(qs))
	for _, i := range idx[:n] {
		pick[i] = true
	}
	for i, q := range qs {
		if pick[i] {
			warm = append(warm, q)
		} else {
			rest = append(rest, q)
		}
	}
	return warm, rest
}

// warmUp asks one warm-up question as a user would (its home edge with
// probability 0.8, else another); only what the edge learns from it stays.
func warmUp(ctx context.Context, edges []*node.Node, q evalset.Query, qrels evalset.Qrels, assign map[string]int, rng *rand.Rand) error {
	home, ok := evalset.HomePartition(q, qrels, assign)
	if !ok {
		return nil
	}
	target := home
	if rng.Float64() >= 0.8 && len(edges) > 1 {
		target = (home + 1 + rng.IntN(len(edges)-1)) % len(edges)
	}
	req := api.QueryRequest{Question: answereval.Clip(q.Text, api.MaxQuestion), K: 10}
	if _, err := edges[target].Query(ctx, req); err != nil {
		return fmt.Errorf("warm-up query %s on edge %d: %w", q.ID, target, err)
	}
	return nil
}

func (t *fleetTally) add(home, local, abstained bool, lat time.Duration) {
	t.lat = append(t.lat, lat)
	if local {
		t.local++
	}
	if home {
		t.home++
		if local {
			t.homeLocal++
			if abstained {
				t.homeAbstained++
			}
		}
	} else {
		t.foreign++
		if !local {
			t.foreignEsc++
		}
	}
}

// askFleet asks the edge q, and central alone for comparison, and adds
// both rankings. An escalation is needless when the edge's own answer
// already ranked as well as central's. local says the edge served its own
// answer, abstained whether that was an abstention.
func askFleet(ctx context.Context, central, edge *node.Node, target int, q evalset.Query, rel map[string]int, run, centralRun *Run, rep *FleetReport) (local, abstained bool, lat time.Duration, err error) {
	req := api.QueryRequest{Question: answereval.Clip(q.Text, api.MaxQuestion), K: 10}
	t0 := time.Now()
	resp, err := edge.Query(ctx, req)
	lat = time.Since(t0)
	if err != nil {
		return false, false, lat, fmt.Errorf("query %s on edge %d: %w", q.ID, target, err)
	}
	cresp, err := central.QueryLocal(ctx, req)
	if err != nil {
		return false, false, lat, fmt.Errorf("query %s on central: %w", q.ID, err)
	}
	run.add(q.ID, ranking(resp))
	centralRun.add(q.ID, ranking(cresp))
	if resp.Route == "local" {
		return true, resp.Abstained, lat, nil
	}
	rep.Escalations++
	lresp, err := edge.QueryLocal(ctx, req)
	if err == nil && evalset.NDCG(ranking(lresp), rel, 10) >= evalset.NDCG(centralRun.Rankings[q.ID], rel, 10) {
		rep.NeedlessEscalations++
	}
	return false, false, lat, nil
}

// startFleet starts central holding every document and edges holding
// their partition, as agents of one fleet on loopback (nodetest.Fleet): the
// CA and certificates as 'edgerag ca init' and 'cert issue' make them, real
// QUIC with mutual TLS between them. The edges learn central's term
// statistics, as fleet sync would give them.
func startFleet(ctx context.Context, dir string, docs []evalset.Doc, assign map[string]int, o FleetOptions) (*node.Node, []*node.Node, func(), error) {
	f, err := nodetest.NewFleet(dir)
	if err != nil {
		return nil, nil, nil, err
	}
	routing := route.DefaultThresholds()
	routing.MinConfidence = o.EscalateBelow
	fail := func(err error) (*node.Node, []*node.Node, func(), error) { f.Close(); return nil, nil, nil, err }
	all := slices.Values(docs)
	cfg, err := f.Config("central", pki.RoleCentral)
	if err != nil {
		return fail(err)
	}
	cfg.BM25, cfg.Routing = o.BM25, routing
	central, err := f.Start(ctx, cfg)
	if err != nil {
		return fail(err)
	}
	if err := ingestDocs(ctx, central.Node(), each(all), func(evalset.Doc) bool { return true }); err != nil {
		return fail(err)
	}
	stats := central.Node().TermStats()
	edges := make([]*node.Node, o.Edges)
	for i := range o.Edges {
		cfg, err := f.Edge(fmt.Sprintf("edge-%d", i), central)
		if err != nil {
			return fail(err)
		}
		cfg.BM25, cfg.Routing = o.BM25, routing
		cfg.NoRecalibration, cfg.Recalibration = o.NoRecalibration, o.Recalibration
		a, err := f.Start(ctx, cfg)
		if err != nil {
			return fail(err)
		}
		edges[i] = a.Node()
		if err := ingestDocs(ctx, edges[i], each(all), func(d evalset.Doc) bool { return assign[d.ID] == i }); err != nil {
			return fail(err)
		}
		edges[i].SetFleetStats(stats)
	}
	return central.Node(), edges, f.Close, nil
}

// each turns a sequence of documents into a corpus callback.
func each(docs iter.Seq[evalset.Doc]) func(func(evalset.Doc) error) error {
	return func(fn func(evalset.Doc) error) error {
		for d := range docs {
			if err := fn(d); err != nil {
				return err
			}
		}
		return nil
	}
}

// ranking turns an answer's citations into a document ranking, each
// document at its best chunk.
func ranking(r api.QueryResponse) []evalset.Ranked {
	out := make([]evalset.Ranked, 0, len(r.Citations))
	seen := make(map[string]bool, len(r.Citations))
	for _, c := range r.Citations {
		if !seen[c.DocumentID] {
			seen[c.DocumentID] = true
			out = append(out, evalset.Ranked{DocID: c.DocumentID, Score: c.Score})
		}
	}
	return out
}

func share(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}
