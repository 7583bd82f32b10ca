package evalset

import (
	"cmp"
	"math/rand/v2"
	"slices"
)

// HoldOut is the abstention construction: a node indexes part of a
// collection and is asked questions about both parts. A node that can be
// trusted answers the questions about what it holds and abstains on the
// others.
type HoldOut struct {
	// Indexed holds the ids of the documents to index.
	Indexed map[string]bool
	// Answerable are questions whose evidence is indexed: a QA question
	// whose context document is indexed (and that has an answer), or a
	// retrieval question with at least one relevant document indexed.
	Answerable []Query
	// LeftOut are questions none of whose evidence is indexed.
	LeftOut []Query
	// Impossible are SQuAD 2.0 questions written against an indexed
	// document that has no answer to them; reported on their own, since
	// abstaining on them needs reading, not retrieval.
	Impossible []Query
	// ByQuestion is true for the QA construction (articles held out), false
	// for the retrieval one (judged questions held out).
	QA bool
}

// SplitHoldOut builds the construction deterministically from seed.
//
// QA sets (questions carry a context document): documents sharing a title
// form one article; half of the articles, drawn with seed, are indexed.
//
// Retrieval sets (only qrels): half of the judged questions, drawn with
// seed, are held out and every document relevant to one of them is left
// out; all other documents are indexed. A judged question is then
// answerable when at least one of its relevant documents is indexed, and
// left out otherwise — which takes in a few of the first half whose
// relevant documents were all shared with held-out questions.
//
// Documents and questions are returned in input order; only the choice of
// which depends on seed.
func SplitHoldOut(docs []Doc, queries []Query, qrels Qrels, seed uint64) HoldOut {
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	qa := slices.ContainsFunc(queries, func(q Query) bool { return q.ContextID != "" })
	h := HoldOut{Indexed: make(map[string]bool, len(docs)/2+1), QA: qa}
	if qa {
		splitArticles(&h, docs, queries, rng)
		return h
	}
	splitJudged(&h, docs, queries, qrels, rng)
	return h
}

func splitArticles(h *HoldOut, docs []Doc, queries []Query, rng *rand.Rand) {
	// An article is named by its title, or by the doc id when untitled.
	article := func(d Doc) string {
		if d.Title != "" {
			return "t:" + d.Title
		}
		return "d:" + d.ID
	}
	var names []string
	seen := make(map[string]bool)
	for _, d := range docs {
		if a := article(d); !seen[a] {
			seen[a] = true
			names = append(names, a)
		}
	}
	slices.Sort(names) // the draw must not depend on file order
	rng.Shuffle(len(names), func(i, j int) { names[i], names[j] = names[j], names[i] })
	keep := make(map[string]bool, len(names)/2)
	for _, a := range names[:len(names)/2] {
		keep[a] = true
	}
	for _, d := range docs {
		if keep[article(d)] {
			h.Indexed[d.ID] = true
		}
	}
	for _, q := range queries {
		if q.ContextID == "" {
			continue
		}
		switch {
		case !h.Indexed[q.ContextID]:
			h.LeftOut = append(h.LeftOut, q)
		case q.Impossible || len(q.Answers) == 0:
			h.Impossible = append(h.Impossible, q)
		default:
			h.Answerable = append(h.Answerable, q)
		}
	}
}

func splitJudged(h *HoldOut, docs []Doc, queries []Query, qrels Qrels, rng *rand.Rand) {
	var judged []string
	for _, q := range queries {
		if len(qrels.Relevant(q.ID)) > 0 {
			judged = append(judged, q.ID)
		}
	}
	slices.SortFunc(judged, cmp.Compare)
	rng.Shuffle(len(judged), func(i, j int) { judged[i], judged[j] = judged[j], judged[i] })
	out := make(map[string]bool)
	for _, qid := range judged[:len(judged)/2] {
		for d := range qrels.Relevant(qid) {
			out[d] = true
		}
	}
	for _, d := range docs {
		if !out[d.ID] {
			h.Indexed[d.ID] = true
		}
	}
	for _, q := range queries {
		rel := qrels.Relevant(q.ID)
		if len(rel) == 0 {
			continue
		}
		held := false
		for d := range rel {
			if h.Indexed[d] {
				held = true
				break
			}
		}
		if held {
			h.Answerable = append(h.Answerable, q)
		} else {
			h.LeftOut = append(h.LeftOut, q)
		}
	}
}

// Sample returns at most n of qs drawn with seed, in their input order; n ≤ 0
// returns qs unchanged.
func Sample(qs []Query, n int, seed uint64) []Query {
	if n <= 0 || n >= len(qs) {
		return qs
	}
	rng := rand.New(rand.NewPCG(seed, 0x2545f4914f6cdd1d))
	idx := rng.Perm(len(qs))[:n]
	slices.Sort(idx)
	out := make([]Query, n)
	for i, j := range idx {
		out[i] = qs[j]
	}
	return out
}

// AUROC is the probability that a random positive scores above a random
// negative, ties counting one half: how well a score ranks the questions a
// node can answer above those it cannot, whatever threshold is chosen.
// It is 0.5 when either side is empty.
func AUROC(pos, neg []float64) float64 {
	if len(pos) == 0 || len(neg) == 0 {
		return 0.5
	}
	type s struct {
		v   float64
		pos bool
	}
	all := make([]s, 0, len(pos)+len(neg))
	for _, v := range pos {
		all = append(all, s{v, true})
	}
	for _, v := range neg {
		all = append(all, s{v, false})
	}
	slices.SortFunc(all, func(a, b s) int { return cmp.Compare(a.v, b.v) })
	// Mann-Whitney U with mid-ranks for ties.
	var rankSum float64
	for i := 0; i < len(all); {
		j := i
		for j < len(all) && all[j].v == all[i].v {
			j++
		}
		mid := float64(i+j+1) / 2 // 1-based mean rank of the tie block
		for k := i; k < j; k++ {
			if all[k].pos {
				rankSum += mid
			}
		}
		i = j
	}
	np, nn := float64(len(pos)), float64(len(neg))
	return (rankSum - np*(np+1)/2) / (np * nn)
}
