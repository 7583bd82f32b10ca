package evalset

import (
	"cmp"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Ranked is one retrieved document with the score the retriever gave it.
type Ranked struct {
	DocID string
	Score float64
}

// compareRanked orders by score, highest first, then by doc id. score.py sorts
// every run this way after reading it, so ranking ties by doc id here is what
// makes our numbers equal to the reference scorer's whatever order the
// retriever returned tied documents in. NaN scores sort last.
func compareRanked(a, b Ranked) int {
	an, bn := math.IsNaN(a.Score), math.IsNaN(b.Score)
	switch {
	case an != bn:
		if an {
			return 1
		}
		return -1
	case !an && a.Score != b.Score:
		return -cmp.Compare(a.Score, b.Score)
	}
	return strings.Compare(a.DocID, b.DocID)
}

// ordered returns ranking in compareRanked order, copying only when the input
// is not already in that order so callers' slices are never reordered.
func ordered(ranking []Ranked) []Ranked {
	if slices.IsSortedFunc(ranking, compareRanked) {
		return ranking
	}
	out := slices.Clone(ranking)
	slices.SortStableFunc(out, compareRanked)
	return out
}

// NDCG returns nDCG@k as trec_eval's ndcg_cut computes it: gain is the grade,
// discount is log2(rank+1), and the ideal ranking is built from every judged
// relevant document, not only the retrieved ones. rel holds the query's
// judgments; grades ≤ 0 contribute nothing. It is 0 when nothing is relevant.
func NDCG(ranking []Ranked, rel map[string]int, k int) float64 {
	return ndcg(ordered(ranking), rel, k)
}

func ndcg(ranking []Ranked, rel map[string]int, k int) float64 {
	var dcg float64
	for i, r := range top(ranking, k) {
		if g := rel[r.DocID]; g > 0 {
			dcg += float64(g) / math.Log2(float64(i+2))
		}
	}
	var ideal []int
	for _, g := range rel {
		if g > 0 {
			ideal = append(ideal, g)
		}
	}
	slices.Sort(ideal)
	slices.Reverse(ideal)
	var idcg float64
	for i, g := range ideal[:min(len(ideal), max(k, 0))] {
		idcg += float64(g) / math.Log2(float64(i+2))
	}
	if idcg == 0 {
		return 0
	}
	return dcg / idcg
}

// Recall returns the fraction of the query's relevant documents (grade > 0)
// found in the top k, or 0 when nothing is relevant.
func Recall(ranking []Ranked, rel map[string]int, k int) float64 {
	return recall(ordered(ranking), rel, k)
}

func recall(ranking []Ranked, rel map[string]int, k int) float64 {
	relevant := 0
	for _, g := range rel {
		if g > 0 {
			relevant++
		}
	}
	if relevant == 0 {
		return 0
	}
	found := make(map[string]bool)
	for _, r := range top(ranking, k) {
		if rel[r.DocID] > 0 {
			found[r.DocID] = true // a doc listed twice is still found once
		}
	}
	return float64(len(found)) / float64(relevant)
}

// RR returns the reciprocal rank of the first relevant document within the
// top k, or 0 if none is there. Its mean over queries is MRR@k.
func RR(ranking []Ranked, rel map[string]int, k int) float64 {
	return rr(ordered(ranking), rel, k)
}

func rr(ranking []Ranked, rel map[string]int, k int) float64 {
	for i, r := range top(ranking, k) {
		if rel[r.DocID] > 0 {
			return 1 / float64(i+1)
		}
	}
	return 0
}

func top(ranking []Ranked, k int) []Ranked {
	return ranking[:min(len(ranking), max(k, 0))]
}

// Metrics are means over the scored queries: those with at least one
// relevant judgment, as in score.py. Recall1 and Recall5 are extras score.py
// also prints.
type Metrics struct {
	NDCG10, Recall10, Recall100, MRR10 float64
	Recall1, Recall5                   float64
	Queries                            int // how many queries were scored
}

// Score averages the metrics over every query in qrels that has a relevant
// document. A scored query missing from runs counts as 0 on every metric, so
// a run that skips hard queries cannot look better; runs for unjudged queries
// are ignored.
func Score(runs map[string][]Ranked, qrels Qrels) Metrics {
	var judged []string
	for qid, rel := range qrels {
		for _, g := range rel {
			if g > 0 {
				judged = append(judged, qid)
				break
			}
		}
	}
	// A fixed order makes the floating-point sums, and so the printed
	// numbers, identical from run to run.
	slices.Sort(judged)
	var m Metrics
	for _, qid := range judged {
		rel, ranking := qrels[qid], ordered(runs[qid])
		m.NDCG10 += ndcg(ranking, rel, 10)
		m.Recall1 += recall(ranking, rel, 1)
		m.Recall5 += recall(ranking, rel, 5)
		m.Recall10 += recall(ranking, rel, 10)
		m.Recall100 += recall(ranking, rel, 100)
		m.MRR10 += rr(ranking, rel, 10)
	}
	m.Queries = len(judged)
	if m.Queries > 0 {
		n := float64(m.Queries)
		m.NDCG10 /= n
		m.Recall1 /= n
		m.Recall5 /= n
		m.Recall10 /= n
		m.Recall100 /= n
		m.MRR10 /= n
	}
	return m
}

// WriteTREC writes ranking as TREC run lines "qid Q0 docid rank score tag",
// ranks from 1, in the order score.py and trec_eval would rank them (score
// descending, ties by doc id), so the rank column agrees with the scores.
// Scores are written in the shortest form that reads back to the same
// float64, which keeps ties tied in the file. Ids and tag must be non-empty
// and free of white space, since the format is white-space separated.
func WriteTREC(w io.Writer, qid string, ranking []Ranked, tag string) error {
	if err := checkToken("query id", qid); err != nil {
		return err
	}
	if err := checkToken("run tag", tag); err != nil {
		return err
	}
	var buf []byte
	for i, r := range ordered(ranking) {
		if err := checkToken("doc id", r.DocID); err != nil {
			return fmt.Errorf("query %q rank %d: %w", qid, i+1, err)
		}
		if math.IsNaN(r.Score) || math.IsInf(r.Score, 0) {
			return fmt.Errorf("query %q doc %q: score %v is not a finite number; fix the retriever's scoring", qid, r.DocID, r.Score)
		}
		buf = append(buf, qid...)
		buf = append(buf, " Q0 "...)
		buf = append(buf, r.DocID...)
		buf = append(buf, ' ')
		buf = strconv.AppendInt(buf, int64(i+1), 10)
		buf = append(buf, ' ')
		buf = strconv.AppendFloat(buf, r.Score, 'g', -1, 64)
		buf = append(buf, ' ')
		buf = append(buf, tag...)
		buf = append(buf, '\n')
	}
	if _, err := w.Write(buf); err != nil {
		return fmt.Errorf("writing TREC run for query %q: %w", qid, err)
	}
	return nil
}

func checkToken(what, s string) error {
	if s == "" {
		return fmt.Errorf("%s is empty; TREC run fields must be non-empty", what)
	}
	if i := strings.IndexFunc(s, unicode.IsSpace); i >= 0 {
		return fmt.Errorf("%s %q contains white space, which would split the TREC line; use an id without spaces", what, s)
	}
	return nil
}

// Percentile returns the p-th percentile (p in percent, 0–100) of sorted,
// which must be in ascending order, by the nearest-rank method: the smallest
// value such that at least p% of the samples are ≤ it, i.e. the element at
// 1-based rank ceil(p/100·n). It always returns an observed sample, never an
// interpolation, so a p99 of 100 samples is the 99th-fastest request. p ≤ 0
// (or NaN) gives the minimum, p ≥ 100 the maximum, and an empty slice gives 0.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	switch {
	case n == 0:
		return 0
	case !(p > 0): // also catches NaN
		return sorted[0]
	case p >= 100:
		return sorted[n-1]
	}
	// The small slack keeps p=95, n=20 at rank 19 even if p·n/100 comes out a
	// hair above the integer it should be.
	rank := int(math.Ceil(p*float64(n)/100 - 1e-9))
	return sorted[min(max(rank, 1), n)-1]
}
