package mirror

import (
	"hash/maphash"
	"sync"
	"time"
)

// ttlCache keeps answers that change upstream over time (lists, latest
// versions, resolved queries) for a fixed time. It is bounded: when full, an
// arbitrary entry makes room, which only costs an upstream request.
type ttlCache struct {
	ttl time.Duration
	max int

	mu      sync.Mutex
	entries map[string]ttlEntry
}

type ttlEntry struct {
	val     any
	expires time.Time
}

func newTTLCache(ttl time.Duration, max int) *ttlCache {
	return &ttlCache{ttl: ttl, max: max, entries: make(map[string]ttlEntry)}
}

func (c *ttlCache) get(key string) (any, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok {
		return nil, false
	}
	if time.Now().After(e.expires) {
		delete(c.entries, key)
		return nil, false
	}
	return e.val, true
}

func (c *ttlCache) put(key string, val any) {
	c.putFor(key, val, c.ttl)
}

// putFor keeps val for d rather than the cache's TTL.
func (c *ttlCache) putFor(key string, val any, d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.max {
		for k := range c.entries {
			delete(c.entries, k)
			break
		}
	}
	c.entries[key] = ttlEntry{val: val, expires: time.Now().Add(d)}
}

func (c *ttlCache) delete(key string) {
	c.mu.Lock()
	delete(c.entries, key)
	c.mu.Unlock()
}

// pathLocks serialises read-modify-write updates per module path (the
// stored version list) with a fixed set of mutexes.
type pathLocks struct {
	seed  maphash.Seed
	once  sync.Once
	locks [64]sync.Mutex
}

func (l *pathLocks) lock(path string) (unlock func()) {
	l.once.Do(func() { l.seed = maphash.MakeSeed() })
	mu := &l.locks[maphash.String(l.seed, path)%uint64(len(l.locks))]
	mu.Lock()
	return mu.Unlock
}
