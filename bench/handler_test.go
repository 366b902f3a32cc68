package bench_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modmirror/modmirror"
	"github.com/modmirror/modmirror/accesslog"
	"github.com/modmirror/modmirror/bench/internal/policyfixture"
	"github.com/modmirror/modmirror/cachestore"
	"github.com/modmirror/modmirror/catalog"
	"github.com/modmirror/modmirror/catalog/sqlcatalog"
	"github.com/modmirror/modmirror/fsstore"
	"github.com/modmirror/modmirror/internal/metrics"
	"github.com/modmirror/modmirror/mirror"
	"github.com/modmirror/modmirror/policy"
	"github.com/modmirror/modmirror/proxy"
	"github.com/modmirror/modmirror/vulndb"
)

const (
	modPath = "example.com/bench/small"
	version = "v1.0.0"
)

// files are the stored files of the fixture version, by extension.
var files = map[string][]byte{
	".info": []byte(`{"Version":"v1.0.0","Time":"2019-01-01T00:00:00Z"}`),
	".mod":  []byte("module example.com/bench/small\n\ngo 1.22\n"),
	".zip":  bytes.Repeat([]byte("z"), 3<<10), // served as stored: content is not checked on a hit
}

// newStore returns a filesystem store holding the fixture version and its
// version list.
func newStore(b *testing.B) *fsstore.Store {
	store, err := fsstore.New(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for ext, data := range files {
		key, err := modmirror.VersionKey(modPath, version, ext)
		if err != nil {
			b.Fatal(err)
		}
		if err := store.Create(ctx, key, bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
	list, _ := modmirror.ListKey(modPath)
	if err := store.Replace(ctx, list, strings.NewReader(version+"\n")); err != nil {
		b.Fatal(err)
	}
	return store
}

// listUpstream answers lists with 20 versions and nothing else.
type listUpstream struct{}

func (listUpstream) List(ctx context.Context, path string) ([]string, error) {
	var vs []string
	for i := range 20 {
		vs = append(vs, fmt.Sprintf("v1.0.%d", i))
	}
	return vs, nil
}
func (listUpstream) Latest(context.Context, string) ([]byte, error) { return nil, os.ErrNotExist }
func (listUpstream) Info(context.Context, string, string) ([]byte, error) {
	return nil, os.ErrNotExist
}
func (listUpstream) Mod(context.Context, string, string) ([]byte, error) {
	return nil, os.ErrNotExist
}
func (listUpstream) Zip(context.Context, string, string) (io.ReadCloser, error) {
	return nil, os.ErrNotExist
}
func (listUpstream) String() string { return "bench" }

// newHandler returns the mirror's HTTP handler over store, set up as
// "modmirror serve" sets it up (an info-level logger, so debug logging is
// off), with or without metrics.
func newHandler(b *testing.B, store modmirror.Store, withMetrics bool) http.Handler {
	return newHandlerWith(b, store, withMetrics, nil)
}

// newHandlerWith is newHandler with a catalog (nil for none).
func newHandlerWith(b *testing.B, store modmirror.Store, withMetrics bool, cat mirror.Catalog) http.Handler {
	return newHandlerPolicy(b, store, withMetrics, cat, nil)
}

// newHandlerPolicy is newHandlerWith with a policy in front of the mirror,
// as serve puts it (nil for none).
func newHandlerPolicy(b *testing.B, store modmirror.Store, withMetrics bool, cat mirror.Catalog, checker *policy.Checker) http.Handler {
	var m *metrics.Metrics
	if withMetrics {
		m = metrics.New()
	}
	log := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
	mir, err := mirror.New(mirror.Config{Store: store, Upstream: listUpstream{}, Logger: log, Metrics: m, Catalog: cat})
	if err != nil {
		b.Fatal(err)
	}
	var src proxy.Source = mir
	if checker != nil {
		src = &policy.Filter{Source: mir, Checker: checker}
	}
	h, err := proxy.New(src, proxy.Options{Logger: log, Metrics: m})
	if err != nil {
		b.Fatal(err)
	}
	return h
}

// discardWriter is a ResponseWriter that keeps nothing, so that a benchmark
// measures the handler and not a recorder.
type discardWriter struct {
	h    http.Header
	code int
	n    int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(code int)        { w.code = code }
func (w *discardWriter) Write(p []byte) (int, error) { w.n += len(p); return len(p), nil }

// serve runs req through h b.N times.
func serve(b *testing.B, h http.Handler, req *http.Request, want int) {
	w := &discardWriter{h: http.Header{}}
	h.ServeHTTP(w, req)
	if w.code != 0 && w.code != http.StatusOK || w.n != want {
		b.Fatalf("%s: status %d, %d bytes; want 200, %d bytes", req.URL, w.code, w.n, want)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		clear(w.h)
		w.code, w.n = 0, 0
		h.ServeHTTP(w, req)
	}
}

// BenchmarkHandler serves stored files and a cached list through the whole
// hit path: proxy.Handler, mirror.Mirror and the store, which is the
// filesystem store alone ("disk") or with the in-memory cache of small
// files in front, as "modmirror serve" sets it up by default ("memory").
func BenchmarkHandler(b *testing.B) {
	disk := newStore(b)
	stores := []struct {
		name  string
		store modmirror.Store
	}{
		{"disk", disk},
		{"memory", cachestore.New(disk, 64<<20, 128<<10)},
	}
	for _, st := range stores {
		withMetrics := newHandler(b, st.store, true)
		noMetrics := newHandler(b, st.store, false)
		for _, ext := range []string{".info", ".mod", ".zip"} {
			p := "/" + modPath + "/@v/" + version + ext
			b.Run(st.name+"/"+ext[1:], func(b *testing.B) {
				serve(b, withMetrics, httptest.NewRequest("GET", p, nil), len(files[ext]))
			})
			if ext == ".info" {
				b.Run(st.name+"/info-nometrics", func(b *testing.B) {
					serve(b, noMetrics, httptest.NewRequest("GET", p, nil), len(files[ext]))
				})
			}
		}
	}
	b.Run("list", func(b *testing.B) {
		h := newHandler(b, disk, true)
		req := httptest.NewRequest("GET", "/"+modPath+"/@v/list", nil)
		w := &discardWriter{h: http.Header{}}
		h.ServeHTTP(w, req) // fills the list cache
		serve(b, h, req, w.n)
	})
}

// BenchmarkStaticFile is the floor under BenchmarkHandler/info: os.Open,
// Stat and http.ServeContent of the same file, with no mirror layers.
func BenchmarkStaticFile(b *testing.B) {
	store := newStore(b)
	key, _ := modmirror.VersionKey(modPath, version, ".info")
	name := filepath.Join(store.Root(), filepath.FromSlash(key))
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, err := os.Open(name)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		defer f.Close()
		fi, _ := f.Stat()
		w.Header().Set("Content-Type", "application/json")
		http.ServeContent(w, r, "", fi.ModTime(), f)
	})
	serve(b, h, httptest.NewRequest("GET", "/"+key, nil), len(files[".info"]))
}

// BenchmarkParseRequest parses the path of a .info request.
func BenchmarkParseRequest(b *testing.B) {
	b.ReportAllocs()
	for range b.N {
		if _, err := proxy.ParseRequest("github.com/!azure/azure-sdk-for-go/sdk/azcore/@v/v1.11.1.info"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpen opens, stats and closes a stored file: with fsstore.Open
// (internal/openread: open(2) wrapped by os.NewFile, an *os.File for
// sendfile), and with os.Open, which on Linux also tries to register the
// file with the network poller (fcntl x4 and a failing epoll_ctl).
func BenchmarkOpen(b *testing.B) {
	store := newStore(b)
	key, _ := modmirror.VersionKey(modPath, version, ".info")
	ctx := context.Background()
	b.Run("fsstore", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			f, err := store.Open(ctx, key)
			if err != nil {
				b.Fatal(err)
			}
			f.Stat()
			f.Close()
		}
	})
	b.Run("os.Open", func(b *testing.B) {
		name := filepath.Join(store.Root(), filepath.FromSlash(key))
		b.ReportAllocs()
		for range b.N {
			f, err := os.Open(name)
			if err != nil {
				b.Fatal(err)
			}
			f.Stat()
			f.Close()
		}
	})
}

// BenchmarkHitTracking serves the memory-cached .info and small zip
// through the whole hit path, as serve sets it up, with what each hit
// records: nothing ("none"), the catalog's last-served time ("catalog":
// a time in a map, written to SQLite in batches), a JSON access log line
// ("accesslog", to a discarding writer: the formatting, not the disk), and
// both.
func BenchmarkHitTracking(b *testing.B) {
	disk := newStore(b)
	memory := cachestore.New(disk, 64<<20, 128<<10)
	s, err := sqlcatalog.OpenSQLite(filepath.Join(b.TempDir(), "catalog.db"))
	if err != nil {
		b.Fatal(err)
	}
	cat := catalog.New(s, nil)
	b.Cleanup(func() { cat.Close() })
	jsonLog := slog.New(slog.NewJSONHandler(io.Discard, nil))
	for _, tc := range []struct {
		name      string
		cat       mirror.Catalog
		accessLog bool
	}{{"none", nil, false}, {"catalog", cat, false}, {"accesslog", nil, true}, {"both", cat, true}} {
		var h http.Handler = newHandlerWith(b, memory, true, tc.cat)
		if tc.accessLog {
			h = accesslog.Handler(h, accesslog.Options{Logger: jsonLog})
		}
		for _, ext := range []string{".info", ".zip"} {
			p := "/" + modPath + "/@v/" + version + ext
			b.Run(tc.name+"/"+ext[1:], func(b *testing.B) {
				serve(b, h, httptest.NewRequest("GET", p, nil), len(files[ext]))
			})
		}
	}
}

// BenchmarkPolicy serves the memory-cached .info and small zip through the
// whole hit path, as serve sets it up with the catalog, without a policy
// and with one of 1,000 rules (bench/internal/policyfixture: the module
// meets about 300 of them, then a cooldown and a vulns rule) and a
// vulnerability database of 4,800 entries, 960 of which name the module
// without affecting the version.
func BenchmarkPolicy(b *testing.B) {
	memory := cachestore.New(newStore(b), 64<<20, 128<<10)
	s, err := sqlcatalog.OpenSQLite(filepath.Join(b.TempDir(), "catalog.db"))
	if err != nil {
		b.Fatal(err)
	}
	cat := catalog.New(s, nil)
	b.Cleanup(func() { cat.Close() })
	ctx := context.Background()
	if _, err := cat.Seen(ctx, modPath, []string{version}, time.Now().Add(-30*24*time.Hour)); err != nil {
		b.Fatal(err)
	}
	p, err := policy.Parse("policy.toml", []byte(policyfixture.Policy(1000, 3)))
	if err != nil {
		b.Fatal(err)
	}
	const vmod, vver = "golang.org/x/vulndb", "v0.0.0-20261201000000-aaaaaaaaaaaa"
	zr, err := policyfixture.Zip(vmod, vver, policyfixture.VulnDB(4800, modPath))
	if err != nil {
		b.Fatal(err)
	}
	db, err := vulndb.Load(zr, vmod, vver, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	if !db.Covers(modPath) {
		b.Fatalf("the database names no entry of %s", modPath)
	}
	vulns := new(vulndb.Current)
	vulns.Store(db)
	for _, tc := range []struct {
		name    string
		checker *policy.Checker
	}{{"none", nil}, {"1000rules", policy.NewChecker(p, vulns, cat)}} {
		h := newHandlerPolicy(b, memory, true, cat, tc.checker)
		for _, ext := range []string{".info", ".zip"} {
			path := "/" + modPath + "/@v/" + version + ext
			b.Run(tc.name+"/"+ext[1:], func(b *testing.B) {
				serve(b, h, httptest.NewRequest("GET", path, nil), len(files[ext]))
			})
		}
	}
}
