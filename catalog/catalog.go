// Package catalog keeps an index of the module versions a mirror stores:
// when each was first stored (by the mirror's clock, which an author cannot
// set, unlike an .info file's Time), where it came from, the sizes of its
// files, and when it was last served. The status page, the index feed,
// "modmirror gc" and "modmirror warm" read it.
//
// # The store is the truth
//
// The catalog is an index, never the bytes: it can be rebuilt from the
// store at any time ([Catalog.Rebuild]), and a mirror serves what its
// store holds whether or not the catalog knows it. Failing to record in
// the catalog never fails a fill: it is logged, and a rebuild mends it.
//
// # Storage
//
// A [Storage] holds the catalog: SQLite by default, PostgreSQL for
// replicas (package catalog/sqlcatalog), both passing the conformance
// suite of package catalog/catalogtest.
//
// # Hits cost nothing measurable
//
// [Catalog.Served] only sets the time in a map in memory; a goroutine
// writes the map to the storage every few seconds, one statement per
// batch. A process that dies loses the last few seconds of "last served"
// times, which only matter to the day.
package catalog

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/module"

	"github.com/modmirror/modmirror"
)

// A Version is what the catalog knows of one module version.
type Version struct {
	Path, Version string

	// FirstStored is when the mirror first stored a file of the version,
	// by its own clock.
	FirstStored time.Time

	// Source is where the version came from: the upstream's description
	// (its URL), "origin" for a private module's repository, "import" for
	// a bundle, "store" when the catalog was rebuilt from the store and
	// does not know.
	Source string

	// The sizes of the stored files; 0 for a file not stored.
	InfoSize, ModSize, ZipSize int64

	// LastServed is when a file of the version was last served; zero if
	// never since the catalog knows it.
	LastServed time.Time
}

// Size returns the bytes the version's files take.
func (v Version) Size() int64 { return v.InfoSize + v.ModSize + v.ZipSize }

// A Module sums up the stored versions of one module path.
type Module struct {
	Path       string
	Versions   int
	Bytes      int64
	LastStored time.Time // the newest FirstStored
}

// Stats sum up the whole catalog.
type Stats struct {
	Modules, Versions int64
	Bytes             int64
}

// A File is one stored file, for Storage.Stored.
type File struct {
	Path, Version string
	Ext           string // modmirror.ExtInfo, ExtMod or ExtZip
	Size          int64
	Source        string
	At            time.Time
}

// A Hit says that a version was served at a time, for Storage.Served.
type Hit struct {
	Path, Version string
	At            time.Time
}

// A Storage keeps a catalog. Implementations must be safe for concurrent
// use, also by several processes (replicas) where the backend allows.
// Errors of a backend that cannot be reached match
// modmirror.ErrUnavailable.
type Storage interface {
	// Stored records stored files. A version not known yet is added with
	// the file's time and source; for a known version, the file's size is
	// set, and its first stored time becomes the file's if that is
	// earlier (a rebuild finds the real times), the source staying.
	Stored(ctx context.Context, files []File) error

	// Served records hits: a version's last served time becomes a hit's
	// if that is later. Hits of versions not known are ignored.
	Served(ctx context.Context, hits []Hit) error

	// Version returns one version, or an error matching fs.ErrNotExist.
	Version(ctx context.Context, path, version string) (Version, error)

	// Versions returns the versions of a module path, in semantic version
	// order (lowest first).
	Versions(ctx context.Context, path string) ([]Version, error)

	// Since returns at most limit versions first stored at or after since,
	// in the order they were first stored (ties by path and version).
	Since(ctx context.Context, since time.Time, limit int) ([]Version, error)

	// Modules returns at most limit module paths greater than after, in
	// order, each summed up. With a non-empty match, only paths that
	// contain it.
	Modules(ctx context.Context, after, match string, limit int) ([]Module, error)

	// Stats sums up the catalog.
	Stats(ctx context.Context) (Stats, error)

	// Unused returns at most limit versions not served since before (or
	// never, and first stored before it), oldest first.
	Unused(ctx context.Context, before time.Time, limit int) ([]Version, error)

	// Seen returns, for each of versions of path, when the mirror first
	// saw it: the earlier of the time it was first stored and the time
	// recorded by the first call to Seen that named it, which records at
	// for versions never named before. A version's first-seen time never
	// moves later. Delete leaves it: a version deleted and filled again is
	// not new.
	Seen(ctx context.Context, path string, versions []string, at time.Time) ([]time.Time, error)

	// Delete removes versions from the catalog. Versions not known are
	// ignored.
	Delete(ctx context.Context, versions []module.Version) error

	Ping(ctx context.Context) error
	Close() error
}

// Catalog is a catalog in front of its Storage, batching hits. It is safe
// for concurrent use.
type Catalog struct {
	Storage
	log *slog.Logger

	mu   sync.Mutex
	hits map[module.Version]time.Time

	stop chan struct{}
	done chan struct{}
}

// FlushInterval is how often hits are written to the storage.
const FlushInterval = 5 * time.Second

// New returns a Catalog over s, which it closes in Close, and starts
// writing its hits every FlushInterval.
func New(s Storage, log *slog.Logger) *Catalog {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Catalog{Storage: s, log: log, hits: make(map[module.Version]time.Time), stop: make(chan struct{}), done: make(chan struct{})}
	go c.flushLoop()
	return c
}

// File notes a file the mirror stored now, logging a failure (the store
// holds the file all the same; a rebuild mends the catalog).
func (c *Catalog) File(ctx context.Context, path, version, ext string, size int64, source string) {
	err := c.Storage.Stored(ctx, []File{{Path: path, Version: version, Ext: ext, Size: size, Source: source, At: time.Now()}})
	if err != nil {
		c.log.Warn("catalog: recording a stored file failed; modmirror catalog rebuild mends it", "module", path, "version", version, "err", err)
	}
}

// Hit notes that a file of path@version was served now. It only sets a
// time in memory.
func (c *Catalog) Hit(path, version string) {
	now := time.Now()
	c.mu.Lock()
	c.hits[module.Version{Path: path, Version: version}] = now
	c.mu.Unlock()
}

func (c *Catalog) flushLoop() {
	defer close(c.done)
	t := time.NewTicker(FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), FlushInterval)
			if err := c.Flush(ctx); err != nil {
				c.log.Warn("catalog: writing last served times failed; they are kept for the next try", "err", err)
			}
			cancel()
		}
	}
}

// Flush writes the hits noted so far to the storage. On failure they are
// kept for the next Flush.
func (c *Catalog) Flush(ctx context.Context) error {
	c.mu.Lock()
	if len(c.hits) == 0 {
		c.mu.Unlock()
		return nil
	}
	batch := c.hits
	c.hits = make(map[module.Version]time.Time, len(batch))
	c.mu.Unlock()
	hits := make([]Hit, 0, len(batch))
	for m, at := range batch {
		hits = append(hits, Hit{Path: m.Path, Version: m.Version, At: at})
	}
	if err := c.Storage.Served(ctx, hits); err != nil {
		c.mu.Lock()
		for m, at := range batch {
			if old, ok := c.hits[m]; !ok || at.After(old) {
				c.hits[m] = at
			}
		}
		c.mu.Unlock()
		return err
	}
	return nil
}

// Close writes the last hits and closes the storage.
func (c *Catalog) Close() error {
	close(c.stop)
	<-c.done
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ferr := c.Flush(ctx)
	return errors.Join(ferr, c.Storage.Close())
}

// rebuildBatch is how many files Rebuild records at once.
const rebuildBatch = 1000

// Rebuild records in the catalog every .info, .mod and .zip file the store
// holds, with the file's time as its first stored time where the catalog
// has none earlier, and "store" as the source of versions it did not
// know. Nothing is removed. It returns how many files it recorded.
func Rebuild(ctx context.Context, s Storage, w modmirror.Walker) (int, error) {
	var batch []File
	n := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := s.Stored(ctx, batch); err != nil {
			return err
		}
		n += len(batch)
		batch = batch[:0]
		return nil
	}
	err := w.Walk(ctx, func(name string, size int64, modTime time.Time) error {
		path, version, ext, ok := ParseKey(name)
		if !ok {
			return nil
		}
		batch = append(batch, File{Path: path, Version: version, Ext: ext, Size: size, Source: "store", At: modTime})
		if len(batch) == rebuildBatch {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return n, fmt.Errorf("catalog: rebuilding: %w", err)
	}
	return n, nil
}

// ParseKey parses the store name of a version's file,
// "<escaped path>/@v/<escaped version>.<ext>", and reports whether it is
// one: lists, checksum database files and anything else are not.
func ParseKey(name string) (path, version, ext string, ok bool) {
	epath, file, found := strings.Cut(name, "/@v/")
	if !found || strings.Contains(file, "/") || strings.HasPrefix(name, "sumdb/") {
		return "", "", "", false
	}
	for _, e := range []string{modmirror.ExtInfo, modmirror.ExtMod, modmirror.ExtZip} {
		if ev, found := strings.CutSuffix(file, e); found {
			p, err1 := module.UnescapePath(epath)
			v, err2 := module.UnescapeVersion(ev)
			if err1 != nil || err2 != nil || module.Check(p, v) != nil || module.CanonicalVersion(v) != v {
				return "", "", "", false
			}
			return p, v, e, true
		}
	}
	return "", "", "", false
}

// IsNotExist reports whether err says a version is not in the catalog.
func IsNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
