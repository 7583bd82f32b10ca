package node

import (
	"cmp"
	"context"
	"fmt"
	"math/bits"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/edgerag/edgerag/models"
	"github.com/edgerag/edgerag/models/confidence"
	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/node/dense"
	"github.com/edgerag/edgerag/node/fusion"
	"github.com/edgerag/edgerag/node/lexical"
	"github.com/edgerag/edgerag/node/shard"
)

// Hit is one retrieved chunk.
type Hit struct {
	Shard    string
	DocID    string
	ChunkID  shard.ChunkID
	Position int
	Score    float64 // BM25, or the fused rank score of a hybrid search
	matched  uint64
	slot     uint32
	store    string // store shard of a fleet-synced shard's version; "" means Shard
}

// Retrieval is the outcome of a search with the signals confidence is made of.
type Retrieval struct {
	Hits       []Hit
	QueryTerms int     // distinct analysed terms of the question
	MaxScore   float64 // BM25 upper bound for this question
	// HeldMass is the share of the question's idf mass, over the terms the
	// fleet knows, that occurs in the shards searched; -1 without fleet
	// statistics. A question about something held elsewhere scores low.
	HeldMass float64
	// Kind is "bm25", or "hybrid" when dense hits were fused in.
	Kind string
	// lexTop, lexSecond and lexMatched describe the best BM25 hits before
	// fusion: confidence reads BM25 scores, which fused ranks are not.
	lexTop, lexSecond float64
	lexMatched        uint64
	denseTop          float64
	hasDense          bool
	// terms are the question's analysed terms, sorted: analysed once here,
	// then reused to score peers.
	terms []string
}

// Signals returns the retrieval inputs of the confidence computation.
func (r Retrieval) Signals() confidence.Retrieval {
	return confidence.Retrieval{
		MaxScore: r.MaxScore, QueryTerms: r.QueryTerms, HeldMass: r.HeldMass, HasHeldMass: r.HeldMass >= 0,
		TopScore: r.lexTop, SecondScore: r.lexSecond, MatchedTerms: bits.OnesCount64(r.lexMatched),
		DenseTop: r.denseTop, HasDense: r.hasDense,
	}
}

// Search returns the k best chunks for the question from one shard, or from
// every shard when shardName is "". Scores use the term statistics of all the
// shards searched, so hits from different shards compare fairly.
//
// A ChunkFilter in ctx (see WithChunkFilter) is applied before scoring: chunks
// it refuses are never scored, never take a place among the k, and never
// come back from the dense side of a hybrid search either.
func (n *Node) Search(ctx context.Context, question, shardName string, k int) (Retrieval, error) {
	allow := chunkFilterFrom(ctx)
	if n.retrievalKind(shardName) != "hybrid" {
		return n.searchLexical(question, shardName, k, allow)
	}
	// Each retriever proposes more candidates than are kept, so that a
	// chunk ranked fifth by both can beat one ranked first by only one.
	depth := max(k, 50)
	r, err := n.searchLexical(question, shardName, depth, allow)
	if err != nil {
		return r, err
	}
	dh, err := n.dense.Search(ctx, question, shardName, depth)
	if err == nil && allow != nil {
		dh = slices.DeleteFunc(dh, func(h dense.Hit) bool {
			sh, ok := n.slotHit(h.Shard, h.Slot)
			return !ok || !allow(sh.Shard, sh.DocID, sh.ChunkID)
		})
	}
	if err != nil {
		// The embedder is down or has nothing yet: BM25 alone still answers.
		n.log.DebugContext(ctx, "dense search unavailable; using bm25 alone", "err", err)
		r.Hits = r.Hits[:min(k, len(r.Hits))]
		return r, nil
	}
	type key struct {
		shard string
		slot  uint32
	}
	byKey := make(map[key]Hit, len(r.Hits)+len(dh))
	lk := make([]key, len(r.Hits))
	for i, h := range r.Hits {
		lk[i] = key{h.Shard, h.slot}
		byKey[lk[i]] = h
	}
	dk := make([]key, len(dh))
	for i, h := range dh {
		dk[i] = key{h.Shard, h.Slot}
	}
	if len(dh) > 0 {
		r.denseTop, r.hasDense = float64(dh[0].Score), true
	}
	fused := fusion.Hybrid(lk, dk, n.cfg.Fusion, k)
	hits := make([]Hit, 0, len(fused))
	for _, f := range fused {
		h, ok := byKey[f.Key]
		if !ok {
			if h, ok = n.slotHit(f.Key.shard, f.Key.slot); !ok {
				continue // removed since the dense search
			}
		}
		h.Score = f.Score
		hits = append(hits, h)
	}
	r.Hits, r.Kind = hits, "hybrid"
	return r, nil
}

// slotHit describes a chunk found only by dense search.
func (n *Node) slotHit(shardName string, slot uint32) (Hit, bool) {
	n.mu.RLock()
	s, ok := n.shards[shardName]
	n.mu.RUnlock()
	if !ok {
		return Hit{}, false
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if int(slot) >= s.ix.Live()+s.ix.Dead() {
		return Hit{}, false
	}
	sl := s.ix.Slot(slot)
	if !s.ix.HasDoc(sl.DocID) {
		return Hit{}, false
	}
	return Hit{Shard: shardName, DocID: sl.DocID, ChunkID: sl.ID, Position: sl.Position, slot: slot, store: s.store}, true
}

// retrievalKind says how a search of shardName ("" for all) retrieves:
// "hybrid" once every shard searched has all its chunk vectors, else "bm25".
func (n *Node) retrievalKind(shardName string) string {
	if n.dense == nil {
		return "bm25"
	}
	names := []string{shardName}
	if shardName == "" {
		names = n.shardNames()
	}
	for _, name := range names {
		if !n.dense.Ready(name) {
			return "bm25"
		}
	}
	if len(names) == 0 {
		return "bm25"
	}
	return "hybrid"
}

// searchLexical is BM25 alone.
func (n *Node) searchLexical(question, shardName string, k int, allow ChunkFilter) (Retrieval, error) {
	terms := n.analyzer.Terms(question)
	slices.Sort(terms)

	n.mu.RLock()
	var states []*shardState
	var names []string
	if shardName != "" {
		if s, ok := n.shards[shardName]; ok {
			states, names = append(states, s), append(names, shardName)
		}
	} else {
		for name, s := range n.shards {
			states, names = append(states, s), append(names, name)
		}
	}
	n.mu.RUnlock()
	if shardName != "" && len(states) == 0 {
		return Retrieval{}, errorf(ErrShardNotHeld, "shard %q is not held by this node", shardName)
	}
	for _, s := range states {
		s.mu.RLock()
		defer s.mu.RUnlock()
	}

	r := Retrieval{HeldMass: -1, Kind: "bm25", terms: terms}
	var total uint64
	for _, s := range states {
		total += uint64(s.ix.Live())
	}
	fleet := n.fleet.Load()
	if fleet != nil && fleet.N > 0 {
		total = fleet.N
	}
	var heldMass, fleetMass float64
	qts := make([]lexical.QueryTerm, 0, len(terms))
	for i := 0; i < len(terms); {
		j := i
		for j < len(terms) && terms[j] == terms[i] {
			j++
		}
		bit := uint8(min(r.QueryTerms, 63))
		r.QueryTerms++
		var df uint64 // chunks searched that hold the term
		id, ok := n.dict.Lookup(terms[i])
		if ok {
			for _, s := range states {
				df += uint64(s.ix.DF(id))
			}
		}
		scoreDF := df
		if fleet != nil {
			if fdf := uint64(fleet.DF[terms[i]]); fdf > 0 {
				w := lexical.IDF(total, fdf)
				fleetMass += w
				if df > 0 {
					heldMass += w
				}
				scoreDF = max(fdf, df)
			}
		}
		if df > 0 {
			w := lexical.IDF(total, scoreDF) * float64(j-i)
			qts = append(qts, lexical.QueryTerm{ID: id, Weight: float32(w), Bit: bit})
			r.MaxScore += w * (n.cfg.BM25.K1 + 1)
		}
		i = j
	}
	if fleet != nil && fleetMass > 0 {
		r.HeldMass = heldMass / fleetMass
	}
	sc := n.scratch.Get()
	defer n.scratch.Put(sc)
	var hits []lexical.Hit
	for si, s := range states {
		var filter lexical.Filter
		if allow != nil {
			name, ix := names[si], s.ix
			filter = func(slot uint32) bool {
				sl := ix.Slot(slot)
				return allow(name, sl.DocID, sl.ID)
			}
		}
		hits = s.ix.SearchFiltered(qts, k, n.cfg.BM25, filter, sc, hits[:0])
		for _, h := range hits {
			sl := s.ix.Slot(h.Slot)
			r.Hits = append(r.Hits, Hit{Shard: names[si], DocID: sl.DocID, ChunkID: sl.ID, Position: sl.Position, Score: float64(h.Score), matched: h.Matched, slot: h.Slot, store: states[si].store})
		}
	}
	// Merge shards: best first; ties by shard, document and position so the
	// order never depends on map iteration.
	slices.SortFunc(r.Hits, func(a, b Hit) int {
		if c := cmp.Compare(b.Score, a.Score); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Shard, b.Shard); c != 0 {
			return c
		}
		if c := cmp.Compare(a.DocID, b.DocID); c != 0 {
			return c
		}
		return cmp.Compare(a.Position, b.Position)
	})
	if len(r.Hits) > k {
		r.Hits = r.Hits[:k]
	}
	if len(r.Hits) > 0 {
		r.lexTop, r.lexMatched = r.Hits[0].Score, r.Hits[0].matched
	}
	if len(r.Hits) > 1 {
		r.lexSecond = r.Hits[1].Score
	}
	return r, nil
}

// DocHit is a document ranked by its best chunk.
type DocHit struct {
	DocID string
	Score float64
}

// SearchDocs ranks documents by their best chunk, as evaluation needs: the
// n best documents, looking at up to 4n chunks so that documents split into
// several chunks do not crowd others out.
func (n *Node) SearchDocs(ctx context.Context, question string, limit int) ([]DocHit, error) {
	r, err := n.Search(ctx, question, "", 4*limit)
	if err != nil {
		return nil, err
	}
	seen := make(map[string]bool, limit)
	out := make([]DocHit, 0, limit)
	for _, h := range r.Hits {
		if seen[h.DocID] {
			continue
		}
		seen[h.DocID] = true
		out = append(out, DocHit{DocID: h.DocID, Score: h.Score})
		if len(out) == limit {
			break
		}
	}
	return out, nil
}

// QueryLocal answers from this node's own shards only: retrieve, answer
// (with the generation model when one is up, else extractively), score the
// confidence, and abstain below the threshold. It is what a node runs for a
// question another node forwarded. Like Query, it expects req as
// api.ValidateQuery leaves it.
func (n *Node) QueryLocal(ctx context.Context, req api.QueryRequest) (api.QueryResponse, error) {
	resp, _, err := n.answerLocal(ctx, req, nil)
	if err != nil {
		n.log.InfoContext(ctx, "forwarded query failed", "err", err)
	} else {
		n.log.InfoContext(ctx, "forwarded query", "mode", resp.Mode, "confidence", resp.Confidence,
			"abstained", resp.Abstained, "ms", resp.Timings.TotalMS)
	}
	return resp, err
}

// defaultK is the number of passages an answer cites when the request does
// not say (api.ValidateQuery's default).
const defaultK = 5

// Reasons a local answer carries when the model could not write it.
const reasonModelUnavailable = "model_unavailable"

// answerLocal also returns the question's analysed terms, so that routing
// scores peers without analysing the question again.
func (n *Node) answerLocal(ctx context.Context, req api.QueryRequest, onToken func(string) error) (api.QueryResponse, []string, error) {
	if !n.Ready() {
		return api.QueryResponse{}, nil, errorf(ErrNotReady, "the node is still loading its index")
	}
	// The question was validated once where it entered (the HTTP handler,
	// the QUIC handler): api.ValidateQuery is not run again here. Only the
	// zero k of an in-process caller gets its default.
	if req.K == 0 {
		req.K = defaultK
	}
	if req.Shard != "" {
		if err := shard.ValidName(req.Shard); err != nil {
			return api.QueryResponse{}, nil, errorf(ErrInvalid, "%v", err)
		}
	}
	start := n.cfg.Now()
	r, err := n.Search(ctx, req.Question, req.Shard, req.K)
	if err != nil {
		return api.QueryResponse{}, nil, err
	}
	if err := ctx.Err(); err != nil {
		return api.QueryResponse{}, nil, err
	}
	passages, cites, err := n.passages(r.Hits)
	if err != nil {
		return api.QueryResponse{}, nil, err
	}
	retrieved := n.cfg.Now()
	resp := api.QueryResponse{
		Citations: cites, Mode: models.ModeExtractive, Route: "local", Retrieval: r.Kind,
		Node: n.cfg.Name, RequestID: api.RequestID(ctx),
	}
	g := n.generator() // this query finishes on it even if SetGenerator swaps it
	ans, gen, first, err := n.generate(ctx, g, req.Question, passages, onToken)
	switch {
	case err != nil && ctx.Err() != nil:
		return api.QueryResponse{}, nil, err
	case err != nil:
		resp.Reasons = append(resp.Reasons, reasonModelUnavailable)
		ans = n.answerer.Answer(req.Question, passages)
	case ans.Mode == "":
		ans = n.answerer.Answer(req.Question, passages)
	default:
		resp.Mode, resp.Model, resp.InvalidCitations = ans.Mode, g.Model(), ans.InvalidCitations
	}
	if resp.Mode == models.ModeExtractive && onToken != nil && !ans.Abstained {
		if err := onToken(ans.Text); err != nil {
			return api.QueryResponse{}, nil, err
		}
	}
	conf := confidence.Score(r.Signals(), ans.Signals, gen, confidence.DefaultWeights())
	resp.Answer, resp.Confidence, resp.Signals, resp.Abstained = ans.Text, conf.Confidence, conf.Signals, ans.Abstained
	if !ans.Abstained && conf.Confidence < n.Tunables().MinConfidence {
		resp.Abstained = true
		resp.Reasons = append(resp.Reasons, "low_confidence")
	}
	if resp.Abstained {
		resp.Answer = "Not in the local index: no passage answers this question well enough."
	}
	for _, c := range ans.Cited {
		if c >= 1 && c <= len(resp.Citations) && !resp.Abstained {
			resp.Citations[c-1].Cited = true
		}
	}
	end := n.cfg.Now()
	resp.Timings = api.Timings{RetrieveMS: ms(retrieved.Sub(start)), AnswerMS: ms(end.Sub(retrieved)), TotalMS: ms(end.Sub(start))}
	n.metrics.Retrieval.Observe(retrieved.Sub(start).Seconds())
	n.metrics.Generation.Observe(end.Sub(retrieved).Seconds())
	if !first.IsZero() {
		resp.Timings.FirstTokenMS = ms(first.Sub(start))
	}
	return resp, r.terms, nil
}

// generate asks the generation model, when there is one and it is not known
// to be down. It returns a zero Answer when the node should answer
// extractively, and an error when the model failed (the caller falls back).
// A failure opens the model's breaker: the next queries answer extractively
// at once, and one probe after the cooldown finds out whether the model is
// back, so the node returns to generating by itself.
func (n *Node) generate(ctx context.Context, gm models.Generator, question string, passages []models.Passage, onToken func(string) error) (models.Answer, confidence.Generation, time.Time, error) {
	var first time.Time
	if gm == nil || len(passages) == 0 {
		return models.Answer{}, confidence.Generation{}, first, nil
	}
	if !n.genBreaker.Allow(n.cfg.Now()) {
		return models.Answer{}, confidence.Generation{}, first, fmt.Errorf("%w: generation model is down; retrying after the cooldown", models.ErrUnavailable)
	}
	ans, tokens, err := gm.Generate(ctx, models.GenerateRequest{Question: question, Passages: passages}, func(t models.Token) error {
		if first.IsZero() {
			first = n.cfg.Now()
		}
		if onToken != nil {
			return onToken(t.Text)
		}
		return nil
	})
	if err != nil {
		if ctx.Err() == nil {
			n.genBreaker.Failure(n.cfg.Now())
			n.log.WarnContext(ctx, "generation failed; answering extractively", "model", gm.Model(), "err", err)
		}
		return models.Answer{}, confidence.Generation{}, first, err
	}
	n.genBreaker.Success(n.cfg.Now())
	g := confidence.Generation{Has: true}
	for _, t := range tokens {
		if t.HasLogprob {
			g.Logprobs = append(g.Logprobs, t.Logprob)
		}
	}
	g.Has = len(g.Logprobs) > 0
	return ans, g, first, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// passages loads the text and provenance of hits, numbered from 1.
func (n *Node) passages(hits []Hit) ([]models.Passage, []api.Citation, error) {
	ids := make([]shard.ChunkID, len(hits))
	for i, h := range hits {
		ids[i] = h.ChunkID
	}
	texts, err := n.store.Texts(ids)
	if err != nil {
		return nil, nil, err
	}
	ps := make([]models.Passage, len(hits))
	cs := make([]api.Citation, len(hits))
	type key struct{ shard, doc string }
	metas := make(map[key][2]string, len(hits))
	for i, h := range hits {
		m, ok := metas[key{h.Shard, h.DocID}]
		if !ok {
			store := h.Shard
			if h.store != "" {
				store = h.store // the version the hit was retrieved from
			}
			d, err := n.store.Doc(store, h.DocID)
			if err != nil {
				return nil, nil, fmt.Errorf("load citation: %w", err)
			}
			m = [2]string{d.Title, d.Source}
			metas[key{h.Shard, h.DocID}] = m
		}
		ps[i] = models.Passage{N: i + 1, ChunkID: h.ChunkID.String(), DocumentID: h.DocID, Title: m[0], Source: m[1], Text: texts[i], Score: h.Score}
		cs[i] = api.Citation{N: i + 1, DocumentID: h.DocID, ChunkID: h.ChunkID.String(), Shard: h.Shard, Source: m[1], Title: m[0], Score: h.Score, Snippet: snippet(texts[i], 240)}
	}
	return ps, cs, nil
}

// snippet cuts text at a word boundary near max bytes.
func snippet(text string, max int) string {
	if len(text) <= max {
		return text
	}
	cut := strings.LastIndexByte(text[:max], ' ')
	if cut < max/2 {
		cut = max
		for cut > 0 && !utf8.RuneStart(text[cut]) {
			cut--
		}
	}
	return text[:cut] + "…"
}
