package upstream

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/modmirror/modmirror"
)

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		list string
		want string // String() of the chain
	}{
		{"", "https://proxy.golang.org"},
		{"https://proxy.golang.org", "https://proxy.golang.org"},
		{"https://a.example,https://b.example|https://c.example", "https://a.example,https://b.example|https://c.example"},
		{" https://a.example , http://b.example:8080/x ", "https://a.example,http://b.example:8080/x"},
		{"https://a.example/", "https://a.example"},
		{"https://a.example/prefix//", "https://a.example/prefix"},
		{"https://a.example,,|https://b.example", "https://a.example,https://b.example"},
		{"https://a.example|", "https://a.example"},
		{"off", "off"},
		{"https://a.example,off", "https://a.example,off"},
		{"off,https://a.example", "off"},
		{"https://a.example|direct,https://b.example", "https://a.example|direct"},
		{"https://proxy.golang.org,direct", "https://proxy.golang.org,direct"},
		{"file:///tmp/cache/download/", "file:///tmp/cache/download"},
		{"proxy.example", "https://proxy.example"},
		{"proxy.example/go", "https://proxy.example/go"},
		{"localhost:3000", "https://localhost:3000"},
		{"https://user:secret@a.example", "https://user:xxxxx@a.example"},
		{"https://user@a.example", "https://user@a.example"},
	}
	for _, tt := range tests {
		c, err := Parse(tt.list, Options{})
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.list, err)
			continue
		}
		if got := c.String(); got != tt.want {
			t.Errorf("Parse(%q).String() = %q, want %q", tt.list, got, tt.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		list string
		want string // substring of the error
	}{
		{",", "contains no entries"},
		{" | ", "contains no entries"},
		{"ftp://a.example", "invalid proxy URL scheme"},
		{"https://a.example,gopher://b.example", "GOPROXY entry 2: invalid proxy URL scheme"},
		{"noproxy", "missing scheme"},
		{"/srv/proxy", "missing scheme"},
		{"https://", "missing host"},
		{"file://host/srv/proxy", "non-path elements"},
		{"file://user@/srv/proxy", "non-path elements"},
		{"file:srv/proxy", "malformed proxy URL"}, // taken for host:port, as by the go command
		{"https://a.example/?token=x", "query"},
		{"https://a.example/#x", "fragment"},
		{"https://user:secret@a.example:port", "malformed proxy URL"},
		{"https://a.example/%zz", "malformed proxy URL"},
	}
	for _, tt := range tests {
		c, err := Parse(tt.list, Options{})
		if err == nil {
			t.Errorf("Parse(%q) = %v, want error", tt.list, c)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, tt.want) || !strings.HasPrefix(msg, "upstream: ") {
			t.Errorf("Parse(%q): error %q, want it to start with \"upstream: \" and contain %q", tt.list, msg, tt.want)
		}
		if strings.Contains(msg, "secret") {
			t.Errorf("Parse(%q): error %q shows the password", tt.list, msg)
		}
	}
}

func TestEntries(t *testing.T) {
	t.Parallel()
	c, err := Parse("https://u:p@a.example|file:///srv/b,direct", Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := c.Entries()
	want := []Entry{
		{URL: "https://u:xxxxx@a.example", FallBackOnError: true},
		{URL: "file:///srv/b", FallBackOnError: false},
		{URL: "direct", FallBackOnError: false},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Entries() = %+v, want %+v", got, want)
	}
}

// TestFallThrough checks when a request moves on to the next entry: after
// "," only on not found (403, 404, 410), after "|" on any error.
func TestFallThrough(t *testing.T) {
	t.Parallel()
	const modPath = "/example.com/m/@v/v1.0.0.mod"
	const goMod = "module example.com/m\n"
	tests := []struct {
		list         string
		wantErr      string // substring of the error; "" for success
		wantNotExist bool
		wantHits     map[string]int // requests per named server
	}{
		{list: "ok", wantHits: map[string]int{"ok": 1}},
		{list: "nf,ok", wantHits: map[string]int{"nf": 1, "ok": 1}},
		{list: "gone,ok", wantHits: map[string]int{"gone": 1, "ok": 1}},
		{list: "forbidden,ok", wantHits: map[string]int{"forbidden": 1, "ok": 1}},
		// A mirror's policy refusing the version is not "not found".
		{list: "blocked,ok", wantErr: "403 Forbidden: blocked by policy 'vulns': GO-2026-0042", wantHits: map[string]int{"blocked": 1, "ok": 0}},
		{list: "blocked|ok", wantHits: map[string]int{"blocked": 1, "ok": 1}},
		{list: "nf|ok", wantHits: map[string]int{"nf": 1, "ok": 1}},
		{list: "err,ok", wantErr: "500 Internal Server Error: boom", wantHits: map[string]int{"err": 1, "ok": 0}},
		{list: "unavail,ok", wantErr: "503 Service Unavailable", wantHits: map[string]int{"unavail": 1, "ok": 0}},
		{list: "err|ok", wantHits: map[string]int{"err": 1, "ok": 1}},
		{list: "closed,ok", wantErr: "connection refused", wantHits: map[string]int{"ok": 0}},
		{list: "closed|ok", wantHits: map[string]int{"ok": 1}},
		{list: "closed|unavail|nf,ok", wantHits: map[string]int{"unavail": 1, "nf": 1, "ok": 1}},
		{list: "nf,nf2", wantErr: "404 Not Found: not found: " + modPath, wantNotExist: true, wantHits: map[string]int{"nf": 1, "nf2": 1}},
		// The most useful error wins: a failure beats a later not-found.
		{list: "err|nf", wantErr: "500 Internal Server Error", wantHits: map[string]int{"err": 1, "nf": 1}},
		{list: "nf,err", wantErr: "500 Internal Server Error", wantHits: map[string]int{"nf": 1, "err": 1}},
		{list: "unavail|err", wantErr: "500 Internal Server Error", wantHits: map[string]int{"unavail": 1, "err": 1}},
		{list: "off", wantErr: "upstream: example.com/m@v1.0.0: module lookup disabled by GOPROXY=off", wantNotExist: true},
		{list: "nf,off", wantErr: "module lookup disabled by GOPROXY=off", wantNotExist: true, wantHits: map[string]int{"nf": 1}},
		{list: "err|off", wantErr: "500 Internal Server Error", wantHits: map[string]int{"err": 1}},
		// without an origin, direct answers not-found, so that the
		// mirror's clients fall through to their own next entry.
		{list: "direct", wantErr: "upstream: example.com/m@v1.0.0: direct (origin VCS) fetch is not configured", wantNotExist: true},
		{list: "nf,direct", wantErr: "direct (origin VCS) fetch is not configured", wantNotExist: true, wantHits: map[string]int{"nf": 1}},
		{list: "err|direct", wantErr: "500 Internal Server Error", wantHits: map[string]int{"err": 1}},
		{list: "ok,direct", wantHits: map[string]int{"ok": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.list, func(t *testing.T) {
			t.Parallel()
			servers := map[string]*fakeProxy{
				"ok":        newFakeProxy(t, map[string]reply{modPath: {body: goMod}}),
				"nf":        newFakeProxy(t, nil),
				"nf2":       newFakeProxy(t, nil),
				"gone":      newFakeProxy(t, map[string]reply{modPath: {status: http.StatusGone, body: "gone"}}),
				"forbidden": newFakeProxy(t, map[string]reply{modPath: {status: http.StatusForbidden, body: "not available"}}),
				"blocked":   newFakeProxy(t, map[string]reply{modPath: {status: http.StatusForbidden, body: "blocked by policy 'vulns': GO-2026-0042 affects example.com/m v1.0.0; fixed in v1.0.1"}}),
				"err":       newFakeProxy(t, map[string]reply{modPath: {status: http.StatusInternalServerError, body: "boom"}}),
				"unavail":   newFakeProxy(t, map[string]reply{modPath: {status: http.StatusServiceUnavailable}}),
			}
			list := substitute(tt.list, func(name string) string {
				switch {
				case name == "closed":
					return closedURL(t)
				case servers[name] != nil:
					return servers[name].URL
				}
				return name
			})
			c, err := Parse(list, Options{})
			if err != nil {
				t.Fatal(err)
			}
			data, err := c.Mod(context.Background(), "example.com/m", "v1.0.0")
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Mod: %v", err)
				}
				if string(data) != goMod {
					t.Errorf("Mod = %q, want %q", data, goMod)
				}
			} else {
				if err == nil {
					t.Fatalf("Mod succeeded, want error containing %q", tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("Mod: error %q, want it to contain %q", err, tt.wantErr)
				}
				if got := errors.Is(err, fs.ErrNotExist); got != tt.wantNotExist {
					t.Errorf("Mod: errors.Is(%q, fs.ErrNotExist) = %v, want %v", err, got, tt.wantNotExist)
				}
			}
			for name, want := range tt.wantHits {
				if got := servers[name].hits(); got != want {
					t.Errorf("server %s got %d requests, want %d", name, got, want)
				}
			}
		})
	}
}

// TestChainMethods checks that every method of a chain falls through to
// the entry that has the module.
func TestChainMethods(t *testing.T) {
	t.Parallel()
	nf := newFakeProxy(t, nil)
	ok := newFakeProxy(t, map[string]reply{
		"/example.com/m/@v/list":        {body: "v1.0.0\nv1.1.0\n"},
		"/example.com/m/@latest":        {body: `{"Version":"v1.1.0"}`},
		"/example.com/m/@v/v1.0.0.info": {body: `{"Version":"v1.0.0","Time":"2020-01-01T00:00:00Z"}`},
		"/example.com/m/@v/v1.0.0.mod":  {body: "module example.com/m\n"},
		"/example.com/m/@v/v1.0.0.zip":  {body: "PK zip"},
	})
	c, err := Parse(nf.URL+","+ok.URL, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	list, err := c.List(ctx, "example.com/m")
	if err != nil || !reflect.DeepEqual(list, []string{"v1.0.0", "v1.1.0"}) {
		t.Errorf("List = %q, %v", list, err)
	}
	latest, err := c.Latest(ctx, "example.com/m")
	if err != nil || string(latest) != `{"Version":"v1.1.0"}` {
		t.Errorf("Latest = %q, %v", latest, err)
	}
	info, err := c.Info(ctx, "example.com/m", "v1.0.0")
	if err != nil || !strings.Contains(string(info), "2020-01-01") {
		t.Errorf("Info = %q, %v", info, err)
	}
	mod, err := c.Mod(ctx, "example.com/m", "v1.0.0")
	if err != nil || string(mod) != "module example.com/m\n" {
		t.Errorf("Mod = %q, %v", mod, err)
	}
	zip, err := c.Zip(ctx, "example.com/m", "v1.0.0")
	if err != nil {
		t.Fatalf("Zip: %v", err)
	}
	defer zip.Close()
	if data, err := readAllString(zip); err != nil || data != "PK zip" {
		t.Errorf("Zip body = %q, %v", data, err)
	}
	if got, want := nf.hits(), 5; got != want {
		t.Errorf("first entry got %d requests, want %d", got, want)
	}

	_, err = c.Zip(ctx, "example.com/m", "v2.0.0")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Zip of a missing version: %v, want not found", err)
	}
}

func TestReadSumDB(t *testing.T) {
	t.Parallel()
	const latest = "go.sum database tree\n42\nhash\n"
	sumdbFiles := map[string]reply{
		"/sumdb/sum.example/supported": {body: ""},
		"/sumdb/sum.example/latest":    {body: latest},
	}
	ok := newFakeProxy(t, sumdbFiles)
	nf := newFakeProxy(t, nil)
	gone := newFakeProxy(t, map[string]reply{"/sumdb/sum.example/latest": {status: http.StatusGone}})
	fail := newFakeProxy(t, nil)
	fail.missing = http.StatusBadGateway

	// The database itself, for "direct": https://<name>/latest.
	var directHits atomic.Int32
	db := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		directHits.Add(1)
		if r.URL.Path != "/latest" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(latest))
	}))
	t.Cleanup(db.Close)
	dbName := strings.TrimPrefix(db.URL, "https://")
	opts := Options{Client: db.Client()}

	ctx := context.Background()
	tests := []struct {
		list         string
		name, path   string
		wantErr      string
		wantNotExist bool
	}{
		{list: ok.URL, name: "sum.example", path: "/latest"},
		{list: nf.URL + "," + ok.URL, name: "sum.example", path: "/latest"},
		{list: gone.URL + "," + ok.URL, name: "sum.example", path: "/latest"},
		{list: fail.URL + "|" + ok.URL, name: "sum.example", path: "/latest"},
		{list: fail.URL + "," + ok.URL, name: "sum.example", path: "/latest", wantErr: "502 Bad Gateway"},
		{list: nf.URL + "," + gone.URL, name: "sum.example", path: "/latest", wantErr: "410 Gone", wantNotExist: true},
		{list: nf.URL + ",direct", name: dbName, path: "/latest"},
		{list: "direct", name: dbName, path: "/lookup/example.com/m@v1.0.0", wantErr: "404 Not Found", wantNotExist: true},
		{list: nf.URL + ",off", name: "sum.example", path: "/latest", wantErr: "disabled by GOPROXY=off", wantNotExist: true},
		{list: ok.URL, name: "sum.example", path: "latest", wantErr: "invalid checksum database path"},
		{list: ok.URL, name: "sum.example", path: "/../latest", wantErr: "invalid checksum database path"},
		{list: ok.URL, name: "sum.example/", path: "/latest", wantErr: "invalid checksum database name"},
		{list: ok.URL, name: "https://sum.example", path: "/latest", wantErr: "invalid checksum database name"},
	}
	for _, tt := range tests {
		c, err := Parse(tt.list, opts)
		if err != nil {
			t.Fatal(err)
		}
		data, err := c.ReadSumDB(ctx, tt.name, tt.path)
		if tt.wantErr == "" {
			if err != nil || string(data) != latest {
				t.Errorf("%s: ReadSumDB(%q, %q) = %q, %v; want %q", tt.list, tt.name, tt.path, data, err, latest)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%s: ReadSumDB(%q, %q) error = %v, want %q", tt.list, tt.name, tt.path, err, tt.wantErr)
			continue
		}
		if !strings.HasPrefix(err.Error(), "upstream: checksum database "+tt.name+": ") {
			t.Errorf("%s: ReadSumDB(%q, %q) error = %q, want it to name the database", tt.list, tt.name, tt.path, err)
		}
		if got := errors.Is(err, fs.ErrNotExist); got != tt.wantNotExist {
			t.Errorf("%s: ReadSumDB(%q, %q): errors.Is(%q, fs.ErrNotExist) = %v, want %v", tt.list, tt.name, tt.path, err, got, tt.wantNotExist)
		}
		if strings.HasPrefix(tt.wantErr, "invalid") && !errors.Is(err, modmirror.ErrInvalid) {
			t.Errorf("%s: ReadSumDB(%q, %q) error = %v, want it to match modmirror.ErrInvalid", tt.list, tt.name, tt.path, err)
		}
	}
	if got := directHits.Load(); got != 2 {
		t.Errorf("database got %d direct requests, want 2", got)
	}
	// Requests that name a database go to <base>/sumdb/<name>/...
	if got, want := ok.requestURIs()[0], "/sumdb/sum.example/latest"; got != want {
		t.Errorf("first request to proxy = %q, want %q", got, want)
	}
}

// TestStringRedacts checks that a chain with credentials prints none and
// still sends them.
func TestStringRedacts(t *testing.T) {
	t.Parallel()
	var gotUser, gotPass string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotUser, gotPass, _ = r.BasicAuth()
		http.Error(w, "no such module", http.StatusInternalServerError)
	}))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	u.User = url.UserPassword("alice", "s3cret")
	c, err := Parse(u.String(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s := c.String(); strings.Contains(s, "s3cret") || !strings.Contains(s, "alice:xxxxx@") {
		t.Errorf("String() = %q, want the password redacted", s)
	}
	_, err = c.Mod(context.Background(), "example.com/m", "v1.0.0")
	if err == nil || strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), "alice:xxxxx@") {
		t.Errorf("Mod error = %v, want one with the password redacted", err)
	}
	if gotUser != "alice" || gotPass != "s3cret" {
		t.Errorf("server got basic auth %q:%q, want alice:s3cret", gotUser, gotPass)
	}
}

// substitute returns list with each entry name replaced by f(name).
func substitute(list string, f func(name string) string) string {
	var b strings.Builder
	for {
		i := strings.IndexAny(list, ",|")
		if i < 0 {
			b.WriteString(f(list))
			return b.String()
		}
		b.WriteString(f(list[:i]))
		b.WriteByte(list[i])
		list = list[i+1:]
	}
}

func TestNewProxyErrors(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{"file:srv/proxy", "proxy.example", "https://a.example?x", "mailto:a@b"} {
		if p, err := NewProxy(raw, Options{}); err == nil {
			t.Errorf("NewProxy(%q) = %v, want error", raw, p)
		}
	}
}

// originStub is an origin that has one go.mod and nothing else.
type originStub struct{ calls int }

func (o *originStub) List(ctx context.Context, path string) ([]string, error) {
	o.calls++
	return []string{"v1.0.0"}, nil
}
func (o *originStub) Latest(ctx context.Context, path string) ([]byte, error) {
	o.calls++
	return []byte(`{"Version":"v1.0.0"}`), nil
}
func (o *originStub) Info(ctx context.Context, path, query string) ([]byte, error) {
	o.calls++
	return []byte(`{"Version":"v1.0.0"}`), nil
}
func (o *originStub) Mod(ctx context.Context, path, version string) ([]byte, error) {
	o.calls++
	return []byte("module " + path + "\n"), nil
}
func (o *originStub) Zip(ctx context.Context, path, version string) (io.ReadCloser, error) {
	o.calls++
	return nil, modmirror.NotFound("no zip")
}
func (o *originStub) String() string { return "origin" }

// TestDirectOrigin: with Options.Direct, "direct" answers from the origin,
// after the proxies before it answered not-found.
func TestDirectOrigin(t *testing.T) {
	t.Parallel()
	nf := httptest.NewServer(http.NotFoundHandler())
	defer nf.Close()
	o := new(originStub)
	c, err := Parse(nf.URL+",direct", Options{Direct: o})
	if err != nil {
		t.Fatal(err)
	}
	mod, err := c.Mod(context.Background(), "example.com/m", "v1.0.0")
	if err != nil || string(mod) != "module example.com/m\n" {
		t.Fatalf("Mod = %q, %v", mod, err)
	}
	if list, err := c.List(context.Background(), "example.com/m"); err != nil || len(list) != 1 {
		t.Errorf("List = %q, %v", list, err)
	}
	if _, err := c.Zip(context.Background(), "example.com/m", "v1.0.0"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Zip = %v, want the origin's not-found", err)
	}
	if o.calls != 3 {
		t.Errorf("origin called %d times, want 3", o.calls)
	}
}

func TestLeadsTo(t *testing.T) {
	for _, tc := range []struct {
		list, listen string
		want         bool
	}{
		{"http://127.0.0.1:3000", "127.0.0.1:3000", true},
		{"http://localhost:3000/go", "127.0.0.1:3000", true},
		{"https://proxy.golang.org,http://[::1]:3000", "[::1]:3000", true},
		{"http://127.0.0.2:3000", "0.0.0.0:3000", true},
		{"http://127.0.0.1:3001", "127.0.0.1:3000", false},
		{"https://proxy.golang.org", "0.0.0.0:443", false},
		{"http://192.0.2.1:3000", "0.0.0.0:3000", false},
		{"file:///srv/store,off", "127.0.0.1:3000", false},
	} {
		c, err := Parse(tc.list, Options{})
		if err != nil {
			t.Fatal(err)
		}
		addr, err := net.ResolveTCPAddr("tcp", tc.listen)
		if err != nil {
			t.Fatal(err)
		}
		if _, got := c.LeadsTo(addr); got != tc.want {
			t.Errorf("Parse(%q).LeadsTo(%s) = %v, want %v", tc.list, tc.listen, got, tc.want)
		}
	}
}
