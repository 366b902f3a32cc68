package checksum

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/tlog"
	"golang.org/x/sync/singleflight"

	"github.com/modmirror/modmirror"
	"github.com/modmirror/modmirror/internal/sumdbpath"
)

// ProxyOptions tunes a [Proxy]. The zero value is ready to use.
type ProxyOptions struct {
	// LatestTTL is how long an answer to /latest is reused; zero means
	// 5 seconds, a negative value not at all. The go command asks for
	// /latest whenever it needs a newer tree, so a short TTL spares the
	// remote without making the log look stale.
	LatestTTL time.Duration

	// TTL is how long lookups, partial tiles, data tiles and full tiles
	// that could not be authenticated yet are reused, in memory and by
	// HTTP caches; zero means 30 seconds, a negative value not at all.
	// Lookups carry a signed tree head, which goes stale.
	TTL time.Duration

	// CacheEntries bounds the number of answers kept in memory; zero
	// means 1024.
	CacheEntries int

	// Private, if not nil, reports whether a module path is private. A
	// lookup of a private path is never sent to the remote (a public
	// database must not learn private paths): it is answered with the
	// mirror's one not-found for private paths, modmirror.PrivateNotFound.
	Private func(path string) bool

	// Observe, if not nil, is called once for each answered /latest,
	// /lookup and /tile request, with the kind of request ("latest",
	// "lookup" or "tile") and where the answer came from: "memory",
	// "store", "remote", or "error" if there was none. It must be safe
	// for concurrent use and fast.
	Observe func(kind, source string)
}

// Where an answer came from, as passed to ProxyOptions.Observe.
const (
	fromMemory = "memory"
	fromStore  = "store"
	fromRemote = "remote"
	failed     = "error"
)

// Cache-Control values. Full tiles never change; the rest may be replaced
// by newer answers, and the go command verifies them anyway.
const (
	cacheImmutable = "public, max-age=31536000, immutable"
	cacheNone      = "no-cache"
)

// A Proxy serves a checksum database to the go command, so that a client
// with GOPROXY=<mirror> and the default GOSUMDB needs nothing else: it asks
// <mirror>/sumdb/<name>/supported, then sends its lookups and tile requests
// there too. The caller strips the "/sumdb/<name>" prefix from the request
// path, so a Proxy sees "/supported", "/latest",
// "/lookup/<escaped path>@<escaped version>" and "/tile/8/<L>/<N>[.p/<W>]"
// (or "/tile/8/data/<N>[.p/<W>]").
//
// Answers come from the remote. Full hash tiles are kept in the store once
// authenticated against the tree head the Verifier has verified, and served
// from there; everything else is kept in memory for a few seconds only.
type Proxy struct {
	v         *Verifier
	private   func(path string) bool
	latestTTL time.Duration
	ttl       time.Duration
	observe   func(kind, source string)
	cache     *memCache
	flight    singleflight.Group
}

var _ http.Handler = (*Proxy)(nil)

// NewProxy returns a Proxy for the checksum database v verifies, reading
// from v's remote and sharing v's store.
func NewProxy(v *Verifier, opts ProxyOptions) *Proxy {
	p := &Proxy{
		v:         v,
		private:   opts.Private,
		latestTTL: opts.LatestTTL,
		ttl:       opts.TTL,
		observe:   opts.Observe,
		cache:     newMemCache(opts.CacheEntries),
	}
	if p.latestTTL == 0 {
		p.latestTTL = 5 * time.Second
	}
	if p.ttl == 0 {
		p.ttl = 30 * time.Second
	}
	if p.cache.max == 0 {
		p.cache.max = 1024
	}
	if p.observe == nil {
		p.observe = func(kind, source string) {}
	}
	return p
}

// ServeHTTP implements http.Handler.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "checksum: method not allowed", http.StatusMethodNotAllowed)
		return
	}
	req, err := sumdbpath.Parse(r.URL.Path)
	if err != nil {
		http.Error(w, fmt.Sprintf("checksum: %s: not found", r.URL.Path), http.StatusNotFound)
		return
	}
	if req.Kind == sumdbpath.Lookup && p.private != nil && p.private(req.Mod.Path) {
		w.Header().Set("Cache-Control", cacheNone)
		http.Error(w, "not found: "+modmirror.PrivateNotFound, http.StatusNotFound)
		return
	}
	switch {
	case req.Kind == sumdbpath.Supported:
		// An empty 200 tells the go command to send everything here.
		w.WriteHeader(http.StatusOK)
	case req.Kind == sumdbpath.Latest:
		p.serveShort(w, r, req, p.latestTTL, cacheNone)
	case req.FullHashTile():
		p.serveFullTile(w, r, req)
	default:
		p.serveShort(w, r, req, p.ttl, p.cacheShort())
	}
}

func (p *Proxy) cacheShort() string {
	return "public, max-age=" + strconv.Itoa(max(0, int(p.ttl.Seconds())))
}

// An answer is what one remote fetch produced, shared by every request
// that waited for it.
type answer struct {
	data     []byte
	source   string
	verified bool // data is a full tile that is (now) in the store
}

// serveShort serves an answer that is kept in memory for ttl.
func (p *Proxy) serveShort(w http.ResponseWriter, r *http.Request, req sumdbpath.Request, ttl time.Duration, cacheControl string) {
	path := req.Path()
	a := answer{source: fromMemory}
	data, ok := p.cache.get(path)
	if !ok && req.Kind != sumdbpath.Latest {
		// Lookups and partial tiles never change once written, and what
		// the verifier's client stored was verified: the go command's
		// checks of a module the mirror just verified are all hits.
		if stored, err := p.stored(r.Context(), req); err == nil {
			a, data, ok = answer{data: stored, source: fromStore}, stored, true
		}
	}
	if !ok {
		var err error
		a, err = p.do(r.Context(), path, func(ctx context.Context) (answer, error) {
			data, err := p.v.remote.ReadSumDB(ctx, p.v.name, path)
			if err != nil {
				return answer{}, err
			}
			p.cache.put(path, data, ttl)
			return answer{data: data, source: fromRemote}, nil
		})
		if err != nil {
			// The remote failed, or the mirror is offline: what the
			// verifier's client stored is still good, and the go
			// command verifies it again anyway.
			stored, serr := p.stored(r.Context(), req)
			if serr != nil {
				p.fail(w, req, err)
				return
			}
			a = answer{data: stored, source: fromStore}
			cacheControl = cacheNone
		}
		data = a.data
	}
	p.observe(req.Kind, a.source)
	p.write(w, r, req, data, cacheControl)
}

// stored returns what the store (or the state file) holds for a request
// that is normally answered from the remote: the record of a lookup, a
// partial tile or a prefix of the full tile that contains it, the latest
// verified tree head. All of it was verified before it was kept.
func (p *Proxy) stored(ctx context.Context, req sumdbpath.Request) ([]byte, error) {
	switch req.Kind {
	case sumdbpath.Latest:
		data, err := p.v.heads.ReadHead(ctx, p.v.name)
		if err == nil && len(data) == 0 {
			err = fs.ErrNotExist
		}
		return data, err
	case sumdbpath.Lookup:
		return p.v.readStore(ctx, strings.TrimPrefix(req.Path(), "/"))
	case sumdbpath.Tile:
		data, err := p.v.readStore(ctx, req.Tile.Path())
		if err == nil || req.Tile.L < 0 {
			return data, err
		}
		full := req.Tile
		full.W = 1 << full.H
		data, err = p.v.readStore(ctx, full.Path())
		if err != nil {
			return nil, err
		}
		if len(data) != full.W*tlog.HashSize {
			return nil, fmt.Errorf("checksum: stored tile %s has %d bytes", full.Path(), len(data))
		}
		return data[:req.Tile.W*tlog.HashSize], nil
	}
	return nil, fs.ErrNotExist
}

// serveFullTile serves a full hash tile, from the store if it is there, and
// otherwise from the remote, storing it if it can be authenticated.
func (p *Proxy) serveFullTile(w http.ResponseWriter, r *http.Request, req sumdbpath.Request) {
	t, path := req.Tile, req.Path()
	a, err := p.storedTile(r.Context(), req)
	if err != nil {
		a, err = p.do(r.Context(), path, func(ctx context.Context) (answer, error) {
			// Look again: the request that fetched the tile just
			// before this one started may have stored it.
			if a, err := p.storedTile(ctx, req); err == nil {
				return a, nil
			}
			if data, ok := p.cache.get(path); ok {
				return answer{data: data, source: fromMemory}, nil
			}
			data, err := p.v.remote.ReadSumDB(ctx, p.v.name, path)
			if err != nil {
				return answer{}, err
			}
			if err := p.v.checkTile(ctx, t, data); err != nil {
				// The client authenticates what it gets, so pass
				// the tile on, but do not keep it. Only a tile the
				// tree does not cover yet is worth a brief stay in
				// memory: a wrong one should be fetched afresh.
				if errors.Is(err, errTreeTooSmall) {
					p.cache.put(path, data, p.ttl)
				} else {
					p.v.log.Warn("tile not authenticated; passed on, not stored", "tile", path, "err", err)
				}
				return answer{data: data, source: fromRemote}, nil
			}
			p.v.writeLater(t.Path(), data)
			return answer{data: data, source: fromRemote, verified: true}, nil
		})
		if err != nil {
			p.fail(w, req, err)
			return
		}
	}
	p.observe(req.Kind, a.source)
	cacheControl := p.cacheShort()
	if a.verified {
		cacheControl = cacheImmutable
	}
	p.write(w, r, req, a.data, cacheControl)
}

// storedTile reads the full tile req asks for from the store, where only
// authenticated tiles are written.
func (p *Proxy) storedTile(ctx context.Context, req sumdbpath.Request) (answer, error) {
	data, err := p.v.readStore(ctx, req.Tile.Path())
	if err != nil {
		return answer{}, err
	}
	return answer{data: data, source: fromStore, verified: true}, nil
}

// do runs fetch once for all concurrent requests with the same key. The
// fetch is shared, so it runs detached from the cancellation of the request
// that started it, bounded by the Verifier's timeout instead; each request
// stops waiting when its own context is done.
func (p *Proxy) do(ctx context.Context, key string, fetch func(context.Context) (answer, error)) (answer, error) {
	ch := p.flight.DoChan(key, func() (any, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.v.timeout)
		defer cancel()
		return fetch(ctx)
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return answer{}, res.Err
		}
		return res.Val.(answer), nil
	case <-ctx.Done():
		return answer{}, context.Cause(ctx)
	}
}

func (p *Proxy) write(w http.ResponseWriter, r *http.Request, req sumdbpath.Request, data []byte, cacheControl string) {
	h := w.Header()
	if req.Kind == sumdbpath.Tile {
		h.Set("Content-Type", "application/octet-stream")
	} else {
		h.Set("Content-Type", "text/plain; charset=utf-8")
	}
	h.Set("Cache-Control", cacheControl)
	h.Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(data)
	}
}

// fail reports err: 404 if the remote does not have the file, so that the
// go command reports it as such, and 502 otherwise.
func (p *Proxy) fail(w http.ResponseWriter, req sumdbpath.Request, err error) {
	p.observe(req.Kind, failed)
	status := http.StatusBadGateway
	if errors.Is(err, fs.ErrNotExist) {
		status = http.StatusNotFound
	}
	w.Header().Set("Cache-Control", cacheNone)
	if errors.Is(err, modmirror.ErrUnavailable) {
		// The mirror's own store or database is down: what, not why
		// (hosts, buckets), and try again later.
		p.v.log.Warn("request failed", "path", req.Path(), "err", err)
		w.Header().Set("Retry-After", "5")
		http.Error(w, modmirror.UnavailableText(err), http.StatusServiceUnavailable)
		return
	}
	http.Error(w, fmt.Sprintf("checksum database %s: %s: %v", p.v.name, req.Path(), err), status)
}
