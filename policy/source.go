package policy

import (
	"context"
	"encoding/json"
	"io"

	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"

	"github.com/modmirror/modmirror"
	"github.com/modmirror/modmirror/proxy"
)

var _ proxy.Source = (*Filter)(nil)

// A Filter is a proxy.Source that serves what its source does, less what the
// policy blocks: blocked versions are left out of lists, never chosen as
// @latest, and refused (with an error matching modmirror.ErrBlocked) as
// .info and .zip. Their go.mod files are served. A blocked version's .zip
// is refused before the source is asked, so it is not even filled.
type Filter struct {
	Source  proxy.Source
	Checker *Checker

	// Matched, if not nil, is told of every block and report-mode match
	// on a request for one version's .info or .zip (lists and @latest are
	// filtered silently): to log, count and show them.
	Matched func(ctx context.Context, path, version, file string, m Match, blocked bool)
}

// List implements proxy.Source.
func (f *Filter) List(ctx context.Context, path string) ([]string, error) {
	versions, err := f.Source.List(ctx, path)
	if err != nil || f.Checker.Policy().Empty() {
		return versions, err
	}
	verdicts, err := f.Checker.CheckList(ctx, path, versions)
	if err != nil {
		return nil, err
	}
	out := versions[:0:0]
	for i, v := range versions {
		if verdicts[i].Blocked == nil {
			out = append(out, v)
		}
	}
	return out, nil
}

// Latest implements proxy.Source: the source's latest version if it is allowed,
// else the newest allowed version of the list, as the go command would
// choose it (the highest release, else the highest pre-release).
func (f *Filter) Latest(ctx context.Context, path string) ([]byte, error) {
	data, err := f.Source.Latest(ctx, path)
	if err != nil || f.Checker.Policy().Empty() {
		return data, err
	}
	v, ok := infoVersion(path, data)
	if !ok {
		return data, nil // the source checked it; nothing to evaluate
	}
	verdict, err := f.Checker.Check(ctx, path, v)
	if err != nil {
		return nil, err
	}
	if verdict.Blocked == nil {
		return data, nil
	}
	list, lerr := f.List(ctx, path)
	if best := latestOf(list); lerr == nil && best != "" {
		file, err := f.Source.Info(ctx, path, best)
		if err != nil {
			return nil, err
		}
		defer file.Close()
		return io.ReadAll(io.LimitReader(file, modmirror.MaxInfoFile))
	}
	return nil, verdict.Err(path, v)
}

// latestOf returns the version the go command takes as @latest from a
// list: the highest release, else the highest pre-release.
func latestOf(list []string) string {
	best := ""
	for _, v := range list {
		rel := semver.Prerelease(v) == ""
		if best == "" || rel && semver.Prerelease(best) != "" || rel == (semver.Prerelease(best) == "") && semver.Compare(v, best) > 0 {
			best = v
		}
	}
	return best
}

// Info implements proxy.Source. A canonical version is checked before the
// source is asked; a query, once the source has resolved it.
func (f *Filter) Info(ctx context.Context, path, query string) (modmirror.File, error) {
	if f.Checker.Policy().Empty() {
		return f.Source.Info(ctx, path, query)
	}
	if v, ok := f.Checker.kept(path, query); ok {
		// The hit path: a version evaluated before, so a canonical one.
		if err := f.tell(ctx, path, query, "info", v); err != nil {
			return nil, err
		}
		return f.Source.Info(ctx, path, query)
	}
	canonical := isVersionOf(path, query)
	if canonical {
		if err := f.check(ctx, path, query, "info"); err != nil {
			return nil, err
		}
	}
	file, err := f.Source.Info(ctx, path, query)
	if err != nil || canonical {
		return file, err
	}
	data, err := io.ReadAll(io.LimitReader(file, modmirror.MaxInfoFile))
	if err == nil {
		_, err = file.Seek(0, io.SeekStart)
	}
	if err != nil {
		file.Close()
		return nil, err
	}
	if v, ok := infoVersion(path, data); ok {
		if err := f.check(ctx, path, v, "info"); err != nil {
			file.Close()
			return nil, err
		}
	}
	return file, nil
}

// Mod implements proxy.Source: go.mod files are served whatever the policy says
// (see the package documentation).
func (f *Filter) Mod(ctx context.Context, path, version string) (modmirror.File, error) {
	return f.Source.Mod(ctx, path, version)
}

// Zip implements proxy.Source.
func (f *Filter) Zip(ctx context.Context, path, version string) (modmirror.File, error) {
	if !f.Checker.Policy().Empty() {
		if err := f.check(ctx, path, version, "zip"); err != nil {
			return nil, err
		}
	}
	return f.Source.Zip(ctx, path, version)
}

// isVersionOf reports whether query is a canonical version that path can
// have (v4.1.2 is not one of a v1 path: the mirror resolves it, like any
// query, to v4.1.2+incompatible). It is module.Check for a path already
// checked, which the hit path cannot afford to check again.
func isVersionOf(path, query string) bool {
	if module.CanonicalVersion(query) != query {
		return false
	}
	_, major, ok := module.SplitPathVersion(path)
	return ok && module.CheckPathMajor(query, major) == nil
}

// check evaluates the policy for one version asked for, telling Matched.
func (f *Filter) check(ctx context.Context, path, version, file string) error {
	verdict, err := f.Checker.Check(ctx, path, version)
	if err != nil {
		return err
	}
	return f.tell(ctx, path, version, file, verdict)
}

// tell tells Matched of a verdict's matches, and returns its error.
func (f *Filter) tell(ctx context.Context, path, version, file string, verdict Verdict) error {
	if f.Matched != nil {
		for _, m := range verdict.Reports {
			f.Matched(ctx, path, version, file, m, false)
		}
		if verdict.Blocked != nil {
			f.Matched(ctx, path, version, file, *verdict.Blocked, true)
		}
	}
	return verdict.Err(path, version)
}

// infoVersion returns the version an .info file names, if it is a
// canonical version of path.
func infoVersion(path string, data []byte) (string, bool) {
	var info struct{ Version string }
	if json.Unmarshal(data, &info) != nil || module.Check(path, info.Version) != nil || module.CanonicalVersion(info.Version) != info.Version {
		return "", false
	}
	return info.Version, true
}
