// Package lexical is the in-memory BM25 index of a node: a term dictionary
// shared by all shards and, per shard, posting lists over chunk slots. It does
// no I/O; node/shardstore persists what it needs to be rebuilt, and the node
// package keeps both in step. Only the node and its tests import it.
package lexical

import "sync"

// Dict maps analysed terms to dense ids shared by every shard, so that term
// vectors can be stored as small integers and posting lists indexed by slice
// position. It is safe for concurrent use.
type Dict struct {
	mu  sync.RWMutex
	ids map[string]uint32
}

// NewDict returns an empty dictionary.
func NewDict() *Dict { return &Dict{ids: make(map[string]uint32)} }

// Len returns the number of terms.
func (d *Dict) Len() int {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return len(d.ids)
}

// Lookup returns the id of term, if it has one.
func (d *Dict) Lookup(term string) (uint32, bool) {
	d.mu.RLock()
	id, ok := d.ids[term]
	d.mu.RUnlock()
	return id, ok
}

// Set records a known mapping, as loaded from storage.
func (d *Dict) Set(term string, id uint32) {
	d.mu.Lock()
	d.ids[term] = id
	d.mu.Unlock()
}

// Assign returns the id of every term, giving new terms the next free ids.
// The terms that were new are appended to fresh so the caller can persist
// them; if persisting fails the caller must Forget them, or ids would be
// handed out that storage never heard of.
func (d *Dict) Assign(terms []string, ids []uint32, fresh []string) ([]uint32, []string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, t := range terms {
		id, ok := d.ids[t]
		if !ok {
			id = uint32(len(d.ids))
			d.ids[t] = id
			fresh = append(fresh, t)
		}
		ids = append(ids, id)
	}
	return ids, fresh
}

// Forget removes terms that Assign added but that were never persisted. It
// must be called before any other Assign, with the terms in the order Assign
// returned them, so that ids stay dense.
func (d *Dict) Forget(fresh []string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, t := range fresh {
		delete(d.ids, t)
	}
}

// Each calls fn for every term. fn must not call back into the dictionary.
func (d *Dict) Each(fn func(term string, id uint32)) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	for t, id := range d.ids {
		fn(t, id)
	}
}
