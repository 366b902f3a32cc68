// Package diskcache keeps copies of stored files on local disk in front of
// a remote store (S3), so that a hit on a large zip is served from a local
// file, by sendfile(2) from the page cache, rather than streamed from the
// bucket through the process.
//
// Files in the store never change once created (Create never replaces), so
// a copy can be served for as long as it is kept; names written by Replace
// (the version lists) are never copied. A file is copied after a client
// read it from the store, in the background, and served from disk from
// then on; the copies take at most a set number of bytes, the least
// recently used going first.
//
// The directory is the process's own (in its data directory, which only
// one process uses at a time) and is emptied when the cache starts: a copy
// cut short by a crash is never served, and nothing needs to be trusted
// from an earlier run. A replica stays stateless; its cache is only warm.
package diskcache

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/modmirror/modmirror"
	"github.com/modmirror/modmirror/internal/openread"
	"github.com/modmirror/modmirror/internal/storewrap"
)

// maxCopying bounds the copies made at once; a hit that finds all busy is
// served from the store, and a later one copies the file.
const maxCopying = 4

// copyTimeout bounds one copy of a file from the store.
const copyTimeout = 10 * time.Minute

// Store is a modmirror.Store that serves copies on local disk of the
// files of another.
type Store struct {
	storewrap.Store

	dir      string
	maxBytes int64 // total size of the copies
	minFile  int64 // smallest file copied
	log      *slog.Logger

	copying chan struct{}
	copies  singleflight.Group
	wg      sync.WaitGroup
	deletes storewrap.Deletes // a copy made during one is not kept

	mu    sync.Mutex
	size  int64
	lru   list.List // of *entry, most recently used first
	items map[string]*list.Element
}

var _ modmirror.Store = (*Store)(nil)

type entry struct {
	name string
	size int64
}

// New returns a Store in front of s that keeps copies of files of at least
// minFile bytes, up to maxBytes in all, in dir, which it empties first.
func New(s modmirror.Store, dir string, maxBytes, minFile int64, log *slog.Logger) (*Store, error) {
	if err := os.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("diskcache: emptying %s: %w", dir, err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o700); err != nil {
		return nil, fmt.Errorf("diskcache: %w", err)
	}
	return &Store{Store: storewrap.Store{Store: s}, dir: dir, maxBytes: maxBytes, minFile: minFile, log: log,
		copying: make(chan struct{}, maxCopying), items: make(map[string]*list.Element)}, nil
}

// cacheable reports whether a name holds a file that never changes.
func cacheable(name string) bool {
	return !strings.HasSuffix(name, "/list")
}

// file is where the copy of name is kept: named by its hash, so that no
// store name is ever a path on this disk.
func (s *Store) file(name string) string {
	h := sha256.Sum256([]byte(name))
	x := hex.EncodeToString(h[:])
	return filepath.Join(s.dir, x[:2], x[2:])
}

// Open implements modmirror.Store: the copy of name if there is one, else
// the store's file, whose copy starts in the background when it is large
// enough.
func (s *Store) Open(ctx context.Context, name string) (modmirror.File, error) {
	if !cacheable(name) {
		return s.Store.Open(ctx, name)
	}
	if s.touch(name) {
		f, err := openread.Open(s.file(name))
		if err == nil {
			return f, nil
		}
		// Evicted since: the store has it.
	}
	f, err := s.Store.Open(ctx, name)
	if err != nil {
		return f, err
	}
	if fi, err := f.Stat(); err == nil && fi.Size() >= s.minFile && fi.Size() <= s.maxBytes/4 {
		s.startCopy(name, fi.Size())
	}
	return f, nil
}

// touch reports whether name has a copy, and makes it the most recently
// used.
func (s *Store) touch(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	el, ok := s.items[name]
	if ok {
		s.lru.MoveToFront(el)
	}
	return ok
}

// startCopy copies name from the store in the background, unless it is
// being copied or maxCopying copies are running.
func (s *Store) startCopy(name string, size int64) {
	select {
	case s.copying <- struct{}{}:
	default:
		return
	}
	s.wg.Go(func() {
		defer func() { <-s.copying }()
		s.copies.Do(name, func() (any, error) {
			if s.touch(name) {
				return nil, nil
			}
			if err := s.copy(name, size); err != nil {
				s.log.Warn("diskcache: not copied", "name", name, "err", err)
			}
			return nil, nil
		})
	})
}

// copy writes the store's file of name to disk, whole or not at all.
func (s *Store) copy(name string, size int64) error {
	ctx, cancel := context.WithTimeout(context.Background(), copyTimeout)
	defer cancel()
	deletes := s.deletes.Seen()
	src, err := s.Store.Open(ctx, name)
	if err != nil {
		return err
	}
	defer src.Close()
	fi, err := src.Stat()
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Join(s.dir, "tmp"), "copy-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	n, err := io.Copy(tmp, io.LimitReader(src, size+1))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	switch {
	case err != nil:
		return err
	case n != size:
		return fmt.Errorf("read %d bytes of a file of %d", n, size)
	}
	// The copy's time is the stored file's, which the ETag and
	// Last-Modified of a hit are made of: the same from either.
	if err := os.Chtimes(tmp.Name(), time.Time{}, fi.ModTime()); err != nil {
		return err
	}
	file := s.file(name)
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), file); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.deletes.Since(deletes) {
		// The file may be gone from the store since it was opened.
		os.Remove(file)
		return nil
	}
	s.items[name] = s.lru.PushFront(&entry{name: name, size: size})
	s.size += size
	for s.size > s.maxBytes {
		s.remove(s.lru.Back())
	}
	return nil
}

// remove forgets a copy and deletes its file; a client still reading it
// reads on (the file is gone from the directory only). s.mu is held.
func (s *Store) remove(el *list.Element) {
	e := s.lru.Remove(el).(*entry)
	delete(s.items, e.name)
	s.size -= e.size
	if err := os.Remove(s.file(e.name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.log.Warn("diskcache: removing a copy", "name", e.name, "err", err)
	}
}

// drop removes the copy of name, if there is one.
func (s *Store) drop(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if el, ok := s.items[name]; ok {
		s.remove(el)
	}
}

// Len returns the number of copies and their bytes.
func (s *Store) Len() (files int, bytes int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.items), s.size
}

// Wait waits for the copies in progress to end.
func (s *Store) Wait() { s.wg.Wait() }

// Replace implements modmirror.Store. Replaced names are never copied, but
// a copy is dropped all the same, should there be one.
func (s *Store) Replace(ctx context.Context, name string, r io.Reader) error {
	s.drop(name)
	return s.Store.Replace(ctx, name, r)
}

// Delete implements modmirror.Deleter when the store behind it does: the
// copy goes, then the file in the store (storewrap.Deletes).
func (s *Store) Delete(ctx context.Context, name string) error {
	d, err := s.Deleter()
	if err != nil {
		return fmt.Errorf("diskcache: %w", err)
	}
	return s.deletes.Delete(ctx, d, name, s.drop)
}
