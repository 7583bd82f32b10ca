package node

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/edgerag/edgerag/models"
	"github.com/edgerag/edgerag/models/confidence"
	"github.com/edgerag/edgerag/node/admission"
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
	// ordered are the question's analysed terms in question order, and
	// terms the same sorted: analysed once here, then reused for phrase
	// coverage, the extractive answer and scoring peers.
	ordered, terms []string
	// qterms are the question's distinct analysed terms but its question
	// words ("how", "do"), each with its idf and bit in Hit.matched; qmass is
	// the sum of those idfs.
	// A term no chunk holds weighs as the rarest possible: a question about
	// something this node never saw is mostly such terms.
	qterms []weightedTerm
	qmass  float64
	// passageMass is the largest share of qmass that one of the best
	// lexical hits holds; missingRare is the idf of the rarest question
	// term that hit lacks, over the idf of a term no chunk holds; unseenMass
	// is the share of qmass in terms no chunk searched holds.
	passageMass, missingRare, unseenMass float64
}

type weightedTerm struct {
	term   string
	idf    float64
	unseen bool  // no chunk searched holds it
	bit    uint8 // its bit in Hit.matched
}

// coverDepth is how many of the best lexical hits are looked at for the
// passage coverage signal: the passages an answer is written from.
const coverDepth = 5

// Signals returns the retrieval inputs of the confidence computation.
func (r Retrieval) Signals() confidence.Retrieval {
	return confidence.Retrieval{
		MaxScore: r.MaxScore, QueryTerms: r.QueryTerms, HeldMass: r.HeldMass, HasHeldMass: r.HeldMass >= 0,
		TopScore: r.lexTop, SecondScore: r.lexSecond, MatchedTerms: bits.OnesCount64(r.lexMatched),
		DenseTop: r.denseTop, HasDense: r.hasDense,
		PassageCoverage: r.passageMass, HasPassageCoverage: r.qmass > 0,
		MissingRare: r.missingRare, UnseenMass: r.unseenMass,
	}
}

// phraseCoverage is the largest share of the question's adjacent term
// pairs that one passage also holds side by side: a question about a passage
// shares its phrases ("fort caroline", "super bowl"), while a passage that
// matches a question's words one by one, scattered, usually answers
// something else.
func phraseCoverage(q []string, passageTerms [][]string) (float64, bool) {
	if len(q) < 2 || len(passageTerms) == 0 {
		return 0, false
	}
	type pair struct{ a, b string }
	best := 0.0
	have := make(map[pair]bool)
	for _, t := range passageTerms {
		clear(have)
		for i := 1; i < len(t); i++ {
			have[pair{t[i-1], t[i]}] = true
		}
		hit := 0
		for i := 1; i < len(q); i++ {
			if have[pair{q[i-1], q[i]}] || have[pair{q[i], q[i-1]}] {
				hit++
			}
		}
		best = max(best, float64(hit)/float64(len(q)-1))
	}
	return best, true
}

// forgiveTypos counts a question term no chunk holds as matched when one of
// the passages holds a word one edit away from it (a letter added, dropped,
// changed, or two swapped; terms of five letters or more): "pacakges" is a
// typo for a word the node holds, not a sign of a question about something
// it never saw. Only the confidence signals change; ranking does not.
func forgiveTypos(r *Retrieval, passageTerms [][]string) {
	if r.qmass <= 0 {
		return
	}
	for _, qt := range r.qterms {
		if !qt.unseen || len(qt.term) < 5 {
			continue
		}
		found := false
		for _, ts := range passageTerms {
			if slices.ContainsFunc(ts, func(t string) bool { return oneEdit(qt.term, t) }) {
				found = true
				break
			}
		}
		if found {
			share := qt.idf / r.qmass
			r.passageMass = min(1, r.passageMass+share)
			r.unseenMass = max(0, r.unseenMass-share)
		}
	}
}

// oneEdit reports whether a and b differ by exactly one insertion,
// deletion, substitution or transposition of adjacent bytes.
func oneEdit(a, b string) bool {
	if a == b {
		return false
	}
	la, lb := len(a), len(b)
	if la > lb {
		a, b, la, lb = b, a, lb, la
	}
	if lb-la > 1 {
		return false
	}
	i := 0
	for i < la && a[i] == b[i] {
		i++
	}
	if la == lb {
		if a[i+1:] == b[i+1:] {
			return true // substitution
		}
		return i+1 < la && a[i] == b[i+1] && a[i+1] == b[i] && a[i+2:] == b[i+2:]
	}
	return a[i:] == b[i+1:] // insertion into a
}

// answerCoverage is the share of the question's idf mass whose terms occur
// in text (citation marks and all): how much of the question the answer
// itself speaks to, measured the same way whoever wrote it.
func (n *Node) answerCoverage(r Retrieval, text string) (float64, bool) {
	if r.qmass <= 0 {
		return 0, false
	}
	terms := n.analyzer.Terms(text)
	var m float64
	for _, qt := range r.qterms {
		if slices.Contains(terms, qt.term) {
			m += qt.idf
		}
	}
	return m / r.qmass, true
}

// Search returns the k best chunks for the question from one shard, or from
// every shard when shardName is "". Scores use the term statistics of all the
// shards searched, so hits from different shards compare fairly.
//
// A ChunkFilter in ctx (see WithChunkFilter) is applied before scoring: chunks
// it refuses are never scored, never take a place among the k, and never
// come back from the dense side of a hybrid search either.
func (n *Node) Search(ctx context.Context, question, shardName string, k int) (Retrieval, error) {
	allow, err := n.accessFilter(ctx, shardName, chunkFilterFrom(ctx))
	if err != nil {
		return Retrieval{}, err
	}
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
//
// It is long because the shards' read locks, released by its defers, must
// cover the whole pass, and one pass over the sorted terms yields both the
// scoring terms and the confidence signals.
func (n *Node) searchLexical(question, shardName string, k int, allow ChunkFilter) (Retrieval, error) {
	ordered := n.analyzer.Terms(question)
	terms := slices.Clone(ordered)
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

	r := Retrieval{HeldMass: -1, Kind: "bm25", ordered: ordered, terms: terms}
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
		// The idf of a term no shard searched holds: what a term occurring
		// in one chunk of a collection of this size would get, at most.
		unseen := lexical.IDF(max(total, 1), 0)
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
		if len(r.qterms) < 64 && !n.answerer.IsQuestionWord(terms[i]) {
			w := unseen
			if scoreDF > 0 {
				w = lexical.IDF(total, scoreDF)
			} else {
				r.unseenMass += w
			}
			r.qterms = append(r.qterms, weightedTerm{terms[i], w, scoreDF == 0, bit})
			r.qmass += w
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
	if r.qmass > 0 {
		best := uint64(0)
		r.passageMass = -1
		for _, h := range r.Hits[:min(len(r.Hits), coverDepth)] {
			var m float64
			for _, qt := range r.qterms {
				if h.matched&(1<<qt.bit) != 0 {
					m += qt.idf
				}
			}
			if m/r.qmass > r.passageMass {
				r.passageMass, best = m/r.qmass, h.matched
			}
		}
		r.passageMass = max(r.passageMass, 0)
		unseen := lexical.IDF(max(total, 1), 0)
		for _, qt := range r.qterms {
			if best&(1<<qt.bit) == 0 {
				r.missingRare = max(r.missingRare, qt.idf/unseen)
			}
		}
		r.unseenMass /= r.qmass
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
	n.audit.RecordEscalation(ctx, "answer forwarded question", "")
	resp, _, _, err := n.answerLocal(ctx, req, nil, false)
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

// reasonStreamedUnsure marks a streamed answer that scored below
// min-confidence once written: it was shown, so it stands, labelled.
const reasonStreamedUnsure = "streamed_below_min_confidence"

// Reasons a local answer carries when the model could not write it.
const (
	reasonModelUnavailable = "model_unavailable"
	// reasonOverload: the node was too busy to do the best it could (the
	// model's queue was full, or the query went elsewhere).
	reasonOverload = "overload"
)

// answerLocal answers from this node's shards. It also returns the
// question's analysed terms, so that routing scores peers without analysing
// the question again. With onToken, a generated
// answer's tokens go to it as written when the answer will stay on this node
// (mayLeave false, or retrieval makes it likely enough); streamed reports
// whether they did, in which case the text is final.
//
// It is long because retrieval, generation and confidence share one
// admission slot and the retrieval's state, and the order of those steps is
// what a stream's promise of one answer rests on.
func (n *Node) answerLocal(ctx context.Context, req api.QueryRequest, onToken func(string) error, mayLeave bool) (resp api.QueryResponse, streamed bool, terms []string, err error) {
	if !n.Ready() {
		return api.QueryResponse{}, false, nil, errorf(ErrNotReady, "the node is still loading its index")
	}
	// The question was validated once where it entered (the HTTP handler,
	// the QUIC handler): api.ValidateQuery is not run again here. Only the
	// zero k of an in-process caller gets its default.
	if req.K == 0 {
		req.K = defaultK
	}
	if req.Shard != "" {
		if err := shard.ValidName(req.Shard); err != nil {
			return api.QueryResponse{}, false, nil, errorf(ErrInvalid, "%v", err)
		}
	}
	start := n.cfg.Now()
	// Retrieval holds a slot until the answer is written, unless a model
	// writes it: generation has its own gate and may wait for it without
	// keeping the cores from other queries' retrieval.
	release, err := n.Admit(ctx, admission.Retrieval)
	if err != nil {
		return api.QueryResponse{}, false, nil, err
	}
	defer func() { release() }()
	r, err := n.Search(ctx, req.Question, req.Shard, req.K+trustDepth)
	if err != nil {
		return api.QueryResponse{}, false, nil, err
	}
	if err := ctx.Err(); err != nil {
		return api.QueryResponse{}, false, nil, err
	}
	cands, err := n.loadCandidates(r.Hits, req.K)
	if err != nil {
		return api.QueryResponse{}, false, nil, err
	}
	cands, conflicts := n.rankByTrust(req.Question, cands, req.K)
	withheld := false
	for _, c := range cands {
		if c.flagged {
			withheld = true
			n.metrics.Withheld.Inc()
		}
	}
	passages, cites := toPassages(cands)
	retrieved := n.cfg.Now()
	resp = api.QueryResponse{
		Citations: cites, Mode: models.ModeExtractive, Route: "local", Retrieval: r.Kind,
		Node: n.cfg.Name, RequestID: api.RequestID(ctx),
	}
	ptexts := make([][]string, min(len(passages), coverDepth))
	for i := range ptexts {
		ptexts[i] = n.analyzer.Terms(passages[i].Text)
	}
	forgiveTypos(&r, ptexts)
	rs := r.Signals()
	rs.PhraseCoverage, rs.HasPhraseCoverage = phraseCoverage(r.ordered, ptexts)
	minConf := n.Tunables().MinConfidence
	g := n.generator() // this query finishes on it even if SetGenerator swaps it
	// A stream shows one answer, so the route is chosen before any token
	// goes out, from what retrieval already says: the model's tokens are
	// streamed as written only when the answer will stay here, and are
	// otherwise held back until the route has settled on an answer.
	var live func(string) error
	if onToken != nil && g != nil {
		raw := confidence.BeforeAnswer(rs, confidence.DefaultModel())
		pre := n.recalibrate(raw, nil)
		if min(raw, pre) >= minConf && (!mayLeave || pre >= n.Tunables().EscalateBelow) {
			live = onToken
		}
	}
	ans, gen, first, err := n.generate(ctx, g, req.Question, passages, live, release)
	_, busy := admission.IsRefusal(err)
	switch {
	case err != nil && ctx.Err() != nil:
		return api.QueryResponse{}, false, nil, err
	case busy:
		// The model has more work queued than it can finish in time:
		// answer from the passages now rather than refuse the question.
		resp.Reasons = append(resp.Reasons, reasonOverload)
		resp.Degraded = true
		ans = n.answerer.Answer(r.ordered, passages)
	case err != nil:
		resp.Reasons = append(resp.Reasons, reasonModelUnavailable)
		ans = n.answerer.Answer(r.ordered, passages)
	case ans.Mode == "":
		ans = n.answerer.Answer(r.ordered, passages)
	default:
		resp.Mode, resp.Model, resp.InvalidCitations = ans.Mode, g.Model(), ans.InvalidCitations
	}
	streamed = live != nil && !first.IsZero()
	if !ans.Abstained {
		rs.AnswerCoverage, rs.HasAnswerCoverage = n.answerCoverage(r, ans.Text)
	}
	conf := confidence.Score(rs, ans.Signals, gen, confidence.DefaultModel())
	// Where to answer and whether to answer are two figures. The route
	// confidence, learned from central's answers, says whether asking
	// central would change the answer; the routing decision uses it
	// alone. Whether the passages support an answer is the model's
	// estimate, which the route confidence may lower (an edge that has
	// learned central usually answers better is less sure of its own),
	// never raise: on one-topic collections central settles on nearly
	// every escalation, and a raised support made edges answer what their
	// shards could not.
	raw := conf.Confidence
	conf.Confidence = min(raw, n.recalibrate(raw, conf.Signals))
	support := conf.Confidence
	if len(conflicts) > 0 && !ans.Abstained {
		// Passages that disagree make the answer less likely to be
		// supported; lowered before the decision, so that every answer
		// given stays at or above minConf.
		support *= conflictPenalty
	}
	resp.Answer, resp.Confidence, resp.Signals, resp.Abstained = ans.Text, support, conf.Signals, ans.Abstained
	switch {
	case !ans.Abstained && support < minConf && streamed:
		// The reader has the text already; taking it back would show
		// two answers. It stays, labelled with what the node now knows.
		resp.Reasons = append(resp.Reasons, reasonStreamedUnsure)
	case !ans.Abstained && support < minConf:
		resp.Abstained = true
		resp.Reasons = append(resp.Reasons, "low_confidence")
	}
	if resp.Abstained {
		resp.Answer = "Not in the local index: no passage answers this question well enough."
		if n.cfg.Role == "central" {
			// Central holds the full index: "local" would send the
			// reader looking for a better index that does not exist.
			resp.Answer = "Not in the index: no passage answers this question well enough."
		}
		// Every answer given is at or above minConf; an abstention is
		// never rated above one, whatever the signals said.
		resp.Confidence = min(resp.Confidence, math.Nextafter(minConf, 0))
	}
	for _, c := range ans.Cited {
		if c >= 1 && c <= len(resp.Citations) && !resp.Abstained {
			resp.Citations[c-1].Cited = true
		}
	}
	n.finishTrusted(&resp, conflicts, withheld)
	end := n.cfg.Now()
	resp.Timings = api.Timings{RetrieveMS: ms(retrieved.Sub(start)), AnswerMS: ms(end.Sub(retrieved)), TotalMS: ms(end.Sub(start))}
	n.metrics.Retrieval.Observe(retrieved.Sub(start).Seconds())
	n.metrics.Generation.Observe(end.Sub(retrieved).Seconds())
	if !first.IsZero() {
		resp.Timings.FirstTokenMS = ms(first.Sub(start))
	}
	return resp, streamed, r.terms, nil
}

// generate asks the generation model, when there is one and it is not known
// to be down. It returns a zero Answer when the node should answer
// extractively, and an error when the model failed (the caller falls back).
// A failure opens the model's breaker: the next queries answer extractively
// at once, and one probe after the cooldown finds out whether the model is
// back, so the node returns to generating by itself.
//
// Before waiting for the model's gate it calls releaseRetrieval, so that a
// query waiting for the model does not hold a retrieval slot. A full gate
// is an *admission.Refusal: the caller answers extractively.
func (n *Node) generate(ctx context.Context, gm models.Generator, question string, passages []models.Passage, onToken func(string) error, releaseRetrieval func()) (models.Answer, confidence.Generation, time.Time, error) {
	var first time.Time
	if gm == nil || len(passages) == 0 {
		return models.Answer{}, confidence.Generation{}, first, nil
	}
	if !n.genBreaker.Allow(n.cfg.Now()) {
		return models.Answer{}, confidence.Generation{}, first, fmt.Errorf("%w: generation model is down; retrying after the cooldown", models.ErrUnavailable)
	}
	releaseRetrieval()
	release, err := n.adm.Acquire(admission.WithClient(ctx, api.ClientFrom(ctx)), admission.Generation)
	if err != nil {
		if r, ok := admission.IsRefusal(err); ok {
			n.metrics.Shed.WithLabelValues(r.Class, r.Reason).Inc()
		}
		return models.Answer{}, confidence.Generation{}, first, err
	}
	defer release()
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
