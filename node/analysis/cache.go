package analysis

import (
	"hash/maphash"
	"strings"
	"sync"
)

// cacheShards spreads the cache over this many independently locked maps so
// that goroutines analysing text at the same time rarely touch the same
// lock. A power of two keeps the shard choice a mask.
const cacheShards = 64

// maxCachedLen is the longest surface form, in bytes, worth caching. Real
// words are far shorter; longer tokens (hashes, base64, run-together
// junk) are seldom repeated and would only fill the cache.
const maxCachedLen = 48

// termCache remembers the term each surface form analyses to ("Running" →
// "run", "The" → dropped), so that repeated words cost one map lookup and no
// allocation. It stops growing at a fixed number of entries: a hostile or
// merely huge corpus then costs CPU for its rare words, never unbounded
// memory. Safe for concurrent use.
type termCache struct {
	seed     maphash.Seed
	perShard int
	shards   [cacheShards]cacheShard
}

type cacheShard struct {
	mu sync.RWMutex
	// m maps a surface form to its term; "" means the token produces no
	// term (a stopword).
	m map[string]string
	// The padding puts each shard's lock on its own cache line, so cores
	// working on different shards do not invalidate each other's line.
	_ [64]byte
}

func newTermCache(maxEntries int) *termCache {
	c := &termCache{
		seed:     maphash.MakeSeed(),
		perShard: max(1, maxEntries/cacheShards),
	}
	for i := range c.shards {
		c.shards[i].m = make(map[string]string)
	}
	return c
}

func (c *termCache) shard(key string) *cacheShard {
	return &c.shards[maphash.String(c.seed, key)&(cacheShards-1)]
}

// get returns the cached term for a surface form. key may be a slice of a
// larger text: the lookup neither copies nor keeps it.
func (c *termCache) get(key string) (term string, ok bool) {
	s := c.shard(key)
	s.mu.RLock()
	term, ok = s.m[key]
	s.mu.RUnlock()
	return term, ok
}

// put records the term for a surface form unless the shard is full. key
// usually points into a whole chunk of text, which the cache must not keep
// alive, so it is copied; term must be a string of its own (not a slice of
// the text), which lets it double as the key when the two are equal, as
// for "cat".
func (c *termCache) put(key, term string) {
	s := c.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) >= c.perShard {
		return
	}
	if term == key {
		key = term
	} else {
		key = strings.Clone(key)
	}
	s.m[key] = term
}

// len returns the number of cached surface forms.
func (c *termCache) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
}
