package proxy

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"

	"github.com/modmirror/modmirror"
)

// serverConn holds the server's end of the one connection a test makes.
type serverConn struct {
	mu sync.Mutex
	rc syscall.RawConn
}

func (s *serverConn) connContext(ctx context.Context, c net.Conn) context.Context {
	nc := c
	if tc, ok := c.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	rc, err := nc.(*net.TCPConn).SyscallConn()
	if err != nil {
		panic(err)
	}
	s.mu.Lock()
	s.rc = rc
	s.mu.Unlock()
	return ConnContext(ctx, c)
}

// corked reads TCP_CORK of the server's end.
func (s *serverConn) corked(t *testing.T) bool {
	s.mu.Lock()
	rc := s.rc
	s.mu.Unlock()
	var v int
	var err error
	if cerr := rc.Control(func(fd uintptr) {
		v, err = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_CORK)
	}); cerr != nil {
		t.Fatal(cerr)
	}
	if err != nil {
		t.Fatal(err)
	}
	return v != 0
}

// corkProbe is a file in memory that notes whether the connection was
// corked while the handler read it.
type corkProbe struct {
	memFile
	t      *testing.T
	conn   *serverConn
	corked *bool
}

func (p corkProbe) Read(b []byte) (int, error) {
	*p.corked = p.conn.corked(p.t)
	return p.memFile.Read(b)
}

// TestCork checks that large answers over HTTP/1 are written with the
// connection corked, that the cork is taken out by the end of every
// answer (the next one on the same connection finds it out), and that
// small answers and HTTP/2 are left alone.
func TestCork(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name       string
		size       int
		tls, http2 bool
		want       bool
	}{
		{"100 KiB", 100 << 10, false, false, true},
		{"1 KiB", 1 << 10, false, false, false},
		{"4 KiB", 4 << 10, false, false, false},
		{"5 KiB", 5 << 10, false, false, true},
		{"100 KiB over TLS", 100 << 10, true, false, true},
		{"100 KiB over HTTP/2", 100 << 10, true, true, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			data := bytes.Repeat([]byte("modmirror"), tt.size/9+1)[:tt.size]
			conn := new(serverConn)
			var corked bool
			src := zipSource{open: func() (modmirror.File, error) {
				return corkProbe{memFile{bytes.NewReader(data)}, t, conn, &corked}, nil
			}}
			srv := newCorkServer(t, src, conn, tt.tls, tt.http2)
			client := srv.Client()
			get := func(path string) []byte {
				t.Helper()
				resp, err := client.Get(srv.URL + path)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				body, err := io.ReadAll(resp.Body)
				if err != nil || resp.StatusCode != 200 {
					t.Fatalf("GET %s: %d, %v", path, resp.StatusCode, err)
				}
				if want := 1 + boolInt(tt.http2); resp.ProtoMajor != want {
					t.Fatalf("GET %s: HTTP/%d, want HTTP/%d", path, resp.ProtoMajor, want)
				}
				return body
			}
			if body := get("/example.com/m/@v/v1.0.0.zip"); !bytes.Equal(body, data) {
				t.Fatalf("got %d bytes, not the %d stored", len(body), len(data))
			}
			if corked != tt.want {
				t.Errorf("corked while the body was written: %v, want %v", corked, tt.want)
			}
			// The list is small: not corked, and served on the same
			// connection once the zip's answer is over.
			get("/example.com/m/@v/list")
			if conn.corked(t) {
				t.Error("connection still corked after the answer")
			}
		})
	}
}

// TestCorkSendfile serves a stored file by sendfile(2), corked, in full,
// and a HEAD of it, and finds the connection uncorked after each.
func TestCorkSendfile(t *testing.T) {
	t.Parallel()
	data := bytes.Repeat([]byte("0123456789abcdef"), 300<<10/16+3)
	name := filepath.Join(t.TempDir(), "v1.0.0.zip")
	if err := os.WriteFile(name, data, 0o644); err != nil {
		t.Fatal(err)
	}
	conn := new(serverConn)
	src := zipSource{open: func() (modmirror.File, error) { return os.Open(name) }}
	srv := newCorkServer(t, src, conn, false, false)
	for _, method := range []string{"GET", "HEAD", "GET"} {
		req, _ := http.NewRequest(method, srv.URL+"/example.com/m/@v/v1.0.0.zip", nil)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || resp.ContentLength != int64(len(data)) {
			t.Fatalf("%s: %d, length %d, %v", method, resp.StatusCode, resp.ContentLength, err)
		}
		if method == "GET" && !bytes.Equal(body, data) {
			t.Fatalf("GET: %d bytes, not the %d stored", len(body), len(data))
		}
		if method == "HEAD" && len(body) != 0 {
			t.Fatalf("HEAD: %d bytes of body", len(body))
		}
		if conn.corked(t) {
			t.Errorf("%s: connection still corked after the answer", method)
		}
	}
}

// newCorkServer serves src with the handler, on one connection.
func newCorkServer(t *testing.T, src Source, conn *serverConn, useTLS, http2 bool) *httptest.Server {
	t.Helper()
	h, err := New(src, Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnContext = conn.connContext
	if useTLS {
		srv.EnableHTTP2 = http2
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	tr := srv.Client().Transport.(*http.Transport)
	tr.MaxConnsPerHost = 1 // one connection, whose end the test reads
	if !http2 {
		tr.ForceAttemptHTTP2 = false
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	return srv
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
