package access

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// memTokens is Tokens in a map, counting lookups.
type memTokens struct {
	mu      sync.Mutex
	tokens  map[Hash]Token
	lookups int
	err     error // returned by Lookup if set
}

func newMemTokens() *memTokens { return &memTokens{tokens: map[Hash]Token{}} }

// add makes a token and returns its secret.
func (m *memTokens) add(id, allow string) (Token, string) {
	secret, h := newSecret()
	tok := Token{ID: id, Name: id, Allow: allow, Created: time.Now()}
	m.mu.Lock()
	m.tokens[h] = tok
	m.mu.Unlock()
	return tok, secret
}

func (m *memTokens) revoke(secret string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	h := HashSecret(secret)
	tok := m.tokens[h]
	tok.Revoked = time.Now()
	m.tokens[h] = tok
}

func (m *memTokens) Lookup(ctx context.Context, h Hash) (Token, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lookups++
	if m.err != nil {
		return Token{}, m.err
	}
	tok, ok := m.tokens[h]
	if !ok {
		return Token{}, ErrUnknownToken
	}
	return tok, nil
}

func (m *memTokens) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lookups
}

// TestCache checks that answers, found or not, are kept for the TTL and no
// longer, so that a revocation takes effect within it, and that failures
// are not kept.
func TestCache(t *testing.T) {
	ctx := context.Background()
	mem := newMemTokens()
	tok, secret := mem.add("a", "corp.example")
	c := NewCache(mem, time.Second)
	now := time.Now()
	c.now = func() time.Time { return now }

	for range 3 {
		if got, err := c.Lookup(ctx, HashSecret(secret)); err != nil || got != tok {
			t.Fatalf("Lookup = %+v, %v", got, err)
		}
		if _, err := c.Lookup(ctx, HashSecret("mmt_unknown")); !errors.Is(err, ErrUnknownToken) {
			t.Fatalf("Lookup of an unknown secret: %v", err)
		}
	}
	if n := mem.count(); n != 2 {
		t.Errorf("%d lookups within the TTL, want 2 (one per secret)", n)
	}

	mem.revoke(secret)
	now = now.Add(999 * time.Millisecond)
	if got, _ := c.Lookup(ctx, HashSecret(secret)); !got.Valid() {
		t.Errorf("revocation seen before the TTL passed: the test's clock is wrong")
	}
	now = now.Add(time.Millisecond)
	if got, err := c.Lookup(ctx, HashSecret(secret)); err != nil || got.Valid() {
		t.Errorf("after the TTL: %+v, %v; want the token revoked", got, err)
	}

	mem.err = errors.New("disk on fire")
	now = now.Add(time.Hour)
	for range 2 {
		if _, err := c.Lookup(ctx, HashSecret(secret)); err == nil || errors.Is(err, ErrUnknownToken) {
			t.Errorf("Lookup with failing tokens: %v, want the failure", err)
		}
	}
	before := mem.count()
	mem.err = nil
	if got, err := c.Lookup(ctx, HashSecret(secret)); err != nil || got.ID != tok.ID || mem.count() != before+1 {
		t.Errorf("after a failure: %+v, %v; want a fresh lookup", got, err)
	}

	// Made-up secrets do not grow the cache without end.
	for i := range maxCached + 10 {
		c.Lookup(ctx, HashSecret(string(rune(i))))
	}
	if n := len(c.entries); n > maxCached {
		t.Errorf("%d entries, want at most %d", n, maxCached)
	}
}
