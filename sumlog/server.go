package sumlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/modmirror/modmirror"
	"github.com/modmirror/modmirror/internal/sumdbpath"
)

// ops is the Log as golang.org/x/mod/sumdb.ServerOps.
type ops struct{ l *Log }

var _ sumdb.ServerOps = ops{}

// Signed implements sumdb.ServerOps.
func (o ops) Signed(ctx context.Context) ([]byte, error) {
	return o.l.head.Load().Signed, nil
}

// ReadRecords implements sumdb.ServerOps.
func (o ops) ReadRecords(ctx context.Context, id, n int64) ([][]byte, error) {
	recs, err := o.l.readRecords(ctx, id, n)
	return recs, noteUnavailable(ctx, err)
}

// Lookup implements sumdb.ServerOps. It does not fill: the handler has
// called Ensure before.
func (o ops) Lookup(ctx context.Context, m module.Version) (int64, error) {
	id, err := o.l.lookup(ctx, m)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, notFound(m, "not recorded")
	}
	return id, noteUnavailable(ctx, err)
}

// ReadTileData implements sumdb.ServerOps.
func (o ops) ReadTileData(ctx context.Context, t tlog.Tile) ([]byte, error) {
	l := o.l
	full := t.W == 1<<t.H
	if full {
		if data, ok := l.tiles.get(t); ok {
			return data, nil
		}
	}
	// Only tiles the signed tree covers: the storage holds nothing else,
	// but say so plainly rather than through a missing hash.
	if ok, err := l.covers(ctx, tileEnd(t)); err != nil {
		return nil, noteUnavailable(ctx, err)
	} else if !ok {
		return nil, &fs.PathError{Op: "read", Path: t.Path(), Err: fs.ErrNotExist}
	}
	data, err := tlog.ReadTileData(t, hashReader{ctx, l.storage})
	if err != nil {
		return nil, noteUnavailable(ctx, err)
	}
	if full {
		l.tiles.put(t, data)
	}
	return data, nil
}

// tileEnd returns the number of records a tree needs for tile t to exist.
func tileEnd(t tlog.Tile) int64 {
	level := max(t.L, 0)
	return (t.N<<t.H + int64(t.W)) << (uint(level) * uint(t.H))
}

// Cache-Control values: tiles never change once they exist; the head and
// lookups (which carry the head) do.
const (
	cacheImmutable = "public, max-age=31536000, immutable"
	cacheNone      = "no-cache"
)

// ServeHTTP serves the checksum database protocol with paths relative to
// the database's root: /supported, /latest, /lookup/<module>@<version> and
// /tile/8/... A lookup of a version not recorded yet records it first (see
// Config.Fill), and is answered once the record is durable.
func (l *Log) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "sumdb: method not allowed", http.StatusMethodNotAllowed)
		return
	}
	req, err := sumdbpath.Parse(r.URL.Path)
	if err != nil {
		status := http.StatusNotFound
		if strings.HasPrefix(r.URL.Path, "/lookup/") || strings.HasPrefix(r.URL.Path, "/tile/") {
			status = http.StatusBadRequest
		}
		http.Error(w, fmt.Sprintf("sumdb %s: %s: %v", l.name, r.URL.Path, err), status)
		return
	}
	h := w.Header()
	switch req.Kind {
	case sumdbpath.Supported:
		w.WriteHeader(http.StatusOK)
		return
	case sumdbpath.Lookup:
		if _, err := l.Ensure(r.Context(), req.Mod); err != nil {
			l.fail(w, req.Mod, err)
			return
		}
		h.Set("Cache-Control", cacheNone)
	case sumdbpath.Latest:
		h.Set("Cache-Control", cacheNone)
	case sumdbpath.Tile:
		h.Set("Cache-Control", cacheImmutable)
		if t := req.Tile; t.L == -1 && t.W == 1<<t.H {
			l.serveDataTile(w, r, t)
			return
		}
	}
	// sumdb.Server answers by path; give it the canonical one. It
	// answers every error of ops as a 500 with the error's text: ops
	// note an unavailable storage in the context, and the writer turns
	// that answer into a 503 that does not say why.
	uw := &unavailableWriter{ResponseWriter: w}
	r2 := r.Clone(context.WithValue(r.Context(), unavailableKey{}, &uw.err))
	r2.URL.Path = req.Path()
	l.server.ServeHTTP(uw, r2)
	if uw.err != nil {
		l.log.Warn("request failed", "path", r.URL.Path, "err", uw.err)
	}
}

// unavailableKey is the context key of where ops note an error matching
// modmirror.ErrUnavailable.
type unavailableKey struct{}

// noteUnavailable notes err in ctx if it matches modmirror.ErrUnavailable,
// and returns it.
func noteUnavailable(ctx context.Context, err error) error {
	if err != nil && errors.Is(err, modmirror.ErrUnavailable) {
		if p, ok := ctx.Value(unavailableKey{}).(*error); ok {
			*p = err
		}
	}
	return err
}

// An unavailableWriter answers a 5xx as 503, with a body that says what
// is unavailable and not why, when ops noted an unavailable storage.
type unavailableWriter struct {
	http.ResponseWriter
	err     error
	replace bool // the body is replaced: drop what the server writes
}

func (w *unavailableWriter) WriteHeader(code int) {
	if code >= 500 && w.err != nil {
		w.replace = true
		unavailable(w.ResponseWriter, w.err)
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *unavailableWriter) Write(b []byte) (int, error) {
	if w.replace {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

// unavailable answers 503 for err, an error matching
// modmirror.ErrUnavailable.
func unavailable(w http.ResponseWriter, err error) {
	h := w.Header()
	h.Del("Content-Length")
	h.Set("Cache-Control", cacheNone)
	h.Set("Retry-After", "5")
	http.Error(w, modmirror.UnavailableText(err), http.StatusServiceUnavailable)
}

// fail answers a lookup that could not be recorded: 404 for a version that
// does not exist (the go command then says so), 502 for anything else,
// with the reason as plain text, which the go command prints.
func (l *Log) fail(w http.ResponseWriter, mv module.Version, err error) {
	status := http.StatusBadGateway
	switch {
	case errors.Is(err, modmirror.ErrUnavailable):
		l.log.Warn("lookup failed", "module", mv.Path, "version", mv.Version, "err", err)
		unavailable(w, err)
		return
	case errors.Is(err, fs.ErrNotExist):
		status = http.StatusNotFound
	case errors.Is(err, modmirror.ErrInvalid):
		status = http.StatusBadRequest
	case errors.Is(err, modmirror.ErrSecurity):
		l.log.Error("lookup refused", "module", mv.Path, "version", mv.Version, "err", err)
	default:
		l.log.Warn("lookup failed", "module", mv.Path, "version", mv.Version, "err", err)
	}
	w.Header().Set("Cache-Control", cacheNone)
	http.Error(w, fmt.Sprintf("sumdb %s: %s: %v", l.name, mv, err), status)
}

// serveDataTile serves a full data tile as sumdb.Server does, from a cache
// of its body: sumdb.Server would read and format its 256 records again on
// every request.
func (l *Log) serveDataTile(w http.ResponseWriter, r *http.Request, t tlog.Tile) {
	body, ok := l.data.get(t.N)
	if !ok {
		var err error
		if body, err = l.formatDataTile(r.Context(), t); err != nil {
			if errors.Is(err, modmirror.ErrUnavailable) {
				l.log.Warn("request failed", "path", r.URL.Path, "err", err)
				unavailable(w, err)
				return
			}
			// As sumdb.Server reports errors.
			status := http.StatusInternalServerError
			if os.IsNotExist(err) {
				status = http.StatusNotFound
			}
			http.Error(w, err.Error(), status)
			return
		}
		l.data.put(t.N, body)
	}
	w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.Write(body)
}

// formatDataTile reads the records of data tile t, each checked against
// its leaf hash, and returns the tile's body: each record formatted by
// tlog.FormatRecord without its first line, the record id.
func (l *Log) formatDataTile(ctx context.Context, t tlog.Tile) ([]byte, error) {
	start := t.N << uint(t.H)
	recs, err := l.readRecords(ctx, start, int64(t.W))
	if err != nil {
		return nil, err
	}
	size := 0
	for _, text := range recs {
		size += len(text) + 1
	}
	body := make([]byte, 0, size)
	for i, text := range recs {
		msg, err := tlog.FormatRecord(start+int64(i), text)
		if err != nil {
			return nil, err
		}
		_, msg, _ = bytes.Cut(msg, []byte{'\n'})
		body = append(body, msg...)
	}
	return body, nil
}
