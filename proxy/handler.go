package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/gzhttp"

	"github.com/modmirror/modmirror"
	"github.com/modmirror/modmirror/internal/metrics"
	"github.com/modmirror/modmirror/internal/reqinfo"
	"github.com/modmirror/modmirror/internal/sumdbpath"
	"github.com/modmirror/modmirror/internal/via"
)

// A Source answers GOPROXY requests; mirror.Mirror is one. Paths and
// versions are unescaped and checked. Errors follow modmirror's rules:
// not-found matches fs.ErrNotExist, and so on.
type Source interface {
	List(ctx context.Context, path string) ([]string, error)
	Latest(ctx context.Context, path string) ([]byte, error)
	Info(ctx context.Context, path, query string) (modmirror.File, error)
	Mod(ctx context.Context, path, version string) (modmirror.File, error)
	Zip(ctx context.Context, path, version string) (modmirror.File, error)
}

// Options configures a Handler.
type Options struct {
	// BasePath is a path prefix under which the protocol is served, such
	// as "/go"; empty serves it at the root.
	BasePath string

	// SumDB maps checksum database names to their handlers, which see
	// request paths with "/sumdb/<name>" removed.
	SumDB map[string]http.Handler

	// ListMaxAge is the Cache-Control max-age of answers that change over
	// time: lists, latest versions, non-canonical queries. Zero means a
	// minute.
	ListMaxAge time.Duration

	// Via, if not empty, is the name this mirror gives itself in the Via
	// header of its upstream requests (upstream.Options.Via). A request
	// that carries it has come back from the upstream: the upstream leads
	// to this mirror, and waiting for the answer would wait for ever. It
	// is answered 508 Loop Detected at once.
	Via string

	// HidePaths are server paths (the data directory, say) that must
	// never show in a response: every error body has them replaced. The
	// packages behind the handler already keep them out of their errors;
	// this is the last line of defence.
	HidePaths []string

	Logger  *slog.Logger
	Metrics *metrics.Metrics
}

// Handler serves the GOPROXY protocol from a Source.
type Handler struct {
	src        Source
	base       string
	sumdb      map[string]http.Handler
	sumdbNames []string
	listCC     string
	log        *slog.Logger
	metrics    *metrics.Metrics
	compress   func(http.Handler) http.HandlerFunc
	hide       *strings.Replacer // nil if there is nothing to hide
	via        string
}

const immutable = "public, max-age=31536000, immutable"

// New returns a Handler serving src.
func New(src Source, opts Options) (*Handler, error) {
	base := strings.TrimSuffix(opts.BasePath, "/")
	if base != "" && !strings.HasPrefix(base, "/") {
		return nil, fmt.Errorf("proxy: base path %q must start with /", opts.BasePath)
	}
	maxAge := opts.ListMaxAge
	if maxAge == 0 {
		maxAge = time.Minute
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	compress, err := gzhttp.NewWrapper(gzhttp.MinSize(minCompress), gzhttp.ContentTypes([]string{"text/plain", "application/json"}))
	if err != nil {
		return nil, err
	}
	var hide *strings.Replacer
	var pairs []string
	for _, p := range opts.HidePaths {
		if p = strings.TrimRight(p, "/"); len(p) > 1 {
			pairs = append(pairs, p, "<server path>")
		}
	}
	if len(pairs) > 0 {
		hide = strings.NewReplacer(pairs...)
	}
	return &Handler{
		via:        opts.Via,
		hide:       hide,
		src:        src,
		base:       base,
		sumdb:      opts.SumDB,
		sumdbNames: slices.Collect(maps.Keys(opts.SumDB)),
		listCC:     fmt.Sprintf("public, max-age=%d", int(maxAge.Seconds())),
		log:        log,
		metrics:    opts.Metrics,
		compress:   compress,
	}, nil
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if r.Header[cacheHeader] != nil && reqinfo.From(r.Context()) == nil {
		// A client that asks whether the store had the file (modmirror
		// warm) is told, access log or not.
		ctx, _ := reqinfo.New(r.Context())
		r = r.WithContext(ctx)
	}
	sw := &statusWriter{ResponseWriter: w, hide: h.hide}
	endpoint := h.serve(sw, r)
	h.metrics.Request(endpoint, sw.status(), time.Since(start))
	if sw.status() >= 500 {
		h.log.Warn("request failed", "method", r.Method, "path", r.URL.Path, "status", sw.status(), "duration", time.Since(start), "err", sw.err)
	} else if h.log.Enabled(r.Context(), slog.LevelDebug) {
		// Checked first: the arguments alone cost allocations on every
		// hit.
		h.log.Debug("request", "method", r.Method, "path", r.URL.Path, "status", sw.status(), "duration", time.Since(start))
	}
}

// serve answers a request and returns the endpoint label for metrics.
func (h *Handler) serve(w http.ResponseWriter, r *http.Request) string {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return "other"
	}
	if h.via != "" && via.Has(r.Header.Values("Via"), h.via) {
		h.log.Error("request loop: this mirror's upstream leads back to itself; fix --upstream", "path", r.URL.Path)
		w.Header().Set("Cache-Control", "no-store")
		http.Error(w, "modmirror: request loop: the mirror's upstream (--upstream, default $GOPROXY) leads back to the mirror itself", http.StatusLoopDetected)
		return "loop"
	}
	p, ok := strings.CutPrefix(r.URL.Path, h.base+"/")
	if !ok {
		http.Error(w, "not found: outside the mirror's base path "+h.base, http.StatusNotFound)
		return "other"
	}
	if p == "" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "modmirror: a Go module mirror.\nUse it with GOPROXY=%s://%s%s\n", scheme(r), r.Host, h.base)
		return "index"
	}
	if hops := r.Header.Values("Via"); len(hops) > 0 {
		// Fills made for this request name its hops upstream.
		r = r.WithContext(via.With(r.Context(), hops))
	}
	if rest, ok := strings.CutPrefix(p, "sumdb/"); ok {
		h.serveSumDB(w, r, rest)
		return "sumdb"
	}
	req, err := ParseRequest(p)
	if err != nil {
		h.fail(w, err)
		return "invalid"
	}
	h.serveRequest(w, r, req)
	return req.Kind.String()
}

func (h *Handler) serveRequest(w http.ResponseWriter, r *http.Request, req Request) {
	ctx := r.Context()
	switch req.Kind {
	case KindList:
		versions, err := h.src.List(ctx, req.Path)
		if err != nil {
			h.fail(w, err)
			return
		}
		var buf bytes.Buffer
		for _, v := range versions {
			buf.WriteString(v)
			buf.WriteByte('\n')
		}
		h.serveBytes(w, r, "text/plain; charset=utf-8", buf.Bytes())
	case KindLatest:
		data, err := h.src.Latest(ctx, req.Path)
		if err != nil {
			h.fail(w, err)
			return
		}
		h.serveBytes(w, r, "application/json", data)
	case KindInfo:
		f, err := h.src.Info(ctx, req.Path, req.Version)
		h.serveFile(w, r, req, "application/json", f, err)
	case KindMod:
		f, err := h.src.Mod(ctx, req.Path, req.Version)
		h.serveFile(w, r, req, "text/plain; charset=utf-8", f, err)
	case KindZip:
		f, err := h.src.Zip(ctx, req.Path, req.Version)
		h.serveFile(w, r, req, "application/zip", f, err)
	}
}

// serveBytes serves an answer that changes over time.
func (h *Handler) serveBytes(w http.ResponseWriter, r *http.Request, contentType string, data []byte) {
	hdr := w.Header()
	hdr.Set("Content-Type", contentType)
	hdr.Set("Cache-Control", h.listCC)
	h.send(w, r, time.Time{}, bytes.NewReader(data), int64(len(data)))
}

// serveFile serves a stored file, with ranges, conditional requests and
// HEAD handled by http.ServeContent.
func (h *Handler) serveFile(w http.ResponseWriter, r *http.Request, req Request, contentType string, f modmirror.File, err error) {
	if err != nil {
		h.fail(w, err)
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		h.fail(w, err)
		return
	}
	hdr := w.Header()
	hdr["Content-Type"] = headerValue(contentType)
	if info := reqinfo.From(r.Context()); info != nil && info.Cache != "" {
		// Whether the store had the file: for "modmirror warm", and for
		// anyone curious. Known only where an access log tracks it.
		hdr[cacheHeader] = cacheValues[info.Cache == "hit"]
	}
	if req.Canonical() {
		hdr["Cache-Control"] = immutableValue
		// Stored files never change, so size and time identify them. A
		// file answered before it is stored has no time, and no ETag.
		if mt := fi.ModTime(); !mt.IsZero() {
			hdr["Etag"] = []string{etag(mt.UnixNano(), fi.Size())}
		}
	} else {
		hdr.Set("Cache-Control", h.listCC)
	}
	h.send(w, r, fi.ModTime(), f, fi.Size())
}

// Header values set on every hit, shared so that setting them allocates
// nothing (net/http only reads them), under keys already in canonical
// form, which Header.Set would work out on every call.
var (
	immutableValue = []string{immutable}
	jsonValue      = []string{"application/json"}
	textValue      = []string{"text/plain; charset=utf-8"}
	zipValue       = []string{"application/zip"}
	bytesValue     = []string{"bytes"}
)

// headerValue returns a shared one-element value for the content type v.
func headerValue(v string) []string {
	switch v {
	case jsonValue[0]:
		return jsonValue
	case textValue[0]:
		return textValue
	case zipValue[0]:
		return zipValue
	}
	return []string{v}
}

// etag writes the ETag of a stored file: its modification time and size in
// hexadecimal, quoted.
func etag(modTime, size int64) string {
	b := make([]byte, 0, 40)
	b = append(b, '"')
	b = strconv.AppendInt(b, modTime, 16)
	b = append(b, '-')
	b = strconv.AppendInt(b, size, 16)
	b = append(b, '"')
	return string(b)
}

// cacheHeader answers whether the store had the file asked for: the
// mirror sends it where an access log tracks it, or when the request has
// it too (with any value).
const cacheHeader = "Modmirror-Cache"

// cacheValues are the values of the Modmirror-Cache header, shared so that
// setting it allocates nothing.
var cacheValues = map[bool][]string{true: {"hit"}, false: {"miss"}}

// minCompress is the smallest text worth compressing: below it, gzip's
// framing and the work cost more than they save.
const minCompress = 1024

// send serves content with http.ServeContent (ranges, conditional requests,
// HEAD), compressed when it is text of some size and the client accepts
// gzip. Small answers, the most common hits, skip the compressing wrapper
// altogether, and zips are never compressed, so the kernel can send them
// (sendfile).
func (h *Handler) send(w http.ResponseWriter, r *http.Request, modtime time.Time, content io.ReadSeeker, size int64) {
	rc := corkFor(r, size)
	if rc != nil {
		defer uncork(w, rc)
	}
	if size >= minCompress && w.Header().Get("Content-Type") != "application/zip" && strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
		h.compress(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.ServeContent(w, r, "", modtime, content)
		})).ServeHTTP(w, r)
		return
	}
	limit := int64(smallBody)
	_, isFile := content.(*os.File)
	sendfile := isFile && r.TLS == nil // over TLS there is no sendfile
	if sendfile {
		limit = smallFile
	}
	if size <= limit || isFile && !sendfile {
		// Replace ReadFrom: ServeContent then hands the body to one
		// Write, and the headers and body leave in one write(2). With
		// net/http's ReadFrom, the first 512 bytes go with the headers
		// and the rest in a second system call: sendfile(2) for a file,
		// which pays off from a few KiB. Over TLS, where there is no
		// sendfile, a larger file is read 64 KiB at a time rather than
		// 32 KiB through net/http's buffer: half the read(2) calls, 4%
		// less CPU per 3 MB hit (docs/BENCHMARKS.md, "Large files over
		// TLS read 64 KiB at a time").
		w = oneWrite{w}
	}
	if whole(r) {
		sendWhole(w, r, modtime, content, size, sendfile && rc != nil)
		return
	}
	http.ServeContent(w, r, "", modtime, content)
}

// whole reports whether r asks for the whole body with no conditions: a GET
// or HEAD with none of the headers of conditional or range requests (RFC
// 9110, sections 13 and 14), which is every request the go command makes.
// http.ServeContent answers the others.
func whole(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	h := r.Header
	return len(h["Range"]) == 0 && len(h["If-Match"]) == 0 && len(h["If-None-Match"]) == 0 &&
		len(h["If-Modified-Since"]) == 0 && len(h["If-Unmodified-Since"]) == 0
}

// sendWhole answers as http.ServeContent answers a request for which whole
// is true: 200 with Last-Modified, Accept-Ranges and Content-Length, and the
// body unless it is a HEAD. It takes the size it is given, where
// ServeContent seeks to the end and back to learn it: two system calls per
// hit on a stored file (docs/BENCHMARKS.md, "A whole body without
// ServeContent's seeks, and the headers before sendfile"). The content
// must be at its start.
//
// With headersFirst (a stored file going by sendfile on a corked
// connection), the headers are flushed before the body, so that net/http's
// ReadFrom sends all of it by sendfile(2) instead of first reading 512
// bytes of it to write with the headers; the cork joins them in the same
// segments.
func sendWhole(w http.ResponseWriter, r *http.Request, modtime time.Time, content io.Reader, size int64, headersFirst bool) {
	hdr := w.Header()
	if !modtime.IsZero() && !modtime.Equal(unixEpoch) {
		hdr["Last-Modified"] = []string{modtime.UTC().Format(http.TimeFormat)}
	}
	hdr["Accept-Ranges"] = bytesValue
	if len(hdr["Content-Encoding"]) == 0 {
		hdr["Content-Length"] = []string{strconv.FormatInt(size, 10)}
	}
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	if headersFirst {
		if err := http.NewResponseController(w).Flush(); err != nil {
			return // the connection's error
		}
	}
	// A failed copy is the connection's: the client sees a short body
	// against the Content-Length, as from ServeContent.
	_, _ = io.CopyN(w, content, size)
}

// unixEpoch is a time http.ServeContent treats as unknown, as it does the
// zero time: it sends no Last-Modified for either.
var unixEpoch = time.Unix(0, 0)

// oneWrite is a ResponseWriter whose ReadFrom reads a body into a pooled
// buffer and writes it smallBody bytes at a time: a small body with one
// Write. Without a ReadFrom, io.Copy
// would allocate a buffer the size of the body on every hit (ServeContent
// copies through an io.LimitedReader), garbage that made the collector a
// tenth of the CPU time of small hits over TLS.
type oneWrite struct{ http.ResponseWriter }

func (w oneWrite) ReadFrom(r io.Reader) (int64, error) {
	buf := bodyBuffers.Get().(*[]byte)
	defer bodyBuffers.Put(buf)
	return io.CopyBuffer(writeOnly{w.ResponseWriter}, r, *buf)
}

// writeOnly hides everything but Write, so that io.CopyBuffer uses the
// buffer it is given.
type writeOnly struct{ w io.Writer }

func (w writeOnly) Write(p []byte) (int, error) { return w.w.Write(p) }

// bodyBuffers hold what oneWrite sends: up to smallBody bytes, one Write
// each; a buffer is held only while its body is written.
var bodyBuffers = sync.Pool{New: func() any { b := make([]byte, smallBody); return &b }}

// Bodies up to these sizes are sent with the headers in one write(2):
// smallFile for a stored file, which above it goes by sendfile(2), and
// smallBody for content in memory, which cannot. Measured on loopback with
// wrk (docs/BENCHMARKS.md, "Hits: memory or sendfile"): a file of 6 KiB
// goes 9% faster by sendfile than read and written, one of 16 KiB 32%
// faster, while at 3 KiB one write is 4% ahead. From memory, one Write
// through a pooled buffer beats sendfile from the disk: by 30% at 16 KiB,
// 18% at 32 KiB ("Every figure of issue 13 in one run").
const (
	smallFile = 4 << 10
	smallBody = 64 << 10
)

// fail answers with the status code that err calls for and its text.
func (h *Handler) fail(w http.ResponseWriter, err error) {
	if sw, ok := w.(*statusWriter); ok {
		sw.err = err // for the log
	}
	code, msg := http.StatusInternalServerError, err.Error()
	switch {
	case errors.Is(err, fs.ErrNotExist):
		code, msg = http.StatusNotFound, "not found: "+msg
	case errors.Is(err, modmirror.ErrInvalid):
		code = http.StatusBadRequest
	case errors.Is(err, modmirror.ErrBlocked):
		code = http.StatusForbidden
	case errors.Is(err, modmirror.ErrUnavailable):
		// A store or database is down: try later, here. What it is
		// goes to the client, why (hosts, buckets) only to the log.
		code, msg = http.StatusServiceUnavailable, modmirror.UnavailableText(err)
		w.Header().Set("Retry-After", "5")
	case errors.Is(err, modmirror.ErrStorage):
		// The mirror's own failure: 500, whatever else it wraps.
	case errors.Is(err, modmirror.ErrSecurity), errors.Is(err, modmirror.ErrUpstream):
		code = http.StatusBadGateway
	case errors.Is(err, context.DeadlineExceeded):
		code = http.StatusGatewayTimeout
	case errors.Is(err, context.Canceled):
		code = http.StatusServiceUnavailable
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Error(w, msg, code)
}

// serveSumDB routes a request below /sumdb/ to the database it names; rest
// is the path after "/sumdb/". Names may have slashes.
func (h *Handler) serveSumDB(w http.ResponseWriter, r *http.Request, rest string) {
	name, _, ok := sumdbpath.SplitName(rest, h.sumdbNames)
	if !ok {
		w.Header().Set("Cache-Control", "no-store")
		http.Error(w, "not found: no checksum database of that name is proxied here", http.StatusNotFound)
		return
	}
	http.StripPrefix(h.base+"/sumdb/"+name, h.sumdb[name]).ServeHTTP(w, r)
}

func scheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

// statusWriter records the status code of a response, and removes server
// paths from error bodies. It passes ReadFrom through, so that files are
// still sent with sendfile(2).
type statusWriter struct {
	http.ResponseWriter
	code int
	hide *strings.Replacer
	err  error // of a failed request, set by fail
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	if w.code >= 400 && w.hide != nil {
		// Error bodies are short texts without a Content-Length (see
		// http.Error), so changing their length is fine.
		if _, err := w.hide.WriteString(w.ResponseWriter, string(b)); err != nil {
			return 0, err
		}
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) ReadFrom(r io.Reader) (int64, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(w.ResponseWriter, r)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}
