package checksum

import (
	"testing"
	"time"
)

func TestMemCache(t *testing.T) {
	now := time.Unix(0, 0)
	c := newMemCache(2)
	c.now = func() time.Time { return now }

	c.put("a", []byte("A"), time.Second)
	c.put("b", []byte("B"), 2*time.Second)
	if got, ok := c.get("a"); !ok || string(got) != "A" {
		t.Errorf("get(a) = %q, %v", got, ok)
	}
	now = now.Add(time.Second)
	if _, ok := c.get("a"); ok {
		t.Error("expired entry returned")
	}
	// Full: the expired entry goes first.
	c.put("c", []byte("C"), time.Second)
	if _, ok := c.get("b"); !ok {
		t.Error("live entry evicted while an expired one was there")
	}
	// Full of live entries: one goes, the bound holds.
	c.put("d", []byte("D"), time.Second)
	if len(c.m) != 2 {
		t.Errorf("cache holds %d entries, want 2", len(c.m))
	}
	if _, ok := c.get("d"); !ok {
		t.Error("new entry missing")
	}
	c.put("e", []byte("E"), 0)
	if _, ok := c.get("e"); ok {
		t.Error("entry with no TTL kept")
	}
}
