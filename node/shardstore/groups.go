package shardstore

import (
	"context"
	"maps"
	"strings"

	"github.com/dgraph-io/badger/v4"
)

// GroupsKey is the document metadata entry that restricts a document to
// groups: their names, sorted, comma-separated. It lives in the metadata so
// that every path a document travels (ingest, publish, fleet sync) carries
// it unchanged; the node refuses it in metadata a client sends.
const GroupsKey = "edgerag:groups"

// Restricted documents are also listed apart, so that start-up learns them
// without reading every document record:
//
//	g/<shard> 0x00 <doc id> → the document's groups (as in GroupsKey)
const prefixGroups = "g/"

// docGroups returns a document's groups entry, "" for none.
func docGroups(m DocMeta) string { return m.Metadata[GroupsKey] }

// Restricted returns the groups of every restricted document of a store
// shard (doc id → comma-separated groups), or nil when it has none. The map
// is never modified after it is returned: a write that changes it installs
// a new one.
func (s *Store) Restricted(shardName string) map[string]string {
	s.aclMu.RLock()
	defer s.aclMu.RUnlock()
	return s.acl[shardName]
}

// loadGroups reads the g/ index into memory; Load calls it.
func (s *Store) loadGroups(ctx context.Context, txn *badger.Txn) error {
	acl := make(map[string]map[string]string)
	err := iterate(ctx, txn, prefixGroups, func(k, v []byte) error {
		sh, id, ok := splitDocKey(k)
		if !ok {
			return errCorrupt
		}
		if acl[sh] == nil {
			acl[sh] = make(map[string]string)
		}
		acl[sh][id] = string(v)
		return nil
	})
	if err != nil {
		return err
	}
	s.aclMu.Lock()
	s.acl = acl
	s.aclMu.Unlock()
	return nil
}

// aclChange collects one write's changes to a shard's restricted documents.
type aclChange struct {
	set map[string]string // doc id → groups; "" removes
}

func (c *aclChange) put(id, groups string) {
	if c.set == nil {
		c.set = make(map[string]string)
	}
	c.set[id] = groups
}

// stage writes the g/ entries of a write.
func (c *aclChange) stage(txn *badger.Txn, shardName string) error {
	for id, g := range c.set {
		k := docKey(prefixGroups, shardName, id)
		var err error
		if g == "" {
			err = txn.Delete(k)
		} else {
			err = txn.Set(k, []byte(g))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// commit installs a new map for the shard once the write is durable. Only
// documents that are or were restricted cost anything.
func (s *Store) commitACL(shardName string, c aclChange) {
	s.aclMu.Lock()
	defer s.aclMu.Unlock()
	old := s.acl[shardName]
	changed := false
	for id, g := range c.set {
		if old[id] != g {
			changed = true
			break
		}
	}
	if !changed {
		return
	}
	next := maps.Clone(old)
	if next == nil {
		next = make(map[string]string)
	}
	for id, g := range c.set {
		if g == "" {
			delete(next, id)
		} else {
			next[id] = g
		}
	}
	if s.acl == nil {
		s.acl = make(map[string]map[string]string)
	}
	if len(next) == 0 {
		delete(s.acl, shardName)
	} else {
		s.acl[shardName] = next
	}
}

// SplitGroups splits a GroupsKey value into its groups.
func SplitGroups(v string) []string {
	if v == "" {
		return nil
	}
	return strings.Split(v, ",")
}
