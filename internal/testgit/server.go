package testgit

import (
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// A Server serves the repositories under Root over git's smart HTTP protocol,
// and go-import pages, on 127.0.0.1. Its methods are safe for concurrent use.
type Server struct {
	// URL is "http://127.0.0.1:<port>", with no trailing slash.
	URL string

	// Root holds the served repositories: <URL>/<name> serves Root/<name>.
	Root string

	t       testing.TB
	srv     *httptest.Server
	backend http.Handler

	mu       sync.Mutex
	imports  []goImport
	redirect map[string]string // path prefix -> URL
	user     string            // required basic auth user for git requests, if not ""
	password string
	requests []Request
}

type goImport struct{ prefix, vcs, repoURL, subdir string }

// A Request is one request the server answered, as the log records it.
type Request struct {
	Method string
	Host   string // the Host header: "127.0.0.1:<port>" or, through the proxy, the name asked for
	Path   string
	Query  string // the raw query, such as "go-get=1" or "service=git-upload-pack"
	User   string // the basic-auth user name sent, or ""
	Auth   bool   // whether an Authorization header was sent at all
	Status int
}

// String formats the request for test failure messages.
func (r Request) String() string {
	s := fmt.Sprintf("%s %s%s", r.Method, r.Host, r.Path)
	if r.Query != "" {
		s += "?" + r.Query
	}
	if r.Auth {
		s += " (auth user " + r.User + ")"
	}
	return fmt.Sprintf("%s -> %d", s, r.Status)
}

// NewServer starts a Server with an empty Root in a temporary directory,
// and arranges for t.Cleanup to stop it.
func NewServer(t testing.TB) *Server {
	t.Helper()
	execPath, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		t.Skipf("testgit: git not available: %v", err)
	}
	backend := filepath.Join(strings.TrimSpace(string(execPath)), "git-http-backend")
	if _, err := os.Stat(backend); err != nil {
		t.Skipf("testgit: %v", err)
	}
	s := &Server{Root: t.TempDir(), t: t}
	s.backend = &cgi.Handler{
		Path:   backend,
		Root:   "/",
		Stderr: io.Discard, // "Not a git repository" for a repository that does not exist
		Env: []string{
			"GIT_PROJECT_ROOT=" + s.Root,
			"GIT_HTTP_EXPORT_ALL=1",
			"GIT_CONFIG_NOSYSTEM=1",
			"GIT_CONFIG_GLOBAL=" + os.DevNull,
		},
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	t.Cleanup(s.srv.Close)
	return s
}

// Repo creates a repository served at <URL>/<name>. The name may end in
// ".git"; git http-backend finds the work tree's .git directory either way.
func (s *Server) Repo(name string) *Repo {
	s.t.Helper()
	return Init(s.t, filepath.Join(s.Root, filepath.FromSlash(name)))
}

// RepoURL returns the URL at which the repository name is served.
func (s *Server) RepoURL(name string) string { return s.URL + "/" + name }

// Host returns the server's address, "127.0.0.1:<port>".
func (s *Server) Host() string { return strings.TrimPrefix(s.URL, "http://") }

// GoImport makes ?go-get=1 pages for paths under prefix (a module path
// prefix such as "corp.example/lib") carry the tag
// <meta name="go-import" content="prefix vcs repoURL">.
func (s *Server) GoImport(prefix, vcs, repoURL string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.imports = append(s.imports, goImport{prefix: prefix, vcs: vcs, repoURL: repoURL})
}

// GoImportSubdir is like GoImport with the fourth, subdirectory field that
// the go command understands since Go 1.25.
func (s *Server) GoImportSubdir(prefix, vcs, repoURL, subdir string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.imports = append(s.imports, goImport{prefix: prefix, vcs: vcs, repoURL: repoURL, subdir: subdir})
}

// Redirect makes requests for paths under prefix (such as "/moved.git"),
// for any host, answer 302 with target plus the rest of the path and the
// query, as a code host does for a renamed repository.
func (s *Server) Redirect(prefix, target string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.redirect == nil {
		s.redirect = make(map[string]string)
	}
	s.redirect[strings.TrimSuffix(prefix, "/")] = target
}

// RequireAuth makes every git request require HTTP basic authentication
// with user and password; go-import pages stay public, as on most code
// hosts.
func (s *Server) RequireAuth(user, password string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.user, s.password = user, password
}

// Requests returns the requests answered so far, in arrival order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Count returns the number of requests answered so far for which match
// reports true.
func (s *Server) Count(match func(Request) bool) int {
	n := 0
	for _, r := range s.Requests() {
		if match(r) {
			n++
		}
	}
	return n
}

// IsRefs reports whether r asked for a repository's refs: the first request
// of every clone, fetch and ls-remote. Path is the repository's name, or ""
// for any repository.
func IsRefs(r Request, name string) bool {
	return r.Method == http.MethodGet && r.Query == "service=git-upload-pack" &&
		strings.HasSuffix(r.Path, "/info/refs") && (name == "" || r.Path == "/"+name+"/info/refs")
}

// IsGoGet reports whether r asked for a go-import page.
func IsGoGet(r Request) bool { return strings.Contains(r.Query, "go-get=1") }

// Client returns an HTTP client that sends every request through the server
// as its proxy, so that requests for http://corp.example/... reach the
// go-import handler. HTTPS requests fail: the server refuses CONNECT.
func (s *Server) Client() *http.Client {
	u, _ := url.Parse(s.URL)
	return &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(u)}}
}

// GoEnv returns an environment in which the go command fetches the modules
// matching the GOPRIVATE-style pattern private straight from their
// repositories, as GOPROXY=direct does: it asks the server, as its proxy,
// for the go-import pages (the HTTPS attempt fails at once, then GOINSECURE
// allows plain HTTP), and git fetches from the URLs in them. HOME, GOPATH
// and the module cache are fresh temporary directories, and neither the
// checksum database nor any system git configuration is used.
func (s *Server) GoEnv(t testing.TB, private string) []string {
	home := t.TempDir()
	gopath := filepath.Join(home, "gopath")
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "GO") || strings.HasPrefix(k, "GIT_") || strings.HasSuffix(strings.ToUpper(k), "_PROXY") {
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"HOME="+home,
		"GOPATH="+gopath,
		"GOMODCACHE="+filepath.Join(gopath, "pkg", "mod"),
		"GOCACHE="+filepath.Join(home, "gocache"),
		"GOENV=off",
		"GOFLAGS=-modcacherw",
		"GOPROXY=direct",
		"GOSUMDB=off",
		"GONOSUMDB="+private,
		"GONOSUMCHECK=1",
		"GOPRIVATE="+private,
		"GOINSECURE="+private,
		"GOTOOLCHAIN=local",
		"GIT_CONFIG_NOSYSTEM=1",
		"HTTP_PROXY="+s.URL,
		"HTTPS_PROXY="+s.URL,
		"NO_PROXY=127.0.0.1,localhost",
		"no_proxy=127.0.0.1,localhost",
	)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	user, _, hasBasic := r.BasicAuth()
	if !hasBasic {
		user = ""
	}
	defer func() {
		s.mu.Lock()
		s.requests = append(s.requests, Request{
			Method: r.Method,
			Host:   r.Host,
			Path:   r.URL.Path,
			Query:  r.URL.RawQuery,
			User:   user,
			Auth:   r.Header.Get("Authorization") != "",
			Status: rec.status,
		})
		s.mu.Unlock()
	}()

	switch {
	case r.Method == http.MethodConnect:
		http.Error(rec, "testgit: CONNECT (HTTPS through the proxy) is not supported", http.StatusMethodNotAllowed)
	case s.redirectTarget(r) != "":
		http.Redirect(rec, r, s.redirectTarget(r), http.StatusFound)
	case r.URL.Query().Get("go-get") == "1":
		s.serveGoImport(rec, r)
	case r.Host != s.Host() && r.Host != strings.Replace(s.Host(), "127.0.0.1", "localhost", 1):
		http.Error(rec, "testgit: not a git host: "+r.Host, http.StatusBadGateway)
	default:
		s.mu.Lock()
		wantUser, wantPassword := s.user, s.password
		s.mu.Unlock()
		if wantUser != "" {
			u, p, ok := r.BasicAuth()
			if !ok || u != wantUser || p != wantPassword {
				rec.Header().Set("WWW-Authenticate", `Basic realm="testgit"`)
				http.Error(rec, "testgit: authentication required", http.StatusUnauthorized)
				return
			}
		}
		s.backend.ServeHTTP(rec, r)
	}
}

func (s *Server) redirectTarget(r *http.Request) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for prefix, target := range s.redirect {
		if rest, ok := strings.CutPrefix(r.URL.Path, prefix); ok && (rest == "" || rest[0] == '/') {
			if r.URL.RawQuery != "" {
				rest += "?" + r.URL.RawQuery
			}
			return target + rest
		}
	}
	return ""
}

// serveGoImport serves the go-import page for the import path named by the
// request's host and path.
func (s *Server) serveGoImport(w http.ResponseWriter, r *http.Request) {
	importPath := strings.TrimSuffix(r.Host+r.URL.Path, "/")
	s.mu.Lock()
	var tags []string
	for _, imp := range s.imports {
		if importPath == imp.prefix || strings.HasPrefix(importPath, imp.prefix+"/") {
			content := strings.Join([]string{imp.prefix, imp.vcs, imp.repoURL}, " ")
			if imp.subdir != "" {
				content += " " + imp.subdir
			}
			tags = append(tags, fmt.Sprintf(`<meta name="go-import" content="%s">`, html.EscapeString(content)))
		}
	}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if len(tags) == 0 {
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, "<!DOCTYPE html>\n<html><head></head><body>testgit: no go-import tag for %s</body></html>\n", html.EscapeString(importPath))
		return
	}
	fmt.Fprintf(w, "<!DOCTYPE html>\n<html><head>\n%s\n</head><body>go get %s</body></html>\n",
		strings.Join(tags, "\n"), html.EscapeString(importPath))
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
