package upstream

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/modmirror/modmirror"
)

func readAllString(r io.Reader) (string, error) {
	data, err := io.ReadAll(r)
	return string(data), err
}

func newTestProxy(t *testing.T, rawURL string, opts Options) *Proxy {
	t.Helper()
	p, err := NewProxy(rawURL, opts)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestStatus checks how response statuses map to errors, and what the
// errors say.
func TestStatus(t *testing.T) {
	t.Parallel()
	const file = "/example.com/m/@v/v1.0.0.mod"
	tests := []struct {
		reply        reply
		wantErr      string // the whole message after "<url>: "; "" for success
		wantNotExist bool
		wantBlocked  bool
	}{
		{reply: reply{body: "module example.com/m\n"}},
		{reply: reply{status: 403, body: "not available\nsecond line\n"}, wantErr: "403 Forbidden: not available", wantNotExist: true},
		{reply: reply{status: 403, body: "blocked by policy 'legal': example.com/m v1.0.0 is denied\n"}, wantErr: "403 Forbidden: blocked by policy 'legal': example.com/m v1.0.0 is denied", wantBlocked: true},
		{reply: reply{status: 404, body: "not found: example.com/m@v1.0.0: invalid version\n"}, wantErr: "404 Not Found: not found: example.com/m@v1.0.0: invalid version", wantNotExist: true},
		{reply: reply{status: 410, body: "gone"}, wantErr: "410 Gone: gone", wantNotExist: true},
		{reply: reply{status: 404}, wantErr: "404 Not Found", wantNotExist: true},
		{reply: reply{status: 500, body: "database on fire\nsecond line\r\n\nafter a blank line\n"}, wantErr: "500 Internal Server Error: database on fire\n\tsecond line"},
		{reply: reply{status: 503, body: "try later"}, wantErr: "503 Service Unavailable: try later"},
		{reply: reply{status: 502, body: "<html>bad gateway</html>", contentType: "text/html"}, wantErr: "502 Bad Gateway"},
		{reply: reply{status: 500, body: "evil \x1b[2J escape"}, wantErr: "500 Internal Server Error"},
		{reply: reply{status: 500, body: "latin-1", contentType: "text/plain; charset=iso-8859-1"}, wantErr: "500 Internal Server Error"},
		{reply: reply{status: 500, body: strings.Repeat("line\n", 20)}, wantErr: "500 Internal Server Error: " + strings.Repeat("line\n\t", 8) + "[truncated: too many lines]"},
		{reply: reply{status: 599, body: "odd"}, wantErr: "599: odd"},
		{reply: reply{status: 401, body: "who are you"}, wantErr: "401 Unauthorized: who are you"},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.reply.status), func(t *testing.T) {
			t.Parallel()
			srv := newFakeProxy(t, map[string]reply{file: tt.reply})
			p := newTestProxy(t, srv.URL, Options{})
			data, err := p.Mod(context.Background(), "example.com/m", "v1.0.0")
			if tt.wantErr == "" {
				if err != nil || string(data) != tt.reply.body {
					t.Fatalf("Mod = %q, %v; want %q", data, err, tt.reply.body)
				}
				return
			}
			want := "upstream: example.com/m@v1.0.0: reading " + srv.URL + file + ": " + tt.wantErr
			if err == nil || err.Error() != want {
				t.Fatalf("Mod error:\n%v\nwant:\n%s", err, want)
			}
			if got := errors.Is(err, fs.ErrNotExist); got != tt.wantNotExist {
				t.Errorf("errors.Is(err, fs.ErrNotExist) = %v, want %v", got, tt.wantNotExist)
			}
			if got := errors.Is(err, modmirror.ErrBlocked); got != tt.wantBlocked {
				t.Errorf("errors.Is(err, modmirror.ErrBlocked) = %v, want %v", got, tt.wantBlocked)
			}
		})
	}
}

// TestErrorNamesModule checks the module part of the errors of each method.
func TestErrorNamesModule(t *testing.T) {
	t.Parallel()
	srv := newFakeProxy(t, nil)
	p := newTestProxy(t, srv.URL, Options{})
	ctx := context.Background()
	check := func(method string, err error, want string) {
		t.Helper()
		if err == nil || !strings.HasPrefix(err.Error(), want) || !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s error = %v, want a not-found starting with %q", method, err, want)
		}
	}
	_, err := p.List(ctx, "example.com/m")
	check("List", err, "upstream: module example.com/m: reading "+srv.URL+"/example.com/m/@v/list: 404 Not Found")
	_, err = p.Latest(ctx, "example.com/m")
	check("Latest", err, "upstream: example.com/m@latest: reading "+srv.URL+"/example.com/m/@latest: 404 Not Found")
	_, err = p.Info(ctx, "example.com/m", "master")
	check("Info", err, "upstream: example.com/m@master: reading "+srv.URL+"/example.com/m/@v/master.info: 404 Not Found")
	_, err = p.Mod(ctx, "example.com/m", "v1.0.0")
	check("Mod", err, "upstream: example.com/m@v1.0.0: reading "+srv.URL+"/example.com/m/@v/v1.0.0.mod: 404 Not Found")
	_, err = p.Zip(ctx, "example.com/m", "v1.0.0")
	check("Zip", err, "upstream: example.com/m@v1.0.0: reading "+srv.URL+"/example.com/m/@v/v1.0.0.zip: 404 Not Found")
	_, err = p.SumDB(ctx, "sum.golang.org", "/latest")
	check("SumDB", err, "upstream: checksum database sum.golang.org: reading "+srv.URL+"/sumdb/sum.golang.org/latest: 404 Not Found")
}

func TestConnectionRefused(t *testing.T) {
	t.Parallel()
	base := closedURL(t)
	p := newTestProxy(t, base, Options{})
	_, err := p.Mod(context.Background(), "example.com/m", "v1.0.0")
	want := "upstream: example.com/m@v1.0.0: reading " + base + "/example.com/m/@v/v1.0.0.mod: "
	if err == nil || !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("Mod error = %v, want %q followed by connection refused", err, want)
	}
	if errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Mod error %v matches fs.ErrNotExist", err)
	}
}

func TestContextCanceled(t *testing.T) {
	t.Parallel()
	srv := newFakeProxy(t, map[string]reply{"/example.com/m/@v/v1.0.0.mod": {body: "module example.com/m\n"}})
	p := newTestProxy(t, srv.URL, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := p.Mod(ctx, "example.com/m", "v1.0.0")
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Mod error = %v, want context.Canceled", err)
	}
}

// TestLimits checks that responses larger than the limits are refused, with
// and without a Content-Length, and that a response at the limit is not.
func TestLimits(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		size          int64 // declared or written size
		contentLength bool  // declare the size
		write         bool  // write the body
		wantErr       string
	}{
		{name: "at limit", size: modmirror.MaxGoMod, contentLength: true, write: true},
		{name: "at limit chunked", size: modmirror.MaxGoMod, write: true},
		{name: "declared too large", size: modmirror.MaxGoMod + 1, contentLength: true, wantErr: fmt.Sprintf("response too large: %d bytes, limit %d", modmirror.MaxGoMod+1, modmirror.MaxGoMod)},
		{name: "chunked too large", size: modmirror.MaxGoMod + 1, write: true, wantErr: fmt.Sprintf("response too large: more than %d bytes", modmirror.MaxGoMod)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.contentLength {
					w.Header().Set("Content-Length", strconv.FormatInt(tt.size, 10))
				} else {
					w.(http.Flusher).Flush() // no Content-Length: chunked
				}
				if tt.write {
					chunk := []byte(strings.Repeat("x", 64<<10))
					for n := tt.size; n > 0; n -= int64(len(chunk)) {
						w.Write(chunk[:min(n, int64(len(chunk)))])
					}
				}
			}))
			t.Cleanup(srv.Close)
			p := newTestProxy(t, srv.URL, Options{})
			data, err := p.Mod(context.Background(), "example.com/m", "v1.0.0")
			if tt.wantErr == "" {
				if err != nil || int64(len(data)) != tt.size {
					t.Fatalf("Mod = %d bytes, %v; want %d bytes", len(data), err, tt.size)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Mod error = %v, want %q", err, tt.wantErr)
			}
			if errors.Is(err, fs.ErrNotExist) {
				t.Errorf("Mod error %v matches fs.ErrNotExist", err)
			}
		})
	}
}

func TestInfoLimit(t *testing.T) {
	t.Parallel()
	big := `{"Version":"v1.0.0","Pad":"` + strings.Repeat("x", modmirror.MaxInfoFile) + `"}`
	srv := newFakeProxy(t, map[string]reply{
		"/example.com/m/@v/v1.0.0.info": {body: big},
		"/example.com/m/@v/list":        {body: strings.Repeat("v1.0.0\n", modmirror.MaxInfoFile/7+1)},
	})
	p := newTestProxy(t, srv.URL, Options{})
	if _, err := p.Info(context.Background(), "example.com/m", "v1.0.0"); err == nil || !strings.Contains(err.Error(), "too large") {
		t.Errorf("Info error = %v, want too large", err)
	}
	if _, err := p.List(context.Background(), "example.com/m"); err == nil || !strings.Contains(err.Error(), "too large") {
		t.Errorf("List error = %v, want too large", err)
	}
}

func TestZipTooLarge(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(modmirror.MaxZipFile+1))
	}))
	t.Cleanup(srv.Close)
	p := newTestProxy(t, srv.URL, Options{})
	body, err := p.Zip(context.Background(), "example.com/m", "v1.0.0")
	if err == nil {
		body.Close()
		t.Fatal("Zip succeeded, want too large")
	}
	if !strings.Contains(err.Error(), "response too large") {
		t.Errorf("Zip error = %v, want too large", err)
	}
}

// truncatingServer declares a body of 100 bytes and sends body.
func truncatingServer(t *testing.T, body string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nContent-Type: application/octet-stream\r\n\r\n%s", body)
		buf.Flush()
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestTruncated(t *testing.T) {
	t.Parallel()
	srv := truncatingServer(t, "module example.com/m\n")
	p := newTestProxy(t, srv.URL, Options{})
	ctx := context.Background()

	_, err := p.Mod(ctx, "example.com/m", "v1.0.0")
	want := "upstream: example.com/m@v1.0.0: reading " + srv.URL + "/example.com/m/@v/v1.0.0.mod: unexpected EOF"
	if err == nil || err.Error() != want {
		t.Errorf("Mod error = %v, want %q", err, want)
	}
	if errors.Is(err, fs.ErrNotExist) || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("Mod error %v: want io.ErrUnexpectedEOF, not fs.ErrNotExist", err)
	}

	body, err := p.Zip(ctx, "example.com/m", "v1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	defer body.Close()
	_, err = io.ReadAll(body)
	want = "upstream: example.com/m@v1.0.0: reading " + srv.URL + "/example.com/m/@v/v1.0.0.zip: unexpected EOF"
	if err == nil || err.Error() != want {
		t.Errorf("reading zip: error = %v, want %q", err, want)
	}
}

// TestStalled checks the idle timeout: a body that stops arriving fails
// the request after IdleTimeout, however long the caller's deadline, and
// a body that keeps arriving, however slowly, does not.
func TestStalled(t *testing.T) {
	t.Parallel()
	stall := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		w.Write([]byte("PK"))
		http.NewResponseController(w).Flush()
		if strings.HasSuffix(r.URL.Path, ".zip") {
			<-stall
			return
		}
		// The .mod trickles: a byte every 20ms, far under the idle
		// timeout, even on a loaded machine.
		for i := 0; i < 10; i++ {
			time.Sleep(20 * time.Millisecond)
			w.Write([]byte("x"))
			http.NewResponseController(w).Flush()
		}
		panic(http.ErrAbortHandler)
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(stall) }) // first: srv.Close waits for the handler
	p := newTestProxy(t, srv.URL, Options{IdleTimeout: time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	body, err := p.Zip(ctx, "example.com/m", "v1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	defer body.Close()
	_, err = io.ReadAll(body)
	want := "upstream: example.com/m@v1.0.0: reading " + srv.URL + "/example.com/m/@v/v1.0.0.zip: no data for 1s: the upstream stalled"
	if err == nil || err.Error() != want {
		t.Errorf("reading a stalled zip: %v, want %q", err, want)
	}

	_, err = p.Mod(ctx, "example.com/m", "v1.0.0")
	if err == nil || strings.Contains(err.Error(), "stalled") || !strings.Contains(err.Error(), "unexpected EOF") {
		t.Errorf("reading a slow .mod: %v; want it read to the server's early end, not stalled", err)
	}
}

func TestInfo(t *testing.T) {
	t.Parallel()
	const pseudo = "v0.0.0-20190101000000-abcdefabcdef"
	tests := []struct {
		path, query string
		body        string
		wantErr     string
	}{
		{path: "example.com/m", query: "v1.0.0", body: `{"Version":"v1.0.0","Time":"2019-01-01T00:00:00Z"}`},
		{path: "example.com/m", query: "v1.0.0", body: `{"Version":"v1.0.1"}`, wantErr: "returned info for version v1.0.1 instead of requested version"},
		{path: "example.com/m", query: "master", body: `{"Version":"` + pseudo + `"}`},
		{path: "example.com/m", query: "v1", body: `{"Version":"v1.2.3"}`},
		{path: "example.com/m", query: "abcdef", body: `{"Version":"` + pseudo + `"}`},
		// A canonical version the path cannot have: the proxy may resolve it.
		{path: "example.com/m", query: "v2.0.0", body: `{"Version":"v2.0.0+incompatible"}`},
		{path: "example.com/m", query: "master", body: `{"Version":"v1.0"}`, wantErr: `version "v1.0" is not canonical`},
		{path: "example.com/m/v2", query: "master", body: `{"Version":"v1.0.0"}`, wantErr: "invalid response"},
		{path: "example.com/m", query: "master", body: `{"Version":""}`, wantErr: "no version"},
		{path: "example.com/m", query: "master", body: `{}`, wantErr: "no version"},
		{path: "example.com/m", query: "master", body: `not json`, wantErr: "invalid response"},
		{path: "example.com/m", query: "master", body: `{"Version":"v1.0.0","Time":"yesterday"}`, wantErr: "invalid response"},
	}
	for _, tt := range tests {
		files := map[string]reply{"/" + tt.path + "/@v/" + tt.query + ".info": {body: tt.body}}
		srv := newFakeProxy(t, files)
		p := newTestProxy(t, srv.URL, Options{})
		data, err := p.Info(context.Background(), tt.path, tt.query)
		if tt.wantErr == "" {
			if err != nil || string(data) != tt.body {
				t.Errorf("Info(%q, %q) = %q, %v; want %q", tt.path, tt.query, data, err, tt.body)
			}
			continue
		}
		prefix := "upstream: " + tt.path + "@" + tt.query + ": "
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), prefix) {
			t.Errorf("Info(%q, %q) error = %v, want %q after %q", tt.path, tt.query, err, tt.wantErr, prefix)
		}
		if errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Info(%q, %q) error %v matches fs.ErrNotExist", tt.path, tt.query, err)
		}
	}
}

func TestLatest(t *testing.T) {
	t.Parallel()
	srv := newFakeProxy(t, map[string]reply{
		"/example.com/good/@latest": {body: `{"Version":"v1.2.3","Time":"2019-01-01T00:00:00Z"}`},
		"/example.com/bad/@latest":  {body: `{"Time":"2019-01-01T00:00:00Z"}`},
	})
	p := newTestProxy(t, srv.URL, Options{})
	ctx := context.Background()
	if data, err := p.Latest(ctx, "example.com/good"); err != nil || !strings.Contains(string(data), "v1.2.3") {
		t.Errorf("Latest = %q, %v", data, err)
	}
	if _, err := p.Latest(ctx, "example.com/bad"); err == nil || !strings.Contains(err.Error(), "no version") {
		t.Errorf("Latest error = %v, want no version", err)
	}
}

func TestList(t *testing.T) {
	t.Parallel()
	tests := []struct {
		body string
		want []string
	}{
		{"", []string{}},
		{"\n\n", []string{}},
		{"v1.0.0\n", []string{"v1.0.0"}},
		{"v1.1.0\nv1.0.0", []string{"v1.1.0", "v1.0.0"}},
		{"v1.0.0 2019-01-01T00:00:00Z\r\n\n  \nv0.9.0\tfoo bar\r\nv1.1.0\n", []string{"v1.0.0", "v0.9.0", "v1.1.0"}},
	}
	for _, tt := range tests {
		srv := newFakeProxy(t, map[string]reply{"/example.com/m/@v/list": {body: tt.body}})
		p := newTestProxy(t, srv.URL, Options{})
		got, err := p.List(context.Background(), "example.com/m")
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("List of %q = %q, %v; want %q", tt.body, got, err, tt.want)
		}
	}
}

// TestEscaping checks that paths and versions go on the wire escaped as the
// GOPROXY protocol says, below the base URL's path.
func TestEscaping(t *testing.T) {
	t.Parallel()
	srv := newFakeProxy(t, nil)
	p := newTestProxy(t, srv.URL+"/prefix/", Options{})
	ctx := context.Background()
	p.List(ctx, "github.com/Azure/go")
	p.Latest(ctx, "github.com/Azure/go")
	p.Info(ctx, "github.com/Azure/go", "Main")
	p.Info(ctx, "github.com/Azure/go", "v1.0.0-RC1")
	p.Mod(ctx, "github.com/Azure/go", "v1.0.0")
	p.Zip(ctx, "github.com/Azure/go", "v1.0.0+incompatible")
	p.Mod(ctx, "golang.org/x/mod", "v0.1.0")
	p.SumDB(ctx, "sum.golang.org", "/lookup/github.com/!azure/go@v1.0.0")
	want := []string{
		"/prefix/github.com/!azure/go/@v/list",
		"/prefix/github.com/!azure/go/@latest",
		"/prefix/github.com/!azure/go/@v/!main.info",
		"/prefix/github.com/!azure/go/@v/v1.0.0-!r!c1.info",
		"/prefix/github.com/!azure/go/@v/v1.0.0.mod",
		"/prefix/github.com/!azure/go/@v/v1.0.0+incompatible.zip",
		"/prefix/golang.org/x/mod/@v/v0.1.0.mod",
		"/prefix/sumdb/sum.golang.org/lookup/github.com/!azure/go@v1.0.0",
	}
	if got := srv.requestURIs(); !reflect.DeepEqual(got, want) {
		t.Errorf("request URIs:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestInvalidRequest(t *testing.T) {
	t.Parallel()
	srv := newFakeProxy(t, nil)
	p := newTestProxy(t, srv.URL, Options{})
	ctx := context.Background()
	if _, err := p.Info(ctx, "example.com/m", "feature/x"); !errors.Is(err, modmirror.ErrInvalid) {
		t.Errorf("Info with a slash in the query: error %v, want ErrInvalid", err)
	}
	if _, err := p.Mod(ctx, "Example.com/m", "v1.0.0"); !errors.Is(err, modmirror.ErrInvalid) {
		t.Errorf("Mod of an invalid path: error %v, want ErrInvalid", err)
	}
	if n := srv.hits(); n != 0 {
		t.Errorf("server got %d requests for invalid queries, want 0", n)
	}
}

func TestUserAgent(t *testing.T) {
	t.Parallel()
	srv := newFakeProxy(t, nil)
	ctx := context.Background()
	newTestProxy(t, srv.URL, Options{UserAgent: "modmirror/v1.2.3"}).List(ctx, "example.com/m")
	newTestProxy(t, srv.URL, Options{}).List(ctx, "example.com/m")
	srv.mu.Lock()
	defer srv.mu.Unlock()
	for i, want := range []string{"modmirror/v1.2.3", "modmirror"} {
		if got := srv.requests[i].UserAgent(); got != want {
			t.Errorf("request %d: User-Agent %q, want %q", i, got, want)
		}
	}
}

// TestFileProxy reads a directory in module download cache layout through a
// file:// entry.
func TestFileProxy(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	files := map[string]string{
		"example.com/!m/@v/list":            "v1.0.0\n",
		"example.com/!m/@v/v1.0.0.info":     `{"Version":"v1.0.0","Time":"2019-01-01T00:00:00Z"}`,
		"example.com/!m/@v/v1.0.0.mod":      "module example.com/M\n",
		"example.com/!m/@v/v1.0.0.zip":      "PK zip bytes",
		"example.com/!m/@v/v1.1.0.info/x":   "a directory where a file should be",
		"example.com/file":                  "a file where a directory should be",
		"sumdb/sum.golang.org/supported":    "",
		"sumdb/sum.golang.org/tile/8/0/001": "tile",
	}
	for name, data := range files {
		file := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(file), 0o777); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, []byte(data), 0o666); err != nil {
			t.Fatal(err)
		}
	}
	base := "file://" + filepath.ToSlash(dir)
	var rec recorder
	c, err := Parse(base+"/", Options{Observe: rec.observe})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.String(); got != base {
		t.Errorf("String() = %q, want %q", got, base)
	}
	ctx := context.Background()
	const path = "example.com/M"

	if list, err := c.List(ctx, path); err != nil || !reflect.DeepEqual(list, []string{"v1.0.0"}) {
		t.Errorf("List = %q, %v", list, err)
	}
	if info, err := c.Info(ctx, path, "v1.0.0"); err != nil || string(info) != files["example.com/!m/@v/v1.0.0.info"] {
		t.Errorf("Info = %q, %v", info, err)
	}
	if mod, err := c.Mod(ctx, path, "v1.0.0"); err != nil || string(mod) != "module example.com/M\n" {
		t.Errorf("Mod = %q, %v", mod, err)
	}
	zip, err := c.Zip(ctx, path, "v1.0.0")
	if err != nil {
		t.Fatalf("Zip: %v", err)
	}
	if data, err := readAllString(zip); err != nil || data != "PK zip bytes" {
		t.Errorf("Zip body = %q, %v", data, err)
	}
	zip.Close()
	if tile, err := c.ReadSumDB(ctx, "sum.golang.org", "/tile/8/0/001"); err != nil || string(tile) != "tile" {
		t.Errorf("ReadSumDB = %q, %v", tile, err)
	}

	notFound := []struct {
		name string
		err  func() error
		want string
	}{
		{"Latest", func() error { _, err := c.Latest(ctx, path); return err }, base + "/example.com/!m/@latest: "},
		{"Mod", func() error { _, err := c.Mod(ctx, path, "v2.0.0"); return err }, base + "/example.com/!m/@v/v2.0.0.mod: "},
		{"Info of a directory", func() error { _, err := c.Info(ctx, path, "v1.1.0"); return err }, base + "/example.com/!m/@v/v1.1.0.info: is a directory"},
		{"List below a file", func() error { _, err := c.List(ctx, "example.com/file/sub"); return err }, base + "/example.com/file/sub/@v/list: not a directory"},
		{"ReadSumDB", func() error { _, err := c.ReadSumDB(ctx, "sum.golang.org", "/latest"); return err }, base + "/sumdb/sum.golang.org/latest: "},
	}
	for _, tt := range notFound {
		err := tt.err()
		if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "reading "+tt.want) {
			t.Errorf("%s: error = %v, want a not-found containing %q", tt.name, err, tt.want)
		}
	}

	fetches := rec.list()
	if len(fetches) != 10 {
		t.Fatalf("observed %d fetches, want 10: %+v", len(fetches), fetches)
	}
	if f := fetches[3]; f.Kind != KindZip || f.Status != 200 || f.Bytes != int64(len("PK zip bytes")) || f.Err != nil || f.Upstream != base {
		t.Errorf("observed zip fetch %+v", f)
	}
	if f := fetches[5]; f.Kind != KindLatest || f.Status != 404 || !errors.Is(f.Err, fs.ErrNotExist) {
		t.Errorf("observed latest fetch %+v", f)
	}
}

func TestFileProxyTooLarge(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "example.com", "m", "@v", "v1.0.0.info")
	os.MkdirAll(filepath.Dir(file), 0o777)
	if err := os.WriteFile(file, make([]byte, modmirror.MaxInfoFile+1), 0o666); err != nil {
		t.Fatal(err)
	}
	p := newTestProxy(t, "file://"+filepath.ToSlash(dir), Options{})
	_, err := p.Info(context.Background(), "example.com/m", "v1.0.0")
	if err == nil || !strings.Contains(err.Error(), "file too large") || errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Info error = %v, want file too large", err)
	}
}

// TestObserve checks what the observer hears, and when.
func TestObserve(t *testing.T) {
	t.Parallel()
	zipBody := strings.Repeat("z", 100<<10)
	srv := newFakeProxy(t, map[string]reply{
		"/example.com/m/@v/v1.0.0.mod": {body: "module example.com/m\n"},
		"/example.com/m/@v/v1.0.0.zip": {body: zipBody, contentType: "application/zip"},
		"/example.com/m/@v/list":       {status: 500, body: "boom"},
	})
	var rec recorder
	p := newTestProxy(t, srv.URL, Options{Observe: rec.observe})
	ctx := context.Background()
	start := time.Now()

	p.Mod(ctx, "example.com/m", "v2.0.0")
	p.Mod(ctx, "example.com/m", "v1.0.0")
	p.List(ctx, "example.com/m")
	if n := len(rec.list()); n != 3 {
		t.Fatalf("observed %d fetches, want 3", n)
	}

	zip, err := p.Zip(ctx, "example.com/m", "v1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(rec.list()); n != 3 {
		t.Errorf("observed %d fetches before reading the zip, want 3", n)
	}
	if _, err := io.Copy(io.Discard, zip); err != nil {
		t.Fatal(err)
	}
	zip.Close()
	zip.Close()

	// A zip closed early is reported when closed, with what was read.
	zip, err = p.Zip(ctx, "example.com/m", "v1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 10)
	if _, err := io.ReadFull(zip, buf); err != nil {
		t.Fatal(err)
	}
	if n := len(rec.list()); n != 4 {
		t.Errorf("observed %d fetches before closing the second zip, want 4", n)
	}
	zip.Close()

	p.Mod(ctx, "example.com/m", "v1.0.0")

	bad := newTestProxy(t, closedURL(t), Options{Observe: rec.observe})
	bad.Mod(ctx, "example.com/m", "v1.0.0")

	fetches := rec.list()
	if len(fetches) != 7 {
		t.Fatalf("observed %d fetches, want 7: %+v", len(fetches), fetches)
	}
	type summary struct {
		Upstream, Kind string
		Status         int
		Bytes          int64
		Err            bool
	}
	var got []summary
	for _, f := range fetches {
		got = append(got, summary{f.Upstream, f.Kind, f.Status, f.Bytes, f.Err != nil})
		if f.Duration <= 0 || f.Duration > time.Since(start) {
			t.Errorf("fetch %+v: duration out of range", f)
		}
	}
	want := []summary{
		{srv.URL, KindMod, 404, int64(len("not found: /example.com/m/@v/v2.0.0.mod\n")), true},
		{srv.URL, KindMod, 200, int64(len("module example.com/m\n")), false},
		{srv.URL, KindList, 500, 4, true},
		{srv.URL, KindZip, 200, int64(len(zipBody)), false},
		{srv.URL, KindZip, 200, 10, false},
		{srv.URL, KindMod, 200, int64(len("module example.com/m\n")), false},
		{bad.String(), KindMod, 0, 0, true},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("observed:\n%+v\nwant:\n%+v", got, want)
	}
	if !errors.Is(fetches[0].Err, fs.ErrNotExist) {
		t.Errorf("observed error %v, want not found", fetches[0].Err)
	}
}

// TestRedirect checks that redirects are followed, but not from https to
// http, with the default client.
func TestRedirect(t *testing.T) {
	t.Parallel()
	target := newFakeProxy(t, map[string]reply{"/example.com/m/@v/v1.0.0.mod": {body: "module example.com/m\n"}})
	redirect := func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+r.URL.Path, http.StatusFound)
	}
	plain := httptest.NewServer(http.HandlerFunc(redirect))
	t.Cleanup(plain.Close)
	p := newTestProxy(t, plain.URL, Options{})
	if mod, err := p.Mod(context.Background(), "example.com/m", "v1.0.0"); err != nil || string(mod) != "module example.com/m\n" {
		t.Errorf("Mod through a redirect = %q, %v", mod, err)
	}

	secure := httptest.NewTLSServer(http.HandlerFunc(redirect))
	t.Cleanup(secure.Close)
	client := NewClient()
	client.Transport = secure.Client().Transport
	p = newTestProxy(t, secure.URL, Options{Client: client})
	if _, err := p.Mod(context.Background(), "example.com/m", "v1.0.0"); err == nil || !strings.Contains(err.Error(), "redirected from secure URL") {
		t.Errorf("Mod through a redirect from https to http: error %v, want refused", err)
	}
}

// TestErrorDetailCap checks that only the start of a long error body is read.
func TestErrorDetailCap(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusInternalServerError)
		bw := bufio.NewWriter(w)
		bw.WriteString(strings.Repeat("é", 2000)) // 4000 bytes, no newline
		bw.WriteString(strings.Repeat("x", 1<<20))
		bw.Flush()
	}))
	t.Cleanup(srv.Close)
	var rec recorder
	p := newTestProxy(t, srv.URL, Options{Observe: rec.observe})
	_, err := p.Mod(context.Background(), "example.com/m", "v1.0.0")
	if err == nil || !strings.HasSuffix(err.Error(), ": 500 Internal Server Error: [truncated: too long]") {
		t.Errorf("Mod error = %v, want the long line truncated", err)
	}
	if f := rec.list()[0]; f.Bytes != maxErrorBody {
		t.Errorf("read %d bytes of the error body, want %d", f.Bytes, maxErrorBody)
	}
}
