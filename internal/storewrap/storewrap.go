// Package storewrap is what the stores that wrap another (the memory and
// disk caches) pass on to it unchanged: the optional interfaces of a
// modmirror.Store.
package storewrap

import (
	"context"
	"fmt"
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

// String names the wrapped store.
func (s Store) String() string { return fmt.Sprint(s.Store) }
