package main

import (
	"context"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/edgerag/edgerag/node"
	"github.com/edgerag/edgerag/node/shard"
	"github.com/edgerag/edgerag/sync/fleet"
	"github.com/edgerag/edgerag/sync/wire"
)

// Simulated edges for the fleet-scale benchmark: a real fleet.Syncer each,
// over its own QUIC client, applying to a store in memory. A thousand real
// edge nodes (Badger, an index each) do not fit one 2-core machine, and
// what the benchmark measures is central's side; the syncer does all the
// network work a real edge does (poll, verify the root, fetch and verify the
// pages and records it lacks, report), and only the local indexing is left
// out: Stage does not read the version's documents.

// baseKV is the store every simulated edge starts from, shared read-only:
// the records, pages and manifest of the version they all hold, as one real
// sync left them. Records are content-addressed, so sharing them changes
// nothing but the memory a thousand copies would take; for the same reason
// the records and pages edges write later are kept once (shared), however
// many edges write them.
type baseKV struct {
	vals map[string][]byte
	keys []string // sorted

	mu     sync.Mutex
	shared map[string][]byte // r/ values written by edges since
}

func newBase(vals map[string][]byte) *baseKV {
	keys := slices.Sorted(maps.Keys(vals))
	return &baseKV{vals: vals, keys: keys, shared: map[string][]byte{}}
}

// intern returns the one copy of a content-addressed value.
func (b *baseKV) intern(key string, v []byte) []byte {
	if !strings.HasPrefix(key, "r/") {
		return v
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if have, ok := b.shared[key]; ok {
		return have
	}
	b.shared[key] = v
	return v
}

// memKV is one edge's store: its base, what it wrote since, and what it
// deleted from the base.
type memKV struct {
	base *baseKV
	mu   sync.Mutex
	own  map[string][]byte
	gone map[string]bool
}

func newMemKV(base *baseKV) *memKV {
	return &memKV{base: base, own: map[string][]byte{}, gone: map[string]bool{}}
}

func (kv *memKV) getLocked(key string) []byte {
	if v, ok := kv.own[key]; ok {
		return v
	}
	if kv.gone[key] {
		return nil
	}
	return kv.base.vals[key]
}

func (kv *memKV) Get(key string) ([]byte, error) {
	kv.mu.Lock()
	defer kv.mu.Unlock()
	if v := kv.getLocked(key); v != nil {
		return v, nil
	}
	return nil, shard.ErrNotFound
}

func (kv *memKV) GetMany(keys []string) ([][]byte, error) {
	kv.mu.Lock()
	defer kv.mu.Unlock()
	out := make([][]byte, len(keys))
	for i, k := range keys {
		out[i] = kv.getLocked(k)
	}
	return out, nil
}

func (kv *memKV) Update(_ context.Context, sets []shard.KV, deletes []string) error {
	kv.mu.Lock()
	defer kv.mu.Unlock()
	for _, d := range deletes {
		delete(kv.own, d)
		if _, ok := kv.base.vals[d]; ok {
			kv.gone[d] = true
		}
	}
	for _, s := range sets {
		kv.own[s.Key] = kv.base.intern(s.Key, s.Value)
		delete(kv.gone, s.Key)
	}
	return nil
}

// Scan walks the shared base's keys in place, merged with this edge's own
// (a delta's worth, copied): a copy of the base's 100k keys per scan, times
// a thousand edges, was most of the simulator's memory. Keys deleted while
// the scan runs are skipped.
func (kv *memKV) Scan(ctx context.Context, prefix string, keysOnly bool, fn func(key string, value []byte) error) error {
	kv.mu.Lock()
	var own []string
	for k := range kv.own {
		if strings.HasPrefix(k, prefix) {
			own = append(own, k)
		}
	}
	kv.mu.Unlock()
	slices.Sort(own)
	base := kv.base.keys
	i, _ := slices.BinarySearch(base, prefix)
	for j := 0; ; {
		inBase := i < len(base) && strings.HasPrefix(base[i], prefix)
		var k string
		switch {
		case inBase && (j == len(own) || base[i] < own[j]):
			k = base[i]
			i++
		case j < len(own):
			k = own[j]
			j++
			if inBase && base[i] == k {
				i++
			}
		default:
			return nil
		}
		kv.mu.Lock()
		v := kv.getLocked(k)
		kv.mu.Unlock()
		if v == nil {
			continue
		}
		if keysOnly {
			v = nil
		}
		if err := fn(k, v); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// snapshot returns everything the store holds, for the next base.
func (kv *memKV) snapshot() map[string][]byte {
	kv.mu.Lock()
	defer kv.mu.Unlock()
	out := make(map[string][]byte, len(kv.base.vals)+len(kv.own))
	for k, v := range kv.base.vals {
		if !kv.gone[k] {
			out[k] = v
		}
	}
	maps.Copy(out, kv.own)
	return out
}

// memTarget is a simulated edge's fleet.Target.
type memTarget struct {
	kv      *memKV
	mu      sync.Mutex
	ptrs    map[string]fleet.Pointer
	applied atomic.Uint64 // version of the benchmark's shard in force
}

func (t *memTarget) KV() fleet.KV     { return t.kv }
func (t *memTarget) Analyzer() string { return node.AnalyzerName }

func (t *memTarget) Pointer(name string) (fleet.Pointer, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.ptrs[name], nil
}

func (t *memTarget) Stage(context.Context, string, uint64, func(yield func(fleet.Doc) error) error) error {
	return nil
}

func (t *memTarget) Activate(ctx context.Context, name string, v uint64, sets []shard.KV, deletes []string) error {
	if err := t.kv.Update(ctx, sets, deletes); err != nil {
		return err
	}
	t.mu.Lock()
	p := t.ptrs[name]
	t.ptrs[name] = fleet.Pointer{Current: v, Previous: p.Current, Highest: max(p.Highest, v)}
	t.mu.Unlock()
	t.applied.Store(v)
	return nil
}

// byteCounter counts the payload bytes an edge's calls send and receive,
// and the calls that failed (each one the edge's group then tried on the
// other replica). It also holds the simulator's apply gate: see applySlots.
type byteCounter struct {
	fleet.Caller
	sent, recv atomic.Int64
	fails      atomic.Int64
	polls      atomic.Int64
	slots      applySlots // nil: no gate (the seed edge)
	// gate guards holding; a hedged call asks both replicas at once, and
	// the pair must take one slot, not two.
	gate    sync.Mutex
	holding bool
}

func (c *byteCounter) Call(ctx context.Context, addr, name string, typ wire.Type, payload []byte) ([]byte, error) {
	if typ == wire.TypeManifest && c.slots != nil {
		c.gate.Lock()
		if !c.holding {
			select {
			case c.slots <- struct{}{}:
				c.holding = true
			case <-ctx.Done():
				c.gate.Unlock()
				return nil, ctx.Err()
			}
		}
		c.gate.Unlock()
	}
	if typ == wire.TypeSyncVersions {
		c.polls.Add(1)
	}
	b, err := c.Caller.Call(ctx, addr, name, typ, payload)
	c.sent.Add(int64(len(payload)))
	c.recv.Add(int64(len(b)))
	if err != nil { // a hedge the other replica won included
		c.fails.Add(1)
	}
	return b, err
}

// release gives back the apply slot the edge took in its pass, if any.
func (c *byteCounter) release() {
	c.gate.Lock()
	defer c.gate.Unlock()
	if c.holding {
		c.holding = false
		<-c.slots
	}
}

// applySlots bounds how many simulated edges apply a version at once. A
// real edge has its own machine for the maps an apply builds over the
// shard; a thousand of them in one process had 21 GB at once. An edge
// takes a slot when its pass asks for a manifest (a version to fetch), so
// idle polls never wait, and gives it back when the pass ends. The time
// until all applied then includes the simulator's queueing; central's CPU
// per edge, which the benchmark is about, does not depend on it.
type applySlots chan struct{}
