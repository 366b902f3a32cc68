package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/module"

	"github.com/modmirror/modmirror/catalog"
	"github.com/modmirror/modmirror/internal/activity"
)

//go:embed templates/*.html
var templateFS embed.FS

// templates parses the pages' templates when first asked for: New asks, so
// a server fails at start on a broken template, while the commands that
// never serve a page (snapshot hash, say) do not spend their start-up on it.
var templates = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("").Funcs(template.FuncMap{
		"bytes": humanBytes,
		"when":  when,
		"pct":   func(f float64) string { return formatFloat(f*100, 1) + " %" },
		"rate": func(f float64) string {
			if f < 0 {
				return "—"
			}
			return formatFloat(f, 2) + "/s"
		},
		"dur": func(d time.Duration) string { return millis(d) },
	}).ParseFS(templateFS, "templates/*.html"))
})

// Page is what every page's layout needs.
type Page struct {
	Title   string
	Version string
	Query   string // the search box's value
}

// fillRow is a fill shown on the status page.
type fillRow struct {
	activity.Fill
	Shown bool // the reader may see its module path
}

// refusalRow is a refusal shown on the status page.
type refusalRow struct {
	activity.Refusal
	Shown bool
}

// policyRow is a policy's block or report shown on the status page.
type policyRow struct {
	activity.Policy
	Shown bool
}

type sumdbRow struct {
	Name  string
	Own   bool
	Size  int64
	Hash  string
	Error string
}

type statusData struct {
	Page
	Uptime           string
	Upstream         string
	HasCatalog       bool
	Stats            catalog.Stats
	StatsErr         string
	Requests         float64
	Hits, Misses     float64
	HitRatio         float64
	Rate1m, Rate5m   float64
	Counts           activity.Counts
	Upstreams        []upstreamHealth
	SumDBs           []sumdbRow
	Fills            []fillRow
	Refusals         []refusalRow
	RefusalsByReason map[string]int
	HiddenFills      int
	Policy           *PolicyInfo
	PolicyEvents     []policyRow
}

// status serves the status page.
func (h *Handler) status(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := withTimeout(r)
	defer cancel()
	now := h.totals()
	d := statusData{
		Page:       Page{Title: "modmirror", Version: h.opts.Version},
		Uptime:     time.Since(h.start).Round(time.Second).String(),
		Upstream:   h.opts.Upstream,
		HasCatalog: h.opts.Catalog != nil,
		Requests:   now.requests,
		Hits:       now.hits,
		Misses:     now.misses,
		Rate1m:     h.rate(now, time.Minute),
		Rate5m:     h.rate(now, 5*time.Minute),
	}
	if lookups := now.hits + now.misses; lookups > 0 {
		d.HitRatio = now.hits / lookups
	}
	if h.opts.Catalog != nil {
		st, err := h.opts.Catalog.Stats(ctx)
		if err != nil {
			d.StatsErr = "catalog unavailable"
		}
		d.Stats = st
	}
	if a := h.opts.Activity; a != nil {
		d.Counts = a.Counts()
		d.Upstreams = upstreams(a.Fetches())
		for _, f := range a.Fills() {
			if len(d.Fills) == 20 {
				break
			}
			if h.opts.CanSee(r, f.Path) {
				d.Fills = append(d.Fills, fillRow{Fill: f, Shown: true})
			} else {
				d.HiddenFills++
			}
		}
		d.RefusalsByReason = map[string]int{}
		for _, rf := range a.Refusals() {
			d.RefusalsByReason[rf.Reason]++
			if len(d.Refusals) < 20 {
				d.Refusals = append(d.Refusals, refusalRow{Refusal: rf, Shown: rf.Path == "" || h.opts.CanSee(r, rf.Path)})
			}
		}
	}
	if h.opts.Policy != nil {
		info := h.opts.Policy()
		d.Policy = &info
		if a := h.opts.Activity; a != nil {
			for _, p := range a.Policy() {
				if len(d.PolicyEvents) == 20 {
					break
				}
				d.PolicyEvents = append(d.PolicyEvents, policyRow{Policy: p, Shown: h.opts.CanSee(r, p.Path)})
			}
		}
	}
	for _, db := range h.opts.SumDBs {
		row := sumdbRow{Name: db.Name, Own: db.Own}
		size, hash, err := db.Size()
		if err != nil {
			row.Error = "unavailable"
		}
		row.Size, row.Hash = size, hash
		d.SumDBs = append(d.SumDBs, row)
	}
	render(w, "status.html", d)
}

type moduleData struct {
	Page
	Path     string
	Versions []catalog.Version
}

// module serves a module's page: its stored versions.
func (h *Handler) module(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Query().Get("path")
	if h.opts.Catalog == nil {
		http.Error(w, "not found: this mirror keeps no catalog", http.StatusNotFound)
		return
	}
	if module.CheckPath(path) != nil {
		http.Error(w, "bad request: not a module path", http.StatusBadRequest)
		return
	}
	ctx, cancel := withTimeout(r)
	defer cancel()
	var vs []catalog.Version
	if h.opts.CanSee(r, path) {
		var err error
		if vs, err = h.opts.Catalog.Versions(ctx, path); err != nil {
			h.serverError(w, r, err)
			return
		}
	}
	if len(vs) == 0 {
		w.WriteHeader(http.StatusNotFound)
	}
	render(w, "module.html", moduleData{Page: Page{Title: path, Version: h.opts.Version, Query: path}, Path: path, Versions: vs})
}

type searchData struct {
	Page
	Modules   []catalog.Module
	Truncated bool
}

// searchLimit is how many modules a search shows.
const searchLimit = 50

// search serves the modules whose path contains the query.
func (h *Handler) search(w http.ResponseWriter, r *http.Request) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	if h.opts.Catalog == nil {
		http.Error(w, "not found: this mirror keeps no catalog", http.StatusNotFound)
		return
	}
	ctx, cancel := withTimeout(r)
	defer cancel()
	d := searchData{Page: Page{Title: "search: " + q, Version: h.opts.Version, Query: q}}
	after := ""
	for len(d.Modules) < searchLimit && q != "" {
		mods, err := h.opts.Catalog.Modules(ctx, after, q, searchLimit)
		if err != nil {
			h.serverError(w, r, err)
			return
		}
		for _, m := range mods {
			after = m.Path
			if h.opts.CanSee(r, m.Path) {
				d.Modules = append(d.Modules, m)
			}
		}
		if len(mods) < searchLimit {
			break
		}
	}
	if len(d.Modules) > searchLimit {
		d.Modules, d.Truncated = d.Modules[:searchLimit], true
	}
	render(w, "search.html", d)
}

func render(w http.ResponseWriter, name string, data any) {
	var buf bytes.Buffer
	if err := templates().ExecuteTemplate(&buf, name, data); err != nil {
		// A bug: the templates and their data are ours.
		http.Error(w, "internal error: rendering the page failed", http.StatusInternalServerError)
		panic(fmt.Sprintf("web: rendering %s: %v", name, err))
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; img-src 'self'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Write(buf.Bytes())
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return formatFloat(float64(n), 0) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return formatFloat(float64(n)/float64(div), 1) + " " + "KMGTPE"[exp:exp+1] + "iB"
}

func when(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

func formatFloat(f float64, prec int) string { return strconv.FormatFloat(f, 'f', prec, 64) }
