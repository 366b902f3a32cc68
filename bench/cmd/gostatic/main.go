// Command gostatic serves a directory over HTTP with Go's net/http in three
// ways, as baselines for the mirror benchmarks (bench/cmd/mirrorbench). They
// separate what Go's HTTP server costs from what modmirror's own layers and
// its way of reading files cost:
//
//	/open/<name>  os.Open, Stat, http.ServeContent: what modmirror does for
//	              a hit (fsstore.Open, proxy.serveFile), without its layers
//	/newfile/<name> as /open/, but the file is opened with open(2) and
//	              wrapped by os.NewFile rather than opened by os.Open, which
//	              on Linux also tries (and fails) to register a regular file
//	              with the network poller: how fsstore.Open opens a stored
//	              file (internal/openread), still an *os.File for sendfile
//	/lean/<name>  files up to 64 KiB: open(2), fstat(2) and pread(2) into a
//	              pooled buffer, then one Write of headers and body; larger
//	              files as /open/. A prototype of a leaner hit path.
//	/mem/<name>   from memory, read once at the first request, written
//	              with one Write: a prototype of an in-memory cache of
//	              small immutable files
//	/corked/<name> as /open/, with the connection corked (TCP_CORK) while
//	              the answer is written and then uncorked, as modmirror
//	              writes answers of more than 4 KiB over HTTP/1: what a bare
//	              server gains by it (net/http sets TCP_NODELAY, so headers
//	              and body otherwise leave in segments of their own)
//	/memsc/<name> from the same memory, through http.ServeContent over a
//	              bytes.Reader, as modmirror serves what its cachestore
//	              holds: net/http's ReadFrom sends the first 512 bytes with
//	              the headers and the rest in a second write
//
// With -tls-cert and -tls-key it serves HTTPS, as net/http's
// ListenAndServeTLS does (no sendfile through TLS).
//
// Every answer has the headers modmirror sends for a stored file
// (Content-Type, Cache-Control, ETag, Last-Modified). The prototypes answer
// plain GETs only; a real implementation would hand conditional and range
// requests to http.ServeContent. It is a benchmark tool, not a server.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/modmirror/modmirror/internal/openread"
)

const (
	immutable = "public, max-age=31536000, immutable"
	leanMax   = 64 << 10
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	root := flag.String("root", ".", "directory to serve")
	cert := flag.String("tls-cert", "", "certificate file (PEM): serve HTTPS, with -tls-key")
	key := flag.String("tls-key", "", "private key file (PEM) of -tls-cert")
	flag.Parse()
	s := &server{root: *root}
	mux := http.NewServeMux()
	mux.HandleFunc("/open/", s.serveOpen)
	mux.HandleFunc("/newfile/", s.serveNewFile)
	mux.HandleFunc("/lean/", s.serveLean)
	mux.HandleFunc("/mem/", s.serveMem)
	mux.HandleFunc("/memsc/", s.serveMemServeContent)
	mux.HandleFunc("/corked/", s.serveCorked)
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "gostatic") })
	srv := &http.Server{Addr: *listen, Handler: mux, ReadHeaderTimeout: 10 * time.Second, ConnContext: keepConn}
	if *cert != "" {
		log.Fatal(srv.ListenAndServeTLS(*cert, *key))
	}
	log.Fatal(srv.ListenAndServe())
}

type server struct {
	root string
	mem  sync.Map // name -> *memFile
}

// file returns the file name of a request path under prefix, or "".
func (s *server) file(r *http.Request, prefix string) string {
	name := strings.TrimPrefix(r.URL.Path, prefix)
	if name == "" || strings.Contains(name, "..") || strings.HasPrefix(path.Base(name), ".") {
		return ""
	}
	return filepath.Join(s.root, filepath.FromSlash(name))
}

func contentType(name string) string {
	switch path.Ext(name) {
	case ".zip":
		return "application/zip"
	case ".info":
		return "application/json"
	}
	return "text/plain; charset=utf-8"
}

func etag(mod time.Time, size int64) string {
	return fmt.Sprintf(`"%x-%x"`, mod.UnixNano(), size)
}

func (s *server) serveOpen(w http.ResponseWriter, r *http.Request) { s.openAndServe(w, r, "/open/") }

// openAndServe serves the file that the request path names under prefix,
// opened with os.Open.
func (s *server) openAndServe(w http.ResponseWriter, r *http.Request, prefix string) {
	name := s.file(r, prefix)
	f, err := os.Open(name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	s.serveFile(w, r, name, f)
}

func (s *server) serveNewFile(w http.ResponseWriter, r *http.Request) {
	name := s.file(r, "/newfile/")
	f, err := openread.Open(name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	s.serveFile(w, r, name, f)
}

// serveFile serves an open file as modmirror's proxy.serveFile does.
func (s *server) serveFile(w http.ResponseWriter, r *http.Request, name string, f *os.File) {
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", contentType(name))
	h.Set("Cache-Control", immutable)
	h.Set("ETag", etag(fi.ModTime(), fi.Size()))
	http.ServeContent(w, r, "", fi.ModTime(), f)
}

type connKey struct{}

func keepConn(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, c)
}

func (s *server) serveCorked(w http.ResponseWriter, r *http.Request) {
	if tc, ok := r.Context().Value(connKey{}).(*net.TCPConn); ok {
		if rc, err := tc.SyscallConn(); err == nil {
			rc.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_CORK, 1) })
			defer rc.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_CORK, 0) })
			defer http.NewResponseController(w).Flush()
		}
	}
	s.openAndServe(w, r, "/corked/")
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, leanMax); return &b }}

func (s *server) serveLean(w http.ResponseWriter, r *http.Request) {
	name := s.file(r, "/lean/")
	fd, err := syscall.Open(name, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil || st.Size > leanMax {
		syscall.Close(fd)
		s.openAndServe(w, r, "/lean/")
		return
	}
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := (*bp)[:st.Size]
	n, err := syscall.Pread(fd, buf, 0)
	syscall.Close(fd)
	if err != nil || n != len(buf) {
		http.Error(w, "short read", http.StatusInternalServerError)
		return
	}
	mod := time.Unix(st.Mtim.Sec, st.Mtim.Nsec)
	h := w.Header()
	h["Content-Type"] = []string{contentType(name)}
	h["Content-Length"] = []string{strconv.Itoa(n)}
	h["Cache-Control"] = []string{immutable}
	h["Etag"] = []string{etag(mod, st.Size)}
	h["Last-Modified"] = []string{mod.UTC().Format(http.TimeFormat)}
	w.Write(buf)
}

// A memFile is a file held in memory with its headers formatted once.
type memFile struct {
	data    []byte
	modTime time.Time
	header  http.Header
}

func (s *server) serveMem(w http.ResponseWriter, r *http.Request) {
	m := s.load(s.file(r, "/mem/"))
	if m == nil {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	for k, vs := range m.header {
		h[k] = vs
	}
	w.Write(m.data)
}

func (s *server) serveMemServeContent(w http.ResponseWriter, r *http.Request) {
	name := s.file(r, "/memsc/")
	m := s.load(name)
	if m == nil {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", contentType(name))
	h.Set("Cache-Control", immutable)
	h.Set("ETag", m.header.Get("Etag"))
	http.ServeContent(w, r, "", m.modTime, bytes.NewReader(m.data))
}

// load returns a file from memory, reading it at the first request.
func (s *server) load(name string) *memFile {
	v, ok := s.mem.Load(name)
	if !ok {
		data, err := os.ReadFile(name)
		if err != nil {
			return nil
		}
		fi, err := os.Stat(name)
		if err != nil {
			return nil
		}
		v, _ = s.mem.LoadOrStore(name, &memFile{data: bytes.Clone(data), modTime: fi.ModTime(), header: http.Header{
			"Content-Type":   {contentType(name)},
			"Content-Length": {strconv.Itoa(len(data))},
			"Cache-Control":  {immutable},
			"Etag":           {etag(fi.ModTime(), fi.Size())},
			"Last-Modified":  {fi.ModTime().UTC().Format(http.TimeFormat)},
		}})
	}
	return v.(*memFile)
}
