package evalset

import (
	"cmp"
	"fmt"
	"slices"
)

// Partition splits docs across n edge nodes for a fleet evaluation. Documents
// that belong together stay together, so a question's evidence never spans
// nodes and a fleet run measures routing rather than a split that could not
// be answered:
//
//   - documents with the same non-empty title form one group (SQuAD's
//     paragraphs of one article);
//   - groups holding relevant documents (grade > 0) of the same query merge,
//     as do groups holding a query's context document and its relevant ones;
//   - groups are dealt largest first, ties to the group with the smallest
//     doc id, each to the partition with the fewest documents so far, ties to
//     the lowest index.
//
// The result maps every doc id to a partition in [0, n) and depends only on
// the contents of the inputs, not on their order. Greedy dealing keeps every
// two partitions within the largest group's size of each other; when there
// are fewer groups than partitions some partitions stay empty. Judgments and
// context ids naming documents outside docs are ignored.
func Partition(docs []Doc, queries []Query, qrels Qrels, n int) (assign map[string]int, err error) {
	if n < 1 {
		return nil, fmt.Errorf("partition count %d: need at least 1 partition", n)
	}
	index := make(map[string]int, len(docs))
	for i, d := range docs {
		if _, dup := index[d.ID]; dup {
			return nil, fmt.Errorf("partition: doc id %q appears twice; doc ids must be unique", d.ID)
		}
		index[d.ID] = i
	}
	uf := newUnionFind(len(docs))

	firstWithTitle := make(map[string]int)
	for i, d := range docs {
		if d.Title == "" {
			continue // an untitled doc says nothing about what it belongs to
		}
		if j, ok := firstWithTitle[d.Title]; ok {
			uf.union(i, j)
		} else {
			firstWithTitle[d.Title] = i
		}
	}

	// joinAll merges the groups of the given doc ids that are in docs.
	joinAll := func(ids []string) {
		first := -1
		for _, id := range ids {
			i, ok := index[id]
			if !ok {
				continue
			}
			if first < 0 {
				first = i
			} else {
				uf.union(first, i)
			}
		}
	}
	contextOf := make(map[string]string, len(queries))
	for _, q := range queries {
		if q.ContextID != "" {
			contextOf[q.ID] = q.ContextID
		}
	}
	for qid := range qrels {
		ids := make([]string, 0, len(qrels[qid])+1)
		for id := range qrels.Relevant(qid) {
			ids = append(ids, id)
		}
		if c, ok := contextOf[qid]; ok {
			ids = append(ids, c)
		}
		joinAll(ids)
	}

	type group struct {
		minID string
		docs  []int
	}
	byRoot := make(map[int]*group)
	var groups []*group
	for i, d := range docs {
		root := uf.find(i)
		g := byRoot[root]
		if g == nil {
			g = &group{minID: d.ID}
			byRoot[root] = g
			groups = append(groups, g)
		}
		g.docs = append(g.docs, i)
		g.minID = min(g.minID, d.ID)
	}
	slices.SortFunc(groups, func(a, b *group) int {
		if c := cmp.Compare(len(b.docs), len(a.docs)); c != 0 {
			return c
		}
		return cmp.Compare(a.minID, b.minID)
	})

	sizes := make([]int, n)
	assign = make(map[string]int, len(docs))
	for _, g := range groups {
		target := 0
		for p := 1; p < n; p++ {
			if sizes[p] < sizes[target] {
				target = p
			}
		}
		sizes[target] += len(g.docs)
		for _, i := range g.docs {
			assign[docs[i].ID] = target
		}
	}
	return assign, nil
}

// HomePartition returns the partition a fleet should send q to: the one
// holding the largest total grade of q's relevant documents, ties to the
// lowest index. A query without assigned relevant documents (SQuAD 2.0's
// unanswerable questions) goes to the partition of its context document if
// it has one; otherwise ok is false.
func HomePartition(q Query, qrels Qrels, assign map[string]int) (part int, ok bool) {
	mass := make(map[int]int)
	for id, g := range qrels.Relevant(q.ID) {
		if p, in := assign[id]; in {
			mass[p] += g
		}
	}
	if len(mass) == 0 {
		p, in := assign[q.ContextID]
		return p, in && q.ContextID != ""
	}
	part, best := -1, 0
	for p, m := range mass {
		if m > best || (m == best && p < part) {
			part, best = p, m
		}
	}
	return part, true
}

// unionFind tracks which documents have been merged into one group.
type unionFind struct{ parent, rank []int }

func newUnionFind(n int) *unionFind {
	u := &unionFind{parent: make([]int, n), rank: make([]int, n)}
	for i := range u.parent {
		u.parent[i] = i
	}
	return u
}

func (u *unionFind) find(i int) int {
	for u.parent[i] != i {
		u.parent[i] = u.parent[u.parent[i]] // path halving keeps chains short
		i = u.parent[i]
	}
	return i
}

func (u *unionFind) union(a, b int) {
	ra, rb := u.find(a), u.find(b)
	switch {
	case ra == rb:
	case u.rank[ra] < u.rank[rb]:
		u.parent[ra] = rb
	case u.rank[ra] > u.rank[rb]:
		u.parent[rb] = ra
	default:
		u.parent[rb] = ra
		u.rank[ra]++
	}
}
