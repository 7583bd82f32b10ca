package node

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"sync"

	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/node/auth"
	"github.com/edgerag/edgerag/node/shard"
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
	auth.Principal
}

func viewOf(ctx context.Context) view {
	p, _ := auth.FromContext(ctx)
	return view{p}
}

// AuthKV is the store's key space for tokens and the audit log.
func (n *Node) AuthKV() *shardstore.SyncKV { return n.store.AuthKV() }

// SyncManaged reports whether fleet sync delivers the shard.
func (n *Node) SyncManaged(name string) bool { return n.syncManaged(name) }

// Audit is the node's audit log; nil before Open.
func (n *Node) Audit() *auth.Audit { return n.audit }

// accessFilter returns the filter of the chunks the principal in ctx may
// see, combined with extra (a caller's own filter): nil when no shard
// searched holds a restricted document, so that the common case costs
// nothing per chunk.
func (n *Node) accessFilter(ctx context.Context, shardName string, extra ChunkFilter) (ChunkFilter, error) {
	v := viewOf(ctx)
	acls := make(map[string]map[string]string)
	n.mu.RLock()
	for name, s := range n.shards {
		if (shardName != "" && name != shardName) || !v.InScope(name) {
			continue
		}
		store := name
		s.mu.RLock() // a version switch replaces s.store under it
		if s.store != "" {
			store = s.store
		}
		s.mu.RUnlock()
		if acl := n.store.Restricted(store); len(acl) > 0 {
			acls[name] = acl
		}
	}
	n.mu.RUnlock()
	if len(acls) == 0 && !v.Scoped {
		return extra, nil
	}
	if v.Unverified && len(acls) > 0 {
		return nil, errorf(ErrForbidden,
			"this node holds restricted documents and the question came without the asker's groups; upgrade the asking node")
	}
	// Each restricted document's verdict is decided once per query; the
	// filter runs under one shard's read lock at a time, but shards may be
	// searched concurrently, hence the lock.
	var mu sync.Mutex
	verdict := make(map[[2]string]bool, 8)
	return func(shardName, docID string, chunk shard.ChunkID) bool {
		if extra != nil && !extra(shardName, docID, chunk) || !v.InScope(shardName) {
			return false
		}
		g, ok := acls[shardName][docID]
		if !ok {
			return true
		}
		key := [2]string{shardName, docID}
		mu.Lock()
		defer mu.Unlock()
		see, done := verdict[key]
		if !done {
			see = auth.CanSee(v.Groups, shardstore.SplitGroups(g))
			verdict[key] = see
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
		return errorf(ErrForbidden, "groups %s: token %q may only give documents groups it holds (%s)",
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
