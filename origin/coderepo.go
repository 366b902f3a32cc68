package origin

// The rules in this file are those of the go command, so that a version the
// origin serves is the one the go command computes with GOPROXY=direct: they
// are adapted from cmd/go/internal/modfetch/coderepo.go (Copyright 2018 The
// Go Authors; BSD-style license), with the go command's codehost.Repo
// replaced by a gitView of a full clone.

import (
	"context"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"
	"time"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"

	"github.com/modmirror/modmirror"
)

const maxLICENSE = 16 << 20 // as codehost.MaxLICENSE

// A layout says where a module lives in its repository, as the go command's
// codeRepo does.
type layout struct {
	modPath string

	// codeRoot is the module path prefix at the root of the repository.
	codeRoot string
	// codeDir is the directory (relative to the root) at which the module
	// is expected. If pathMajor is not empty and codeRoot is not the full
	// modPath, both codeDir and codeDir/pathMajor[1:] are looked at.
	codeDir string

	// pathMajor is the major version suffix of modPath ("/v2", or ".v2"
	// for gopkg.in), or "" for major version 0 or 1.
	pathMajor string
	// pathPrefix is modPath without pathMajor.
	pathPrefix string

	// pseudoMajor is the major version prefix of pseudo-versions ("v2"),
	// or "" when modPath has no major version suffix.
	pseudoMajor string
}

// newLayout returns the layout of module path in the repository whose root
// is the module path prefix codeRoot, with the module found under subdir
// (from a go-import tag) if it is not empty.
func newLayout(codeRoot, subdir, modPath string) (*layout, error) {
	if !hasPathPrefix(modPath, codeRoot) {
		return nil, fmt.Errorf("mismatched repo: found %s for %s", codeRoot, modPath)
	}
	pathPrefix, pathMajor, ok := module.SplitPathVersion(modPath)
	if !ok {
		return nil, fmt.Errorf("invalid module path %q", modPath)
	}
	if codeRoot == modPath {
		pathPrefix = modPath
	}
	codeDir := ""
	if codeRoot != modPath {
		if !hasPathPrefix(pathPrefix, codeRoot) {
			return nil, fmt.Errorf("repository rooted at %s cannot contain module %s", codeRoot, modPath)
		}
		codeDir = strings.Trim(pathPrefix[len(codeRoot):], "/")
	}
	if subdir != "" {
		codeDir = path.Join(codeDir, subdir)
	}
	return &layout{
		modPath:     modPath,
		codeRoot:    codeRoot,
		codeDir:     codeDir,
		pathPrefix:  pathPrefix,
		pathMajor:   pathMajor,
		pseudoMajor: module.PathMajorPrefix(pathMajor),
	}, nil
}

// A codeRepo is a module's layout together with a view of its repository's
// clone: the go command's codeRepo, for the length of one request.
type codeRepo struct {
	*layout
	code *gitView
}

// A versionInfo is a resolved version: the go command's modfetch.RevInfo.
type versionInfo struct {
	Version string
	Time    time.Time
	Name    string // full commit hash
	Short   string
	Ref     string // the ref the query was resolved through, or ""
}

// versions returns the versions of the module that tags name, as
// codeRepo.Versions does: canonical semantic versions (prefixed with the
// module's directory), not pseudo-versions, for the module's major version;
// then +incompatible ones, where they are allowed.
func (r *codeRepo) versions(ctx context.Context, prefix string) ([]string, error) {
	// gopkg.in/macaroon-bakery.v2-unstable does not use the v2 tags (those
	// are for macaroon-bakery.v2): it has no possible tags at all.
	if strings.HasPrefix(r.modPath, "gopkg.in/") && strings.HasSuffix(r.modPath, "-unstable") {
		return []string{}, nil
	}
	p := prefix
	if r.codeDir != "" {
		p = r.codeDir + "/" + p
	}
	list, incompatible := []string{}, []string(nil)
	for _, tag := range r.code.tagsWithPrefix(p) {
		v := tag.Name
		if r.codeDir != "" {
			v = v[len(r.codeDir)+1:]
		}
		if v == "" || v != semver.Canonical(v) || module.IsPseudoVersion(v) {
			continue
		}
		if err := module.CheckPathMajor(v, r.pathMajor); err != nil {
			if r.codeDir == "" && r.pathMajor == "" && semver.Major(v) > "v1" {
				incompatible = append(incompatible, v)
			}
			continue
		}
		list = append(list, v)
	}
	semver.Sort(list)
	semver.Sort(incompatible)
	return r.appendIncompatibleVersions(ctx, list, incompatible)
}

// appendIncompatibleVersions appends "+incompatible" versions to list where
// the go command would: only if the latest compatible version has no go.mod
// file, and only for major versions whose latest release has none.
func (r *codeRepo) appendIncompatibleVersions(ctx context.Context, list, incompatible []string) ([]string, error) {
	if len(incompatible) == 0 || r.pathMajor != "" {
		return list, nil
	}
	versionHasGoMod := func(v string) (bool, error) {
		_, err := r.code.readFile(ctx, v, "go.mod", modmirror.MaxGoMod)
		if err == nil {
			return true, nil
		}
		if !isNotExist(err) {
			return false, &module.ModuleError{Path: r.modPath, Err: err}
		}
		return false, nil
	}
	if len(list) > 0 {
		ok, err := versionHasGoMod(list[len(list)-1])
		if err != nil {
			return nil, err
		}
		if ok {
			// The latest compatible version has a go.mod file: the
			// author means the module to be used on the v0/v1 line
			// (https://golang.org/issue/34189).
			return list, nil
		}
	}
	var (
		lastMajor         string
		lastMajorHasGoMod bool
	)
	for i, v := range incompatible {
		major := semver.Major(v)
		if major != lastMajor {
			rem := incompatible[i:]
			j := sort.Search(len(rem), func(j int) bool { return semver.Major(rem[j]) != major })
			latestAtMajor := rem[j-1]
			var err error
			lastMajor = major
			lastMajorHasGoMod, err = versionHasGoMod(latestAtMajor)
			if err != nil {
				return nil, err
			}
		}
		if lastMajorHasGoMod {
			continue
		}
		list = append(list, v+"+incompatible")
	}
	return list, nil
}

// stat resolves a query (a version, tag, branch, commit hash or prefix, or
// "latest") to a version of the module, as codeRepo.Stat does.
func (r *codeRepo) stat(ctx context.Context, rev string) (*versionInfo, error) {
	if rev == "latest" {
		return r.latest(ctx)
	}
	info, err := r.code.stat(ctx, r.revToRev(rev))
	if err != nil {
		return nil, &module.ModuleError{Path: r.modPath, Err: &module.InvalidVersionError{Version: rev, Err: err}}
	}
	return r.convert(ctx, info, rev)
}

// latest resolves the remote's HEAD, as codeRepo.Latest does.
func (r *codeRepo) latest(ctx context.Context) (*versionInfo, error) {
	if r.code.head == "" {
		return nil, notFoundf("no commits")
	}
	info, err := r.code.stat(ctx, r.code.head)
	if err != nil {
		return nil, err
	}
	info.Ref = "HEAD"
	return r.convert(ctx, info, "")
}

// convert converts a commit to a version of the module, as codeRepo.convert
// does. If statVers is a valid module version, it is used for the Version
// field; otherwise the version is derived from the commit's tags and those
// of its ancestors.
func (r *codeRepo) convert(ctx context.Context, info *revInfo, statVers string) (*versionInfo, error) {
	// canUseIncompatible reports whether a tag v may be used with a
	// "+incompatible" suffix: only for a plain tag (no directory prefix) on
	// an unversioned module path whose tree has no go.mod (nor vN/go.mod).
	incompatibleOk := map[string]bool{}
	canUseIncompatible := func(v string) bool {
		if r.codeDir != "" || r.pathMajor != "" {
			return false
		}
		ok, seen := incompatibleOk[""]
		if !seen {
			_, errGoMod := r.code.readFile(ctx, info.Name, "go.mod", modmirror.MaxGoMod)
			ok = errGoMod != nil
			incompatibleOk[""] = ok
		}
		if !ok {
			return false
		}
		// https://go.dev/issue/51324: an explicitly requested
		// +incompatible version stays allowed; otherwise vN/go.mod means
		// the vN tags are for the vN module.
		if v != "" && !strings.HasSuffix(statVers, "+incompatible") {
			major := semver.Major(v)
			ok, seen = incompatibleOk[major]
			if !seen {
				_, errGoModSub := r.code.readFile(ctx, info.Name, path.Join(major, "go.mod"), modmirror.MaxGoMod)
				ok = errGoModSub != nil
				incompatibleOk[major] = ok
			}
			if !ok {
				return false
			}
		}
		return true
	}

	// checkCanonical checks that the canonical version v fits the module
	// path, adding "+incompatible" if needed, and that it is statVers (up
	// to that suffix) if statVers is canonical.
	checkCanonical := func(v string) (*versionInfo, error) {
		// The module's go.mod must be where the module path says, and
		// declare that path.
		if _, _, _, err := r.findDir(ctx, v); err != nil {
			if operational(err) {
				return nil, err
			}
			return nil, &module.ModuleError{Path: r.modPath, Err: &module.InvalidVersionError{Version: v, Err: notExist{err}}}
		}
		invalidf := func(format string, args ...any) error {
			return &module.ModuleError{Path: r.modPath, Err: &module.InvalidVersionError{Version: v, Err: fmt.Errorf(format, args...)}}
		}
		if v == strings.TrimSuffix(statVers, "+incompatible") {
			v = statVers
		}
		base := strings.TrimSuffix(v, "+incompatible")
		var errIncompatible error
		if !module.MatchPathMajor(base, r.pathMajor) {
			if canUseIncompatible(base) {
				v = base + "+incompatible"
			} else if r.pathMajor != "" {
				errIncompatible = invalidf("module path includes a major version suffix, so major version must match")
			} else {
				errIncompatible = invalidf("module contains a go.mod file, so module path must match major version (%q)", path.Join(r.pathPrefix, semver.Major(v)))
			}
		} else if strings.HasSuffix(v, "+incompatible") {
			errIncompatible = invalidf("+incompatible suffix not allowed: major version %s is compatible", semver.Major(v))
		}
		if statVers != "" && statVers == module.CanonicalVersion(statVers) {
			// A canonical version asked for resolves to itself or not at all.
			if statBase := strings.TrimSuffix(statVers, "+incompatible"); statBase != base {
				return nil, &module.ModuleError{Path: r.modPath, Err: &module.InvalidVersionError{
					Version: statVers,
					Err:     fmt.Errorf("resolves to version %v (%s is not a tag)", v, statBase),
				}}
			}
		}
		if errIncompatible != nil {
			return nil, errIncompatible
		}
		return &versionInfo{Name: info.Name, Short: info.Short, Time: info.Time, Version: v, Ref: info.Ref}, nil
	}

	if module.IsPseudoVersion(statVers) {
		// Check the go.mod location and major version before the
		// pseudo-version's base, which needs history.
		vi, err := checkCanonical(statVers)
		if err != nil {
			return nil, err
		}
		if err := r.validatePseudoVersion(ctx, info, statVers); err != nil {
			return nil, err
		}
		return vi, nil
	}

	tagPrefix := ""
	if r.codeDir != "" {
		tagPrefix = r.codeDir + "/"
	}

	// Retractions are read from the latest release's go.mod, only if
	// needed; errors mean nothing is retracted, as in the go command.
	var retracted func(string) bool
	isRetracted := func(v string) bool {
		if retracted == nil {
			var err error
			if retracted, err = r.retractedVersions(ctx); err != nil {
				retracted = func(string) bool { return false }
			}
		}
		return retracted(v)
	}

	// tagToVersion returns the version of a tag with tagPrefix, or "" for
	// other tags, invalid or incomplete ones, and pseudo-versions.
	tagToVersion := func(tag string) (v string, tagIsCanonical bool) {
		if !strings.HasPrefix(tag, tagPrefix) {
			return "", false
		}
		trimmed := tag[len(tagPrefix):]
		if module.IsPseudoVersion(tag) {
			return "", false
		}
		// Not module.CanonicalVersion: no "+incompatible" from a tag.
		v = semver.Canonical(trimmed)
		if v == "" || !strings.HasPrefix(trimmed, v) {
			return "", false
		}
		return v, v == trimmed
	}

	// A tag asked for by name, if canonical, is the version.
	if v, tagIsCanonical := tagToVersion(info.Version); tagIsCanonical {
		if vi, err := checkCanonical(v); err == nil {
			return vi, nil
		} else if operational(err) {
			return nil, err
		}
	}

	// Look through the tags on the commit for a canonical version or a
	// base for a pseudo-version.
	var highestCanonical, pseudoBase string
	for _, pathTag := range info.Tags {
		v, tagIsCanonical := tagToVersion(pathTag)
		if statVers != "" && semver.Compare(v, statVers) == 0 {
			if tagIsCanonical {
				return checkCanonical(v)
			}
			// Equivalent but not canonical (v1.0.0+meta): usable only as
			// the base of an unambiguous pseudo-version.
			pseudoBase = v
		}
		if tagIsCanonical && semver.Compare(highestCanonical, v) < 0 && !isRetracted(v) {
			if module.MatchPathMajor(v, r.pathMajor) || canUseIncompatible(v) {
				highestCanonical = v
			}
		}
	}
	if highestCanonical != "" {
		return checkCanonical(highestCanonical)
	}

	// The pseudo-version's base is the highest allowed tag in the commit's
	// history, so that the pseudo-version sorts above it.
	tagAllowed := func(tag string) bool {
		v, _ := tagToVersion(tag)
		if v == "" {
			return false
		}
		if !module.MatchPathMajor(v, r.pathMajor) && !canUseIncompatible(v) {
			return false
		}
		return !isRetracted(v)
	}
	if pseudoBase == "" {
		tag, err := r.code.recentTag(ctx, info.Name, tagPrefix, tagAllowed)
		if err != nil {
			return nil, err
		}
		if tag != "" {
			pseudoBase, _ = tagToVersion(tag)
		}
	}
	return checkCanonical(module.PseudoVersion(r.pseudoMajor, pseudoBase, info.Time, info.Short))
}

// validatePseudoVersion checks that a pseudo-version's major version fits
// the module path and that its base, time and revision agree with the
// commit, as codeRepo.validatePseudoVersion does.
func (r *codeRepo) validatePseudoVersion(ctx context.Context, info *revInfo, version string) (err error) {
	defer func() {
		if err != nil && !operational(err) {
			if _, ok := err.(*module.ModuleError); !ok {
				if _, ok := err.(*module.InvalidVersionError); !ok {
					err = &module.InvalidVersionError{Version: version, Pseudo: true, Err: err}
				}
				err = &module.ModuleError{Path: r.modPath, Err: err}
			}
		}
	}()

	rev, err := module.PseudoVersionRev(version)
	if err != nil {
		return err
	}
	if rev != info.Short {
		switch {
		case strings.HasPrefix(rev, info.Short):
			return fmt.Errorf("revision is longer than canonical (expected %s)", info.Short)
		case strings.HasPrefix(info.Short, rev):
			return fmt.Errorf("revision is shorter than canonical (expected %s)", info.Short)
		default:
			return fmt.Errorf("does not match short name of revision (expected %s)", info.Short)
		}
	}
	t, err := module.PseudoVersionTime(version)
	if err != nil {
		return err
	}
	if !t.Equal(info.Time.Truncate(time.Second)) {
		return fmt.Errorf("does not match version-control timestamp (expected %s)", info.Time.UTC().Format(module.PseudoVersionTimestampFormat))
	}

	tagPrefix := ""
	if r.codeDir != "" {
		tagPrefix = r.codeDir + "/"
	}
	// The base must be a tag on an ancestor, so that a pseudo-version
	// sorts just above its parents and no higher.
	base, err := module.PseudoVersionBase(strings.TrimSuffix(version, "+incompatible"))
	if err != nil {
		return err
	}
	if base == "" {
		if r.pseudoMajor == "" && semver.Major(version) == "v1" {
			return fmt.Errorf("major version without preceding tag must be v0, not v1")
		}
		return nil
	}
	for _, tag := range info.Tags {
		if strings.TrimPrefix(tag, tagPrefix) == base {
			// A canonical tag on the commit is its version; a
			// pseudo-version derived from it would only confuse.
			return fmt.Errorf("tag (%s) found on revision %s is already canonical, so should not be replaced with a pseudo-version derived from that tag", tag, rev)
		}
	}
	var lastTag string
	ancestorFound := false
	for _, tag := range r.code.tagsWithPrefix(tagPrefix + base) {
		versionOnly := strings.TrimPrefix(tag.Name, tagPrefix)
		if semver.Compare(versionOnly, base) == 0 {
			lastTag = tag.Name
			ancestorFound, err = r.code.descendsFrom(ctx, info.Name, tag.Name)
			if ancestorFound {
				break
			}
		}
	}
	if lastTag == "" {
		return fmt.Errorf("preceding tag (%s) not found", base)
	}
	if !ancestorFound {
		if err != nil {
			return err
		}
		return fmt.Errorf("revision %s is not a descendent of preceding tag (%s)", rev, lastTag)
	}
	return nil
}

// revToRev returns the revision in the repository for a version: the
// commit of a pseudo-version, the tag (with the module's directory) of a
// release; anything else is returned as is.
func (r *codeRepo) revToRev(rev string) string {
	if semver.IsValid(rev) {
		if module.IsPseudoVersion(rev) {
			r, _ := module.PseudoVersionRev(rev)
			return r
		}
		if semver.Build(rev) == "+incompatible" {
			rev = rev[:len(rev)-len("+incompatible")]
		}
		if r.codeDir == "" {
			return rev
		}
		return r.codeDir + "/" + rev
	}
	return rev
}

func (r *codeRepo) versionToRev(version string) (string, error) {
	if !semver.IsValid(version) {
		return "", &module.ModuleError{Path: r.modPath, Err: &module.InvalidVersionError{Version: version, Err: errors.New("syntax error")}}
	}
	return r.revToRev(version), nil
}

// findDir locates the module's directory at a version, as codeRepo.findDir
// does: codeDir, or codeDir/vN for a /vN module whose go.mod is there, and
// returns the go.mod file found, if any.
func (r *codeRepo) findDir(ctx context.Context, version string) (rev, dir string, gomod []byte, err error) {
	rev, err = r.versionToRev(version)
	if err != nil {
		return "", "", nil, err
	}

	file1 := path.Join(r.codeDir, "go.mod")
	gomod1, err1 := r.code.readFile(ctx, rev, file1, modmirror.MaxGoMod)
	if err1 != nil && !isNotExist(err1) {
		return "", "", nil, fmt.Errorf("reading %s/%s at revision %s: %w", r.codeRoot, file1, rev, err1)
	}
	mpath1 := modfile.ModulePath(gomod1)
	found1 := err1 == nil && (isMajor(mpath1, r.pathMajor) || r.canReplaceMismatchedVersionDueToBug(mpath1))

	var file2 string
	if r.pathMajor != "" && r.codeRoot != r.modPath && !strings.HasPrefix(r.pathMajor, ".") {
		// Either go.mod claims vN and vN/go.mod does not exist, or vN/go.mod
		// exists and claims vN. Not both.
		dir2 := path.Join(r.codeDir, r.pathMajor[1:])
		file2 = path.Join(dir2, "go.mod")
		gomod2, err2 := r.code.readFile(ctx, rev, file2, modmirror.MaxGoMod)
		if err2 != nil && !isNotExist(err2) {
			return "", "", nil, fmt.Errorf("reading %s/%s at revision %s: %w", r.codeRoot, file2, rev, err2)
		}
		mpath2 := modfile.ModulePath(gomod2)
		found2 := err2 == nil && isMajor(mpath2, r.pathMajor)

		if found1 && found2 {
			return "", "", nil, fmt.Errorf("%s/%s and ...%s/go.mod both have ...%s module paths at revision %s", r.pathPrefix, file1, r.pathMajor, r.pathMajor, rev)
		}
		if found2 {
			return rev, dir2, gomod2, nil
		}
		if err2 == nil {
			if mpath2 == "" {
				return "", "", nil, fmt.Errorf("%s/%s is missing module path at revision %s", r.codeRoot, file2, rev)
			}
			return "", "", nil, fmt.Errorf("%s/%s has non-...%s module path %q at revision %s", r.codeRoot, file2, r.pathMajor, mpath2, rev)
		}
	}

	if found1 {
		return rev, r.codeDir, gomod1, nil
	}
	if err1 == nil {
		suffix := ""
		if file2 != "" {
			suffix = fmt.Sprintf(" (and ...%s/go.mod does not exist)", r.pathMajor)
		}
		if mpath1 == "" {
			return "", "", nil, fmt.Errorf("%s is missing module path%s at revision %s", file1, suffix, rev)
		}
		if r.pathMajor != "" {
			return "", "", nil, fmt.Errorf("%s has non-...%s module path %q%s at revision %s", file1, r.pathMajor, mpath1, suffix, rev)
		}
		if _, _, ok := module.SplitPathVersion(mpath1); !ok {
			return "", "", nil, fmt.Errorf("%s has malformed module path %q%s at revision %s", file1, mpath1, suffix, rev)
		}
		return "", "", nil, fmt.Errorf("%s has post-%s module path %q%s at revision %s", file1, semver.Major(version), mpath1, suffix, rev)
	}

	if r.codeDir == "" && (r.pathMajor == "" || strings.HasPrefix(r.pathMajor, ".")) {
		// No go.mod at the root: fine for v0/v1 and gopkg.in.
		return rev, "", nil, nil
	}
	if file2 != "" {
		return "", "", nil, fmt.Errorf("missing %s/go.mod and ...%s/go.mod at revision %s", r.pathPrefix, r.pathMajor, rev)
	}
	return "", "", nil, fmt.Errorf("missing %s/go.mod at revision %s", r.pathPrefix, rev)
}

// isMajor reports whether the versions allowed for mpath are compatible with
// the major version(s) implied by pathMajor.
func isMajor(mpath, pathMajor string) bool {
	if mpath == "" {
		return false
	}
	_, mpathMajor, ok := module.SplitPathVersion(mpath)
	if !ok {
		return false
	}
	if pathMajor == "" {
		switch module.PathMajorPrefix(mpathMajor) {
		case "", "v0", "v1":
			return true
		default:
			return false
		}
	}
	if mpathMajor == "" {
		return false
	}
	return pathMajor[1:] == mpathMajor[1:]
}

// canReplaceMismatchedVersionDueToBug reports whether versions of r could
// replace versions of mpath with otherwise-mismatched major versions, due to
// a historical bug in the go command (golang.org/issue/34254).
func (r *codeRepo) canReplaceMismatchedVersionDueToBug(mpath string) bool {
	return r.pathMajor == "" && strings.HasPrefix(mpath, "gopkg.in/")
}

// retractedVersions returns a function reporting whether a version is
// retracted by the go.mod of the module's latest release.
func (r *codeRepo) retractedVersions(ctx context.Context) (func(string) bool, error) {
	versions, err := r.versions(ctx, "")
	if err != nil {
		return nil, err
	}
	for i, v := range versions {
		if strings.HasSuffix(v, "+incompatible") {
			// +incompatible versions have no go.mod to retract with.
			versions = versions[:i]
			break
		}
	}
	if len(versions) == 0 {
		return func(string) bool { return false }, nil
	}
	var highest string
	for i := len(versions) - 1; i >= 0; i-- {
		if v := versions[i]; semver.Prerelease(v) == "" {
			highest = v
			break
		}
	}
	if highest == "" {
		highest = versions[len(versions)-1]
	}
	data, err := r.goMod(ctx, highest)
	if err != nil {
		return nil, err
	}
	f, err := modfile.ParseLax("go.mod", data, nil)
	if err != nil {
		return nil, err
	}
	retractions := make([]modfile.VersionInterval, 0, len(f.Retract))
	for _, r := range f.Retract {
		retractions = append(retractions, r.VersionInterval)
	}
	return func(v string) bool {
		for _, r := range retractions {
			if semver.Compare(r.Low, v) <= 0 && semver.Compare(v, r.High) <= 0 {
				return true
			}
		}
		return false
	}, nil
}

// goMod returns the go.mod file of a canonical version, or the one the go
// command synthesises for a module without one, as codeRepo.GoMod does.
func (r *codeRepo) goMod(ctx context.Context, version string) ([]byte, error) {
	if version != module.CanonicalVersion(version) {
		return nil, fmt.Errorf("version %s is not canonical", version)
	}
	if module.IsPseudoVersion(version) {
		// findDir looks only at the revision: check the rest first.
		if _, err := r.stat(ctx, version); err != nil {
			return nil, err
		}
	}
	rev, dir, gomod, err := r.findDir(ctx, version)
	if err != nil {
		return nil, err
	}
	if gomod != nil {
		return gomod, nil
	}
	data, err := r.code.readFile(ctx, rev, path.Join(dir, "go.mod"), modmirror.MaxGoMod)
	if err != nil {
		if isNotExist(err) {
			return legacyGoMod(r.modPath), nil
		}
		return nil, err
	}
	return data, nil
}

// legacyGoMod is the go.mod file the go command synthesises for a module
// version without one: a module directive and nothing else.
func legacyGoMod(modPath string) []byte {
	return fmt.Appendf(nil, "module %s\n", modfile.AutoQuote(modPath))
}

// hasPathPrefix reports whether the path s begins with the elements in
// prefix.
func hasPathPrefix(s, prefix string) bool {
	switch {
	default:
		return false
	case len(s) == len(prefix):
		return s == prefix
	case len(s) > len(prefix):
		if prefix != "" && prefix[len(prefix)-1] == '/' {
			return strings.HasPrefix(s, prefix)
		}
		return s[len(prefix)] == '/' && s[:len(prefix)] == prefix
	}
}
