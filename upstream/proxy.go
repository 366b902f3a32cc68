package upstream

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/modmirror/modmirror"
	"golang.org/x/mod/module"
)

var _ modmirror.Upstream = (*Proxy)(nil)

// maxSumDBFile caps checksum database responses: a tile holds at most 256
// hashes or records, a lookup one record and a signed tree head.
const maxSumDBFile = 4 << 20

// A Proxy is one module proxy: an http, https or file URL that serves the
// GOPROXY protocol. It is safe for concurrent use.
type Proxy struct {
	base     *url.URL // without a trailing slash
	redacted string   // base.Redacted()
	fsys     fs.FS    // for file:// URLs, the directory; nil for http(s)
	opts     Options  // with defaults set
}

// NewProxy returns the proxy at rawURL, which must be an absolute http,
// https or file URL with no query or fragment; a file URL must have no host
// and names a directory in module download cache layout. Trailing slashes
// are ignored.
func NewProxy(rawURL string, opts Options) (*Proxy, error) {
	base, err := parseProxyURL(rawURL)
	if err != nil {
		return nil, err
	}
	return newProxy(base, opts.withDefaults()), nil
}

// newProxy returns the proxy at a URL that parseProxyURL accepted; opts has
// its defaults set.
func newProxy(base *url.URL, opts Options) *Proxy {
	p := &Proxy{base: base, redacted: base.Redacted(), opts: opts}
	if base.Scheme == "file" {
		dir := filepath.FromSlash(base.Path)
		if dir == "" {
			dir = string(filepath.Separator)
		}
		p.fsys = os.DirFS(dir)
	}
	return p
}

// parseProxyURL parses and checks one proxy URL, and trims its trailing
// slashes. Its errors never include credentials.
func parseProxyURL(rawURL string) (*url.URL, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		// A *url.Error repeats the whole URL, password included.
		if uerr, ok := err.(*url.Error); ok {
			err = uerr.Err
		}
		return nil, fmt.Errorf("malformed proxy URL: %v", err)
	}
	redacted := u.Redacted()
	switch u.Scheme {
	case "http", "https":
		if u.Host == "" {
			return nil, fmt.Errorf("invalid proxy URL missing host: %s", redacted)
		}
	case "file":
		if *u != (url.URL{Scheme: u.Scheme, Path: u.Path, RawPath: u.RawPath}) {
			return nil, fmt.Errorf("invalid file:// proxy URL with non-path elements: %s", redacted)
		}
	case "":
		return nil, fmt.Errorf("invalid proxy URL missing scheme: %s", redacted)
	default:
		return nil, fmt.Errorf("invalid proxy URL scheme (must be https, http, file): %s", redacted)
	}
	// The GOPROXY protocol has no query parameters; a query here would be
	// dropped or misplaced when paths are appended.
	if u.Opaque != "" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return nil, fmt.Errorf("invalid proxy URL with query, fragment or opaque part: %s", redacted)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = strings.TrimRight(u.RawPath, "/")
	return u, nil
}

// String returns the proxy's base URL with any password redacted.
func (p *Proxy) String() string { return p.redacted }

// List returns the versions listed by <base>/<path>/@v/list, in order: the
// first field of each non-blank line.
func (p *Proxy) List(ctx context.Context, path string) ([]string, error) {
	wrap := moduleErr(path, "")
	epath, err := escapePath(path)
	if err != nil {
		return nil, wrap(err)
	}
	data, err := p.readAll(ctx, KindList, epath+"/@v/list", modmirror.MaxInfoFile, wrap)
	if err != nil {
		return nil, err
	}
	list := []string{}
	for line := range strings.Lines(string(data)) {
		if f := strings.Fields(line); len(f) > 0 {
			list = append(list, f[0])
		}
	}
	return list, nil
}

// Latest returns the JSON served by <base>/<path>/@latest, after checking that
// it names a valid version of the module.
func (p *Proxy) Latest(ctx context.Context, path string) ([]byte, error) {
	wrap := moduleErr(path, "latest")
	epath, err := escapePath(path)
	if err != nil {
		return nil, wrap(err)
	}
	rel := epath + "/@latest"
	data, err := p.readAll(ctx, KindLatest, rel, modmirror.MaxInfoFile, wrap)
	if err != nil {
		return nil, err
	}
	if err := p.checkInfo(path, "", rel, data); err != nil {
		return nil, wrap(err)
	}
	return data, nil
}

// Info returns the JSON served by <base>/<path>/@v/<query>.info, after
// checking that it names a valid version of the module. As the go command
// does, it rejects an answer for another version than the one asked when the
// query is a canonical version valid for the path.
func (p *Proxy) Info(ctx context.Context, path, query string) ([]byte, error) {
	wrap := moduleErr(path, query)
	epath, err := escapePath(path)
	if err != nil {
		return nil, wrap(err)
	}
	equery, err := escapeVersion(query)
	if err != nil {
		return nil, wrap(err)
	}
	rel := epath + "/@v/" + equery + modmirror.ExtInfo
	data, err := p.readAll(ctx, KindInfo, rel, modmirror.MaxInfoFile, wrap)
	if err != nil {
		return nil, err
	}
	want := ""
	if query == module.CanonicalVersion(query) && module.Check(path, query) == nil {
		want = query
	}
	if err := p.checkInfo(path, want, rel, data); err != nil {
		return nil, wrap(err)
	}
	return data, nil
}

// checkInfo checks an .info or @latest answer: JSON with a time in RFC 3339
// form, if any, and a canonical version valid for the module path; if want is
// not empty, that version.
func (p *Proxy) checkInfo(path, want, rel string, data []byte) error {
	var info struct {
		Version string
		Time    time.Time
	}
	if err := json.Unmarshal(data, &info); err != nil {
		return fmt.Errorf("invalid response from %s: %v", p.fileURL(rel), err)
	}
	switch {
	case info.Version == "":
		return fmt.Errorf("invalid response from %s: no version", p.fileURL(rel))
	case want != "" && info.Version != want:
		return fmt.Errorf("proxy %s returned info for version %s instead of requested version", p.redacted, info.Version)
	case info.Version != module.CanonicalVersion(info.Version):
		return fmt.Errorf("invalid response from %s: version %q is not canonical", p.fileURL(rel), info.Version)
	}
	if err := module.Check(path, info.Version); err != nil {
		return fmt.Errorf("invalid response from %s: %v", p.fileURL(rel), err)
	}
	return nil
}

// Mod returns the go.mod file served by <base>/<path>/@v/<version>.mod.
func (p *Proxy) Mod(ctx context.Context, path, version string) ([]byte, error) {
	wrap := moduleErr(path, version)
	rel, err := versionFile(path, version, modmirror.ExtMod)
	if err != nil {
		return nil, wrap(err)
	}
	return p.readAll(ctx, KindMod, rel, modmirror.MaxGoMod, wrap)
}

// Zip returns the body of <base>/<path>/@v/<version>.zip, unread. It fails
// early if the response declares a size above modmirror.MaxZipFile, but the
// caller must still cap what it reads. Errors reading the body name the
// module and URL.
func (p *Proxy) Zip(ctx context.Context, path, version string) (io.ReadCloser, error) {
	wrap := moduleErr(path, version)
	rel, err := versionFile(path, version, modmirror.ExtZip)
	if err != nil {
		return nil, wrap(err)
	}
	body, err := p.open(ctx, KindZip, rel, modmirror.MaxZipFile, wrap)
	if err != nil {
		return nil, err
	}
	return body, nil
}

// SumDB returns the checksum database file <base>/sumdb/<name><path>, where
// name is the database's name (such as "sum.golang.org") and path starts with
// a slash: "/supported", "/latest", "/lookup/<module>@<version>" or
// "/tile/...". A proxy that does not proxy the database answers not found.
func (p *Proxy) SumDB(ctx context.Context, name, path string) ([]byte, error) {
	wrap := sumDBErr(name)
	if err := checkSumDB(name, path); err != nil {
		return nil, wrap(err)
	}
	return p.readAll(ctx, KindSumDB, "sumdb/"+name+path, maxSumDBFile, wrap)
}

// moduleErr returns a function that wraps errors about the module path at
// version (which may be a query, "latest" or empty).
func moduleErr(path, version string) func(error) error {
	return func(err error) error {
		return fmt.Errorf("upstream: %w", &module.ModuleError{Path: path, Version: version, Err: err})
	}
}

// sumDBErr returns a function that wraps errors about the checksum database
// name.
func sumDBErr(name string) func(error) error {
	return func(err error) error {
		return fmt.Errorf("upstream: checksum database %s: %w", name, err)
	}
}

// escapePath escapes a module path for a URL or file name.
func escapePath(path string) (string, error) {
	epath, err := module.EscapePath(path)
	if err != nil {
		return "", fmt.Errorf("%w: %w", modmirror.ErrInvalid, err)
	}
	return epath, nil
}

// escapeVersion escapes a version, or a query the go command accepts in its
// place, for a URL or file name. Queries that cannot be a file name element
// (such as branch names with slashes) are rejected, as the go command does.
func escapeVersion(version string) (string, error) {
	evers, err := module.EscapeVersion(version)
	if err != nil {
		return "", fmt.Errorf("%w: %w", modmirror.ErrInvalid, err)
	}
	return evers, nil
}

// versionFile returns the name of one file of a module version, relative to
// the base URL.
func versionFile(path, version, ext string) (string, error) {
	epath, err := escapePath(path)
	if err != nil {
		return "", err
	}
	evers, err := escapeVersion(version)
	if err != nil {
		return "", err
	}
	return epath + "/@v/" + evers + ext, nil
}

// checkSumDB checks a checksum database name and file path: the name is a
// host with an optional path, as the go command requires.
func checkSumDB(name, path string) error {
	u, err := url.Parse("https://" + name)
	if err != nil || u.Host == "" || strings.HasSuffix(name, "/") || !fs.ValidPath(name) ||
		*u != (url.URL{Scheme: "https", Host: u.Host, Path: u.Path}) {
		return fmt.Errorf("%w: invalid checksum database name (must be host[/path]): %q", modmirror.ErrInvalid, name)
	}
	if !strings.HasPrefix(path, "/") || !fs.ValidPath("sumdb/"+name+path) || strings.ContainsAny(path, `?#\`) {
		return fmt.Errorf("%w: invalid checksum database path %q", modmirror.ErrInvalid, path)
	}
	return nil
}
