package origin

// How a repository's commits become a module's versions. The rules are the
// Go Modules Reference's ("Version queries", "Pseudo-versions", "Compatibility
// with non-module repositories", "retract directive"), checked against the
// go command with GOPROXY=direct by TestGoCommandAgreement:
//
//   - A version is a tag in the module's directory that spells a canonical
//     semantic version whose major version the module path can hold.
//   - A major version above 1 of a module at the repository root whose path
//     has no suffix is a "+incompatible" version, if the commit has no
//     go.mod (a module that adopted modules declares its major version in
//     its path), and neither has its vN/go.mod (those tags then belong to
//     the vN module), unless the +incompatible version is asked for by
//     name. Lists leave them out once the latest v0/v1 version has a
//     go.mod, and leave out a major version whose latest tag has one.
//   - Any other commit (a branch, a hash) is the version a canonical tag on
//     it names, the highest if several, else a pseudo-version whose base is
//     the highest version tag among its ancestors, so that it sorts after
//     them; retracted versions are never chosen either way.
//   - The module's go.mod is where its path says, and declares that path's
//     major version; at the root of a path without suffix, none is needed
//     (one is made up: "module <path>").

import (
	"context"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"

	"github.com/modmirror/modmirror"
)

// A versionResolver answers for one module from a view of its repository's
// clone, for the length of one request.
type versionResolver struct {
	*modulePlace
	repo *gitView

	files     map[string]bool   // "<commit>:<file>" -> whether the file exists there
	retracted func(string) bool // loaded on first use
}

func newResolver(p *modulePlace, g *gitView) *versionResolver {
	return &versionResolver{modulePlace: p, repo: g, files: make(map[string]bool)}
}

// A resolvedVersion is a version of the module and where it comes from.
type resolvedVersion struct {
	Version string
	Hash    string // full commit hash
	Time    time.Time
	Ref     string // the ref the query went through, or ""
}

// list returns the module's versions, in semantic version order, with the
// +incompatible ones after the others.
func (r *versionResolver) list(ctx context.Context) ([]string, error) {
	// A gopkg.in "-unstable" path shares its repository's vN tags with the
	// stable path; it has no versions of its own.
	if strings.HasPrefix(r.path, "gopkg.in/") && strings.HasSuffix(r.path, "-unstable") {
		return []string{}, nil
	}
	versions := []string{}
	var candidates []string
	for _, t := range r.repo.tagsWithPrefix(r.tagPrefix()) {
		v, canonical := r.versionOfTag(t.Name)
		switch {
		case !canonical:
		case r.pathAllows(v):
			versions = append(versions, v)
		case r.incompatibleCandidate(v):
			candidates = append(candidates, v)
		}
	}
	semver.Sort(versions)
	if len(candidates) == 0 {
		return versions, nil
	}
	if n := len(versions); n > 0 {
		has, err := r.hasFile(ctx, versions[n-1], "go.mod")
		if err != nil {
			return nil, err
		}
		if has {
			// The module adopted modules on the v0/v1 line: its vN
			// tags are not versions of this path.
			return versions, nil
		}
	}
	semver.Sort(candidates)
	for len(candidates) > 0 {
		// The versions of the lowest major version left.
		n := 1
		for n < len(candidates) && semver.Major(candidates[n]) == semver.Major(candidates[0]) {
			n++
		}
		major := candidates[:n]
		candidates = candidates[n:]
		has, err := r.hasFile(ctx, major[n-1], "go.mod")
		if err != nil {
			return nil, err
		}
		if has {
			continue // this major version's latest release is a module
		}
		for _, v := range major {
			versions = append(versions, v+"+incompatible")
		}
	}
	return versions, nil
}

// hasFile reports whether the file exists (relative to the repository root)
// at the commit that a version's tag (or a hash) names. Only a failure to
// ask is an error.
func (r *versionResolver) hasFile(ctx context.Context, rev, file string) (bool, error) {
	key := rev + ":" + file
	if has, ok := r.files[key]; ok {
		return has, nil
	}
	_, err := r.repo.readFile(ctx, rev, file, modmirror.MaxGoMod)
	switch {
	case err == nil:
		r.files[key] = true
	case isNotExist(err):
		r.files[key] = false
	default:
		return false, err
	}
	return r.files[key], nil
}

// resolve returns the version a query names: a canonical version, a
// semantic version prefix of a tag, a tag, a branch, a commit hash or
// prefix, or "latest" (the remote's default branch).
func (r *versionResolver) resolve(ctx context.Context, query string) (*resolvedVersion, error) {
	rev := r.revisionOf(query)
	asked := query
	if query == "latest" {
		rev, asked = "HEAD", ""
	}
	c, err := r.repo.stat(ctx, rev)
	if err != nil {
		return nil, err
	}
	return r.versionAt(ctx, c, asked)
}

// versionAt returns the version of the module at commit c, found through
// the query asked ("" for the default branch).
func (r *versionResolver) versionAt(ctx context.Context, c *commitInfo, asked string) (*resolvedVersion, error) {
	if module.IsPseudoVersion(asked) {
		v, err := r.confirm(ctx, c, asked, asked)
		if err != nil {
			return nil, err
		}
		return v, r.checkPseudo(ctx, c, asked)
	}
	// A tag asked for by name names its version, if the module is there.
	if v, canonical := r.versionOfTag(c.askedTag); canonical {
		res, err := r.confirm(ctx, c, v, asked)
		if err == nil || operational(err) {
			return res, err
		}
	}
	var best, base string
	for _, t := range c.Tags {
		v, canonical := r.versionOfTag(t)
		if v == "" {
			continue
		}
		if asked != "" && semver.Compare(v, asked) == 0 {
			if canonical {
				return r.confirm(ctx, c, v, asked)
			}
			base = v // v1.2.0+build: not a version, a base
		}
		if canonical && semver.Compare(v, best) > 0 && !r.isRetracted(ctx, v) && r.usable(ctx, c, v, asked) {
			best = v
		}
	}
	if best != "" {
		return r.confirm(ctx, c, best, asked)
	}
	if base == "" {
		tag, err := r.repo.recentTag(ctx, c.Hash, r.tagPrefix(), func(tag string) bool {
			v, _ := r.versionOfTag(tag)
			return v != "" && r.usable(ctx, c, v, asked) && !r.isRetracted(ctx, v)
		})
		if err != nil {
			return nil, err
		}
		base, _ = r.versionOfTag(tag)
	}
	pseudo := module.PseudoVersion(module.PathMajorPrefix(r.suffix), base, c.Time, c.Short)
	return r.confirm(ctx, c, pseudo, asked)
}

// usable reports whether the module path can hold v, as it is or as v's
// +incompatible version.
func (r *versionResolver) usable(ctx context.Context, c *commitInfo, v, asked string) bool {
	return r.pathAllows(v) || r.incompatibleOK(ctx, c, v, asked)
}

// incompatibleOK reports whether v, a tag's version at commit c, is used as
// v+incompatible: only for a module at the root of a path without suffix,
// whose commit has no go.mod, nor (unless the query asks for the
// +incompatible version itself) v's major version subdirectory's.
func (r *versionResolver) incompatibleOK(ctx context.Context, c *commitInfo, v, asked string) bool {
	if !r.incompatibleCandidate(v) {
		return false
	}
	// A failure to look counts as no file, for a version: it is not
	// offered as +incompatible when the repository says nothing either way.
	if has, err := r.hasFile(ctx, c.Hash, "go.mod"); has || err != nil {
		return false
	}
	if v != "" && !strings.HasSuffix(asked, "+incompatible") {
		if has, err := r.hasFile(ctx, c.Hash, path.Join(semver.Major(v), "go.mod")); has || err != nil {
			return false
		}
	}
	return true
}

// confirm returns version v of the module at commit c, found through the
// query asked, after checking that the module is at c where its path says,
// and that the path can hold v (as v+incompatible, if that is allowed).
// A canonical query must be confirmed as itself.
func (r *versionResolver) confirm(ctx context.Context, c *commitInfo, v, asked string) (*resolvedVersion, error) {
	if _, _, err := r.findModule(ctx, v); err != nil {
		return nil, err
	}
	if strings.TrimSuffix(asked, "+incompatible") == v {
		v = asked
	}
	release := strings.TrimSuffix(v, "+incompatible")
	var wrong error
	switch {
	case !r.pathAllows(release) && r.incompatibleOK(ctx, c, release, asked):
		v = release + "+incompatible"
	case !r.pathAllows(release) && r.suffix != "":
		wrong = fmt.Errorf("%s: the path's major version is %s", v, strings.TrimLeft(r.suffix, "/."))
	case !r.pathAllows(release):
		wrong = fmt.Errorf("%s: the module has a go.mod file, so major version %s needs the path %s", v, semver.Major(release), path.Join(r.path, semver.Major(release)))
	case strings.HasSuffix(v, "+incompatible"):
		wrong = fmt.Errorf("%s: major version %s needs no +incompatible", v, semver.Major(release))
	}
	if module.CanonicalVersion(asked) == asked && asked != "" && strings.TrimSuffix(asked, "+incompatible") != release {
		return nil, fmt.Errorf("%s is not a tag of the module: its commit is %s", asked, v)
	}
	if wrong != nil {
		return nil, wrong
	}
	return &resolvedVersion{Version: v, Hash: c.Hash, Time: c.Time, Ref: c.Ref}, nil
}

// checkPseudo checks that a pseudo-version names commit c: its revision is
// c's short hash, its time c's time, and its base a version tag on one of
// c's ancestors but not on c itself (a commit with a version tag has that
// version, not a pseudo-version), so that it sorts after its ancestors'
// versions and before its descendants'.
func (r *versionResolver) checkPseudo(ctx context.Context, c *commitInfo, pseudo string) error {
	rev, err := module.PseudoVersionRev(pseudo)
	if err != nil {
		return err
	}
	if rev != c.Short {
		return fmt.Errorf("%s: the commit's 12-digit hash is %s", pseudo, c.Short)
	}
	t, err := module.PseudoVersionTime(pseudo)
	if err != nil {
		return err
	}
	if !t.Equal(c.Time.Truncate(time.Second)) {
		return fmt.Errorf("%s: the commit's time is %s", pseudo, c.Time.UTC().Format(module.PseudoVersionTimestampFormat))
	}
	base, err := module.PseudoVersionBase(strings.TrimSuffix(pseudo, "+incompatible"))
	if err != nil {
		return err
	}
	if base == "" {
		if r.suffix == "" && semver.Major(pseudo) == "v1" {
			return fmt.Errorf("%s: a pseudo-version without a base version is v0 for a path without a major version suffix", pseudo)
		}
		return nil
	}
	for _, t := range c.Tags {
		if strings.TrimPrefix(t, r.tagPrefix()) == base {
			return fmt.Errorf("%s: the commit is tagged %s itself", pseudo, t)
		}
	}
	tagged := false
	for _, t := range r.repo.tagsWithPrefix(r.tagPrefix() + base) {
		if semver.Compare(strings.TrimPrefix(t.Name, r.tagPrefix()), base) != 0 {
			continue
		}
		tagged = true
		below, err := r.repo.descendsFrom(ctx, c.Hash, t.Name)
		if err != nil {
			return err
		}
		if below {
			return nil
		}
	}
	if !tagged {
		return fmt.Errorf("%s: no tag %s%s", pseudo, r.tagPrefix(), base)
	}
	return fmt.Errorf("%s: the commit is not a descendant of %s%s", pseudo, r.tagPrefix(), base)
}

// findModule returns the directory of the module at a version's commit and
// its go.mod file: dir/go.mod declaring the path's major version, or, for
// a /vN path, the major version subdirectory's dir/vN/go.mod (not both);
// at the root of a path without suffix there may be none (go.mod is nil).
func (r *versionResolver) findModule(ctx context.Context, version string) (dir string, gomod []byte, err error) {
	if !semver.IsValid(version) {
		return "", nil, fmt.Errorf("%s is not a semantic version", version)
	}
	rev := r.revisionOf(version)
	read := func(dir string) ([]byte, bool, error) {
		data, err := r.repo.readFile(ctx, rev, path.Join(dir, "go.mod"), modmirror.MaxGoMod)
		switch {
		case err == nil:
			return data, true, nil
		case isNotExist(err):
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("reading %s at %s: %w", path.Join(dir, "go.mod"), rev, err)
	}
	mainMod, haveMain, err := read(r.dir)
	if err != nil {
		return "", nil, err
	}
	// gopkg.in paths without suffix were once allowed to name a module
	// whose go.mod says gopkg.in/x.v1, and still are.
	mainOK := haveMain && (r.declares(modfile.ModulePath(mainMod)) || r.suffix == "" && strings.HasPrefix(modfile.ModulePath(mainMod), "gopkg.in/"))
	if r.majorDir != "" {
		majorMod, haveMajor, err := read(r.majorDir)
		if err != nil {
			return "", nil, err
		}
		majorOK := haveMajor && r.declares(modfile.ModulePath(majorMod))
		switch {
		case mainOK && majorOK:
			return "", nil, fmt.Errorf("at %s, both %s and %s declare %s", rev, path.Join(r.dir, "go.mod"), path.Join(r.majorDir, "go.mod"), r.path)
		case majorOK:
			return r.majorDir, majorMod, nil
		case haveMajor:
			return "", nil, fmt.Errorf("at %s, %s declares %q, not %s", rev, path.Join(r.majorDir, "go.mod"), modfile.ModulePath(majorMod), r.path)
		}
	}
	switch {
	case mainOK:
		return r.dir, mainMod, nil
	case haveMain:
		return "", nil, fmt.Errorf("at %s, %s declares %q, not a module of major version %s", rev, path.Join(r.dir, "go.mod"), modfile.ModulePath(mainMod), cmpOr(strings.TrimLeft(r.suffix, "/."), "v0 or v1"))
	case r.dir == "" && !strings.HasPrefix(r.suffix, "/"):
		return "", nil, nil // a module from before go.mod files
	}
	return "", nil, fmt.Errorf("at %s, no go.mod declares %s", rev, r.path)
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// isRetracted reports whether the go.mod of the module's latest release
// retracts version v. If that go.mod cannot be read, nothing is retracted.
func (r *versionResolver) isRetracted(ctx context.Context, v string) bool {
	if r.retracted == nil {
		r.retracted = func(string) bool { return false }
		if intervals, err := r.retractions(ctx); err == nil {
			r.retracted = func(v string) bool {
				return slices.ContainsFunc(intervals, func(i modfile.VersionInterval) bool {
					return semver.Compare(i.Low, v) <= 0 && semver.Compare(v, i.High) <= 0
				})
			}
		}
	}
	return r.retracted(v)
}

// retractions returns the retract directives of the go.mod of the latest
// version: the highest release, else the highest pre-release, of those
// that can have a go.mod (not +incompatible).
func (r *versionResolver) retractions(ctx context.Context) ([]modfile.VersionInterval, error) {
	versions, err := r.list(ctx)
	if err != nil {
		return nil, err
	}
	versions = slices.DeleteFunc(versions, func(v string) bool { return strings.HasSuffix(v, "+incompatible") })
	if len(versions) == 0 {
		return nil, nil
	}
	latest := versions[len(versions)-1]
	for _, v := range slices.Backward(versions) {
		if semver.Prerelease(v) == "" {
			latest = v
			break
		}
	}
	data, err := r.goMod(ctx, latest)
	if err != nil {
		return nil, err
	}
	f, err := modfile.ParseLax("go.mod", data, nil)
	if err != nil {
		return nil, err
	}
	var intervals []modfile.VersionInterval
	for _, rd := range f.Retract {
		intervals = append(intervals, rd.VersionInterval)
	}
	return intervals, nil
}

// goMod returns the go.mod file of a canonical version of the module, or
// the one made up for a version without one: "module <path>".
func (r *versionResolver) goMod(ctx context.Context, version string) ([]byte, error) {
	if err := r.checkCanonical(ctx, version); err != nil {
		return nil, err
	}
	_, data, err := r.findModule(ctx, version)
	if err != nil {
		return nil, err
	}
	if data == nil {
		return fmt.Appendf(nil, "module %s\n", modfile.AutoQuote(r.path)), nil
	}
	return data, nil
}

// checkCanonical checks a canonical version before its files are served:
// a pseudo-version must name the commit it claims to (its other versions
// are tags, which name themselves).
func (r *versionResolver) checkCanonical(ctx context.Context, version string) error {
	if version != module.CanonicalVersion(version) {
		return fmt.Errorf("%s is not a canonical version", version)
	}
	if module.IsPseudoVersion(version) {
		if _, err := r.resolve(ctx, version); err != nil {
			return err
		}
	}
	return nil
}
