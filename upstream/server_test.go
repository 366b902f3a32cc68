package upstream

import (
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// A reply is a canned response of a fake proxy.
type reply struct {
	status      int    // 0 means 200
	body        string // the response body
	contentType string // "" means text/plain; charset=utf-8
}

// A fakeProxy is a module proxy on 127.0.0.1 that answers from a map of
// paths (unescaped, as in r.URL.Path) to replies, and 404 with a plain-text
// body for anything else. It records the request URIs it saw.
type fakeProxy struct {
	*httptest.Server
	replies map[string]reply
	missing int // status for paths not in replies; 0 means 404

	mu       sync.Mutex
	requests []*http.Request
}

func newFakeProxy(t *testing.T, replies map[string]reply) *fakeProxy {
	t.Helper()
	p := &fakeProxy{replies: replies}
	p.Server = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.Close)
	return p
}

func (p *fakeProxy) serve(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.requests = append(p.requests, r)
	p.mu.Unlock()
	rep, ok := p.replies[r.URL.Path]
	if !ok {
		rep = reply{status: p.missing, body: "not found: " + r.URL.Path + "\n"}
		if rep.status == 0 {
			rep.status = http.StatusNotFound
		}
	}
	ct := rep.contentType
	if ct == "" {
		ct = "text/plain; charset=utf-8"
	}
	w.Header().Set("Content-Type", ct)
	if rep.status != 0 {
		w.WriteHeader(rep.status)
	}
	w.Write([]byte(rep.body))
}

// requestURIs returns the request URIs the proxy saw, as sent on the wire.
func (p *fakeProxy) requestURIs() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var uris []string
	for _, r := range p.requests {
		uris = append(uris, r.RequestURI)
	}
	return uris
}

func (p *fakeProxy) hits() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.requests)
}

// closedURL returns the URL of a port on 127.0.0.1 where nothing listens.
func closedURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

// A recorder collects the fetches reported to Options.Observe.
type recorder struct {
	mu      sync.Mutex
	fetches []Fetch
}

func (r *recorder) observe(f Fetch) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fetches = append(r.fetches, f)
}

func (r *recorder) list() []Fetch {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Fetch(nil), r.fetches...)
}
