package main

import (
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cgi"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
)

// A gitServer serves the repositories under root on 127.0.0.1 as a code
// host does, like internal/testgit (which needs a testing.TB): git's smart
// HTTP protocol through git http-backend, and go-import pages for
// ?go-get=1 on any host, so that it is also the HTTP proxy through which
// the go command's GOPROXY=direct finds http://corp.example/big?go-get=1
// with no DNS and no network. It counts what it sends, so that a run can
// tell a full clone from a shallow fetch.
type gitServer struct {
	url  string // http://127.0.0.1:<port>
	host string // 127.0.0.1:<port>
	srv  *http.Server

	backend http.Handler
	imports map[string]string // module path prefix -> repository URL

	gitRequests atomic.Int64 // requests answered by git http-backend
	gitBytes    atomic.Int64 // bytes of their bodies
}

// startGitServer serves the repositories under root, with a go-import page
// for modPath pointing at repoName.
func startGitServer(root string) (*gitServer, error) {
	execPath, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		return nil, fmt.Errorf("git --exec-path: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &gitServer{host: ln.Addr().String()}
	s.url = "http://" + s.host
	s.backend = &cgi.Handler{
		Path:   filepath.Join(strings.TrimSpace(string(execPath)), "git-http-backend"),
		Root:   "/",
		Stderr: io.Discard,
		Env: gitEnv(
			"GIT_PROJECT_ROOT="+root,
			"GIT_HTTP_EXPORT_ALL=1",
		),
	}
	s.imports = map[string]string{modPath: s.url + "/" + repoName}
	s.srv = &http.Server{Handler: http.HandlerFunc(s.serve)}
	go s.srv.Serve(ln)
	return s, nil
}

func (s *gitServer) close() { s.srv.Close() }

// counters returns the git requests answered and the bytes sent so far.
func (s *gitServer) counters() (requests, bytes int64) {
	return s.gitRequests.Load(), s.gitBytes.Load()
}

func (s *gitServer) serve(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodConnect:
		// HTTPS through the proxy: fail at once, so that the go
		// command falls back to http (GOINSECURE) without the network.
		http.Error(w, "originbench: no HTTPS", http.StatusMethodNotAllowed)
	case r.URL.Query().Get("go-get") == "1":
		s.serveGoImport(w, r)
	case r.Host != s.host:
		http.Error(w, "originbench: not a git host: "+r.Host, http.StatusBadGateway)
	default:
		s.gitRequests.Add(1)
		s.backend.ServeHTTP(&countingWriter{ResponseWriter: w, n: &s.gitBytes}, r)
	}
}

func (s *gitServer) serveGoImport(w http.ResponseWriter, r *http.Request) {
	importPath := strings.TrimSuffix(r.Host+r.URL.Path, "/")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	for prefix, repo := range s.imports {
		if importPath == prefix || strings.HasPrefix(importPath, prefix+"/") {
			fmt.Fprintf(w, "<!DOCTYPE html>\n<html><head>\n<meta name=\"go-import\" content=\"%s\">\n</head><body></body></html>\n",
				html.EscapeString(prefix+" git "+repo))
			return
		}
	}
	http.Error(w, "originbench: no go-import tag for "+importPath, http.StatusNotFound)
}

// countingWriter counts the body bytes written through it.
type countingWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.n.Add(int64(n))
	return n, err
}

func (c *countingWriter) Flush() {
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
