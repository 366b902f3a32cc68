package sumlog

import "sync"

// A cache keeps up to about 2*max entries in two generations: when the
// young one is full it becomes the old one and the old one is dropped, and a
// hit in the old generation moves the entry back to the young one. It is a
// cheap approximation of LRU whose memory does not grow with the log.
// Everything it holds is immutable once written to the log, so it is never
// stale.
type cache[K comparable, V any] struct {
	mu         sync.Mutex
	max        int
	young, old map[K]V
}

func newCache[K comparable, V any](max int) *cache[K, V] {
	return &cache[K, V]{max: max, young: make(map[K]V)}
}

func (c *cache[K, V]) get(k K) (V, bool) {
	if c.max <= 0 {
		var zero V
		return zero, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.young[k]; ok {
		return v, true
	}
	v, ok := c.old[k]
	if ok {
		c.putLocked(k, v)
	}
	return v, ok
}

func (c *cache[K, V]) put(k K, v V) {
	if c.max <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.putLocked(k, v)
}

func (c *cache[K, V]) putLocked(k K, v V) {
	if len(c.young) >= c.max {
		c.old, c.young = c.young, make(map[K]V, c.max)
	}
	c.young[k] = v
}
