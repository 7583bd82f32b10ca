package objstore

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/edgerag/edgerag/node/shard"
)

// LocalKV is the replica's own fleet-sync key space (a node's SyncKV): it
// keeps what is not published and caches what is.
type LocalKV interface {
	Get(key string) ([]byte, error)
	GetMany(keys []string) ([][]byte, error)
	Update(ctx context.Context, sets []shard.KV, deletes []string) error
	Scan(ctx context.Context, prefix string, keysOnly bool, fn func(key string, value []byte) error) error
}

// Published keys, as fleet sync names them: manifests, records and config
// manifests never change once written; the latest-version pointers do.
var (
	immutablePrefixes = []string{"m/", "r/", "c/v/"}
	pointerPrefixes   = []string{"l/"}
	pointerKeys       = []string{"c/latest"}
)

func immutable(key string) bool {
	return slices.ContainsFunc(immutablePrefixes, func(p string) bool { return strings.HasPrefix(key, p) })
}

func pointer(key string) bool {
	return slices.Contains(pointerKeys, key) || slices.ContainsFunc(pointerPrefixes, func(p string) bool { return strings.HasPrefix(key, p) })
}

func published(key string) bool { return immutable(key) || pointer(key) }

// DefaultPointerTTL is how long a replica trusts the latest-version
// pointers it read: every edge's poll reads them, and this bounds the
// bucket's load to one listing per replica per TTL. A version another
// replica published reaches this one's edges at most this much later.
const DefaultPointerTTL = time.Second

// fetchParallel bounds the object reads and writes one call makes at once.
const fetchParallel = 16

// KV is fleet sync's key space with the published keys in a bucket. It
// implements fleet.KV.
type KV struct {
	b     *Bucket
	local LocalKV
	ttl   time.Duration
	now   func() time.Time

	mu     sync.Mutex
	ptrs   map[string][]byte // the "l/" listing and "c/latest", as last read
	readAt time.Time         // zero: read again
}

// NewKV returns the key space over b and local. ttl 0 means
// DefaultPointerTTL.
func NewKV(b *Bucket, local LocalKV, ttl time.Duration) *KV {
	if ttl <= 0 {
		ttl = DefaultPointerTTL
	}
	return &KV{b: b, local: local, ttl: ttl, now: time.Now}
}

// Bucket returns the bucket the published keys live in.
func (kv *KV) Bucket() *Bucket { return kv.b }

func notFound(key string) error { return fmt.Errorf("%w: %s", shard.ErrNotFound, key) }

// Get returns the value at key, shard.ErrNotFound when there is none.
func (kv *KV) Get(key string) ([]byte, error) {
	vals, err := kv.GetMany([]string{key})
	if err != nil {
		return nil, err
	}
	if vals[0] == nil {
		return nil, notFound(key)
	}
	return vals[0], nil
}

// GetMany returns the values at keys, nil for absent ones.
func (kv *KV) GetMany(keys []string) ([][]byte, error) {
	ctx := context.Background() // fleet.KV's reads carry no context; the bucket's timeout bounds them
	out := make([][]byte, len(keys))
	var localKeys []string
	var localAt []int
	for i, k := range keys {
		switch {
		case pointer(k):
			ps, err := kv.pointers(ctx)
			if err != nil {
				return nil, err
			}
			out[i] = ps[k]
		default: // immutable ones are looked for in the cache first
			localKeys = append(localKeys, k)
			localAt = append(localAt, i)
		}
	}
	if len(localKeys) == 0 {
		return out, nil
	}
	vals, err := kv.local.GetMany(localKeys)
	if err != nil {
		return nil, err
	}
	var missing []int // indices into keys of published keys the cache lacks
	for j, v := range vals {
		out[localAt[j]] = v
		if v == nil && immutable(localKeys[j]) {
			missing = append(missing, localAt[j])
		}
	}
	if len(missing) == 0 {
		return out, nil
	}
	fetched := make([][]byte, len(missing))
	err = parallel(len(missing), func(j int) error {
		b, err := kv.b.Get(ctx, keys[missing[j]])
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		fetched[j] = b
		return err
	})
	if err != nil {
		return nil, err
	}
	var cache []shard.KV
	for j, i := range missing {
		if fetched[j] != nil {
			out[i] = fetched[j]
			cache = append(cache, shard.KV{Key: keys[i], Value: fetched[j]})
		}
	}
	if len(cache) > 0 {
		// Published objects never change, so the copy is good forever; a
		// failure to keep it costs only the next read.
		_ = kv.local.Update(ctx, cache, nil)
	}
	return out, nil
}

// pointers returns the latest-version pointers, read at most once a TTL.
func (kv *KV) pointers(ctx context.Context) (map[string][]byte, error) {
	kv.mu.Lock()
	defer kv.mu.Unlock()
	if kv.ptrs != nil && kv.now().Sub(kv.readAt) < kv.ttl {
		return kv.ptrs, nil
	}
	var keys []string
	for _, p := range pointerPrefixes {
		if err := kv.b.List(ctx, p, func(k string) error { keys = append(keys, k); return nil }); err != nil {
			return nil, err
		}
	}
	keys = append(keys, pointerKeys...)
	vals := make([][]byte, len(keys))
	err := parallel(len(keys), func(i int) error {
		b, err := kv.b.Get(ctx, keys[i])
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		vals[i] = b
		return err
	})
	if err != nil {
		return nil, err
	}
	ps := make(map[string][]byte, len(keys))
	for i, k := range keys {
		if vals[i] != nil {
			ps[k] = vals[i]
		}
	}
	kv.ptrs, kv.readAt = ps, kv.now()
	return ps, nil
}

func (kv *KV) forgetPointers() {
	kv.mu.Lock()
	kv.ptrs = nil
	kv.mu.Unlock()
}

// Update writes sets and removes deletes. Published records and manifests
// go to the bucket first (write-once), then the pointers that name them,
// then the rest to the local store — so no replica sees a pointer to a
// version whose objects are not all there.
func (kv *KV) Update(ctx context.Context, sets []shard.KV, deletes []string) error {
	var once, ptrs, local []shard.KV
	for _, s := range sets {
		switch {
		case immutable(s.Key):
			once = append(once, s)
			local = append(local, s) // the replica's cache
		case pointer(s.Key):
			ptrs = append(ptrs, s)
		default:
			local = append(local, s)
		}
	}
	if err := parallel(len(once), func(i int) error {
		if err := kv.b.PutOnce(ctx, once[i].Key, once[i].Value); err != nil {
			if errors.Is(err, ErrExists) {
				return fmt.Errorf("%w: another central replica published %s with other content; only one replica may publish at a time", err, once[i].Key)
			}
			return err
		}
		return nil
	}); err != nil {
		return err
	}
	if len(ptrs) > 0 {
		defer kv.forgetPointers()
	}
	for _, p := range ptrs {
		if err := kv.b.Put(ctx, p.Key, p.Value); err != nil {
			return err
		}
	}
	var remote []string
	for _, d := range deletes {
		if published(d) {
			remote = append(remote, d)
		}
	}
	if len(remote) > 0 {
		defer kv.forgetPointers()
		if err := kv.b.Delete(ctx, remote); err != nil {
			return err
		}
	}
	if len(local) == 0 && len(deletes) == 0 {
		return nil
	}
	return kv.local.Update(ctx, local, deletes)
}

// Scan calls fn for every key under prefix in key order: from the bucket
// for a published prefix, from the local store otherwise.
func (kv *KV) Scan(ctx context.Context, prefix string, keysOnly bool, fn func(key string, value []byte) error) error {
	if !published(prefix) {
		for _, p := range slices.Concat(immutablePrefixes, pointerPrefixes, pointerKeys) {
			if strings.HasPrefix(p, prefix) {
				return fmt.Errorf("objstore: scan of %q would mix the bucket's keys and the local store's; scan a narrower prefix", prefix)
			}
		}
		return kv.local.Scan(ctx, prefix, keysOnly, fn)
	}
	if pointer(prefix) {
		ps, err := kv.pointers(ctx)
		if err != nil {
			return err
		}
		for _, k := range slices.Sorted(maps.Keys(ps)) {
			if strings.HasPrefix(k, prefix) {
				if err := fn(k, ps[k]); err != nil {
					return err
				}
			}
		}
		return nil
	}
	var keys []string
	if err := kv.b.List(ctx, prefix, func(k string) error { keys = append(keys, k); return nil }); err != nil {
		return err
	}
	for len(keys) > 0 {
		n := min(len(keys), 256)
		var vals [][]byte
		if !keysOnly {
			var err error
			if vals, err = kv.GetMany(keys[:n]); err != nil {
				return err
			}
		}
		for i, k := range keys[:n] {
			var v []byte
			if vals != nil {
				if v = vals[i]; v == nil {
					continue // deleted since the listing
				}
			}
			if err := fn(k, v); err != nil {
				return err
			}
		}
		keys = keys[n:]
	}
	return nil
}

// parallel runs fn(0..n-1), fetchParallel at a time, and returns the first
// error.
func parallel(n int, fn func(i int) error) error {
	if n == 0 {
		return nil
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	sem := make(chan struct{}, fetchParallel)
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() { // bounded by sem; each ends with its fn
			defer func() { <-sem; wg.Done() }()
			if err := fn(i); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return first
}
