// Package gc deletes stored module versions that no client has asked for in
// a while, keeping the store's size in bounds: the only way a version ever
// leaves a mirror, by the operator's decision ("modmirror gc").
//
// What goes: the versions the catalog says were last served (or, never
// served, first stored) before the cut-off, except those a kept go.sum
// file names. What never goes: the records of the mirror's own checksum
// database, so that a version collected and asked for again is filled and
// checked against what it was (public modules against sum.golang.org too):
// a different copy is a security error, never served.
//
// A version's files are deleted under the mirror's fill lock of each file
// (for replicas, the shared database's), so that no fill races the
// deletion; a single mirror's data directory is locked by gc as a whole
// instead, so it runs while serve does not.
package gc

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"golang.org/x/mod/module"

	"github.com/modmirror/modmirror"
	"github.com/modmirror/modmirror/catalog"
)

// Options configure Run.
type Options struct {
	Store   modmirror.Store // must be a modmirror.Deleter
	Catalog catalog.Storage

	// UnusedFor is how long a version must not have been served.
	UnusedFor time.Duration

	// Keep reports versions never to delete (those a kept go.sum names).
	Keep func(path, version string) bool

	// DryRun deletes nothing, reporting what would go.
	DryRun bool

	// Lock, if not nil, takes the fill lock of a store name, as
	// mirror.Locker does.
	Lock func(ctx context.Context, key string) (unlock func(), err error)

	// Report, if not nil, is told of each version deleted (or, in a dry
	// run, that would be).
	Report func(v catalog.Version)

	Now func() time.Time // nil: time.Now
}

// A Result sums up a Run.
type Result struct {
	Versions int   // deleted (or, in a dry run, to delete)
	Modules  int   // module paths they belong to
	Bytes    int64 // their files' sizes
	Kept     int   // unused, but named by a kept go.sum
}

// maxVersions bounds one Run; a store with more unused versions than that
// is collected by running again.
const maxVersions = 1_000_000

// Run deletes the versions not served for UnusedFor.
func Run(ctx context.Context, opts Options) (*Result, error) {
	del, ok := opts.Store.(modmirror.Deleter)
	if !ok {
		return nil, fmt.Errorf("gc: the store %v cannot delete files", opts.Store)
	}
	if opts.UnusedFor <= 0 {
		return nil, errors.New("gc: the unused time must be positive")
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	unused, err := opts.Catalog.Unused(ctx, now().Add(-opts.UnusedFor), maxVersions)
	if err != nil {
		return nil, err
	}
	res := &Result{}
	paths := make(map[string]bool)
	for _, v := range unused {
		if opts.Keep != nil && opts.Keep(v.Path, v.Version) {
			res.Kept++
			continue
		}
		if !opts.DryRun {
			if err := deleteVersion(ctx, opts, del, v); err != nil {
				return res, err
			}
		}
		res.Versions++
		res.Bytes += v.Size()
		paths[v.Path] = true
		if opts.Report != nil {
			opts.Report(v)
		}
	}
	res.Modules = len(paths)
	if opts.DryRun {
		return res, nil
	}
	for _, p := range slices.Sorted(maps.Keys(paths)) {
		if err := writeList(ctx, opts, p); err != nil {
			return res, err
		}
	}
	return res, nil
}

// deleteVersion deletes a version's files, the zip first (a version with
// a .mod and no zip is still a valid entry of a module cache), then its
// catalog entry.
func deleteVersion(ctx context.Context, opts Options, del modmirror.Deleter, v catalog.Version) error {
	for _, ext := range []string{modmirror.ExtZip, modmirror.ExtInfo, modmirror.ExtMod} {
		key, err := modmirror.VersionKey(v.Path, v.Version, ext)
		if err != nil {
			return fmt.Errorf("gc: %s@%s: %w", v.Path, v.Version, err)
		}
		unlock := func() {}
		if opts.Lock != nil {
			if unlock, err = opts.Lock(ctx, key); err != nil {
				return fmt.Errorf("gc: locking %s: %w", key, err)
			}
		}
		err = del.Delete(ctx, key)
		unlock()
		if err != nil {
			return fmt.Errorf("gc: %w", err)
		}
	}
	return opts.Catalog.Delete(ctx, []module.Version{{Path: v.Path, Version: v.Version}})
}

// writeList rewrites a module's list under the lock the mirror takes for it.
func writeList(ctx context.Context, opts Options, path string) error {
	dir, err := modmirror.ModuleDir(path)
	if err != nil {
		return err
	}
	if opts.Lock != nil {
		unlock, err := opts.Lock(ctx, dir+"/list")
		if err != nil {
			return fmt.Errorf("gc: locking the list of %s: %w", path, err)
		}
		defer unlock()
	}
	return modmirror.WriteList(ctx, opts.Store, path)
}
