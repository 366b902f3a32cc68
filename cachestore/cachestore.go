// Package cachestore keeps small stored files in memory in front of another
// modmirror.Store.
//
// Serving a small file from disk costs an open, a stat and a read per
// request, which is most of the time of a cache hit for an .info, a .mod or
// a small zip. Files in the store never change once created (Create never
// replaces), so a copy in memory can be served for as long as it is kept,
// with no invalidation; only names written by Replace (the version lists)
// change, and those are never cached. Memory is bounded: the least recently
// used files make room.
package cachestore

import (
	"container/list"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/modmirror/modmirror"
	"github.com/modmirror/modmirror/internal/storewrap"
)

// Store is a modmirror.Store that serves small files from memory.
type Store struct {
	storewrap.Store

	maxBytes int64 // total size of cached files
	maxFile  int64 // largest file cached

	mu      sync.Mutex
	size    int64
	lru     list.List // of *entry, most recently used first
	items   map[string]*list.Element
	large   map[string]bool   // names of files larger than maxFile
	deletes storewrap.Deletes // a file read during one is not kept
}

// maxLarge bounds the names of large files remembered; when it is reached
// they are forgotten and learnt again.
const maxLarge = 16384

var _ modmirror.Store = (*Store)(nil)

type entry struct {
	name    string
	data    []byte
	modTime time.Time
}

// New returns a Store in front of s that keeps up to maxBytes of files no
// larger than maxFile in memory.
func New(s modmirror.Store, maxBytes, maxFile int64) *Store {
	return &Store{Store: storewrap.Store{Store: s}, maxBytes: maxBytes, maxFile: min(maxFile, maxBytes),
		items: make(map[string]*list.Element), large: make(map[string]bool)}
}

// cacheable reports whether a name holds a file that never changes.
func cacheable(name string) bool {
	return !strings.HasSuffix(name, "/list")
}

// Open implements modmirror.Store.
func (s *Store) Open(ctx context.Context, name string) (modmirror.File, error) {
	if !cacheable(name) {
		return s.Store.Open(ctx, name)
	}
	e, large := s.get(name)
	if e != nil {
		return newFile(e), nil
	}
	deletes := s.deletes.Seen()
	f, err := s.Store.Open(ctx, name)
	if err != nil || large {
		// A file once too large stays so (stored files never change):
		// no Stat here, the caller makes its own.
		return f, err
	}
	fi, err := f.Stat()
	if err != nil {
		return f, err
	}
	if fi.Size() > s.maxFile {
		s.mu.Lock()
		if len(s.large) >= maxLarge {
			clear(s.large)
		}
		s.large[name] = true
		s.mu.Unlock()
		return f, nil
	}
	// Read a little more than the size said, to notice a file that is
	// not what its Stat claims.
	data, err := io.ReadAll(io.LimitReader(f, fi.Size()+1))
	f.Close()
	if err != nil {
		return nil, err
	}
	if int64(len(data)) != fi.Size() {
		return s.Store.Open(ctx, name)
	}
	e = &entry{name: name, data: data, modTime: fi.ModTime()}
	s.put(e, deletes)
	return newFile(e), nil
}

// Replace implements modmirror.Store. Replaced names are never cached, but
// a name is dropped all the same, should one ever be.
func (s *Store) Replace(ctx context.Context, name string, r io.Reader) error {
	s.forget(name)
	return s.Store.Replace(ctx, name, r)
}

// get returns the cached entry of name, or nil and whether the file is
// known to be too large to cache.
func (s *Store) get(name string) (*entry, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	el, ok := s.items[name]
	if !ok {
		return nil, s.large[name]
	}
	s.lru.MoveToFront(el)
	return el.Value.(*entry), false
}

// put keeps e, read from the store when s.deletes.Seen returned deletes:
// not if a Delete was passed on since, as e may be a deleted file.
func (s *Store) put(e *entry, deletes uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.items[e.name]; ok || s.deletes.Since(deletes) {
		return
	}
	s.items[e.name] = s.lru.PushFront(e)
	s.size += int64(len(e.data))
	for s.size > s.maxBytes {
		s.remove(s.lru.Back())
	}
}

func (s *Store) remove(el *list.Element) {
	e := s.lru.Remove(el).(*entry)
	delete(s.items, e.name)
	s.size -= int64(len(e.data))
}

// Len returns the number of files and bytes held in memory.
func (s *Store) Len() (files int, bytes int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.items), s.size
}

// newFile opens a cached file.
func newFile(e *entry) modmirror.File { return modmirror.MemFile(e.name, e.data, e.modTime) }

// Delete implements modmirror.Deleter when the store behind it does: the
// file leaves memory, then the store (storewrap.Deletes).
func (s *Store) Delete(ctx context.Context, name string) error {
	d, err := s.Deleter()
	if err != nil {
		return fmt.Errorf("cachestore: %w", err)
	}
	return s.deletes.Delete(ctx, d, name, s.forget)
}

// forget drops what is known of name.
func (s *Store) forget(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.large, name)
	if el, ok := s.items[name]; ok {
		s.remove(el)
	}
}
