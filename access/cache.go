package access

import (
	"context"
	"errors"
	"sync"
	"time"
)

// DefaultCacheTTL is how long a Cache keeps an answer: a token revoked (or
// made) in the database is refused (or accepted) by a running mirror at
// most this long after.
const DefaultCacheTTL = 2 * time.Second

// maxCached bounds the answers a Cache keeps, so that requests with ever
// new made-up tokens cannot grow it without end.
const maxCached = 10000

// Cache is Tokens that remembers the answers of other Tokens, found or not,
// for a time, so that the go command's many requests with one token cost
// one database lookup every TTL. Errors other than not-found are not kept.
// It is safe for concurrent use.
type Cache struct {
	tokens Tokens
	ttl    time.Duration
	now    func() time.Time

	mu      sync.Mutex
	entries map[Hash]cached
}

type cached struct {
	tok     Token
	found   bool
	expires time.Time
}

var _ Tokens = (*Cache)(nil)

// NewCache returns a Cache of tokens keeping answers for ttl; zero means
// DefaultCacheTTL.
func NewCache(tokens Tokens, ttl time.Duration) *Cache {
	if ttl <= 0 {
		ttl = DefaultCacheTTL
	}
	return &Cache{tokens: tokens, ttl: ttl, now: time.Now, entries: make(map[Hash]cached)}
}

// Lookup implements Tokens.
func (c *Cache) Lookup(ctx context.Context, h Hash) (Token, error) {
	now := c.now()
	c.mu.Lock()
	e, ok := c.entries[h]
	c.mu.Unlock()
	if ok && now.Before(e.expires) {
		if !e.found {
			return Token{}, ErrUnknownToken
		}
		return e.tok, nil
	}
	tok, err := c.tokens.Lookup(ctx, h)
	found := err == nil
	if err != nil && !errors.Is(err, ErrUnknownToken) {
		return Token{}, err
	}
	c.mu.Lock()
	if len(c.entries) >= maxCached {
		for k, e := range c.entries {
			if !now.Before(e.expires) {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= maxCached {
			clear(c.entries)
		}
	}
	c.entries[h] = cached{tok: tok, found: found, expires: now.Add(c.ttl)}
	c.mu.Unlock()
	return tok, err
}
