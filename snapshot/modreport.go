package snapshot

import (
	"archive/zip"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"

	"github.com/google/licensecheck"
	"golang.org/x/mod/module"

	"github.com/modmirror/modmirror"
	"github.com/modmirror/modmirror/nar"
)

// A ModuleReport describes one module version of a snapshot, for packagers
// who ship one module per package.
type ModuleReport struct {
	Path, Version string

	// NAR is the Nix NAR hash of the module's files as the go command
	// extracts them into its module cache: the tree <path>@<version>/ of
	// the module zip, no file executable (what "nix hash path" prints for
	// that directory).
	NAR string

	// Licenses are the licenses of the license files at the module's
	// root (LICENSE, LICENCE, COPYING, UNLICENSE, with any extension), as
	// github.com/google/licensecheck identifies them: a license file it
	// cannot identify (less than 75% of its words covered by known
	// licenses) is "unknown". No license file: none.
	Licenses []string
}

// licenseCoverage is the share of a license file's words, in percent,
// that known licenses must cover for it to count as identified: the
// threshold pkg.go.dev uses with the same library.
const licenseCoverage = 75

// moduleReports describes the chosen versions (and the applications) whose
// zips are in the snapshot out.
func moduleReports(out string, chosen, apps []module.Version) ([]ModuleReport, error) {
	var reports []ModuleReport
	for _, v := range slices.Concat(chosen, apps) {
		key, err := modmirror.VersionKey(v.Path, v.Version, modmirror.ExtZip)
		if err != nil {
			return nil, fmt.Errorf("snapshot: %s: %w", v, err)
		}
		zr, err := zip.OpenReader(filepath.Join(out, filepath.FromSlash(key)))
		if err != nil {
			continue // no zip: a version only whose go.mod a build needs
		}
		r, err := moduleReport(&zr.Reader, v)
		zr.Close()
		if err != nil {
			return nil, err
		}
		reports = append(reports, r)
	}
	return reports, nil
}

func moduleReport(zr *zip.Reader, v module.Version) (ModuleReport, error) {
	r := ModuleReport{Path: v.Path, Version: v.Version}
	root := v.Path + "@" + v.Version
	h, err := nar.HashFS(noExecFS{zr}, root)
	if err != nil {
		return r, fmt.Errorf("snapshot: %s: %w", v, err)
	}
	r.NAR = h
	for _, f := range zr.File {
		name, ok := strings.CutPrefix(f.Name, root+"/")
		if !ok || strings.Contains(name, "/") || !isLicenseFile(name) {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			return r, fmt.Errorf("snapshot: %s: %w", v, err)
		}
		text, err := io.ReadAll(io.LimitReader(rc, 1<<20))
		rc.Close()
		if err != nil {
			return r, fmt.Errorf("snapshot: %s: %w", v, err)
		}
		cov := licensecheck.Scan(text)
		if cov.Percent < licenseCoverage {
			r.Licenses = append(r.Licenses, "unknown")
			continue
		}
		for _, m := range cov.Match {
			r.Licenses = append(r.Licenses, m.ID)
		}
	}
	slices.Sort(r.Licenses)
	r.Licenses = slices.Compact(r.Licenses)
	return r, nil
}

// isLicenseFile reports whether a file at a module's root is a license
// file: LICENSE, LICENCE, COPYING or UNLICENSE, in any case, alone or with
// an extension or a suffix after a dot, dash or underscore (LICENSE.md,
// LICENSE-APACHE).
func isLicenseFile(name string) bool {
	upper := strings.ToUpper(name)
	for _, base := range []string{"LICENSE", "LICENCE", "COPYING", "UNLICENSE"} {
		if rest, ok := strings.CutPrefix(upper, base); ok && (rest == "" || strings.ContainsRune(".-_", rune(rest[0]))) {
			return true
		}
	}
	return false
}

// noExecFS shows a file system's files as not executable, as the go
// command extracts module zips.
type noExecFS struct{ fs.FS }

func (f noExecFS) Stat(name string) (fs.FileInfo, error) {
	fi, err := fs.Stat(f.FS, name)
	if err != nil {
		return nil, err
	}
	return noExecInfo{fi}, nil
}

type noExecInfo struct{ fs.FileInfo }

func (i noExecInfo) Mode() fs.FileMode {
	if i.FileInfo.Mode().IsRegular() {
		return i.FileInfo.Mode() &^ 0o111
	}
	return i.FileInfo.Mode()
}
