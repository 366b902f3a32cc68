package checksum

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modmirror/modmirror"
	"github.com/modmirror/modmirror/fsstore"
	"github.com/modmirror/modmirror/internal/testsumdb"
)

// observer counts ProxyOptions.Observe calls by "kind/source".
type observer struct {
	mu sync.Mutex
	n  map[string]int
}

func (o *observer) observe(kind, source string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.n == nil {
		o.n = make(map[string]int)
	}
	o.n[kind+"/"+source]++
}

func (o *observer) count(key string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.n[key]
}

func serve(h http.Handler, method, path string) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(method, path, nil))
	return w
}

// direct reads path from the test database itself.
func direct(t *testing.T, e *testEnv, path string) []byte {
	t.Helper()
	data, err := newTestRemote(e.db).ReadSumDB(context.Background(), testName, path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func checkAnswer(t *testing.T, w *httptest.ResponseRecorder, status int, contentType, cacheControl string, body []byte) {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status %d, want %d; body %q", w.Code, status, w.Body.String())
	}
	h := w.Result().Header
	if contentType != "" && h.Get("Content-Type") != contentType {
		t.Errorf("Content-Type %q, want %q", h.Get("Content-Type"), contentType)
	}
	if got := h.Get("Cache-Control"); got != cacheControl {
		t.Errorf("Cache-Control %q, want %q", got, cacheControl)
	}
	if body != nil && !bytes.Equal(w.Body.Bytes(), body) {
		t.Errorf("body %q, want %q", w.Body.Bytes(), body)
	}
}

const (
	textPlain   = "text/plain; charset=utf-8"
	octetStream = "application/octet-stream"
	short       = "public, max-age=30"
)

func TestProxy(t *testing.T) {
	e := newTestEnv(t)
	var obs observer
	p := NewProxy(e.v, ProxyOptions{Observe: obs.observe})

	w := serve(p, "GET", "/supported")
	checkAnswer(t, w, 200, "", "", []byte{})

	// /latest is fetched once, then reused.
	for range 2 {
		w = serve(p, "GET", "/latest")
		checkAnswer(t, w, 200, textPlain, cacheNone, direct(t, e, "/latest"))
	}
	if n := e.remote.count("/latest"); n != 1 {
		t.Errorf("/latest fetched %d times, want 1", n)
	}
	if obs.count("latest/remote") != 1 || obs.count("latest/memory") != 1 {
		t.Errorf("observed %v, want one remote and one memory answer for latest", obs.n)
	}

	// Lookups, with escaped paths, likewise.
	for _, path := range []string{
		"/lookup/example.com/m@v1.0.0",
		"/lookup/github.com/!azure/go@v1.0.0",
		"/lookup/golang.org/toolchain@v0.0.1-go1.21.13.linux-amd64",
		"/lookup/example.com/m@v2.0.0+incompatible",
	} {
		for range 2 {
			w = serve(p, "GET", path)
			checkAnswer(t, w, 200, textPlain, short, nil)
		}
		// The signed tree head that follows the record may have
		// moved on since.
		got, _, _ := bytes.Cut(w.Body.Bytes(), []byte("\n\n"))
		want, _, _ := bytes.Cut(direct(t, e, path), []byte("\n\n"))
		if !bytes.Equal(got, want) {
			t.Errorf("%s: record %q, want %q", path, got, want)
		}
		if n := e.remote.count(path); n != 1 {
			t.Errorf("%s fetched %d times, want 1", path, n)
		}
	}

	// HEAD: the headers of GET, no body.
	w = serve(p, "HEAD", "/lookup/example.com/m@v1.0.0")
	checkAnswer(t, w, 200, textPlain, short, []byte{})
	if cl, _ := strconv.Atoi(w.Result().Header.Get("Content-Length")); cl == 0 {
		t.Errorf("HEAD: Content-Length %q", w.Result().Header.Get("Content-Length"))
	}

	// Not found is 404, and is not remembered.
	const unknown = "/lookup/example.com/m@v1.0.0-unknown"
	for range 2 {
		w = serve(p, "GET", unknown)
		checkAnswer(t, w, 404, "", cacheNone, nil)
		if !strings.Contains(w.Body.String(), "example.com/m@v1.0.0-unknown") {
			t.Errorf("404 body %q", w.Body.String())
		}
	}
	if n := e.remote.count(unknown); n != 2 {
		t.Errorf("%s fetched %d times, want 2", unknown, n)
	}

	// Other remote failures are 502 with the reason.
	e.remote.failNext("/lookup/example.com/fail", 1)
	w = serve(p, "GET", "/lookup/example.com/fail@v1.0.0")
	checkAnswer(t, w, 502, textPlain, cacheNone, nil)
	if !strings.Contains(w.Body.String(), errInjected.Error()) {
		t.Errorf("502 body %q does not give the reason", w.Body.String())
	}
	if obs.count("lookup/error") != 3 {
		t.Errorf("observed %d lookup errors, want 3", obs.count("lookup/error"))
	}

	if w = serve(p, "POST", "/latest"); w.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: status %d", w.Code)
	}
}

func TestProxyBadPaths(t *testing.T) {
	e := newTestEnv(t)
	p := NewProxy(e.v, ProxyOptions{})
	for _, path := range []string{
		"/",
		"/nope",
		"/latest/",
		"/supported/x",
		"/lookup/",
		"/lookup/example.com/m",
		"/lookup/example.com/m@",
		"/lookup/example.com/m@v1.0",          // not canonical
		"/lookup/example.com/m@latest",        // a query, not a version
		"/lookup/example.com/m@v1.0.0/go.mod", // go.mod lines come with the version's
		"/lookup/example.com/M@v1.0.0",        // not escaped
		"/lookup/example.com/m/v2@v1.0.0",     // major version mismatch
		"/lookup/example.com/m@v1.0.0@v1.0.0",
		"/lookup/../m@v1.0.0",
		"/tile/8/0/1",       // not canonical
		"/tile/4/0/000",     // wrong height
		"/tile/8/0/000.p/0", // empty partial tile
		"/tile/8/0/000.p/256",
		"/tile/8/-1/000",
		"/tile/8/64/000",
		"/tile/8/x/000",
	} {
		w := serve(p, "GET", path)
		if w.Code != http.StatusNotFound {
			t.Errorf("%s: status %d, want 404", path, w.Code)
		}
	}
	for path, n := range e.remote.fetches {
		t.Errorf("%s fetched %d times for a bad path", path, n)
	}
}

// tileEnv returns a test environment whose log has 600 records, of which
// the Verifier has verified one in tile 0/000. Its tree (600 records) is
// covered by tiles 1/000.p/2 and 0/002.p/88, so the sumdb client has stored
// 0/000 and those, but not 0/001.
func tileEnv(t *testing.T) *testEnv {
	e := newTestEnv(t)
	e.db.Grow(t, 600)
	const path, version = "example.com/grow/m5", "v1.0.0"
	if err := e.v.Check(context.Background(), path, version, e.db.Hash(path, version)); err != nil {
		t.Fatal(err)
	}
	return e
}

func stored(t *testing.T, e *testEnv, tile string) []byte {
	t.Helper()
	data, err := e.v.readStore(context.Background(), tile)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return data
}

func TestProxyTiles(t *testing.T) {
	e := tileEnv(t)
	var obs observer
	p := NewProxy(e.v, ProxyOptions{Observe: obs.observe, TTL: time.Nanosecond})
	const nocache = "public, max-age=0"

	// A full tile the client verified is served from the store.
	before := e.remote.count("/tile/8/0/000")
	w := serve(p, "GET", "/tile/8/0/000")
	checkAnswer(t, w, 200, octetStream, cacheImmutable, stored(t, e, "tile/8/0/000"))
	if e.remote.count("/tile/8/0/000") != before || obs.count("tile/store") != 1 {
		t.Errorf("full tile in the store fetched from the remote")
	}

	// A corrupted full tile from the remote is passed on, not stored.
	good := direct(t, e, "/tile/8/0/001")
	bad := bytes.Clone(good)
	bad[100] ^= 1
	e.remote.alter = func(path string, data []byte) []byte {
		if path == "/tile/8/0/001" {
			return bad
		}
		return data
	}
	w = serve(p, "GET", "/tile/8/0/001")
	checkAnswer(t, w, 200, octetStream, nocache, bad)
	if stored(t, e, "tile/8/0/001") != nil {
		t.Fatal("corrupted tile stored")
	}

	// A valid one is stored, and served as immutable.
	e.remote.alter = nil
	w = serve(p, "GET", "/tile/8/0/001")
	checkAnswer(t, w, 200, octetStream, cacheImmutable, good)
	if got := stored(t, e, "tile/8/0/001"); !bytes.Equal(got, good) {
		t.Fatalf("valid tile not stored: %q", got)
	}
	w = serve(p, "HEAD", "/tile/8/0/001")
	checkAnswer(t, w, 200, octetStream, cacheImmutable, []byte{})
	if n := e.remote.count("/tile/8/0/001"); n != 2 {
		t.Errorf("tile fetched %d times, want 2", n)
	}

	// Partial tiles and data tiles are passed on, never stored.
	for _, path := range []string{"/tile/8/0/002.p/50", "/tile/8/data/000", "/tile/8/data/002.p/3"} {
		w = serve(p, "GET", path)
		checkAnswer(t, w, 200, octetStream, nocache, direct(t, e, path))
		if stored(t, e, path[1:]) != nil {
			t.Errorf("%s stored", path)
		}
	}

	// A full tile beyond the verified tree is passed on, not stored...
	e.db.Grow(t, 200) // 800 records: tile 0/002 is now full
	w = serve(p, "GET", "/tile/8/0/002")
	checkAnswer(t, w, 200, octetStream, nocache, direct(t, e, "/tile/8/0/002"))
	if stored(t, e, "tile/8/0/002") != nil {
		t.Error("tile beyond the verified tree stored")
	}
	// ...until the Verifier has verified a tree that covers it.
	const path, version = "example.com/late", "v1.0.0"
	if err := e.v.Check(context.Background(), path, version, e.db.Hash(path, version)); err != nil {
		t.Fatal(err)
	}
	w = serve(p, "GET", "/tile/8/0/002")
	checkAnswer(t, w, 200, octetStream, cacheImmutable, direct(t, e, "/tile/8/0/002"))
	if stored(t, e, "tile/8/0/002") == nil {
		t.Error("tile covered by the verified tree not stored")
	}

	// A tile the remote does not have is 404.
	w = serve(p, "GET", "/tile/8/0/009")
	checkAnswer(t, w, 404, textPlain, cacheNone, nil)
}

// TestProxySingleflight checks that concurrent requests for one uncached
// full tile cause one remote fetch.
func TestProxySingleflight(t *testing.T) {
	e := tileEnv(t)
	p := NewProxy(e.v, ProxyOptions{})
	const path = "/tile/8/0/001"
	if n := e.remote.count(path); n != 0 {
		t.Fatalf("%s fetched %d times before the test", path, n)
	}
	gate := make(chan struct{})
	e.remote.started = make(chan string, 100)
	e.remote.block[path] = gate

	const n = 20
	answers := make([]*httptest.ResponseRecorder, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { answers[i] = serve(p, "GET", path) })
	}
	<-e.remote.started
	time.Sleep(50 * time.Millisecond) // let the others line up behind it
	close(gate)
	wg.Wait()

	want := direct(t, e, path)
	for _, w := range answers {
		checkAnswer(t, w, 200, octetStream, cacheImmutable, want)
	}
	if got := e.remote.count(path); got != 1 {
		t.Errorf("%d concurrent requests fetched %s %d times, want 1", n, path, got)
	}
}

// TestProxyServesClient checks that a sumdb client (as in the go command)
// can use nothing but the Proxy, and that the Proxy keeps the full tiles it
// fetches for it.
func TestProxyServesClient(t *testing.T) {
	e := tileEnv(t)
	srv := httptest.NewServer(NewProxy(e.v, ProxyOptions{}))
	t.Cleanup(srv.Close)

	store, err := fsstore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	client := &testEnv{key: e.key, store: store, stateDir: t.TempDir()}
	viaProxy := newTestRemote(&testsumdb.DB{URL: srv.URL})
	v := client.newVerifier(t, viaProxy)

	for _, mod := range []string{"example.com/grow/m300", "example.com/grow/m599", "example.com/new"} {
		if err := v.Check(context.Background(), mod, "v1.0.0", e.db.Hash(mod, "v1.0.0")); err != nil {
			t.Errorf("Check(%s) through the proxy: %v", mod, err)
		}
	}
	err = v.Check(context.Background(), "example.com/new", "v1.0.0", e.db.Hash("x", "y"))
	if !errors.Is(err, modmirror.ErrSecurity) {
		t.Errorf("Check of a wrong hash through the proxy = %v, want ErrSecurity", err)
	}
	if viaProxy.count("/tile/8/0/001") != 1 {
		t.Errorf("client did not fetch tile 0/001 through the proxy")
	}
	if stored(t, e, "tile/8/0/001") == nil {
		t.Errorf("proxy did not keep the full tile it fetched for the client")
	}
}

// TestProxyPrivateLookup never passes a private path on to the remote.
func TestProxyPrivateLookup(t *testing.T) {
	e := newTestEnv(t)
	srv := httptest.NewServer(NewProxy(e.v, ProxyOptions{Private: func(p string) bool { return strings.HasPrefix(p, "corp.example/") }}))
	t.Cleanup(srv.Close)
	resp, err := http.Get(srv.URL + "/lookup/corp.example/secret@v1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 404 || string(body) != "not found: "+modmirror.PrivateNotFound+"\n" {
		t.Errorf("lookup of a private path: %d %q, want the uniform 404", resp.StatusCode, body)
	}
	if n := e.remote.count("/lookup/corp.example/secret@v1.0.0"); n != 0 {
		t.Errorf("the remote was asked %d times about a private path", n)
	}
	if resp, err := http.Get(srv.URL + "/lookup/example.com/m@v1.0.0"); err != nil || resp.StatusCode != 200 {
		t.Errorf("lookup of a public path: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
}
