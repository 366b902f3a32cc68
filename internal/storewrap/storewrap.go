// Package storewrap is what the stores that wrap another (the memory and
// disk caches) pass on to it unchanged: the optional interfaces of a
// modmirror.Store.
package storewrap

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/modmirror/modmirror"
)

// Store wraps a modmirror.Store and passes on Ping, Walk and String to it.
// A wrapper embeds it and defines what it changes (Open, Replace, Delete).
type Store struct{ modmirror.Store }

// Ping implements modmirror.Pinger for the wrapped store, if it is one.
func (s Store) Ping(ctx context.Context) error {
	if p, ok := s.Store.(modmirror.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

// Walk implements modmirror.Walker when the wrapped store does.
func (s Store) Walk(ctx context.Context, fn func(name string, size int64, modTime time.Time) error) error {
	w, ok := s.Store.(modmirror.Walker)
	if !ok {
		return fmt.Errorf("%v cannot list all its files", s.Store)
	}
	return w.Walk(ctx, fn)
}

// Deleter returns the wrapped store as a modmirror.Deleter, or an error if
// it cannot delete files.
func (s Store) Deleter() (modmirror.Deleter, error) {
	d, ok := s.Store.(modmirror.Deleter)
	if !ok {
		return nil, fmt.Errorf("%v cannot delete files", s.Store)
	}
	return d, nil
}

// Deletes counts the Deletes a wrapper that keeps copies of files has
// passed on (Deletes.Delete), so that a copy it read from the wrapped store
// while one ran, perhaps of a file deleted since, is not kept: the wrapper
// notes Seen before it opens the file, and keeps the copy, under its own
// lock, only if Since is false.
type Deletes struct{ n atomic.Uint64 }

// Seen returns the count, to be given to Since later.
func (d *Deletes) Seen() uint64 { return d.n.Load() }

// Since reports whether a Delete was passed on since Seen returned n.
func (d *Deletes) Since(n uint64) bool { return d.n.Load() != n }

// Delete deletes name in the wrapped store d, for a wrapper that keeps
// copies of files. forget drops the wrapper's copy of name before (so that
// no client is served it while the store deletes) and again after (one
// kept meanwhile); the Delete is counted in between, so that a copy being
// made now is not kept.
func (dl *Deletes) Delete(ctx context.Context, d modmirror.Deleter, name string, forget func(name string)) error {
	forget(name)
	err := d.Delete(ctx, name)
	dl.n.Add(1)
	forget(name)
	return err
}

// String names the wrapped store.
func (s Store) String() string { return fmt.Sprint(s.Store) }
