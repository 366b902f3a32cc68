package origin

// Finding a module's repository from its path, as the Go Modules Reference
// ("Finding a repository for a module path") describes it: the page at
// https://<module path>?go-get=1 names the repository in a meta tag,
//
//	<meta name="go-import" content="<root path> <vcs> <repository URL> [<subdirectory>]">
//
// whose root path is a prefix of the module path; when the root path is a
// shorter prefix, the root path's own page must say the same, so that a
// page cannot claim a part of another site's namespace.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// maxMetaPage is how much of a go-import page is read.
const maxMetaPage = 1 << 20

// A goImport is one go-import meta tag.
type goImport struct {
	root, vcs, repo, subdir string
}

// discover finds the repository of a module path by go-import discovery.
func (o *Origin) discover(ctx context.Context, modPath string) (location, error) {
	tags, page, err := o.goImports(ctx, modPath)
	if err != nil {
		return location{}, err
	}
	gi, err := chooseGoImport(tags, modPath)
	if err != nil {
		return location{}, notFoundf("go-import discovery: %s: %v", page, err)
	}
	if gi.root != modPath {
		rootTags, rootPage, err := o.goImports(ctx, gi.root)
		if err != nil {
			return location{}, err
		}
		if confirmed, err := chooseGoImport(rootTags, modPath); err != nil || confirmed != gi {
			return location{}, fmt.Errorf("go-import discovery: %s names %s for %s, and %s does not say the same", page, gi.repo, gi.root, rootPage)
		}
	}
	if gi.subdir != "" && (strings.HasPrefix(gi.subdir, "/") || strings.HasPrefix(gi.subdir, "-") || slices.Contains(strings.Split(gi.subdir, "/"), "..")) {
		return location{}, fmt.Errorf("go-import discovery: %s: subdirectory %q is not a relative path in the repository", page, gi.subdir)
	}
	switch gi.vcs {
	case "git":
	case "mod":
		return location{}, notFoundf("go-import discovery: %s: %s is served by the module proxy %s, not from a repository", page, gi.root, gi.repo)
	default:
		return location{}, notFoundf("go-import discovery: %s: %s is kept in %s, and only git is supported", page, gi.root, gi.vcs)
	}
	u, err := o.checkRepoURL(gi.repo)
	if err != nil {
		return location{}, fmt.Errorf("go-import discovery: %s: %w", page, err)
	}
	return location{url: u, root: gi.root, subdir: gi.subdir, source: "go-import at " + page}, nil
}

// goImports fetches the go-import page of a path and returns its tags and
// the page's redacted URL, for messages. A page that does not exist, or has
// no tag, is a not-found.
func (o *Origin) goImports(ctx context.Context, importPath string) ([]goImport, string, error) {
	host, rest, _ := strings.Cut(importPath, "/")
	if !strings.Contains(host, ".") {
		return nil, "", notFoundf("go-import discovery: %s does not begin with a host name", importPath)
	}
	u := &url.URL{Scheme: "https", Host: host, Path: "/" + rest, RawQuery: "go-get=1"}
	tags, status, err := o.fetchGoImports(ctx, u)
	if err != nil && ctx.Err() == nil && o.insecure(host) {
		// For a host allowed plain http, only once https failed.
		u.Scheme = "http"
		tags, status, err = o.fetchGoImports(ctx, u)
	}
	page := u.Redacted()
	switch {
	case err != nil:
		return nil, page, fmt.Errorf("go-import discovery: %w", err)
	case len(tags) > 0:
		return tags, page, nil
	case status == http.StatusNotFound || status == http.StatusGone:
		return nil, page, notFoundf("go-import discovery: %s: %d %s", page, status, http.StatusText(status))
	case status != http.StatusOK:
		return nil, page, fmt.Errorf("go-import discovery: %s: %d %s", page, status, http.StatusText(status))
	}
	return nil, page, notFoundf("go-import discovery: %s has no go-import meta tag", page)
}

// fetchGoImports sends one go-import request and reads the tags of its
// answer, whatever the status: some servers send the tags with a 404.
func (o *Origin) fetchGoImports(ctx context.Context, u *url.URL) ([]goImport, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, 0, err
	}
	resp, err := o.client.Do(req)
	if err != nil {
		return nil, 0, errors.New(o.creds.redact(err.Error()))
	}
	defer resp.Body.Close()
	return readGoImports(io.LimitReader(resp.Body, maxMetaPage)), resp.StatusCode, nil
}

// readGoImports returns the go-import meta tags of an HTML page's head:
// reading stops at the end of the head or the start of the body. Tags with
// other than three or four fields are ignored. When the vcs "mod" (a module
// proxy) and another are given for the same root path, the mod tag stands
// for both.
func readGoImports(r io.Reader) []goImport {
	var tags []goImport
	z := html.NewTokenizer(r)
	for {
		switch z.Next() {
		case html.ErrorToken:
			return preferProxies(tags)
		case html.EndTagToken:
			if name, _ := z.TagName(); atom.Lookup(name) == atom.Head {
				return preferProxies(tags)
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			switch atom.Lookup(name) {
			case atom.Body:
				return preferProxies(tags)
			case atom.Meta:
				if gi, ok := metaGoImport(z, hasAttr); ok {
					tags = append(tags, gi)
				}
			}
		}
	}
}

// metaGoImport reads the attributes of a meta element and returns its
// go-import tag, if it is one.
func metaGoImport(z *html.Tokenizer, hasAttr bool) (goImport, bool) {
	var name, content string
	for hasAttr {
		var key, val []byte
		key, val, hasAttr = z.TagAttr()
		switch strings.ToLower(string(key)) {
		case "name":
			name = string(val)
		case "content":
			content = string(val)
		}
	}
	f := strings.Fields(content)
	if name != "go-import" || len(f) != 3 && len(f) != 4 {
		return goImport{}, false
	}
	gi := goImport{root: f[0], vcs: f[1], repo: f[2]}
	if len(f) == 4 {
		gi.subdir = f[3]
	}
	return gi, true
}

// preferProxies returns the tags with every tag dropped whose root path
// also has a "mod" tag, the mod tags first.
func preferProxies(tags []goImport) []goImport {
	var mods, others []goImport
	proxied := map[string]bool{}
	for _, t := range tags {
		if t.vcs == "mod" {
			mods = append(mods, t)
			proxied[t.root] = true
		}
	}
	for _, t := range tags {
		if t.vcs != "mod" && !proxied[t.root] {
			others = append(others, t)
		}
	}
	return append(mods, others...)
}

// chooseGoImport returns the tag whose root path is a path prefix of
// modPath: the only mod tag that is, else the only tag that is.
func chooseGoImport(tags []goImport, modPath string) (goImport, error) {
	var mods, matches []goImport
	for _, t := range tags {
		if pathHasPrefix(modPath, t.root) {
			matches = append(matches, t)
			if t.vcs == "mod" {
				mods = append(mods, t)
			}
		}
	}
	if len(mods) > 0 {
		matches = mods
	}
	switch len(matches) {
	case 1:
		return matches[0], nil
	case 0:
		var roots []string
		for _, t := range tags {
			roots = append(roots, t.root)
		}
		return goImport{}, fmt.Errorf("no go-import meta tag is for %s (they are for %s)", modPath, strings.Join(roots, ", "))
	}
	return goImport{}, fmt.Errorf("%d go-import meta tags are for %s; there must be one", len(matches), modPath)
}
