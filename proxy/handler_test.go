package proxy

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modmirror/modmirror"
)

// listSource answers List with one version and everything else not-found.
type listSource struct{}

func (listSource) List(ctx context.Context, path string) ([]string, error) {
	return []string{"v1.0.0"}, nil
}
func (listSource) Latest(ctx context.Context, path string) ([]byte, error) {
	return nil, modmirror.NotFound("%s@latest: no", path)
}
func (listSource) Info(ctx context.Context, path, query string) (modmirror.File, error) {
	return nil, modmirror.NotFound("%s@%s: no", path, query)
}
func (listSource) Mod(ctx context.Context, path, version string) (modmirror.File, error) {
	return nil, modmirror.NotFound("%s@%s: no", path, version)
}
func (listSource) Zip(ctx context.Context, path, version string) (modmirror.File, error) {
	return nil, modmirror.NotFound("%s@%s: no", path, version)
}

func TestBasePath(t *testing.T) {
	t.Parallel()
	sumdb := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "sumdb saw "+r.URL.Path)
	})
	h, err := New(listSource{}, Options{BasePath: "/go/", SumDB: map[string]http.Handler{"sum.example": sumdb}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path string
		code int
		body string
	}{
		{"/go/example.com/m/@v/list", 200, "v1.0.0\n"},
		{"/go/sumdb/sum.example/supported", 200, "sumdb saw /supported"},
		{"/go/", 200, "GOPROXY=http://example.com/go"},
		{"/example.com/m/@v/list", 404, "outside the mirror's base path /go"},
		{"/gox/example.com/m/@v/list", 404, "outside"},
		{"/go/example.com/m/@v/v1.0.0.mod", 404, "not found: example.com/m@v1.0.0"},
	} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "http://example.com"+tc.path, nil))
		if w.Code != tc.code || !strings.Contains(w.Body.String(), tc.body) {
			t.Errorf("GET %s: %d %q; want %d containing %q", tc.path, w.Code, w.Body, tc.code, tc.body)
		}
	}
	if _, err := New(listSource{}, Options{BasePath: "go"}); err == nil {
		t.Error("a base path without a leading slash was accepted")
	}
}

// failSource fails every request with an error that names a server path.
type failSource struct{ listSource }

func (failSource) Mod(ctx context.Context, path, version string) (modmirror.File, error) {
	return nil, errors.New("open /srv/modmirror/data/cache/download/x: input/output error")
}

// TestErrorsHideServerPaths checks the last line of defence: whatever an
// error says, no server path given in HidePaths reaches a client, from the
// protocol or from a checksum database handler.
func TestErrorsHideServerPaths(t *testing.T) {
	t.Parallel()
	sumdb := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "reading /srv/modmirror/data/sumdb.db: disk I/O error", http.StatusInternalServerError)
	})
	h, err := New(failSource{}, Options{HidePaths: []string{"/srv/modmirror/data/"}, SumDB: map[string]http.Handler{"sum.example": sumdb}})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/example.com/m/@v/v1.0.0.mod", "/sumdb/sum.example/latest"} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", p, nil))
		if w.Code != 500 || strings.Contains(w.Body.String(), "/srv/modmirror") || !strings.Contains(w.Body.String(), "<server path>/") {
			t.Errorf("GET %s: %d %q; want 500 without the server path", p, w.Code, w.Body)
		}
	}
}

func TestLoopDetected(t *testing.T) {
	t.Parallel()
	h, err := New(listSource{}, Options{Via: "modmirror-abc"})
	if err != nil {
		t.Fatal(err)
	}
	for via, want := range map[string]int{
		"":                                   200,
		"1.1 modmirror-xyz":                  200,
		"1.1 proxy.corp, 1.1 modmirror-abc":  508,
		"1.0 modmirror-abc (modmirror/v1.0)": 508,
	} {
		r := httptest.NewRequest("GET", "/example.com/m/@v/list", nil)
		if via != "" {
			r.Header.Set("Via", via)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != want || want == 508 && !strings.Contains(w.Body.String(), "leads back to the mirror itself") {
			t.Errorf("Via %q: %d %q, want %d", via, w.Code, w.Body, want)
		}
	}
}

// zipSource answers Zip with the file open returns.
type zipSource struct {
	listSource
	open func() (modmirror.File, error)
}

func (s zipSource) Zip(ctx context.Context, path, version string) (modmirror.File, error) {
	return s.open()
}

// memFile is a stored file held in memory, as the memory cache gives.
type memFile struct{ *bytes.Reader }

func (memFile) Close() error                 { return nil }
func (f memFile) Stat() (fs.FileInfo, error) { return memInfo(f.Size()), nil }

type memInfo int64

func (memInfo) Name() string       { return "v1.0.0.zip" }
func (n memInfo) Size() int64      { return int64(n) }
func (memInfo) Mode() fs.FileMode  { return 0o444 }
func (memInfo) ModTime() time.Time { return time.Unix(1, 0) }
func (memInfo) IsDir() bool        { return false }
func (memInfo) Sys() any           { return nil }

// readFromRecorder records whether the body came through ReadFrom (which
// net/http turns into sendfile for a file).
type readFromRecorder struct {
	*httptest.ResponseRecorder
	readFrom bool
	writes   int
}

func (r *readFromRecorder) ReadFrom(src io.Reader) (int64, error) {
	r.readFrom = true
	return io.Copy(r.ResponseRecorder, src)
}

func (r *readFromRecorder) Write(p []byte) (int, error) {
	r.writes++
	return r.ResponseRecorder.Write(p)
}

// TestSendfileOrWrite checks how bodies leave: a stored file of more than
// 4 KiB through ReadFrom (sendfile), a smaller one, one over TLS (where
// there is no sendfile) and content in memory up to 64 KiB, in one Write
// (net/http sends it with the headers); a larger stored file over TLS in
// Writes of 64 KiB.
func TestSendfileOrWrite(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, tt := range []struct {
		name     string
		size     int
		inMemory bool
		tls      bool
		readFrom bool
		writes   int // when not readFrom; 0 means 1
	}{
		{"file 3 KiB", 3 << 10, false, false, false, 0},
		{"file 4 KiB", 4 << 10, false, false, false, 0},
		{"file 6 KiB", 6 << 10, false, false, true, 0},
		{"file 100 KiB", 100 << 10, false, false, true, 0},
		{"file 6 KiB over TLS", 6 << 10, false, true, false, 0}, // no sendfile there
		{"file 200 KiB over TLS", 200 << 10, false, true, false, 4},
		{"memory 6 KiB", 6 << 10, true, false, false, 0},
		{"memory 16 KiB", 16 << 10, true, false, false, 0},
		{"memory 64 KiB", 64 << 10, true, false, false, 0},
		{"memory 100 KiB", 100 << 10, true, false, true, 0},
	} {
		data := bytes.Repeat([]byte{'z'}, tt.size)
		name := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-"))
		if err := os.WriteFile(name, data, 0o644); err != nil {
			t.Fatal(err)
		}
		src := zipSource{open: func() (modmirror.File, error) {
			if tt.inMemory {
				return memFile{bytes.NewReader(data)}, nil
			}
			return os.Open(name)
		}}
		h, err := New(src, Options{})
		if err != nil {
			t.Fatal(err)
		}
		rec := &readFromRecorder{ResponseRecorder: httptest.NewRecorder()}
		req := httptest.NewRequest("GET", "/example.com/m/@v/v1.0.0.zip", nil)
		if tt.tls {
			req.TLS = &tls.ConnectionState{}
		}
		h.ServeHTTP(rec, req)
		if rec.Code != 200 || rec.Body.Len() != tt.size {
			t.Errorf("%s: %d, %d bytes", tt.name, rec.Code, rec.Body.Len())
		}
		if rec.readFrom != tt.readFrom {
			t.Errorf("%s: sent through ReadFrom: %v, want %v", tt.name, rec.readFrom, tt.readFrom)
		}
		if want := max(tt.writes, 1); !tt.readFrom && rec.writes != want {
			t.Errorf("%s: the body went out in %d Writes, want %d", tt.name, rec.writes, want)
		}
	}
}

func TestETag(t *testing.T) {
	for _, tt := range [][2]int64{{0, 0}, {1733480000123456789, 3072}, {-62135596800000000, 1}, {255, 4096}} {
		if got, want := etag(tt[0], tt[1]), fmt.Sprintf(`"%x-%x"`, tt[0], tt[1]); got != want {
			t.Errorf("etag(%d, %d) = %s, want %s", tt[0], tt[1], got, want)
		}
	}
}

// seekCounter counts the seeks made on a body.
type seekCounter struct {
	*bytes.Reader
	seeks int
}

func (s *seekCounter) Seek(offset int64, whence int) (int64, error) {
	s.seeks++
	return s.Reader.Seek(offset, whence)
}

// TestSendAgreesWithServeContent checks that send answers every request as
// http.ServeContent does (status, headers, body), and that it does not
// seek for the whole body of a GET or HEAD, where it takes the size it
// has rather than seeking to the end and back.
func TestSendAgreesWithServeContent(t *testing.T) {
	t.Parallel()
	h, err := New(listSource{}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("0123456789"), 1000)
	mod := time.Date(2026, 12, 7, 9, 30, 0, 0, time.FixedZone("x", 3600))
	for _, modtime := range []time.Time{mod, {}, time.Unix(0, 0)} {
		for _, tt := range []struct {
			method string
			header []string
			whole  bool
		}{
			{"GET", nil, true},
			{"HEAD", nil, true},
			{"GET", []string{"Accept-Encoding", "identity"}, true},
			{"GET", []string{"If-Range", `"x"`}, true}, // ignored without Range
			{"GET", []string{"Range", "bytes=10-19"}, false},
			{"GET", []string{"Range", "bytes=0-1,5-6"}, false},
			{"GET", []string{"Range", "bytes=20000-"}, false},
			{"HEAD", []string{"Range", "bytes=10-19"}, false},
			{"GET", []string{"If-None-Match", `"e"`}, false},
			{"GET", []string{"If-None-Match", `"other"`}, false},
			{"GET", []string{"If-Match", `"other"`}, false},
			{"GET", []string{"If-Modified-Since", mod.Add(time.Hour).UTC().Format(http.TimeFormat)}, false},
			{"GET", []string{"If-Unmodified-Since", mod.Add(-time.Hour).UTC().Format(http.TimeFormat)}, false},
			{"POST", nil, false},
		} {
			name := fmt.Sprintf("%s %q, modified %v", tt.method, tt.header, modtime)
			answer := func(serve func(w http.ResponseWriter, r *http.Request)) *httptest.ResponseRecorder {
				r := httptest.NewRequest(tt.method, "/example.com/m/@v/v1.0.0.zip", nil)
				for i := 0; i < len(tt.header); i += 2 {
					r.Header.Set(tt.header[i], tt.header[i+1])
				}
				w := httptest.NewRecorder()
				w.Header().Set("Content-Type", "application/zip")
				w.Header().Set("Etag", `"e"`)
				serve(w, r)
				return w
			}
			var seeks int
			got := answer(func(w http.ResponseWriter, r *http.Request) {
				content := &seekCounter{Reader: bytes.NewReader(data)}
				h.send(w, r, modtime, content, int64(len(data)))
				seeks = content.seeks
			})
			want := answer(func(w http.ResponseWriter, r *http.Request) {
				http.ServeContent(w, r, "", modtime, bytes.NewReader(data))
			})
			// A multipart answer has a new random boundary each time.
			gb, wb := got.Body.Bytes(), want.Body.Bytes()
			gh, wh := got.Header().Clone(), want.Header().Clone()
			for _, a := range []struct {
				body *[]byte
				h    http.Header
			}{{&gb, gh}, {&wb, wh}} {
				if b, ok := strings.CutPrefix(a.h.Get("Content-Type"), "multipart/byteranges; boundary="); ok {
					*a.body = bytes.ReplaceAll(*a.body, []byte(b), []byte("BOUNDARY"))
					a.h.Set("Content-Type", "multipart/byteranges; boundary=BOUNDARY")
				}
			}
			if got.Code != want.Code || !bytes.Equal(gb, wb) {
				t.Errorf("%s: %d with %d bytes, ServeContent %d with %d", name, got.Code, len(gb), want.Code, len(wb))
			}
			if g, w := fmt.Sprint(gh), fmt.Sprint(wh); g != w {
				t.Errorf("%s: headers\n%s\nServeContent's\n%s", name, g, w)
			}
			if tt.whole && seeks != 0 {
				t.Errorf("%s: %d seeks, want none", name, seeks)
			}
		}
	}
}
