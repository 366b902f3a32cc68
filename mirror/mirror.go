// Package mirror implements the heart of modmirror: answer a module request
// from the store, or fill the store from an upstream, verifying before
// anything is stored or served.
//
// # Filling a miss
//
// A miss for a canonical version's .mod or .zip is filled in one upstream
// fetch, however many clients ask at once (singleflight per process). The
// file is read with a size limit, checked (zips with golang.org/x/mod/zip,
// .info for the version asked), hashed with golang.org/x/mod/sumdb/dirhash
// and checked against the checksum database, and only then created in the
// store. Zips go to a temporary file on disk, never to memory.
//
// # Immutability
//
// A stored .info, .mod or .zip never changes. When an upstream later serves
// different bytes for a stored file (which the mirror notices when two fills
// race, or when it re-reads a version for any reason), the stored copy wins
// and the event is logged as a security error.
//
// # Lists
//
// /@v/list and /@latest change over time. The mirror asks its upstream at
// most once per ListTTL per module and merges the answer with the versions it
// stores. When the upstream fails, or in offline mode, it answers from the
// store alone: a stale list is better than none.
package mirror

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"sync"
	"time"

	"golang.org/x/mod/module"
	"golang.org/x/sync/singleflight"

	"github.com/modmirror/modmirror"
	"github.com/modmirror/modmirror/internal/activity"
	"github.com/modmirror/modmirror/internal/metrics"
	"github.com/modmirror/modmirror/internal/reqinfo"
)

// Config configures a Mirror. Store is required; everything else has a
// usable zero value.
type Config struct {
	Store modmirror.Store

	// Upstream fills misses. With no upstream the mirror serves only what
	// it stores, as in Offline mode.
	Upstream modmirror.Upstream

	// Checker verifies public modules' hashes before they are stored. With
	// no checker nothing is verified, which only tests and mirrors of
	// trusted upstreams should do.
	Checker modmirror.Checker

	// Private reports whether a module path is private: it is never sent to
	// the upstream or the checksum database. Nil means no path is private.
	Private func(path string) bool

	// Origin fills private paths, from their origin repositories. With no
	// origin, private paths are served from the store only.
	Origin modmirror.Upstream

	// NoSumDB reports whether a module path is fetched from the upstream
	// without a checksum database check (trust on first use, as GONOSUMDB).
	NoSumDB func(path string) bool

	// Recorder, if not nil, records every module version the mirror
	// stores in the mirror's own checksum database: a public module once
	// its .mod or .zip is verified, with the public database's lines; any
	// other once its .zip is stored, with the hashes of the stored files.
	Recorder Recorder

	// Locker, if not nil, makes one process at a time fill a file, of
	// the replicas that share the store: the others wait, then find the
	// file stored. With no Locker, each process fills on its own (and the
	// store's Create keeps the first copy).
	Locker Locker

	// Catalog, if not nil, is told of every file stored and every hit
	// (catalog.Catalog is one).
	Catalog Catalog

	// Activity, if not nil, gets every fill, for the status page.
	Activity *activity.Log

	// Offline makes the mirror serve from its store only.
	Offline bool

	// FillAhead makes a missed .info of a version whose go.mod is stored,
	// or is filled soon after, start filling its zip too (see
	// Mirror.infoMissed): "go mod download" asks for it later.
	FillAhead bool

	// ListTTL is how long an upstream /@v/list, /@latest or query answer is
	// reused. Zero means a minute.
	ListTTL time.Duration

	// FetchTimeout bounds one fill of a .zip (other files get a tenth of
	// it). Zero means ten minutes. Fills are not cancelled when the client
	// that caused them goes away, since others may be waiting.
	FetchTimeout time.Duration

	// MaxZipSize is the largest zip accepted from the upstream. Zero means
	// modmirror.MaxZipFile (500 MiB), the go command's own limit.
	MaxZipSize int64

	// TempDir holds zips while they are verified. Put it on the store's
	// filesystem so that storing a verified zip is a link, not a copy.
	// Empty means os.TempDir().
	TempDir string

	Logger  *slog.Logger
	Metrics *metrics.Metrics
}

// A Catalog keeps an index of the stored versions. File notes a file
// stored now; Hit notes a hit, and must cost next to nothing: it is on
// every hit's path.
type Catalog interface {
	File(ctx context.Context, path, version, ext string, size int64, source string)
	Hit(path, version string)
}

// A Locker makes one holder of a key at a time, across the processes that
// share it. Lock waits until the key is free or ctx ends, and returns the
// function that frees it. A process that dies holding a lock loses it, at
// once or within a bounded time. pgstate.Locks is one. The mirror holds at
// most one lock at a time in each goroutine, so a Locker may bound the locks
// held at once (pgstate.Locks holds a database connection for each).
type Locker interface {
	Lock(ctx context.Context, key string) (unlock func(), err error)
}

// Mirror answers module requests from its store, filling misses from its
// upstream. It is safe for concurrent use.
type Mirror struct {
	cfg     Config
	log     *slog.Logger
	metrics *metrics.Metrics
	fills   singleflight.Group
	lists   *ttlCache
	locks   pathLocks

	ahead chan struct{} // a slot per zip fillAhead is filling

	// aheadMu guards unasked: zips fillAhead started filling that no
	// client has asked for since. The first request for one is answered
	// as the miss it would have been: the fill was made for it. And
	// infoAsked: go.mod keys of versions whose .info was missed while
	// their go.mod was not stored, the go command asking for both at
	// once, and when.
	aheadMu   sync.Mutex
	unasked   map[string]bool
	infoAsked map[string]time.Time

	newest newestSeen // versions client module graphs name, for prefetchRequirements

	recording sync.WaitGroup // records made, fills ahead, and fills answered early, in the background

	earlyMu sync.Mutex
	early   map[string]*earlyAnswer // by key, of fills that answer early (startFill)
}

// New returns a Mirror.
func New(cfg Config) (*Mirror, error) {
	if cfg.Store == nil {
		return nil, errors.New("mirror: no store")
	}
	if cfg.ListTTL == 0 {
		cfg.ListTTL = time.Minute
	}
	if cfg.FetchTimeout == 0 {
		cfg.FetchTimeout = 10 * time.Minute
	}
	if cfg.MaxZipSize == 0 {
		cfg.MaxZipSize = modmirror.MaxZipFile
	}
	if cfg.TempDir == "" {
		cfg.TempDir = os.TempDir()
	}
	if cfg.Private == nil {
		cfg.Private = func(string) bool { return false }
	}
	if cfg.NoSumDB == nil {
		cfg.NoSumDB = func(string) bool { return false }
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Mirror{
		cfg:       cfg,
		log:       log,
		metrics:   cfg.Metrics,
		lists:     newTTLCache(cfg.ListTTL, 10000),
		ahead:     make(chan struct{}, maxFillAhead),
		unasked:   make(map[string]bool),
		infoAsked: make(map[string]time.Time),
		early:     make(map[string]*earlyAnswer),
	}, nil
}

// Info returns the .info file for a canonical version or for any query the
// upstream resolves to one (a branch, a tag, a commit prefix). A version
// that is canonical but not valid for the path (v4.1.2 of a module without
// /v4, which the go command asks for as v4.1.2+incompatible, or a
// pseudo-version of the wrong major version) is a query too: the upstream
// says what it resolves to, if anything.
func (m *Mirror) Info(ctx context.Context, path, query string) (modmirror.File, error) {
	if checkVersion(path, query) != nil {
		v, err := m.resolve(ctx, path, query) // checks what it answers
		if err != nil {
			return nil, err
		}
		query = v
	}
	return m.file(ctx, path, query, modmirror.ExtInfo)
}

// Mod returns the go.mod file of a canonical version.
func (m *Mirror) Mod(ctx context.Context, path, version string) (modmirror.File, error) {
	if err := checkVersion(path, version); err != nil {
		return nil, err
	}
	return m.file(ctx, path, version, modmirror.ExtMod)
}

// Zip returns the module zip of a canonical version.
func (m *Mirror) Zip(ctx context.Context, path, version string) (modmirror.File, error) {
	if err := checkVersion(path, version); err != nil {
		return nil, err
	}
	return m.file(ctx, path, version, modmirror.ExtZip)
}

// file serves one file of a canonical version of path, both checked, from
// the store, filling it first on a miss.
func (m *Mirror) file(ctx context.Context, path, version, ext string) (modmirror.File, error) {
	key, err := modmirror.VersionKey(path, version, ext)
	if err != nil {
		return nil, err
	}
	kind := ext[1:]
	filledAhead := ext == modmirror.ExtZip && m.asked(key)
	f, err := m.cfg.Store.Open(ctx, key)
	if err == nil {
		m.metrics.Lookup(kind, !filledAhead)
		reqinfo.SetCache(ctx, !filledAhead)
		if m.cfg.Catalog != nil {
			m.cfg.Catalog.Hit(path, version)
		}
		if ext == modmirror.ExtInfo {
			m.recheckOrigin(ctx, path, version, key)
		}
		return f, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	m.metrics.Lookup(kind, false)
	reqinfo.SetCache(ctx, false)
	if err := m.fillable(path, version); err != nil {
		return nil, err
	}
	if p, ok := m.cfg.Checker.(modmirror.Prefetcher); ok && m.public(path) {
		// The .info usually comes first, then the .mod and the .zip:
		// by the time their hashes are known, the record is here.
		p.Prefetch(path, version)
	}

	if ext == modmirror.ExtMod {
		m.newest.raise(path, version)
	}
	ch, early := m.startFill(ctx, path, version, ext, key)
	if ext == modmirror.ExtInfo {
		m.infoMissed(ctx, path, version)
	}
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-early.readyChan():
	case res := <-ch:
		// An early answer stays the answer if storing it failed.
		if res.Err != nil && !early.given() {
			return nil, res.Err
		}
	}
	if m.cfg.Catalog != nil {
		m.cfg.Catalog.Hit(path, version)
	}
	if early.given() {
		return early.file(key), nil
	}
	return m.cfg.Store.Open(ctx, key)
}

// startFill starts the fill of key, one of a canonical version's files,
// or joins the one running. One fill per key, detached from the request
// that started it: others may be waiting for it, and a completed fill is
// useful even if this client left. The early answer, nil where the fill
// does not answer early (answersEarly), is set once the fill has checked
// what it stores, which may be before it is stored.
func (m *Mirror) startFill(ctx context.Context, path, version, ext, key string) (<-chan singleflight.Result, *earlyAnswer) {
	var early *earlyAnswer
	made := false
	if m.answersEarly(path, ext) {
		early, made = m.earlyFor(key)
	}
	ch := m.fills.DoChan(key, func() (any, error) {
		timeout := m.cfg.FetchTimeout / 10
		if ext == modmirror.ExtZip {
			timeout = m.cfg.FetchTimeout
		}
		fctx, cancel := detach(ctx, timeout)
		defer cancel()
		start := time.Now()
		filled, err := m.fillLocked(fctx, path, version, ext, key, early)
		if err != nil && early.given() {
			m.log.Error("answered before it was stored, then not stored; the next request fills it again",
				"module", path, "version", version, "file", ext[1:], "err", err)
		}
		if err == nil && filled && ext == modmirror.ExtMod {
			// After the fill lock is let go: a fill holds one shared
			// lock at a time, so fills waiting for a second one can
			// never hold every connection to the shared database.
			err = m.updateList(fctx, path)
		}
		if err == nil && ext == modmirror.ExtMod {
			m.modStored(fctx, path, version) // or by another replica
		}
		if filled || err != nil {
			m.logFill(path, version, ext[1:], time.Since(start), err)
		}
		return nil, err
	})
	if !made {
		return ch, early
	}
	// The early answer is forgotten once the fill is done, not before: a
	// request that joins the fill until then is answered with it. Close
	// waits for this, so the file answered is stored before the mirror
	// stops.
	out := make(chan singleflight.Result, 1)
	m.recording.Go(func() {
		res := <-ch
		m.forgetEarly(key, early)
		out <- res
	})
	return out, early
}

// fillLocked fills key under its fill lock, and reports whether it did:
// not when another replica stored the file while this one waited for the
// lock.
func (m *Mirror) fillLocked(ctx context.Context, path, version, ext, key string, early *earlyAnswer) (filled bool, err error) {
	unlock, stored, err := m.lockFill(ctx, key)
	if err != nil || stored {
		return false, err
	}
	if unlock != nil {
		defer unlock()
	}
	switch ext {
	case modmirror.ExtInfo:
		err = m.fillInfo(ctx, path, version, key, early)
	case modmirror.ExtMod:
		err = m.fillMod(ctx, path, version, key, early)
	case modmirror.ExtZip:
		err = m.fillZip(ctx, path, version, key)
	}
	return err == nil, err
}

// maxFillAhead bounds the zips that fillAhead fills at once.
const maxFillAhead = 16

// infoMissed starts filling the zip of a version whose .info was missed
// (fillAhead) if its go.mod is stored, or else once a fill stores the
// go.mod (modStored). "go mod download" asks for the go.mod and the .info
// of each module of the graph, most often both at once, and later for its
// zip: a version whose .info and go.mod were both asked for has its zip
// asked for next. A version asked only for its .info (go list -m -u, a
// query) seldom has its go.mod stored or asked for, and is left alone.
func (m *Mirror) infoMissed(ctx context.Context, path, version string) {
	if !m.cfg.FillAhead {
		return
	}
	modKey, err := modmirror.VersionKey(path, version, modmirror.ExtMod)
	if err != nil {
		return
	}
	m.aheadMu.Lock()
	putBounded(m.infoAsked, modKey, time.Now(), maxUnasked) // past it, mostly versions asked only for their .info
	m.aheadMu.Unlock()
	// Checked after the .info is noted, as modStored checks the note
	// after the go.mod is stored: one of the two sees the other.
	if m.stored(ctx, modKey) && m.takeInfoAsked(modKey) {
		m.fillAhead(ctx, path, version)
	}
}

// modStored starts filling the zip of a version whose go.mod a fill has
// just stored, if its .info was missed meanwhile (infoMissed).
func (m *Mirror) modStored(ctx context.Context, path, version string) {
	if !m.cfg.FillAhead {
		return
	}
	modKey, err := modmirror.VersionKey(path, version, modmirror.ExtMod)
	if err == nil && m.takeInfoAsked(modKey) {
		m.fillAhead(ctx, path, version)
	}
}

// takeInfoAsked reports whether the .info of the version of modKey was
// missed in the last infoAskedTTL and not yet acted on, and forgets it.
func (m *Mirror) takeInfoAsked(modKey string) bool {
	m.aheadMu.Lock()
	defer m.aheadMu.Unlock()
	t, ok := m.infoAsked[modKey]
	if !ok {
		return false
	}
	delete(m.infoAsked, modKey)
	return time.Since(t) < infoAskedTTL
}

// infoAskedTTL is how long a missed .info waits for its go.mod to be
// stored: the go command asks for both within moments of each other. A
// go.mod asked for much later, alone (go mod graph), starts nothing.
const infoAskedTTL = time.Minute

// fillAhead starts filling the zip of a version whose go.mod is stored and
// whose .info was asked for, unless the zip is stored: filling it now
// overlaps its fetch and verification with the client's other requests,
// rather than starting them when the client asks. The zip is verified and
// stored as any fill, and served only when asked for; at most maxFillAhead
// run at once.
func (m *Mirror) fillAhead(ctx context.Context, path, version string) {
	zipKey, err := modmirror.VersionKey(path, version, modmirror.ExtZip)
	if err != nil || m.stored(ctx, zipKey) {
		return
	}
	select {
	case m.ahead <- struct{}{}:
	default:
		return
	}
	m.notYetAsked(zipKey)
	m.metrics.FillAhead()
	ch, _ := m.startFill(ctx, path, version, modmirror.ExtZip, zipKey)
	m.recording.Go(func() {
		if res := <-ch; res.Err != nil || res.Shared {
			// Nothing stored, so a request is a miss anyway; or a
			// request for the zip shared the fill, so it was asked.
			m.asked(zipKey)
		}
		<-m.ahead
	})
}

// maxUnasked bounds the zips filled ahead that are remembered until asked
// for; past it they are forgotten, and a zip filled ahead before that is
// answered as a hit.
const maxUnasked = 4096

// notYetAsked remembers key as filled ahead and not asked for. Past
// maxUnasked keys all are forgotten, mostly zips no one will ask for (go
// list -m all); a key already remembered does not count against the bound.
func (m *Mirror) notYetAsked(key string) {
	m.aheadMu.Lock()
	defer m.aheadMu.Unlock()
	putBounded(m.unasked, key, true, maxUnasked)
}

// putBounded sets m[key] to v. A key not in m that would take it past
// limit entries empties it first (the maps it bounds hold hints: starting
// afresh costs work or a metric, never a wrong answer); a key already in m
// never counts against the bound.
func putBounded[V any](m map[string]V, key string, v V, limit int) {
	if _, ok := m[key]; !ok && len(m) >= limit {
		clear(m)
	}
	m[key] = v
}

// asked notes that key was asked for, and reports whether fillAhead filled
// it (or is filling it) without a request for it since.
func (m *Mirror) asked(key string) bool {
	m.aheadMu.Lock()
	defer m.aheadMu.Unlock()
	if !m.unasked[key] {
		return false
	}
	delete(m.unasked, key)
	return true
}

// stored reports whether the store holds key; an error reading it counts
// as not.
func (m *Mirror) stored(ctx context.Context, key string) bool {
	f, err := m.cfg.Store.Open(ctx, key)
	if err != nil {
		return false
	}
	f.Close()
	return true
}

// lockFill takes the fill lock of key, when replicas share the store, and
// reports whether another replica stored the file while this one waited
// for it: then there is nothing to fill, and nothing to unlock.
func (m *Mirror) lockFill(ctx context.Context, key string) (unlock func(), stored bool, err error) {
	if m.cfg.Locker == nil {
		return nil, false, nil
	}
	unlock, err = m.cfg.Locker.Lock(ctx, key)
	if err != nil {
		if errors.Is(err, modmirror.ErrUnavailable) {
			return nil, false, err
		}
		return nil, false, modmirror.Unavailable("fill lock", err)
	}
	f, err := m.cfg.Store.Open(ctx, key)
	if err == nil {
		f.Close()
		unlock()
		m.log.Debug("stored by another replica", "key", key)
		return nil, true, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		unlock()
		return nil, false, err
	}
	return unlock, false, nil
}

// detach returns a context for an upstream request shared by several
// clients: it keeps ctx's values but not its cancellation, and has its own
// time limit.
func detach(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), timeout)
}

func (m *Mirror) logFill(path, version, kind string, d time.Duration, err error) {
	if m.cfg.Activity != nil && !errors.Is(err, fs.ErrNotExist) {
		f := activity.Fill{Time: time.Now(), Path: path, Version: version, File: kind, Duration: d}
		if err != nil {
			f.Err = err.Error()
			f.Security = errors.Is(err, modmirror.ErrSecurity)
		}
		m.cfg.Activity.AddFill(f)
	}
	attrs := []any{"module", path, "version", version, "file", kind, "duration", d.Round(time.Millisecond)}
	switch {
	case err == nil:
		m.log.Info("stored", attrs...)
	case errors.Is(err, modmirror.ErrSecurity):
		m.log.Error("refused", append(attrs, "err", err)...)
	case errors.Is(err, fs.ErrNotExist):
		m.log.Debug("not found upstream", append(attrs, "err", err)...)
	default:
		m.log.Warn("fill failed", append(attrs, "err", err)...)
	}
}

// fillable reports whether a miss for path may be filled from the upstream,
// and if not, returns the not-found error to serve.
func (m *Mirror) fillable(path, version string) error {
	switch {
	case m.cfg.Private(path) && (m.cfg.Origin == nil || m.cfg.Offline):
		// One answer for every private path, stored or not, readable
		// or not: see modmirror.PrivateNotFound.
		return modmirror.NotFound("%s", modmirror.PrivateNotFound)
	case m.cfg.Offline || m.source(path) == nil:
		return modmirror.NotFound("%s@%s: not stored, and the mirror is offline", path, version)
	}
	return nil
}

// source returns where a miss for path is filled from: the origin for a
// private path, the upstream for any other. Private paths never go to the
// upstream.
func (m *Mirror) source(path string) modmirror.Upstream {
	if m.cfg.Private(path) {
		return m.cfg.Origin
	}
	return m.cfg.Upstream
}

// checkVersion validates a module path and canonical version (or a
// golang.org/toolchain version, which is canonical semver too).
func checkVersion(path, version string) error {
	if err := modmirror.CheckVersion(path, version); err != nil {
		return fmt.Errorf("%w: %w", modmirror.ErrInvalid, err)
	}
	if module.CanonicalVersion(version) != version {
		return fmt.Errorf("%w: %s@%s: version is not canonical (canonical: %s)",
			modmirror.ErrInvalid, path, version, module.CanonicalVersion(version))
	}
	return nil
}

// upstreamError marks an error as coming from the upstream, so the HTTP
// layer answers 502 rather than 500, without changing its message.
func upstreamError(err error) error {
	if err == nil || errors.Is(err, fs.ErrNotExist) || errors.Is(err, modmirror.ErrSecurity) || errors.Is(err, modmirror.ErrStorage) {
		return err
	}
	return &wrapped{err: err, is: modmirror.ErrUpstream}
}

type wrapped struct {
	err error
	is  error
}

func (e *wrapped) Error() string        { return e.err.Error() }
func (e *wrapped) Unwrap() error        { return e.err }
func (e *wrapped) Is(target error) bool { return target == e.is }

// readAll reads r whole, refusing more than limit bytes.
func readAll(r io.Reader, limit int64, what string) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is larger than the %d byte limit", what, limit)
	}
	return data, nil
}
