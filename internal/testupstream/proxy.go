package testupstream

import (
	"fmt"
	"net/http"
	"path"
	"strings"

	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"
)

// serveProxy serves the GOPROXY protocol.
func (s *Server) serveProxy(w http.ResponseWriter, r *http.Request) {
	p := strings.TrimPrefix(r.URL.Path, "/")
	if epath, ok := strings.CutSuffix(p, "/@latest"); ok {
		modPath, ok := unescapePath(w, epath)
		if ok {
			s.serveLatest(w, modPath)
		}
		return
	}
	epath, file, ok := strings.Cut(p, "/@v/")
	if !ok {
		notFound(w, "%s: not a GOPROXY path", r.URL.Path)
		return
	}
	modPath, ok := unescapePath(w, epath)
	if !ok {
		return
	}
	if file == "list" {
		s.serveList(w, modPath)
		return
	}
	ext := path.Ext(file)
	query, err := module.UnescapeVersion(strings.TrimSuffix(file, ext))
	if err != nil {
		http.Error(w, "bad request: "+err.Error(), http.StatusBadRequest)
		return
	}
	v := s.resolve(modPath, query, ext == ".info")
	if v == nil {
		notFound(w, "%s@%s: unknown revision %s", modPath, query, query)
		return
	}
	switch ext {
	case ".info":
		serveBytes(w, "application/json", v.info)
	case ".mod":
		serveBytes(w, "text/plain; charset=UTF-8", v.mod)
	case ".zip":
		serveBytes(w, "application/zip", v.zip)
	default:
		notFound(w, "%s: unknown file type %q", r.URL.Path, ext)
	}
}

// unescapePath decodes an escaped module path, or reports a bad request.
func unescapePath(w http.ResponseWriter, epath string) (string, bool) {
	modPath, err := module.UnescapePath(epath)
	if err != nil {
		http.Error(w, "bad request: "+err.Error(), http.StatusBadRequest)
		return "", false
	}
	return modPath, true
}

// resolve returns the version of modPath named by query, or nil. Only .info
// requests accept aliases; .mod and .zip need a canonical version, as on
// proxy.golang.org.
func (s *Server) resolve(modPath, query string, aliases bool) *fixtureVersion {
	s.mu.Lock()
	defer s.mu.Unlock()
	fm := s.modules[modPath]
	if fm == nil {
		return nil
	}
	if v := fm.versions[query]; v != nil {
		return v
	}
	if aliases {
		return fm.versions[fm.aliases[query]]
	}
	return nil
}

// serveList serves /@v/list: every version but pseudo-versions, which
// proxy.golang.org leaves out because they are not tags. A module known only
// by pseudo-versions has an empty list, not a missing one.
func (s *Server) serveList(w http.ResponseWriter, modPath string) {
	versions, ok := s.versionList(modPath)
	if !ok {
		notFound(w, "module %s: no versions", modPath)
		return
	}
	var b strings.Builder
	for _, v := range versions {
		if !module.IsPseudoVersion(v) {
			b.WriteString(v + "\n")
		}
	}
	serveBytes(w, "text/plain; charset=UTF-8", []byte(b.String()))
}

// serveLatest serves /@latest: the .info of the highest release, else the
// highest prerelease, else the highest pseudo-version.
func (s *Server) serveLatest(w http.ResponseWriter, modPath string) {
	versions, ok := s.versionList(modPath)
	if !ok {
		notFound(w, "module %s: no versions", modPath)
		return
	}
	v := s.resolve(modPath, latest(versions), false)
	serveBytes(w, "application/json", v.info)
}

// latest picks the version that @latest reports from a sorted, non-empty
// list. Later elements are higher, so the last one of a kind wins.
func latest(sorted []string) string {
	var release, pre, pseudo string
	for _, v := range sorted {
		switch {
		case module.IsPseudoVersion(v):
			pseudo = v
		case semver.Prerelease(v) != "":
			pre = v
		default:
			release = v
		}
	}
	switch {
	case release != "":
		return release
	case pre != "":
		return pre
	}
	return pseudo
}

// versionList returns the versions of modPath in semver order, and whether
// the path is known at all.
func (s *Server) versionList(modPath string) ([]string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fm := s.modules[modPath]
	if fm == nil {
		return nil, false
	}
	versions := make([]string, 0, len(fm.versions))
	for v := range fm.versions {
		versions = append(versions, v)
	}
	semver.Sort(versions)
	return versions, true
}

// serveBytes serves a successful response.
func serveBytes(w http.ResponseWriter, contentType string, data []byte) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", fmt.Sprint(len(data)))
	w.Write(data)
}

// notFound answers 404 with a plain-text reason, in the form
// proxy.golang.org uses, which the go command prints.
func notFound(w http.ResponseWriter, format string, args ...any) {
	http.Error(w, "not found: "+fmt.Sprintf(format, args...), http.StatusNotFound)
}
