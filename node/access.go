package node

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"strings"

	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/node/auth"
	"github.com/edgerag/edgerag/node/dense"
	"github.com/edgerag/edgerag/node/shardstore"
)

// Document access control. A document ingested with groups is seen only by
// principals sharing one of them (auth.CanSee); the check runs inside
// retrieval, per candidate chunk, before ranking, so a forbidden chunk is
// never scored into the top k, never becomes a passage, a snippet, a
// citation or part of an answer. What it does not hide: the term
// statistics. Document frequencies, the shard's average length and the
// fleet statistics count restricted chunks too, so the idf of a word, and
// with it scores and confidence, can hint that restricted documents use it;
// so can the term filters gossiped to peers. Per-view statistics would cost
// a second index per group set.

// view is what a query may see, from the principal its context carries.
type view struct {
	groups     []string
	unverified bool // a forwarded question without the asker's groups
}

func viewOf(ctx context.Context) view {
	p, _ := auth.FromContext(ctx)
	return view{groups: p.Groups, unverified: p.Unverified}
}

// AuthKV is the store's key space for tokens and the audit log.
func (n *Node) AuthKV() *shardstore.SyncKV { return n.store.AuthKV() }

// keep returns the filter of a shard's chunks for v: nil when the shard
// holds no restricted document (nothing to check), else a function of a
// slot that the caller calls under the shard's read lock.
func (n *Node) keep(v view, s *shardState, name string) (func(slot uint32) bool, error) {
	store := name
	if s.store != "" {
		store = s.store
	}
	acl := n.store.Restricted(store)
	if len(acl) == 0 {
		return nil, nil
	}
	if v.unverified {
		return nil, api.Errorf(http.StatusForbidden, api.CodeForbidden,
			"shard %q holds restricted documents and the question came without the asker's groups; upgrade the asking node", name)
	}
	// Each restricted document's verdict is decided once per query.
	verdict := make(map[string]bool, 8)
	ix := s.ix
	return func(slot uint32) bool {
		doc := ix.Slot(slot).DocID
		g, ok := acl[doc]
		if !ok {
			return true
		}
		see, done := verdict[doc]
		if !done {
			see = auth.CanSee(v.groups, shardstore.SplitGroups(g))
			verdict[doc] = see
		}
		return see
	}, nil
}

// docGroups checks the groups a document is ingested with and records
// them in its metadata under shardstore.GroupsKey. A principal that is not
// admin may only give a document groups it holds itself, so an ingest
// token cannot hide documents from, or reach, groups it is not in.
func docGroups(ctx context.Context, d *api.Document) error {
	if _, ok := d.Metadata[shardstore.GroupsKey]; ok {
		return fmt.Errorf("metadata key %q is reserved: set \"groups\" instead", shardstore.GroupsKey)
	}
	groups, err := auth.NormalizeGroups(d.Groups)
	if err != nil {
		return err
	}
	if len(groups) == 0 {
		return nil
	}
	if p, ok := auth.FromContext(ctx); ok && p.Role < auth.RoleAdmin && !auth.Subset(groups, p.Groups) {
		return api.Errorf(http.StatusForbidden, api.CodeForbidden, "groups %s: token %q may only give documents groups it holds (%s)",
			strings.Join(groups, ","), p.Name, strings.Join(p.Groups, ","))
	}
	md := maps.Clone(d.Metadata)
	if md == nil {
		md = make(map[string]string, 1)
	}
	md[shardstore.GroupsKey] = strings.Join(groups, ",")
	d.Metadata = md
	return nil
}

// keepDense drops the dense hits v may not see. Dense search ranks its own
// candidates without the filter, so a hybrid search fuses fewer than depth
// dense candidates for a principal with restricted documents around; none
// of the forbidden ones reach fusion.
func (n *Node) keepDense(v view, hits []dense.Hit) []dense.Hit {
	byShard := make(map[string][]int)
	for i, h := range hits {
		byShard[h.Shard] = append(byShard[h.Shard], i)
	}
	drop := make([]bool, len(hits))
	for name, idx := range byShard {
		n.mu.RLock()
		s := n.shards[name]
		n.mu.RUnlock()
		if s == nil {
			continue // gone since the search: slotHit skips it
		}
		s.mu.RLock()
		keep, err := n.keep(v, s, name)
		for _, i := range idx {
			slot := hits[i].Slot
			switch {
			case err != nil:
				drop[i] = true
			case keep != nil:
				drop[i] = int(slot) >= s.ix.Live()+s.ix.Dead() || !keep(slot)
			}
		}
		s.mu.RUnlock()
	}
	out := hits[:0]
	for i, h := range hits {
		if !drop[i] {
			out = append(out, h)
		}
	}
	return out
}
