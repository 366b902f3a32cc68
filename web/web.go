// Package web serves a mirror's pages and feeds beside the GOPROXY
// protocol: the status page (/), a module's page (/ui/module?path=P), a
// search (/ui/search?q=S), the index feed (/index, as index.golang.org
// serves it) and the catalog (/catalog, JSON). Pages are rendered on the
// server with html/template, need no JavaScript and load nothing from
// elsewhere.
//
// # What a reader sees
//
// Every module path shown passes Options.CanSee for the request: a private
// path is shown only to a reader whose token allows it, and a module page
// of a private path is, to anyone else, the same "not found" as a path
// that is not stored. Counts (modules, versions, refusals) include
// private modules, but name none.
package web

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/modmirror/modmirror/catalog"
	"github.com/modmirror/modmirror/internal/activity"
)

// Options configure a Handler.
type Options struct {
	// Catalog is the index of stored versions; nil leaves the store's
	// numbers, the search, the module pages and the feeds out.
	Catalog catalog.Storage

	// Activity is the mirror's recent fills, refusals and fetches.
	Activity *activity.Log

	// Gatherer gives the mirror's metrics, whose totals the page shows.
	Gatherer prometheus.Gatherer

	// SumDBs are the checksum databases the page describes.
	SumDBs []SumDB

	// CanSee reports whether the reader of a request may learn that a
	// module path exists; nil means every path is visible.
	CanSee func(r *http.Request, path string) bool

	// Policy, if not nil, describes the policy in force, for the page.
	Policy func() PolicyInfo

	// Version is modmirror's version; Upstream the mirror's upstream
	// setting, as shown.
	Version, Upstream string

	Logger *slog.Logger
}

// PolicyInfo is what the status page shows of the policy.
type PolicyInfo struct {
	File  string   // the policy file, "" for none
	Rules []string // "name (kind, mode)", in the order evaluated

	// VulnDB is the vulnerability database loaded ("module@version, N
	// entries"), or why there is none.
	VulnDB string
}

// A SumDB is a checksum database shown on the status page.
type SumDB struct {
	Name string
	Own  bool // the mirror's own log, rather than one it verifies against

	// Size returns the size of the latest tree (verified, or signed for
	// the own log) and its hash.
	Size func() (int64, string, error)
}

// Handler serves the pages and feeds. Close stops its sampling of the
// metrics.
type Handler struct {
	opts  Options
	log   *slog.Logger
	mux   *http.ServeMux
	start time.Time

	mu      sync.Mutex
	samples []sample // metrics totals every sampleEvery, oldest first

	stop chan struct{}
	done chan struct{}
}

// A sample is the metrics totals at a time, for rates.
type sample struct {
	at                     time.Time
	requests, hits, misses float64
}

const (
	sampleEvery = 10 * time.Second
	maxSamples  = 6*15 + 1 // a quarter of an hour
)

// New returns a Handler.
func New(opts Options) *Handler {
	templates() // parsed now, so that a broken one stops the server at start
	if opts.CanSee == nil {
		opts.CanSee = func(*http.Request, string) bool { return true }
	}
	h := &Handler{opts: opts, log: opts.Logger, mux: http.NewServeMux(), start: time.Now(), stop: make(chan struct{}), done: make(chan struct{})}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	h.mux.HandleFunc("GET /{$}", h.status)
	h.mux.HandleFunc("GET /ui/{$}", h.status)
	h.mux.HandleFunc("GET /ui/module", h.module)
	h.mux.HandleFunc("GET /ui/search", h.search)
	h.mux.HandleFunc("GET /index", h.index)
	h.mux.HandleFunc("GET /catalog", h.catalog)
	h.mux.HandleFunc("GET /favicon.ico", favicon)
	h.takeSample()
	go h.sampleLoop()
	return h
}

// Patterns are the URL patterns the Handler answers, for a mux in front.
var Patterns = []string{"GET /{$}", "GET /ui/", "GET /index", "GET /catalog", "GET /favicon.ico"}

// favicon serves the pages' icon, which browsers ask for by themselves: a
// small SVG, so that they do not log a failed request.
func favicon(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Header().Set("Cache-Control", "public, max-age=86400")
	fmt.Fprint(w, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#0b7285"/><path d="M3 12V4l5 5 5-5v8" fill="none" stroke="#fff" stroke-width="2"/></svg>`)
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// Close stops the sampling of the metrics.
func (h *Handler) Close() error {
	close(h.stop)
	<-h.done
	return nil
}

func (h *Handler) sampleLoop() {
	defer close(h.done)
	t := time.NewTicker(sampleEvery)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
			h.takeSample()
		}
	}
}

func (h *Handler) takeSample() {
	s := h.totals()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.samples = append(h.samples, s)
	if len(h.samples) > maxSamples {
		h.samples = h.samples[1:]
	}
}

// totals reads the metrics totals now.
func (h *Handler) totals() sample {
	s := sample{at: time.Now()}
	if h.opts.Gatherer == nil {
		return s
	}
	mfs, err := h.opts.Gatherer.Gather()
	if err != nil {
		return s
	}
	for _, mf := range mfs {
		switch mf.GetName() {
		case "modmirror_http_requests_total":
			for _, m := range mf.GetMetric() {
				s.requests += m.GetCounter().GetValue()
			}
		case "modmirror_store_lookups_total":
			for _, m := range mf.GetMetric() {
				switch label(m, "result") {
				case "hit":
					s.hits += m.GetCounter().GetValue()
				case "miss":
					s.misses += m.GetCounter().GetValue()
				}
			}
		}
	}
	return s
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// rate returns the requests per second over the last window, from the
// samples and now, or -1 if the mirror has not run that long.
func (h *Handler) rate(now sample, window time.Duration) float64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range h.samples {
		if now.at.Sub(s.at) <= window+sampleEvery/2 {
			if d := now.at.Sub(s.at).Seconds(); d >= 1 {
				return (now.requests - s.requests) / d
			}
			return -1
		}
	}
	return -1
}

// index serves the index feed: newline-delimited JSON of the versions
// first stored at or after since, in that order, at most limit (default
// and most 2000), as index.golang.org serves it.
func (h *Handler) index(w http.ResponseWriter, r *http.Request) {
	if h.opts.Catalog == nil {
		http.Error(w, "not found: this mirror keeps no catalog", http.StatusNotFound)
		return
	}
	q := r.URL.Query()
	var since time.Time
	if s := q.Get("since"); s != "" {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			http.Error(w, "bad request: since: want an RFC 3339 time, such as 2026-01-02T15:04:05Z", http.StatusBadRequest)
			return
		}
		since = t
	}
	limit, err := limitParam(q.Get("limit"), 2000, 2000)
	if err != nil {
		http.Error(w, "bad request: limit: "+err.Error(), http.StatusBadRequest)
		return
	}
	entries, err := h.visibleSince(r, since, limit)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	enc := json.NewEncoder(w)
	for _, v := range entries {
		enc.Encode(struct {
			Path, Version string
			Timestamp     time.Time
		}{v.Path, v.Version, v.FirstStored})
	}
}

// visibleSince returns up to limit versions first stored at or after since
// that the reader may see: private ones the reader may not see are skipped
// without shortening the page, so that a feed reader moving its cursor on
// never stalls behind them.
func (h *Handler) visibleSince(r *http.Request, since time.Time, limit int) ([]catalog.Version, error) {
	var out []catalog.Version
	seen := make(map[[2]string]bool)
	cursor := since
	for range 20 {
		batch, err := h.opts.Catalog.Since(r.Context(), cursor, limit)
		if err != nil {
			return nil, err
		}
		for _, v := range batch {
			k := [2]string{v.Path, v.Version}
			if seen[k] {
				continue
			}
			seen[k] = true
			if h.opts.CanSee(r, v.Path) {
				out = append(out, v)
				if len(out) == limit {
					return out, nil
				}
			}
		}
		if len(batch) < limit {
			break
		}
		cursor = batch[len(batch)-1].FirstStored
	}
	return out, nil
}

// catalog serves the stored modules and their versions as JSON, a page at
// a time: at most limit (default 100, most 1000) modules after the path
// "after"; Next is the "after" of the next page, empty after the last.
func (h *Handler) catalog(w http.ResponseWriter, r *http.Request) {
	if h.opts.Catalog == nil {
		http.Error(w, "not found: this mirror keeps no catalog", http.StatusNotFound)
		return
	}
	q := r.URL.Query()
	limit, err := limitParam(q.Get("limit"), 100, 1000)
	if err != nil {
		http.Error(w, "bad request: limit: "+err.Error(), http.StatusBadRequest)
		return
	}
	type version struct {
		Version     string
		FirstStored time.Time
		Source      string
		Size        int64
		LastServed  *time.Time `json:",omitempty"`
	}
	type mod struct {
		Path     string
		Versions []version
	}
	page := struct {
		Modules []mod
		Next    string
	}{Modules: []mod{}}
	after := q.Get("after")
	ctx := r.Context()
	for len(page.Modules) < limit {
		mods, err := h.opts.Catalog.Modules(ctx, after, "", limit)
		if err != nil {
			h.serverError(w, r, err)
			return
		}
		for _, m := range mods {
			after = m.Path
			if !h.opts.CanSee(r, m.Path) {
				continue
			}
			vs, err := h.opts.Catalog.Versions(ctx, m.Path)
			if err != nil {
				h.serverError(w, r, err)
				return
			}
			out := mod{Path: m.Path}
			for _, v := range vs {
				ov := version{Version: v.Version, FirstStored: v.FirstStored, Source: v.Source, Size: v.Size()}
				if !v.LastServed.IsZero() {
					ov.LastServed = &v.LastServed
				}
				out.Versions = append(out.Versions, ov)
			}
			page.Modules = append(page.Modules, out)
			if len(page.Modules) == limit {
				page.Next = m.Path
				break
			}
		}
		if len(mods) < limit {
			break
		}
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	json.NewEncoder(w).Encode(page)
}

func limitParam(s string, def, most int) (int, error) {
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%q: want a number from 1 to %d", s, most)
	}
	return min(n, most), nil
}

// serverError answers a failure of the catalog: 503, saying what and not
// why, which goes to the log.
func (h *Handler) serverError(w http.ResponseWriter, r *http.Request, err error) {
	h.log.Warn("web: the catalog failed", "path", r.URL.Path, "err", err)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Retry-After", "5")
	http.Error(w, "catalog unavailable; try again later", http.StatusServiceUnavailable)
}

// upstreamHealth sums up the recent fetches of one upstream.
type upstreamHealth struct {
	Upstream            string
	Fetches, Errors     int
	Median, Slowest     time.Duration
	LastError           string
	LastErrorAt         time.Time
	LastStatus          int
	LastAt              time.Time
	NotFound            int
	ErrorRatio          float64
	MedianMS, SlowestMS string
}

func upstreams(fetches []activity.Fetch) []upstreamHealth {
	by := map[string][]activity.Fetch{}
	for _, f := range fetches {
		by[f.Upstream] = append(by[f.Upstream], f)
	}
	var out []upstreamHealth
	for name, fs := range by {
		u := upstreamHealth{Upstream: name, Fetches: len(fs), LastStatus: fs[0].Status, LastAt: fs[0].Time}
		var ds []time.Duration
		for _, f := range fs {
			ds = append(ds, f.Duration)
			switch {
			case f.Err != "" || f.Status >= 500 || f.Status == 0:
				u.Errors++
				if u.LastError == "" {
					u.LastError, u.LastErrorAt = cmp.Or(f.Err, "status "+strconv.Itoa(f.Status)), f.Time
				}
			case f.Status == 404 || f.Status == 410 || f.Status == 403:
				u.NotFound++
			}
		}
		slices.Sort(ds)
		u.Median, u.Slowest = ds[len(ds)/2], ds[len(ds)-1]
		u.MedianMS, u.SlowestMS = millis(u.Median), millis(u.Slowest)
		u.ErrorRatio = float64(u.Errors) / float64(u.Fetches)
		out = append(out, u)
	}
	slices.SortFunc(out, func(a, b upstreamHealth) int { return strings.Compare(a.Upstream, b.Upstream) })
	return out
}

func millis(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

// withTimeout bounds the catalog queries of one page.
func withTimeout(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), 10*time.Second)
}
