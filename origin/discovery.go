package origin

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// maxMetaPage is how much of a go-import page is read.
const maxMetaPage = 1 << 20

// A metaImport is one <meta name="go-import" content="prefix vcs repo [subdir]">.
type metaImport struct {
	Prefix, VCS, RepoRoot, SubDir string
}

// discover finds the repository of a module path by go-import discovery, as
// the go command does (cmd/go/internal/vcs.repoRootForImportDynamic): it
// fetches https://<path>?go-get=1 (falling back to http for an insecure
// host), picks the one tag whose prefix is a path prefix of the module path
// and, if that prefix is not the module path itself, checks that the
// prefix's own page agrees.
func (o *Origin) discover(ctx context.Context, modPath string) (location, error) {
	imports, page, err := o.metaImports(ctx, modPath)
	if err != nil {
		return location{}, err
	}
	mi, err := matchGoImport(imports, modPath)
	if err != nil {
		return location{}, notFoundf("go-import discovery: %s: %v", page, err)
	}
	if mi.Prefix != modPath {
		imports2, page2, err := o.metaImports(ctx, mi.Prefix)
		if err != nil {
			return location{}, err
		}
		mi2, err := matchGoImport(imports2, modPath)
		if err != nil || mi != mi2 {
			return location{}, fmt.Errorf("go-import discovery: %s and %s disagree about go-import for %s", page, page2, mi.Prefix)
		}
	}
	if mi.SubDir != "" && (mi.SubDir[0] == '/' || mi.SubDir[0] == '-' || strings.Contains(mi.SubDir, "..")) {
		return location{}, fmt.Errorf("go-import discovery: %s: invalid subdirectory %q", page, mi.SubDir)
	}
	switch mi.VCS {
	case "git":
	case "mod":
		return location{}, notFoundf("go-import discovery: %s: %s is served by the module proxy %s, not from a repository", page, mi.Prefix, mi.RepoRoot)
	default:
		return location{}, notFoundf("go-import discovery: %s: version control system %q is not supported, only git", page, mi.VCS)
	}
	u, err := o.checkRepoURL(mi.RepoRoot)
	if err != nil {
		return location{}, fmt.Errorf("go-import discovery: %s: %w", page, err)
	}
	return location{url: u, root: mi.Prefix, subdir: mi.SubDir, source: "go-import at " + page}, nil
}

// metaImports fetches and parses the go-import page for importPath. It
// returns the page's URL (redacted) for messages.
func (o *Origin) metaImports(ctx context.Context, importPath string) ([]metaImport, string, error) {
	host, rest, _ := strings.Cut(importPath, "/")
	if !strings.Contains(host, ".") {
		return nil, "", notFoundf("go-import discovery: import path %s does not begin with a host name", importPath)
	}
	u := &url.URL{Scheme: "https", Host: host, Path: "/" + rest, RawQuery: "go-get=1"}
	imports, status, err := o.getMeta(ctx, u)
	if err != nil && ctx.Err() == nil && o.insecure(host) {
		// As the go command does under GOINSECURE: plain http only after
		// https failed.
		u.Scheme = "http"
		imports, status, err = o.getMeta(ctx, u)
	}
	page := u.Redacted()
	switch {
	case err != nil:
		return nil, page, fmt.Errorf("go-import discovery: %w", err)
	case len(imports) == 0 && (status == http.StatusNotFound || status == http.StatusGone):
		return nil, page, notFoundf("go-import discovery: %s: %d %s", page, status, http.StatusText(status))
	case len(imports) == 0 && status != http.StatusOK:
		return nil, page, fmt.Errorf("go-import discovery: %s: %d %s", page, status, http.StatusText(status))
	case len(imports) == 0:
		return nil, page, notFoundf("go-import discovery: no go-import meta tag in %s", page)
	}
	return imports, page, nil
}

// getMeta sends one go-import request.
func (o *Origin) getMeta(ctx context.Context, u *url.URL) ([]metaImport, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, 0, err
	}
	resp, err := o.client.Do(req)
	if err != nil {
		return nil, 0, errors.New(o.creds.redact(err.Error()))
	}
	defer resp.Body.Close()
	imports, err := parseMetaGoImports(io.LimitReader(resp.Body, maxMetaPage))
	if err != nil && len(imports) == 0 && resp.StatusCode == http.StatusOK {
		return nil, resp.StatusCode, fmt.Errorf("parsing %s: %v", u.Redacted(), err)
	}
	return imports, resp.StatusCode, nil
}

// checkRedirect is the go command's redirect policy
// (cmd/go/internal/web): at most 10 redirects, and never from https to
// anything else.
func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) > 0 && via[0].URL.Scheme == "https" && req.URL.Scheme != "https" {
		return fmt.Errorf("redirected from secure URL %s to insecure URL %s", via[len(via)-1].URL.Redacted(), req.URL.Redacted())
	}
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	return nil
}

// parseMetaGoImports returns the go-import tags of the HTML in r, as the
// go command reads them (cmd/go/internal/vcs/discovery.go): parsing ends at
// the end of <head> or the start of <body>, and "mod" entries come first and
// hide other entries with the same prefix.
func parseMetaGoImports(r io.Reader) ([]metaImport, error) {
	d := xml.NewDecoder(r)
	d.CharsetReader = charsetReader
	d.Strict = false
	var imports []metaImport
	var err error
	for {
		var t xml.Token
		t, err = d.RawToken()
		if err != nil {
			if err == io.EOF || len(imports) > 0 {
				err = nil
			}
			break
		}
		if e, ok := t.(xml.StartElement); ok && strings.EqualFold(e.Name.Local, "body") {
			break
		}
		if e, ok := t.(xml.EndElement); ok && strings.EqualFold(e.Name.Local, "head") {
			break
		}
		e, ok := t.(xml.StartElement)
		if !ok || !strings.EqualFold(e.Name.Local, "meta") || attrValue(e.Attr, "name") != "go-import" {
			continue
		}
		if f := strings.Fields(attrValue(e.Attr, "content")); len(f) == 3 || len(f) == 4 {
			mi := metaImport{Prefix: f[0], VCS: f[1], RepoRoot: f[2]}
			if len(f) == 4 {
				mi.SubDir = f[3]
			}
			imports = append(imports, mi)
		}
	}
	var list []metaImport
	have := make(map[string]bool)
	for _, m := range imports {
		if m.VCS == "mod" {
			have[m.Prefix] = true
			list = append(list, m)
		}
	}
	for _, m := range imports {
		if m.VCS != "mod" && !have[m.Prefix] {
			list = append(list, m)
		}
	}
	return list, err
}

func charsetReader(charset string, input io.Reader) (io.Reader, error) {
	switch strings.ToLower(charset) {
	case "utf-8", "ascii":
		return input, nil
	}
	return nil, fmt.Errorf("can't decode XML document using charset %q", charset)
}

func attrValue(attrs []xml.Attr, name string) string {
	for _, a := range attrs {
		if strings.EqualFold(a.Name.Local, name) {
			return a.Value
		}
	}
	return ""
}

// matchGoImport returns the one tag whose prefix is a path prefix of
// importPath, as cmd/go/internal/vcs.matchGoImport does.
func matchGoImport(imports []metaImport, importPath string) (metaImport, error) {
	match := -1
	var mismatches []string
	for i, im := range imports {
		if !hasPathPrefix(importPath, im.Prefix) {
			mismatches = append(mismatches, im.Prefix)
			continue
		}
		if match >= 0 {
			if imports[match].VCS == "mod" && im.VCS != "mod" {
				break
			}
			return metaImport{}, fmt.Errorf("multiple meta tags match import path %q", importPath)
		}
		match = i
	}
	if match == -1 {
		return metaImport{}, fmt.Errorf("no go-import meta tag matches %s (tags for: %s)", importPath, strings.Join(mismatches, ", "))
	}
	return imports[match], nil
}
