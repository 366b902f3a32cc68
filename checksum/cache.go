package checksum

import (
	"sync"
	"time"
)

// A memCache keeps a bounded number of small answers for a short time.
// When it is full, expired entries go first, then arbitrary ones: entries
// live seconds, so which one goes matters little, and a map needs no
// bookkeeping beyond itself.
type memCache struct {
	max int
	now func() time.Time

	mu sync.Mutex
	m  map[string]memEntry
}

type memEntry struct {
	data    []byte
	expires time.Time
}

func newMemCache(max int) *memCache {
	return &memCache{max: max, now: time.Now, m: make(map[string]memEntry)}
}

func (c *memCache) get(key string) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok || !c.now().Before(e.expires) {
		return nil, false
	}
	return e.data, true
}

func (c *memCache) put(key string, data []byte, ttl time.Duration) {
	if ttl <= 0 || c.max <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if _, ok := c.m[key]; !ok && len(c.m) >= c.max {
		for k, e := range c.m {
			if !now.Before(e.expires) {
				delete(c.m, k)
			}
		}
		for k := range c.m {
			if len(c.m) < c.max {
				break
			}
			delete(c.m, k)
		}
	}
	c.m[key] = memEntry{data: data, expires: now.Add(ttl)}
}
