// Package testupstream serves fixture Go modules over the GOPROXY protocol on
// 127.0.0.1, together with a checksum database that vouches for them, and
// injects faults on request. It stands in for proxy.golang.org and
// sum.golang.org in tests: unit tests of the mirror talk to it directly, and
// end-to-end tests point a mirror (or the go command itself) at it.
//
// # What is served
//
// A [Server] answers the GOPROXY protocol (https://go.dev/ref/mod#goproxy-protocol)
// for the [Module] values given to [New] and [Server.Add]:
//
//	/<escaped path>/@v/list                  release and prerelease versions, sorted, one a line
//	/<escaped path>/@v/<escaped query>.info  {"Version":...,"Time":...}; aliases resolve
//	/<escaped path>/@v/<escaped version>.mod the go.mod file, or "module <path>\n" if there is none
//	/<escaped path>/@v/<escaped version>.zip built by golang.org/x/mod/zip.Create
//	/<escaped path>/@latest                  the .info of the latest version
//
// Anything unknown is a 404 with a plain-text "not found: ..." body, as on
// proxy.golang.org, so clients fall through to their next GOPROXY entry.
//
// # Checksum database
//
// The same server proxies its own checksum database at /sumdb/<name>/, the
// way proxy.golang.org proxies sum.golang.org. The go command first asks for
// <GOPROXY>/sumdb/<name>/supported; on 200 it sends every lookup and tile
// request through the proxy and never contacts <name> directly. So
//
//	GOPROXY=<Server.URL> GOSUMDB=<Server.VerifierKey()> go get ...
//
// works with no network beyond 127.0.0.1. The log records the hashes of the
// original fixture files, computed as the go command computes go.sum lines;
// a Tamper fault therefore causes a real checksum mismatch. Records are
// added lazily, on the first lookup of each module version.
//
// # Faults
//
// [Server.SetFault] makes one exact URL path misbehave: answer with an error
// status, hang, stall and then serve, cut the body short, or serve corrupt
// or tampered content. See [Fault]. Faults work on checksum database paths
// too, and [Server.Requests] counts what clients asked for, faulted or not.
//
// # Fixtures
//
// Modules can be written as Go literals or as txtar archives, one module
// version per archive, read by [ParseTxtar] and [LoadDir].
package testupstream

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"golang.org/x/mod/sumdb"
	"golang.org/x/mod/sumdb/note"
)

// A Server is a running fixture upstream: a GOPROXY server and checksum
// database on 127.0.0.1. Its methods are safe for concurrent use, except
// where they say otherwise.
type Server struct {
	// URL is the base URL of the server, "http://127.0.0.1:<port>", with
	// no trailing slash: the value to put in GOPROXY.
	URL string

	t         testing.TB
	srv       *httptest.Server
	handler   http.Handler
	sumdbName string
	vkey      string
	sumdb     http.Handler // the checksum database, with /sumdb/<name> stripped

	// closing is closed when the server shuts down, so that hanging and
	// delayed handlers return and httptest.Server.Close, which waits for
	// every active request, does not block forever.
	closing   chan struct{}
	closeOnce sync.Once

	mu       sync.Mutex
	modules  map[string]*fixtureModule // by module path
	faults   map[string]Fault          // by exact URL path
	requests []string                  // URL paths in arrival order
}

// New starts a Server on 127.0.0.1 that serves mods, and arranges for
// t.Cleanup to shut it down. Each Server has its own checksum database with a
// fresh key and a unique name. New fails the test if a module is invalid (see
// [Server.Add]).
func New(t testing.TB, mods ...Module) *Server {
	t.Helper()
	return NewWithSumDBPath(t, "", mods...)
}

// NewWithSumDBPath is New with a checksum database whose name has a path:
// "sum-<random>.test/<path>", as GOSUMDB names such as
// "corp.example/sumdb+<key>" have.
func NewWithSumDBPath(t testing.TB, path string, mods ...Module) *Server {
	t.Helper()
	name, skey, vkey, err := newSumDBKey(path)
	if err != nil {
		t.Fatalf("testupstream: %v", err)
	}
	s := &Server{
		t:         t,
		sumdbName: name,
		vkey:      vkey,
		closing:   make(chan struct{}),
		modules:   make(map[string]*fixtureModule),
		faults:    make(map[string]Fault),
	}
	s.sumdb = http.StripPrefix("/sumdb/"+name, sumdb.NewServer(sumdb.NewTestServer(skey, s.gosum)))
	s.handler = http.HandlerFunc(s.serve)
	s.srv = httptest.NewServer(s.handler)
	s.URL = s.srv.URL
	t.Cleanup(s.Close)
	s.Add(mods...)
	return s
}

// newSumDBKey returns a name and a key pair for a new checksum database.
// The name is unique, not fixed: the go command caches tree heads and tiles
// by database name (in $GOPATH/pkg/sumdb and the module cache), so two
// servers sharing a name but not a key would look like a forked log to a go
// command whose GOPATH outlives one server.
func newSumDBKey(path string) (name, skey, vkey string, err error) {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", "", "", err
	}
	name = "sum-" + hex.EncodeToString(b[:]) + ".test"
	if path != "" {
		name += "/" + path
	}
	skey, vkey, err = note.GenerateKey(rand.Reader, name)
	return name, skey, vkey, err
}

// Close shuts the server down, ending hanging requests first. Tests can
// call it to make the upstream unreachable; the cleanup registered by [New]
// calls it too, and calls after the first do nothing.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.closing)
		s.srv.Close()
	})
}

// Handler returns the handler that the server runs, so that a test can wrap
// it or serve it elsewhere. Requests through it are counted and faulted like
// those to [Server.URL]. Faults that break the connection (Hang, Truncate)
// do so by panicking with [http.ErrAbortHandler], which net/http handles;
// callers that invoke ServeHTTP directly must be ready for that.
func (s *Server) Handler() http.Handler { return s.handler }

// SumDBName returns the name of the server's checksum database, such as
// "sum-1a2b3c4d.test". It is served under <URL>/sumdb/<name>/.
func (s *Server) SumDBName() string { return s.sumdbName }

// VerifierKey returns the golang.org/x/mod/sumdb/note verifier key of the
// server's checksum database: the value to put in GOSUMDB.
func (s *Server) VerifierKey() string { return s.vkey }

// Requests returns how many requests were made for the exact URL path
// urlPath, such as "/example.com/a/@v/v1.0.0.zip", including faulted ones.
func (s *Server) Requests(urlPath string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, p := range s.requests {
		if p == urlPath {
			n++
		}
	}
	return n
}

// RequestLog returns the URL paths of all requests so far, in the order
// they arrived.
func (s *Server) RequestLog() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.requests...)
}

// ResetRequests forgets all requests so far.
func (s *Server) ResetRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = nil
}

// SetFault makes requests for the exact URL path urlPath fail as f
// describes, from the next request on; FaultNone restores normal service.
// Paths are as the client sends them: escaped module paths and versions,
// and checksum database paths under "/sumdb/<name>/".
func (s *Server) SetFault(urlPath string, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f == FaultNone {
		delete(s.faults, urlPath)
		return
	}
	s.faults[urlPath] = f
}

// serve is the server's handler: it logs the request, then serves it
// through whatever fault is set on its path.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.applyFault(s.takeFault(r.URL.Path), w, r, s.route)
}

// takeFault logs a request for urlPath and returns the fault to apply to
// it, using up one application of a fault limited by [Fault.Times].
func (s *Server) takeFault(urlPath string) Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, urlPath)
	f, ok := s.faults[urlPath]
	if ok && f.times > 0 {
		left := f
		left.times--
		if left.times == 0 {
			delete(s.faults, urlPath)
		} else {
			s.faults[urlPath] = left
		}
	}
	return f
}

// route serves a request without faults.
func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if rest, ok := strings.CutPrefix(r.URL.Path, "/sumdb/"); ok {
		s.serveSumDB(w, r, rest)
		return
	}
	s.serveProxy(w, r)
}
