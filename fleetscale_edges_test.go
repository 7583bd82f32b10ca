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
// nothing but the memory a thousand copies would take.
type baseKV struct {
	vals map[string][]byte
	keys []string // sorted
}

func newBase(vals map[string][]byte) *baseKV {
	keys := slices.Sorted(maps.Keys(vals))
	return &baseKV{vals: vals, keys: keys}
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
		kv.own[s.Key] = s.Value
		delete(kv.gone, s.Key)
	}
	return nil
}

func (kv *memKV) Scan(ctx context.Context, prefix string, keysOnly bool, fn func(key string, value []byte) error) error {
	kv.mu.Lock()
	var keys []string
	i, _ := slices.BinarySearch(kv.base.keys, prefix)
	for ; i < len(kv.base.keys) && strings.HasPrefix(kv.base.keys[i], prefix); i++ {
		if k := kv.base.keys[i]; !kv.gone[k] {
			if _, mine := kv.own[k]; !mine {
				keys = append(keys, k)
			}
		}
	}
	for k := range kv.own {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	vals := make([][]byte, len(keys))
	if !keysOnly {
		for i, k := range keys {
			vals[i] = kv.getLocked(k)
		}
	}
	kv.mu.Unlock()
	for i, k := range keys {
		if err := fn(k, vals[i]); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return nil
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

// byteCounter counts the payload bytes an edge's calls send and receive.
type byteCounter struct {
	fleet.Caller
	sent, recv atomic.Int64
}

func (c *byteCounter) Call(ctx context.Context, addr, name string, typ wire.Type, payload []byte) ([]byte, error) {
	b, err := c.Caller.Call(ctx, addr, name, typ, payload)
	c.sent.Add(int64(len(payload)))
	c.recv.Add(int64(len(b)))
	return b, err
}
