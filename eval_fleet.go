package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"time"

	"github.com/edgerag/edgerag/node"
	"github.com/edgerag/edgerag/node/answereval"
	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/node/evalset"
	"github.com/edgerag/edgerag/node/lexical"
	"github.com/edgerag/edgerag/node/nodetest"
	"github.com/edgerag/edgerag/node/route"
	"github.com/edgerag/edgerag/sync/pki"
)

// fleetReport is what 'edgerag eval --fleet N' prints.
type fleetReport struct {
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
}

// fleetEval models knowledge that is local to sites: central holds the
// whole dataset, each of n edges one partition (documents that belong
// together stay together), all on loopback over real QUIC with mutual TLS.
// Each query goes to its home edge with probability 0.8, else to another.
func fleetEval(ctx context.Context, dir string, edges int, p lexical.Params, escalateBelow float64, limit int, seed uint64) (fleetReport, map[string][]evalset.Ranked, []string, error) {
	rep := fleetReport{Dataset: dir, Retrieval: "bm25", Edges: edges, EscalateBelow: escalateBelow}
	ds, err := evalset.Open(dir)
	if err != nil {
		return rep, nil, nil, err
	}
	var docs []evalset.Doc
	if err := ds.Corpus(func(d evalset.Doc) error { docs = append(docs, d); return nil }); err != nil {
		return rep, nil, nil, err
	}
	assign, err := evalset.Partition(docs, ds.Queries, ds.Qrels, edges)
	if err != nil {
		return rep, nil, nil, err
	}
	tmp, err := os.MkdirTemp("", "edgerag-fleet-")
	if err != nil {
		return rep, nil, nil, err
	}
	defer os.RemoveAll(tmp)
	central, nodes, closeFleet, err := startEvalFleet(ctx, tmp, docs, assign, edges, p, escalateBelow)
	if err != nil {
		return rep, nil, nil, err
	}
	defer closeFleet()

	queries := ds.Queries
	if limit > 0 && limit < len(queries) {
		queries = queries[:limit]
	}
	rng := rand.New(rand.NewPCG(seed, 0xf1ee7))
	runs := make(map[string][]evalset.Ranked, len(queries))
	centralRuns := make(map[string][]evalset.Ranked, len(queries))
	qrels := make(evalset.Qrels, len(queries))
	var order []string
	var lat []time.Duration
	var home, homeLocal, foreign, foreignEsc, local int
	for i, q := range queries {
		if i%256 == 0 && ctx.Err() != nil {
			return rep, nil, nil, ctx.Err()
		}
		homeEdge, ok := evalset.HomePartition(q, ds.Qrels, assign)
		if !ok {
			continue // unjudged: no home, nothing to score
		}
		qrels[q.ID] = ds.Qrels[q.ID]
		target := homeEdge
		if rng.Float64() >= 0.8 && edges > 1 {
			target = (homeEdge + 1 + rng.IntN(edges-1)) % edges
		}
		req := api.QueryRequest{Question: answereval.Clip(q.Text, api.MaxQuestion), K: 10}
		t0 := time.Now()
		resp, err := nodes[target].Query(ctx, req)
		lat = append(lat, time.Since(t0))
		if err != nil {
			return rep, nil, nil, fmt.Errorf("query %s on edge %d: %w", q.ID, target, err)
		}
		cresp, err := central.QueryLocal(ctx, req)
		if err != nil {
			return rep, nil, nil, fmt.Errorf("query %s on central: %w", q.ID, err)
		}
		runs[q.ID], centralRuns[q.ID] = ranking(resp), ranking(cresp)
		order = append(order, q.ID)
		isLocal := resp.Route == "local"
		if isLocal {
			local++
		} else {
			rep.Escalations++
			// Needless: the edge's own answer already ranked as well as
			// central's.
			lresp, err := nodes[target].QueryLocal(ctx, req)
			if err == nil && evalset.NDCG(ranking(lresp), qrels[q.ID], 10) >= evalset.NDCG(centralRuns[q.ID], qrels[q.ID], 10) {
				rep.NeedlessEscalations++
			}
		}
		if target == homeEdge {
			home++
			if isLocal {
				homeLocal++
			}
		} else {
			foreign++
			if !isLocal {
				foreignEsc++
			}
		}
	}
	m, cm := evalset.Score(runs, qrels), evalset.Score(centralRuns, qrels)
	slices.Sort(lat)
	rep.Queries = m.Queries
	rep.NDCG10, rep.CentralNDCG10 = m.NDCG10, cm.NDCG10
	if cm.NDCG10 > 0 {
		rep.Ratio = m.NDCG10 / cm.NDCG10
	}
	rep.HomeLocalShare = share(homeLocal, home)
	rep.ForeignEscalatedShare = share(foreignEsc, foreign)
	rep.LocalShare = share(local, home+foreign)
	rep.P50MS, rep.P99MS = msf(evalset.Percentile(lat, 50)), msf(evalset.Percentile(lat, 99))
	return rep, runs, order, nil
}

// startEvalFleet starts central holding every document and edges holding
// their partition, as agents of one fleet on loopback (nodetest.Fleet): the
// CA and certificates as 'edgerag ca init' and 'cert issue' make them, real
// QUIC with mutual TLS between them. The edges learn central's term
// statistics, as fleet sync would give them.
func startEvalFleet(ctx context.Context, dir string, docs []evalset.Doc, assign map[string]int, edges int, p lexical.Params, escalateBelow float64) (*node.Node, []*node.Node, func(), error) {
	f, err := nodetest.NewFleet(dir)
	if err != nil {
		return nil, nil, nil, err
	}
	routing := route.DefaultThresholds()
	routing.MinConfidence = escalateBelow
	fail := func(err error) (*node.Node, []*node.Node, func(), error) { f.Close(); return nil, nil, nil, err }
	cfg, err := f.Config("central", pki.RoleCentral)
	if err != nil {
		return fail(err)
	}
	cfg.BM25, cfg.Routing = p, routing
	central, err := f.Start(ctx, cfg)
	if err != nil {
		return fail(err)
	}
	if err := ingestDocs(ctx, central.Node(), docs, func(evalset.Doc) bool { return true }); err != nil {
		return fail(err)
	}
	stats := central.Node().TermStats()
	nodes := make([]*node.Node, edges)
	for i := range edges {
		cfg, err := f.Edge(fmt.Sprintf("edge-%d", i), central)
		if err != nil {
			return fail(err)
		}
		cfg.BM25, cfg.Routing = p, routing
		a, err := f.Start(ctx, cfg)
		if err != nil {
			return fail(err)
		}
		nodes[i] = a.Node()
		part := i
		if err := ingestDocs(ctx, nodes[i], docs, func(d evalset.Doc) bool { return assign[d.ID] == part }); err != nil {
			return fail(err)
		}
		nodes[i].SetFleetStats(stats)
	}
	return central.Node(), nodes, f.Close, nil
}

// ingestDocs stores the documents keep selects in n, in batches of 500.
func ingestDocs(ctx context.Context, n *node.Node, docs []evalset.Doc, keep func(evalset.Doc) bool) error {
	var batch []api.Document
	for _, d := range docs {
		if !keep(d) || (d.Text == "" && d.Title == "") {
			continue
		}
		body := d.Text
		if body == "" {
			body = d.Title
		}
		batch = append(batch, api.Document{ID: d.ID, Title: d.Title, Body: body})
		if len(batch) == 500 {
			if _, err := n.Ingest(ctx, batch); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	if len(batch) > 0 {
		_, err := n.Ingest(ctx, batch)
		return err
	}
	return nil
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

func printFleet(w io.Writer, r fleetReport) {
	fmt.Fprintf(w, "dataset                  %s, %d edges + central, %d queries\n", r.Dataset, r.Edges, r.Queries)
	fmt.Fprintf(w, "nDCG@10 end to end       %.4f (central alone %.4f, ratio %.3f)\n", r.NDCG10, r.CentralNDCG10, r.Ratio)
	fmt.Fprintf(w, "home queries local       %.3f\nforeign queries escalated %.3f\nlocal share              %.3f\n", r.HomeLocalShare, r.ForeignEscalatedShare, r.LocalShare)
	fmt.Fprintf(w, "escalations              %d (needless %d)\nlatency                  p50 %.3f ms, p99 %.3f ms\n", r.Escalations, r.NeedlessEscalations, r.P50MS, r.P99MS)
}
