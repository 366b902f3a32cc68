package mirror_test

import (
	"compress/gzip"
	"context"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modmirror/modmirror"
	"github.com/modmirror/modmirror/catalog"
	"github.com/modmirror/modmirror/catalog/sqlcatalog"
	"github.com/modmirror/modmirror/internal/syncbuf"

	"github.com/modmirror/modmirror/checksum"
	"github.com/modmirror/modmirror/fsstore"
	"github.com/modmirror/modmirror/internal/testupstream"
	"github.com/modmirror/modmirror/mirror"
	"github.com/modmirror/modmirror/proxy"
	"github.com/modmirror/modmirror/upstream"
)

// fixtures are the modules most tests use.
var fixtures = []testupstream.Module{
	{Path: "example.com/a", Version: "v1.0.0", Files: map[string]string{
		"go.mod": "module example.com/a\n\ngo 1.21\n",
		"a.go":   "package a\n\nconst A = 1\n",
	}},
	{Path: "example.com/a", Version: "v1.1.0", Files: map[string]string{
		"go.mod": "module example.com/a\n\ngo 1.21\n",
		"a.go":   "package a\n\nconst A = 11\n",
	}},
	{Path: "example.com/a", Version: "v1.2.0-0.20240102030405-abcdefabcdef", Aliases: []string{"main", "abcdefabcdef"}, Files: map[string]string{
		"go.mod": "module example.com/a\n\ngo 1.21\n",
		"a.go":   "package a\n\nconst A = 12\n",
	}},
	{Path: "github.com/Azure/Foo", Version: "v1.0.0", Files: map[string]string{
		"go.mod": "module github.com/Azure/Foo\n",
		"foo.go": "package foo\n",
	}},
	{Path: "example.com/incompat", Version: "v2.0.0+incompatible", Files: map[string]string{
		"x.go": "package incompat\n",
	}},
	{Path: "example.com/big", Version: "v1.0.0", Files: map[string]string{
		"go.mod": "module example.com/big\n\n" + strings.Repeat("// padding to make the go.mod worth compressing\n", 40),
		"big.go": "package big\n\nvar Data = `" + noise(64<<10) + "`\n",
	}},
}

// noise returns n deterministic, incompressible hex digits.
func noise(n int) string {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = "0123456789abcdef"[r.IntN(16)]
	}
	return string(b)
}

// env is a mirror in front of a fixture upstream, served over HTTP.
type env struct {
	up    *testupstream.Server
	store *fsstore.Store
	url   string
	log   *syncbuf.Buffer
	m     *mirror.Mirror
}

type envOption func(*mirror.Config)

func newEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	up := testupstream.New(t, fixtures...)
	return newEnvWith(t, up, t.TempDir(), opts...)
}

func newEnvWith(t *testing.T, up *testupstream.Server, dir string, opts ...envOption) *env {
	t.Helper()
	store, err := fsstore.New(filepath.Join(dir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	chain, err := upstream.Parse(up.URL, upstream.Options{})
	if err != nil {
		t.Fatal(err)
	}
	logs := new(syncbuf.Buffer)
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	verifier, err := checksum.NewVerifier(checksum.Config{
		Name:     up.SumDBName(),
		Key:      up.VerifierKey(),
		Remote:   chain,
		Store:    store,
		StateDir: filepath.Join(dir, "sumdb"),
		Logger:   log,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { verifier.Close() }) // before the temporary directories go
	cfg := mirror.Config{
		Store:    store,
		Upstream: chain,
		Checker:  verifier,
		TempDir:  t.TempDir(),
		Logger:   log,
	}
	for _, o := range opts {
		o(&cfg)
	}
	m, err := mirror.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Fills go on after their answer (a go.mod answered before it is
	// stored, a zip filled ahead): done before the directories go.
	t.Cleanup(m.Wait)
	h, err := proxy.New(m, proxy.Options{
		SumDB:  map[string]http.Handler{up.SumDBName(): checksum.NewProxy(verifier, checksum.ProxyOptions{})},
		Logger: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &env{up: up, store: store, url: srv.URL, log: logs, m: m}
}

type response struct {
	code int
	body string
	hdr  http.Header
}

func (e *env) get(t *testing.T, path string, hdr ...string) response {
	t.Helper()
	req, err := http.NewRequest("GET", e.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultTransport.RoundTrip(req) // no transparent gzip
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, string(body), resp.Header}
}

// upstreamBytes fetches a file straight from the fixture upstream.
func (e *env) upstreamBytes(t *testing.T, path string) string {
	t.Helper()
	resp, err := http.Get(e.up.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("upstream %s: %d %s", path, resp.StatusCode, body)
	}
	return string(body)
}

func (e *env) stored(name string) bool {
	_, err := os.Stat(filepath.Join(e.store.Root(), filepath.FromSlash(name)))
	return err == nil
}

// settle waits for the mirror's work in the background: a public module's
// go.mod and .info are answered before they are stored.
func (e *env) settle() { e.m.Wait() }

func TestFillAndServe(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, tc := range []struct {
		path, contentType string
	}{
		{"/example.com/a/@v/v1.0.0.info", "application/json"},
		{"/example.com/a/@v/v1.0.0.mod", "text/plain; charset=utf-8"},
		{"/example.com/a/@v/v1.0.0.zip", "application/zip"},
		{"/github.com/!azure/!foo/@v/v1.0.0.zip", "application/zip"},
		{"/example.com/incompat/@v/v2.0.0+incompatible.mod", "text/plain; charset=utf-8"},
		{"/example.com/incompat/@v/v2.0.0+incompatible.zip", "application/zip"},
	} {
		want := e.upstreamBytes(t, tc.path)
		e.up.ResetRequests()
		for range 2 {
			r := e.get(t, tc.path)
			if r.code != 200 || r.body != want {
				t.Fatalf("GET %s: %d, %d bytes; want 200 with the upstream's %d bytes", tc.path, r.code, len(r.body), len(want))
			}
			if got := r.hdr.Get("Content-Type"); got != tc.contentType {
				t.Errorf("GET %s: Content-Type %q, want %q", tc.path, got, tc.contentType)
			}
			if got := r.hdr.Get("Cache-Control"); got != "public, max-age=31536000, immutable" {
				t.Errorf("GET %s: Cache-Control %q", tc.path, got)
			}
		}
		// The second GET was a hit: one upstream request in all.
		if n := e.up.Requests(tc.path); n != 1 {
			t.Errorf("%s: %d upstream requests, want 1", tc.path, n)
		}
		e.settle()
		if !e.stored(strings.TrimPrefix(tc.path, "/")) {
			t.Errorf("%s is not in the store in the module cache layout", tc.path)
		}
	}
	// The stored list names the versions whose .mod is stored, as the go
	// command's module cache does.
	list, err := os.ReadFile(filepath.Join(e.store.Root(), "example.com/a/@v/list"))
	if err != nil || string(list) != "v1.0.0\n" {
		t.Errorf("stored list = %q, %v; want %q", list, err, "v1.0.0\n")
	}
}

func TestHTTPFeatures(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	zipPath := "/example.com/big/@v/v1.0.0.zip"
	full := e.get(t, zipPath)
	if full.code != 200 {
		t.Fatalf("GET zip: %d %s", full.code, full.body)
	}

	r := e.get(t, zipPath, "Range", "bytes=10-19")
	if r.code != http.StatusPartialContent || r.body != full.body[10:20] {
		t.Errorf("Range: %d %q, want 206 %q", r.code, r.body, full.body[10:20])
	}

	etag := full.hdr.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag on a stored file")
	}
	if r := e.get(t, zipPath, "If-None-Match", etag); r.code != http.StatusNotModified {
		t.Errorf("If-None-Match: %d, want 304", r.code)
	}

	req, _ := http.NewRequest("HEAD", e.url+zipPath, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.ContentLength != int64(len(full.body)) {
		t.Errorf("HEAD: %d, length %d; want 200, %d", resp.StatusCode, resp.ContentLength, len(full.body))
	}

	// Text is compressed for clients that accept it; zips never are.
	modPath := "/example.com/big/@v/v1.0.0.mod"
	plain := e.get(t, modPath)
	gz := e.get(t, modPath, "Accept-Encoding", "gzip")
	if gz.hdr.Get("Content-Encoding") != "gzip" {
		t.Fatalf(".mod with Accept-Encoding gzip: Content-Encoding %q", gz.hdr.Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(strings.NewReader(gz.body))
	if err != nil {
		t.Fatal(err)
	}
	unzipped, _ := io.ReadAll(zr)
	if string(unzipped) != plain.body {
		t.Errorf("gunzipped .mod differs from the plain one")
	}
	if r := e.get(t, zipPath, "Accept-Encoding", "gzip"); r.hdr.Get("Content-Encoding") != "" || r.body != full.body {
		t.Errorf("zip with Accept-Encoding gzip: Content-Encoding %q", r.hdr.Get("Content-Encoding"))
	}

	req, _ = http.NewRequest("POST", e.url+zipPath, nil)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d, want 405", resp.StatusCode)
	}
}

func TestStatusCodes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.up.SetFault("/example.com/a/@v/v1.1.0.mod", testupstream.Status(500))
	e.up.SetFault("/example.com/a/@v/v1.1.0.info", testupstream.Status(403))
	e.up.SetFault("/example.com/a/@v/v1.0.0.info", testupstream.Status(410))
	for _, tc := range []struct {
		path     string
		code     int
		contains string
	}{
		{"/example.com/missing/@v/v1.0.0.info", 404, "not found"},
		{"/example.com/missing/@v/list", 404, "not found"},
		{"/example.com/missing/@latest", 404, "not found"},
		{"/example.com/a/@v/v1.9.9.zip", 404, "not found"},
		{"/example.com/a/@v/v1.1.0.info", 404, "not found"},
		{"/example.com/a/@v/v1.0.0.info", 404, "not found"},
		{"/example.com/a/@v/v1.1.0.mod", 502, "500 Internal Server Error"},
		{"/Example.com/a/@v/list", 400, "invalid"},
		{"/example.com/a/@v/v1.0.0.tar", 400, "unknown file"},
		{"/example.com/a/@v/1.0.0.mod", 404, "not a canonical version"},
		{"/example.com/a/@v/v1.0.mod", 404, "not a canonical version"},
		{"/example.com/a/@v/v2.0.0.mod", 404, "not a canonical version"},
		{"/example.com/a/@v/v1.0.0:x.mod", 400, "invalid escaped version"},
		{"/example.com/a/@v/", 400, "unknown file"},
		{"/example.com/a", 400, "not a GOPROXY request"},
		{"/example.com/a/@v/v1.0.0.mod/x", 400, ""},
		{"/sumdb/unknown.example/supported", 404, "no checksum database of that name is proxied here"},
	} {
		r := e.get(t, tc.path)
		if r.code != tc.code || !strings.Contains(r.body, tc.contains) {
			t.Errorf("GET %s: %d %q; want %d containing %q", tc.path, r.code, r.body, tc.code, tc.contains)
		}
		if r.code != 200 && r.hdr.Get("Cache-Control") != "no-store" {
			t.Errorf("GET %s: error with Cache-Control %q", tc.path, r.hdr.Get("Cache-Control"))
		}
	}
}

// TestRefused checks that content failing a check is refused with a 5xx
// that names the module, and that nothing reaches the store.
func TestRefused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		path     string
		fault    testupstream.Fault
		contains []string
	}{
		{"TamperZip", "/example.com/a/@v/v1.0.0.zip", testupstream.TamperZip, []string{"SECURITY ERROR", "example.com/a@v1.0.0"}},
		{"TamperMod", "/example.com/a/@v/v1.0.0.mod", testupstream.TamperMod, []string{"SECURITY ERROR", "example.com/a@v1.0.0"}},
		{"CorruptZip", "/example.com/a/@v/v1.0.0.zip", testupstream.CorruptZip, []string{"example.com/a@v1.0.0", "invalid zip"}},
		{"Truncate", "/example.com/a/@v/v1.0.0.zip", testupstream.Truncate, []string{"example.com/a@v1.0.0", "unexpected EOF"}},
		{"TruncateMod", "/example.com/a/@v/v1.0.0.mod", testupstream.Truncate, []string{"example.com/a@v1.0.0"}},
		{"Oversize", "/example.com/big/@v/v1.0.0.zip", testupstream.FaultNone, []string{"example.com/big@v1.0.0", "larger than the 4096 byte limit"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, func(c *mirror.Config) { c.MaxZipSize = 4096 })
			e.up.SetFault(tc.path, tc.fault)
			r := e.get(t, tc.path)
			if r.code != http.StatusBadGateway {
				t.Errorf("GET %s: %d %q; want 502", tc.path, r.code, r.body)
			}
			for _, s := range tc.contains {
				if !strings.Contains(r.body, s) {
					t.Errorf("GET %s: body %q does not contain %q", tc.path, r.body, s)
				}
			}
			if e.stored(strings.TrimPrefix(tc.path, "/")) {
				t.Errorf("%s was stored", tc.path)
			}
			// Once the upstream behaves, the same request succeeds: the
			// failure was not cached.
			if tc.name != "Oversize" {
				e.up.SetFault(tc.path, testupstream.FaultNone)
				if r := e.get(t, tc.path); r.code != 200 {
					t.Errorf("GET %s after the fault: %d %q", tc.path, r.code, r.body)
				}
			}
		})
	}
}

// TestOneFetchPerMiss: 200 concurrent requests for one uncached zip cause
// exactly one upstream fetch, and all get identical, correct bytes.
func TestOneFetchPerMiss(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	path := "/example.com/big/@v/v1.0.0.zip"
	want := e.upstreamBytes(t, path)
	e.up.ResetRequests()
	// The upstream is slow, so all requests arrive during the one fetch.
	e.up.SetFault(path, testupstream.Delay(300*time.Millisecond))

	const n = 200
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n}}
	var wg sync.WaitGroup
	bodies := make([]string, n)
	codes := make([]int, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := client.Get(e.url + path)
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			bodies[i], codes[i] = string(b), resp.StatusCode
		}()
	}
	wg.Wait()
	for i := range n {
		if codes[i] != 200 || bodies[i] != want {
			t.Fatalf("request %d: %d, %d bytes; want 200 and the upstream's %d bytes", i, codes[i], len(bodies[i]), len(want))
		}
	}
	if got := e.up.Requests(path); got != 1 {
		t.Errorf("%d upstream fetches for %d concurrent requests, want 1", got, n)
	}
}

func TestListAndLatest(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *mirror.Config) { c.ListTTL = time.Hour })
	want := e.upstreamBytes(t, "/example.com/a/@v/list")
	e.up.ResetRequests()
	if r := e.get(t, "/example.com/a/@v/list"); r.code != 200 || r.body != want {
		t.Fatalf("list: %d %q, want %q", r.code, r.body, want)
	}
	if r := e.get(t, "/example.com/a/@v/list"); r.hdr.Get("Cache-Control") != "public, max-age=60" {
		t.Errorf("list Cache-Control %q", r.hdr.Get("Cache-Control"))
	}
	// Within the TTL, one upstream request.
	if n := e.up.Requests("/example.com/a/@v/list"); n != 1 {
		t.Errorf("%d upstream list requests within the TTL, want 1", n)
	}
	latest := e.get(t, "/example.com/a/@latest")
	if latest.code != 200 || !strings.Contains(latest.body, `"Version":"v1.1.0"`) {
		t.Fatalf("latest: %d %q", latest.code, latest.body)
	}
	// The answer to @latest is stored as that version's .info.
	e.settle()
	if !e.stored("example.com/a/@v/v1.1.0.info") {
		t.Error("@latest did not store the .info of v1.1.0")
	}
}

func TestListRefreshAndFallback(t *testing.T) {
	t.Parallel()
	up := testupstream.New(t, fixtures...)
	e := newEnvWith(t, up, t.TempDir(), func(c *mirror.Config) { c.ListTTL = time.Nanosecond })
	e.get(t, "/example.com/a/@v/v1.0.0.mod")
	e.settle() // the go.mod and the list it is in stored

	up.Add(testupstream.Module{Path: "example.com/a", Version: "v1.3.0", Files: map[string]string{"go.mod": "module example.com/a\n"}})
	if r := e.get(t, "/example.com/a/@v/list"); !strings.Contains(r.body, "v1.3.0") {
		t.Errorf("list after the TTL does not have the new version: %q", r.body)
	}

	// The upstream goes away: the stored versions are still served.
	up.Close()
	if r := e.get(t, "/example.com/a/@v/list"); r.code != 200 || r.body != "v1.0.0\n" {
		t.Errorf("list with the upstream down: %d %q; want the stored %q", r.code, r.body, "v1.0.0\n")
	}
	if r := e.get(t, "/example.com/a/@latest"); r.code != 200 || !strings.Contains(r.body, `"Version":"v1.0.0"`) {
		t.Errorf("latest with the upstream down: %d %q", r.code, r.body)
	}
	if r := e.get(t, "/example.com/a/@v/v1.0.0.mod"); r.code != 200 {
		t.Errorf("stored .mod with the upstream down: %d %q", r.code, r.body)
	}
	if r := e.get(t, "/example.com/a/@v/v1.1.0.mod"); r.code != 502 {
		t.Errorf("uncached .mod with the upstream down: %d %q; want 502", r.code, r.body)
	}
}

func TestOffline(t *testing.T) {
	t.Parallel()
	up := testupstream.New(t, fixtures...)
	dir := t.TempDir()
	online := newEnvWith(t, up, dir)
	for _, p := range []string{"/example.com/a/@v/v1.0.0.info", "/example.com/a/@v/v1.0.0.mod", "/example.com/a/@v/v1.0.0.zip", "/example.com/a/@v/main.info"} {
		if r := online.get(t, p); r.code != 200 {
			t.Fatalf("GET %s: %d %q", p, r.code, r.body)
		}
	}
	online.settle()
	up.ResetRequests()

	off := newEnvWith(t, up, dir, func(c *mirror.Config) { c.Offline = true })
	for _, tc := range []struct {
		path     string
		code     int
		contains string
	}{
		{"/example.com/a/@v/v1.0.0.zip", 200, ""},
		{"/example.com/a/@v/list", 200, "v1.0.0\n"},
		{"/example.com/a/@latest", 200, `"Version":"v1.0.0"`},
		{"/example.com/a/@v/abcdefabcdef.info", 200, "v1.2.0-0.20240102030405-abcdefabcdef"},
		{"/example.com/a/@v/abcdefa.info", 200, "v1.2.0-0.20240102030405-abcdefabcdef"},
		{"/example.com/a/@v/main.info", 404, "offline"},
		{"/example.com/a/@v/v1.1.0.zip", 404, "offline"},
		{"/example.com/other/@v/list", 404, "offline"},
	} {
		if r := off.get(t, tc.path); r.code != tc.code || !strings.Contains(r.body, tc.contains) {
			t.Errorf("offline GET %s: %d %q; want %d containing %q", tc.path, r.code, r.body, tc.code, tc.contains)
		}
	}
	if log := up.RequestLog(); len(log) != 0 {
		t.Errorf("offline mirror asked the upstream for %q", log)
	}
}

func TestQuery(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.get(t, "/example.com/a/@v/main.info")
	if r.code != 200 || !strings.Contains(r.body, "v1.2.0-0.20240102030405-abcdefabcdef") {
		t.Fatalf("main.info: %d %q", r.code, r.body)
	}
	if cc := r.hdr.Get("Cache-Control"); strings.Contains(cc, "immutable") {
		t.Errorf("a branch query is served with Cache-Control %q", cc)
	}
	e.settle()
	if !e.stored("example.com/a/@v/v1.2.0-0.20240102030405-abcdefabcdef.info") {
		t.Error("the resolved version's .info was not stored under its canonical name")
	}
	if e.stored("example.com/a/@v/main.info") {
		t.Error("a branch query was stored under the branch name")
	}
}

func TestPrivateNeverAsksUpstream(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *mirror.Config) {
		c.Private = func(p string) bool { return strings.HasPrefix(p, "example.com/a") }
	})
	for _, p := range []string{"/example.com/a/@v/list", "/example.com/a/@latest", "/example.com/a/@v/v1.0.0.info", "/example.com/a/@v/v1.0.0.zip", "/example.com/a/@v/main.info"} {
		if r := e.get(t, p); r.code != 404 || !strings.Contains(r.body, "private") {
			t.Errorf("GET %s: %d %q; want 404 saying private", p, r.code, r.body)
		}
	}
	for _, p := range e.up.RequestLog() {
		if strings.Contains(p, "example.com/a") {
			t.Errorf("the upstream was asked for private %s", p)
		}
	}
}

func TestNoSumDB(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *mirror.Config) {
		c.NoSumDB = func(p string) bool { return p == "example.com/a" }
	})
	if r := e.get(t, "/example.com/a/@v/v1.0.0.zip"); r.code != 200 {
		t.Fatalf("zip: %d %q", r.code, r.body)
	}
	for _, p := range e.up.RequestLog() {
		if strings.Contains(p, "/sumdb/") {
			t.Errorf("a nosumdb module was looked up: %s", p)
		}
	}
}

func TestVerificationUnavailable(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.up.SetFault("/sumdb/"+e.up.SumDBName()+"/lookup/example.com/a@v1.0.0", testupstream.Status(500))
	r := e.get(t, "/example.com/a/@v/v1.0.0.mod")
	if r.code != 502 || !strings.Contains(r.body, "example.com/a") {
		t.Errorf("mod with the checksum database failing: %d %q; want 502 naming the module", r.code, r.body)
	}
	// The hint about nosumdb patterns is for a database that does not
	// know the module, not for one that fails.
	if strings.Contains(r.body, "nosumdb") {
		t.Errorf("mod with the checksum database failing: the nosumdb hint: %q", r.body)
	}
	e.up.SetFault("/sumdb/"+e.up.SumDBName()+"/lookup/example.com/a@v1.1.0", testupstream.Status(404))
	r = e.get(t, "/example.com/a/@v/v1.1.0.mod")
	if r.code != 502 || !strings.Contains(r.body, "does not know this version") || !strings.Contains(r.body, "nosumdb or private patterns") {
		t.Errorf("mod unknown to the checksum database: %d %q; want 502 with the nosumdb hint", r.code, r.body)
	}
	if e.stored("example.com/a/@v/v1.0.0.mod") {
		t.Error("an unverified .mod was stored")
	}
	e.up.SetFault("/sumdb/"+e.up.SumDBName()+"/lookup/example.com/a@v1.0.0", testupstream.FaultNone)
	if r := e.get(t, "/example.com/a/@v/v1.0.0.mod"); r.code != 200 {
		t.Errorf("mod after the checksum database recovered: %d %q", r.code, r.body)
	}
}

func TestFetchTimeout(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *mirror.Config) { c.FetchTimeout = 200 * time.Millisecond })
	e.up.SetFault("/example.com/a/@v/v1.0.0.zip", testupstream.Hang)
	r := e.get(t, "/example.com/a/@v/v1.0.0.zip")
	if r.code < 500 || !strings.Contains(r.body, "example.com/a@v1.0.0") {
		t.Errorf("hanging upstream: %d %q; want a 5xx naming the module", r.code, r.body)
	}
}

func TestSumDBProxy(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	name := e.up.SumDBName()
	if r := e.get(t, "/sumdb/"+name+"/supported"); r.code != 200 {
		t.Errorf("supported: %d", r.code)
	}
	r := e.get(t, "/sumdb/"+name+"/lookup/example.com/a@v1.0.0")
	if r.code != 200 || !strings.Contains(r.body, e.up.GoSumLines("example.com/a", "v1.0.0")[0]) {
		t.Errorf("lookup: %d %q", r.code, r.body)
	}
}

// TestClientChecksAreHits: once the mirror has verified a module, the go
// command's own checks of it (a lookup, then the tiles that prove it) are
// answered from what the mirror stored, without asking the upstream again.
func TestClientChecksAreHits(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	name := e.up.SumDBName()
	if r := e.get(t, "/example.com/a/@v/v1.1.0.mod"); r.code != 200 {
		t.Fatalf("mod: %d %q", r.code, r.body)
	}
	before := e.up.RequestLog()
	lookup := e.get(t, "/sumdb/"+name+"/lookup/example.com/a@v1.1.0")
	if lookup.code != 200 {
		t.Fatalf("lookup: %d %q", lookup.code, lookup.body)
	}
	// The tiles the verifier read to prove the record are stored (in the
	// background, so wait for them); the client asks for the same ones.
	var tiles []string
	for deadline := time.Now().Add(10 * time.Second); len(tiles) == 0 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		filepath.WalkDir(filepath.Join(e.store.Root(), "sumdb", name, "tile"), func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && !strings.HasPrefix(d.Name(), ".") {
				rel, _ := filepath.Rel(e.store.Root(), p)
				tiles = append(tiles, "/"+filepath.ToSlash(rel))
			}
			return nil
		})
	}
	if len(tiles) == 0 {
		t.Fatal("no stored tiles")
	}
	for _, tile := range tiles {
		if r := e.get(t, tile); r.code != 200 {
			t.Errorf("GET %s: %d %q", tile, r.code, r.body)
		}
	}
	if after := e.up.RequestLog(); len(after) != len(before) {
		t.Errorf("the client's checks went upstream: %q", after[len(before):])
	}
}

// recorder is a mirror.Recorder that keeps what it is given.
type recorder struct {
	mu   sync.Mutex
	recs map[string]string
}

func (r *recorder) Record(ctx context.Context, path, version string, data []byte) (int64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.recs == nil {
		r.recs = map[string]string{}
	}
	r.recs[path+"@"+version] = string(data)
	return int64(len(r.recs)), nil
}

func (r *recorder) get(key string) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v, ok := r.recs[key]
	return v, ok
}

// TestPrivateFromOrigin fills a private path from its origin (here a
// second fixture server), never from the public upstream nor checked
// against the public checksum database, and records it in the mirror's
// own database with the hashes of the files it stored; public modules
// are recorded with the public database's lines.
func TestPrivateFromOrigin(t *testing.T) {
	t.Parallel()
	corp := testupstream.New(t, testupstream.Module{Path: "corp.example/lib", Version: "v1.0.0", Files: map[string]string{
		"go.mod": "module corp.example/lib\n", "lib.go": "package lib\n",
	}})
	origin, err := upstream.Parse(corp.URL, upstream.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rec := new(recorder)
	e := newEnv(t, func(c *mirror.Config) {
		c.Private = func(p string) bool { return strings.HasPrefix(p, "corp.example/") }
		c.Origin = origin
		c.Recorder = rec
	})
	for _, p := range []string{"/corp.example/lib/@v/list", "/corp.example/lib/@v/v1.0.0.info", "/corp.example/lib/@v/v1.0.0.mod", "/corp.example/lib/@v/v1.0.0.zip"} {
		r := e.get(t, p)
		if r.code != 200 || r.body != e.upstreamBytesFrom(t, corp, p) {
			t.Errorf("GET %s: %d %q", p, r.code, r.body)
		}
	}
	if r := e.get(t, "/example.com/a/@v/v1.0.0.zip"); r.code != 200 {
		t.Fatalf("public zip: %d %q", r.code, r.body)
	}
	for _, p := range e.up.RequestLog() {
		if strings.Contains(p, "corp.example") {
			t.Errorf("the public upstream or its checksum database was asked about a private module: %s", p)
		}
	}
	want := map[string]string{
		"corp.example/lib@v1.0.0": strings.Join(corp.GoSumLines("corp.example/lib", "v1.0.0"), "\n") + "\n",
		"example.com/a@v1.0.0":    strings.Join(e.up.GoSumLines("example.com/a", "v1.0.0"), "\n") + "\n",
	}
	for key, data := range want {
		var got string
		deadline := time.Now().Add(10 * time.Second)
		for {
			var ok bool
			if got, ok = rec.get(key); ok || time.Now().After(deadline) {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		if got != data {
			t.Errorf("recorded %s: %q, want %q", key, got, data)
		}
	}
}

// upstreamBytesFrom returns what a fixture serves at path.
func (e *env) upstreamBytesFrom(t *testing.T, up *testupstream.Server, path string) string {
	t.Helper()
	resp, err := http.Get(up.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestListSanitized serves the mirror an upstream list full of what a
// list must not hold: it relays only canonical versions valid for the
// path, once each, in semver order.
func TestListSanitized(t *testing.T) {
	t.Parallel()
	junk := "v1.10.0\n../../etc/passwd\n<script>alert(1)</script>\nv1.2.0 extra fields\n\x1b[31mv9.9.9\x1b[0m\nv1.2.0\nv1.0.0\x00\n" +
		"v2.0.0\nv3.1.0+incompatible\nv1.0\n1.0.0\nv1.3.0-0.20240102030405-abcdefabcdef\nv1.1.0-rc.1\nv1.0.0+meta\n\nv1.9.0\r\n"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, junk)
	}))
	t.Cleanup(srv.Close)
	chain, err := upstream.Parse(srv.URL, upstream.Options{})
	if err != nil {
		t.Fatal(err)
	}
	store, err := fsstore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	m, err := mirror.New(mirror.Config{Store: store, Upstream: chain, TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	h, err := proxy.New(m, proxy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		"/example.com/m/@v/list":    "v1.1.0-rc.1\nv1.2.0\nv1.9.0\nv1.10.0\nv3.1.0+incompatible\n",
		"/example.com/m/v2/@v/list": "v2.0.0\n",
	} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		if w.Code != 200 || w.Body.String() != want {
			t.Errorf("GET %s: %d %q, want %q", path, w.Code, w.Body, want)
		}
	}
}

// TestCatalog: the mirror tells its catalog of each file it stores (size,
// source) and of every hit, the first serve of a fill included.
func TestCatalog(t *testing.T) {
	t.Parallel()
	s, err := sqlcatalog.OpenSQLite(filepath.Join(t.TempDir(), "catalog.db"))
	if err != nil {
		t.Fatal(err)
	}
	c := catalog.New(s, nil)
	defer c.Close()
	e := newEnv(t, func(cfg *mirror.Config) { cfg.Catalog = c })
	start := time.Now()
	for _, ext := range []string{".info", ".mod", ".zip", ".mod"} {
		if r := e.get(t, "/example.com/a/@v/v1.0.0"+ext); r.code != 200 {
			t.Fatalf("GET %s: %d %s", ext, r.code, r.body)
		}
	}
	// The go.mod and .info are answered before they are stored, and
	// cataloged once stored.
	e.settle()
	ctx := context.Background()
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	v, err := s.Version(ctx, "example.com/a", "v1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	zip := e.upstreamBytes(t, "/example.com/a/@v/v1.0.0.zip")
	mod := e.upstreamBytes(t, "/example.com/a/@v/v1.0.0.mod")
	if v.ZipSize != int64(len(zip)) || v.ModSize != int64(len(mod)) || v.InfoSize == 0 {
		t.Errorf("catalog sizes %d/%d/%d, want .info > 0, .mod %d, .zip %d", v.InfoSize, v.ModSize, v.ZipSize, len(mod), len(zip))
	}
	if v.Source != e.up.URL || v.FirstStored.Before(start.Add(-time.Second)) || v.LastServed.Before(v.FirstStored) {
		t.Errorf("catalog entry %+v: want source %s, first stored after %v, last served after that", v, e.up.URL, start)
	}
}

// A filled go.mod makes the mirror look up, in the checksum database, the
// public versions it requires, and fetch nothing else: the go command asks
// for their go.mod files next, and their fills find the records verified.
func TestPrefetchRequirements(t *testing.T) {
	t.Parallel()
	up := testupstream.New(t, append([]testupstream.Module{{
		Path: "example.com/app", Version: "v1.0.0", Files: map[string]string{
			"go.mod": "module example.com/app\n\ngo 1.21\n\nrequire (\n\texample.com/a v1.1.0\n\texample.com/secret v1.0.0\n\tgithub.com/Azure/Foo v1.0.0\n)\n",
			"app.go": "package app\n",
		}}}, fixtures...)...)
	e := newEnvWith(t, up, t.TempDir(), func(c *mirror.Config) {
		c.Private = func(p string) bool { return p == "example.com/secret" }
		c.NoSumDB = func(p string) bool { return p == "github.com/Azure/Foo" }
	})
	if r := e.get(t, "/example.com/app/@v/v1.0.0.mod"); r.code != 200 {
		t.Fatalf("GET app .mod: %d %q", r.code, r.body)
	}
	lookup := "/sumdb/" + up.SumDBName() + "/lookup/example.com/a@v1.1.0"
	for deadline := time.Now().Add(10 * time.Second); up.Requests(lookup) == 0; {
		if time.Now().After(deadline) {
			t.Fatalf("no lookup of the required example.com/a@v1.1.0 after the go.mod that requires it was filled; upstream log: %q", up.RequestLog())
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, p := range up.RequestLog() {
		if strings.Contains(p, "secret") || strings.Contains(p, "lookup/github.com/!azure") || strings.Contains(p, "/example.com/a/@v/") {
			t.Errorf("the upstream was asked for %s: only lookups of public, checked requirements may be prefetched", p)
		}
	}
	if r := e.get(t, "/example.com/a/@v/v1.1.0.mod"); r.code != 200 {
		t.Fatalf("GET a .mod: %d %q", r.code, r.body)
	}
	if n := up.Requests(lookup); n != 1 {
		t.Errorf("example.com/a@v1.1.0 was looked up %d times; want 1 (the fill uses the prefetched record)", n)
	}
}

// The requirements of a pruned go.mod (go 1.17 or later) that are older
// than a version of their path already seen are not looked up in advance:
// the go command selects the newer one and never asks for the older one's
// go.mod. An unpruned go.mod's requirements are all looked up, as the go
// command loads them all.
func TestPrefetchSkipsOlderRequirements(t *testing.T) {
	t.Parallel()
	const (
		pruned   = "module example.com/pruned\n\ngo 1.21\n\nrequire (\n\texample.com/a v1.0.0\n\texample.com/incompat v2.0.0+incompatible\n\texample.com/big v1.0.0\n)\n"
		unpruned = "module example.com/unpruned\n\ngo 1.16\n\nrequire (\n\texample.com/a v1.0.0\n\texample.com/incompat v2.0.0+incompatible\n)\n"
	)
	up := testupstream.New(t, append([]testupstream.Module{
		{Path: "example.com/pruned", Version: "v1.0.0", Files: map[string]string{"go.mod": pruned, "p.go": "package p\n"}},
		{Path: "example.com/unpruned", Version: "v1.0.0", Files: map[string]string{"go.mod": unpruned, "u.go": "package u\n"}},
	}, fixtures...)...)
	for _, tc := range []struct {
		module string
		want   []string // requirements prefetched
	}{
		// example.com/a v1.1.0 and example.com/incompat
		// v2.0.0+incompatible were asked for before: only example.com/big,
		// never seen, is looked up.
		{"example.com/pruned", []string{"example.com/big@v1.0.0"}},
		{"example.com/unpruned", []string{"example.com/a@v1.0.0", "example.com/incompat@v2.0.0+incompatible"}},
	} {
		t.Run(tc.module, func(t *testing.T) {
			t.Parallel()
			var (
				mu         sync.Mutex
				prefetched []string
			)
			e := newEnvWith(t, up, t.TempDir(), func(c *mirror.Config) {
				c.Checker = &recordingPrefetcher{Checker: c.Checker, prefetched: func(path, version string) {
					mu.Lock()
					defer mu.Unlock()
					prefetched = append(prefetched, path+"@"+version)
				}}
			})
			for _, p := range []string{"/example.com/a/@v/v1.1.0.mod", "/example.com/incompat/@v/v2.0.0+incompatible.mod"} {
				if r := e.get(t, p); r.code != 200 {
					t.Fatalf("GET %s: %d %q", p, r.code, r.body)
				}
			}
			mu.Lock()
			prefetched = nil
			mu.Unlock()
			if r := e.get(t, "/"+tc.module+"/@v/v1.0.0.mod"); r.code != 200 {
				t.Fatalf("GET %s .mod: %d %q", tc.module, r.code, r.body)
			}
			// The requirements are prefetched while the go.mod is filled,
			// before it is answered; the version asked for is looked up
			// when it is missed.
			mu.Lock()
			defer mu.Unlock()
			got := slices.DeleteFunc(slices.Clone(prefetched), func(p string) bool { return p == tc.module+"@v1.0.0" })
			if !slices.Equal(got, tc.want) {
				t.Errorf("requirements of %s looked up in advance: %q; want %q (all prefetches: %q)", tc.module, got, tc.want, prefetched)
			}
		})
	}
}

// recordingPrefetcher is a Checker that reports each Prefetch before
// passing it on.
type recordingPrefetcher struct {
	modmirror.Checker
	prefetched func(path, version string)
}

func (r *recordingPrefetcher) Prefetch(path, version string) {
	r.prefetched(path, version)
	r.Checker.(modmirror.Prefetcher).Prefetch(path, version)
}

// A missed .info of a version whose go.mod is stored, or stored while the
// .info is answered, starts filling its zip, verified and stored as any
// fill, as "go mod download" asks for it later; a version with no go.mod
// stored (a client that asked only for the .info) is left alone, a fill
// ahead that fails changes nothing the client sees, and with FillAhead off
// nothing is filled ahead.
func TestFillAhead(t *testing.T) {
	t.Parallel()
	const (
		a0     = "/example.com/a/@v/v1.0.0"
		a1     = "/example.com/a/@v/v1.1.0"
		pseudo = "/example.com/a/@v/v1.2.0-0.20240102030405-abcdefabcdef"
	)
	get := func(t *testing.T, e *env, path string, code int) string {
		t.Helper()
		r := e.get(t, path)
		if r.code != code {
			t.Fatalf("GET %s: %d %q; want %d", path, r.code, r.body, code)
		}
		return r.body
	}

	t.Run("On", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, func(c *mirror.Config) { c.FillAhead = true })
		e.up.SetFault(pseudo+".zip", testupstream.TamperZip)

		get(t, e, a0+".info", 200) // no go.mod stored: no zip
		get(t, e, a1+".mod", 200)
		get(t, e, a1+".info", 200)
		waitFor(t, "the zip of a version whose .mod and .info were asked is not stored", func() bool {
			return e.stored(strings.TrimPrefix(a1+".zip", "/"))
		})
		if n := e.up.Requests(a0 + ".zip"); n != 0 {
			t.Errorf("the zip of a version asked only for its .info was fetched %d times", n)
		}
		// Its first request is told it was a miss (modmirror warm counts
		// it as new: it was filled for this client), the next a hit.
		r := e.get(t, a1+".zip", "Modmirror-Cache", "?")
		if r.code != 200 || r.body != e.upstreamBytes(t, a1+".zip") {
			t.Errorf("zip filled ahead: %d, %d bytes that differ from the upstream's", r.code, len(r.body))
		}
		if got := r.hdr.Get("Modmirror-Cache"); got != "miss" {
			t.Errorf("first request for a zip filled ahead: Modmirror-Cache %q, want miss", got)
		}
		if got := e.get(t, a1+".zip", "Modmirror-Cache", "?").hdr.Get("Modmirror-Cache"); got != "hit" {
			t.Errorf("second request for a zip filled ahead: Modmirror-Cache %q, want hit", got)
		}
		if n := e.up.Requests(a1 + ".zip"); n != 2 { // the fill, and upstreamBytes
			t.Errorf("%d upstream requests for the zip filled ahead; want 1 (and the test's own)", n-1)
		}

		// The go command most often asks for the go.mod and the .info at
		// once: the .info is answered while the go.mod is still being
		// filled, and the zip is filled ahead once the go.mod is stored.
		const big = "/example.com/big/@v/v1.0.0"
		e.up.SetFault(big+".mod", testupstream.Delay(300*time.Millisecond))
		modDone := make(chan string)
		go func() { modDone <- e.get(t, big+".mod").body }()
		get(t, e, big+".info", 200)
		if e.stored(strings.TrimPrefix(big+".mod", "/")) {
			t.Fatalf("the go.mod was stored before its .info was answered: the test does not test the go command's order")
		}
		if body := <-modDone; !strings.HasPrefix(body, "module example.com/big") {
			t.Fatalf("GET %s.mod: %q", big, body)
		}
		waitFor(t, "the zip of a version whose .info was asked while its go.mod was filled is not stored", func() bool {
			return e.stored(strings.TrimPrefix(big+".zip", "/"))
		})
		if got := e.get(t, big+".zip", "Modmirror-Cache", "?").hdr.Get("Modmirror-Cache"); got != "miss" {
			t.Errorf("first request for a zip filled ahead after its go.mod: Modmirror-Cache %q, want miss", got)
		}

		// A tampered zip filled ahead is refused and not stored; the .info
		// that started it is answered, and the zip, once asked for, gets
		// the same error as without filling ahead.
		get(t, e, pseudo+".mod", 200)
		get(t, e, pseudo+".info", 200)
		waitFor(t, "no fill ahead of the tampered zip", func() bool { return e.up.Requests(pseudo+".zip") > 0 })
		waitFor(t, "the refused fill ahead was not logged", func() bool {
			return strings.Contains(e.log.String(), "SECURITY ERROR")
		})
		if e.stored(strings.TrimPrefix(pseudo+".zip", "/")) {
			t.Fatalf("a tampered zip filled ahead was stored")
		}
		if body := get(t, e, pseudo+".zip", http.StatusBadGateway); !strings.Contains(body, "SECURITY ERROR") {
			t.Errorf("GET tampered zip: %q; want the checksum mismatch", body)
		}
	})

	t.Run("Off", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		get(t, e, a1+".mod", 200)
		get(t, e, a1+".info", 200)
		// A fill ahead starts before the .info is answered: give its
		// request time to arrive.
		time.Sleep(300 * time.Millisecond)
		if n := e.up.Requests(a1 + ".zip"); n != 0 {
			t.Errorf("with FillAhead off, the zip was fetched %d times before it was asked for", n)
		}
	})
}
