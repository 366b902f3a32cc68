package origin

import (
	"fmt"
	"path"
	"strings"

	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"
)

// A modulePlace says where a module path's code lives in its repository,
// by the rules of the Go Modules Reference ("Module directories within a
// repository", "Major version subdirectories"):
//
//   - A repository whose root is the module path prefix R holds the module
//     R/a/b in its directory a/b, whose versions are tags prefixed with
//     "a/b/": a/b/v1.2.3.
//   - A module path with a major version suffix, R/a/b/v2, is either in
//     a/b (its go.mod declares the /v2 path) or in the major version
//     subdirectory a/b/v2; its tags are a/b/v2.x.y either way.
//   - gopkg.in paths carry their major version as ".v2", and are only
//     ever at the root of their repository.
//   - A go-import tag may name a subdirectory of the repository for R. The
//     go command then looks for R/a/b in a/b/<subdirectory>, not in
//     <subdirectory>/a/b (TestGoCommandAgreement pins this), and so does
//     the origin, so that both agree on every version and hash.
type modulePlace struct {
	path string // the module path

	// root is the module path prefix at the root of the repository (or
	// of the go-import subdirectory).
	root string

	// dir is the module's directory in the repository, "" for the root.
	dir string

	// suffix is the path's major version suffix: "/v2", ".v2" for
	// gopkg.in, or "" for major versions 0 and 1.
	suffix string

	// majorDir is the other directory a /vN module may be in, dir/vN, or
	// "" when there is none (no suffix, gopkg.in, or a repository whose
	// root is the module path itself).
	majorDir string
}

// newPlace returns where the module path modPath lives in a repository
// whose root is the module path prefix root, with that root in the
// repository's subdirectory subdir ("" for none).
func newPlace(root, subdir, modPath string) (*modulePlace, error) {
	if !pathHasPrefix(modPath, root) {
		return nil, fmt.Errorf("the repository holds %s, which %s is not in", root, modPath)
	}
	prefix, suffix, ok := module.SplitPathVersion(modPath)
	if !ok {
		return nil, fmt.Errorf("%s is not a valid module path", modPath)
	}
	p := &modulePlace{path: modPath, root: root, suffix: suffix}
	if modPath != root {
		// Without its suffix, the path must still be in the repository:
		// a repository rooted at x/v2 has no module x/v3.
		if !pathHasPrefix(prefix, root) {
			return nil, fmt.Errorf("the repository holds %s, which %s is not in", root, modPath)
		}
		p.dir = strings.Trim(prefix[len(root):], "/")
	}
	if subdir != "" {
		p.dir = path.Join(p.dir, subdir)
	}
	if modPath != root && strings.HasPrefix(suffix, "/") {
		p.majorDir = path.Join(p.dir, suffix[1:])
	}
	return p, nil
}

// pathHasPrefix reports whether the slash-separated path s begins with the
// whole elements of prefix.
func pathHasPrefix(s, prefix string) bool {
	return s == prefix || strings.HasPrefix(s, prefix+"/")
}

// tagPrefix is what the tags of the module's versions begin with: its
// directory and a slash, or nothing at the root.
func (p *modulePlace) tagPrefix() string {
	if p.dir == "" {
		return ""
	}
	return p.dir + "/"
}

// versionOfTag returns the semantic version that a tag names for this
// module, and whether the tag spells it canonically: v1.2.0 does,
// v1.2.0+build names v1.2.0 without spelling it (it can only be the base of
// a pseudo-version), and v1.2, other directories' tags, names that are not
// versions and pseudo-versions name none ("", false).
func (p *modulePlace) versionOfTag(tag string) (version string, canonical bool) {
	rest, ok := strings.CutPrefix(tag, p.tagPrefix())
	if !ok || module.IsPseudoVersion(rest) {
		return "", false
	}
	v := semver.Canonical(rest) // never +incompatible: no tag has it
	if v == "" || !strings.HasPrefix(rest, v) {
		return "", false
	}
	return v, rest == v
}

// revisionOf returns where a version (or a query) is in the repository:
// the commit of a pseudo-version, the tag of a semantic version (in the
// module's directory, without +incompatible), the query itself otherwise.
func (p *modulePlace) revisionOf(query string) string {
	switch {
	case module.IsPseudoVersion(query):
		rev, _ := module.PseudoVersionRev(query)
		return rev
	case semver.IsValid(query):
		return p.tagPrefix() + strings.TrimSuffix(query, "+incompatible")
	}
	return query
}

// pathAllows reports whether the module path can hold a version of v's
// major version: v0 and v1 without a suffix, vN with /vN or .vN.
func (p *modulePlace) pathAllows(v string) bool {
	return module.MatchPathMajor(v, p.suffix)
}

// declares reports whether a go.mod file declaring the module path mpath
// is one for this module's major version: same suffix number, or no
// suffix (or /v0, /v1) for a path without one.
func (p *modulePlace) declares(mpath string) bool {
	if mpath == "" {
		return false
	}
	_, s, ok := module.SplitPathVersion(mpath)
	if !ok {
		return false
	}
	if p.suffix == "" {
		return module.PathMajorPrefix(s) == "" || module.PathMajorPrefix(s) == "v0" || module.PathMajorPrefix(s) == "v1"
	}
	return s != "" && s[1:] == p.suffix[1:] // "/v2" and ".v2" are both major version 2
}

// incompatibleCandidate reports whether v could be used as a +incompatible
// version of the module at all: a major version above 1 of a module at the
// repository root whose path has no suffix. Whether it is also depends on
// the go.mod files at its commit (versionResolver.incompatibleOK).
func (p *modulePlace) incompatibleCandidate(v string) bool {
	return p.dir == "" && p.suffix == "" && !p.pathAllows(v)
}
