package snapshot

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/modmirror/modmirror/gosum"
	"golang.org/x/mod/modfile"
	"golang.org/x/mod/semver"
)

// A sumKey names one go.sum line: the zip of a module version, or its
// go.mod file when GoMod is set.
type sumKey struct {
	Path, Version string
	GoMod         bool
}

// String returns the first two fields of the go.sum line.
func (k sumKey) String() string {
	if k.GoMod {
		return k.Path + " " + k.Version + "/go.mod"
	}
	return k.Path + " " + k.Version
}

// A sumSet is a set of go.sum lines with where each came from.
type sumSet struct {
	hash map[sumKey]string // "h1:..."
	file map[sumKey]string // the file that had the line, for errors
}

func newSumSet() *sumSet {
	return &sumSet{hash: make(map[sumKey]string), file: make(map[sumKey]string)}
}

// add adds a line, failing if the set has the same line with another hash.
func (s *sumSet) add(k sumKey, hash, file string) error {
	if old, ok := s.hash[k]; ok {
		if old != hash {
			return fmt.Errorf("snapshot: conflicting go.sum lines for %s: %s in %s, %s in %s", k, old, s.file[k], hash, file)
		}
		return nil
	}
	s.hash[k] = hash
	s.file[k] = file
	return nil
}

// addAll adds every line of t.
func (s *sumSet) addAll(t *sumSet) error {
	for _, k := range sortedKeys(t.hash) {
		if err := s.add(k, t.hash[k], t.file[k]); err != nil {
			return err
		}
	}
	return nil
}

// has reports whether the set has a line, zip or go.mod, for path@version.
func (s *sumSet) has(path, version string) bool {
	_, zip := s.hash[sumKey{Path: path, Version: version}]
	_, mod := s.hash[sumKey{Path: path, Version: version, GoMod: true}]
	return zip || mod
}

// format returns the set as a go.sum file: a line per key, sorted.
func (s *sumSet) format() []byte {
	var b strings.Builder
	for _, k := range sortedKeys(s.hash) {
		b.WriteString(k.String() + " " + s.hash[k] + "\n")
	}
	return []byte(b.String())
}

// sortedKeys returns the keys of m sorted by path, version, zip first.
func sortedKeys[V any](m map[sumKey]V) []sumKey {
	keys := make([]sumKey, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, compareKeys)
	return keys
}

func compareKeys(a, b sumKey) int {
	if c := strings.Compare(a.Path, b.Path); c != 0 {
		return c
	}
	if c := compareVersions(a.Version, b.Version); c != 0 {
		return c
	}
	switch {
	case a.GoMod == b.GoMod:
		return 0
	case !a.GoMod:
		return -1
	default:
		return 1
	}
}

// compareVersions orders canonical versions by semver precedence, and
// versions of equal precedence (v2.0.0 and v2.0.0+incompatible) as strings.
func compareVersions(a, b string) int {
	if c := semver.Compare(a, b); c != 0 {
		return c
	}
	return strings.Compare(a, b)
}

// readGoSum reads a go.sum (or go.work.sum) file into s. A missing file
// adds nothing. Lines with hashes other than h1: are ignored, as the go
// command ignores hash algorithms it does not know.
func readGoSum(s *sumSet, file string) error {
	data, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	return parseGoSum(s, file, data)
}

// parseGoSum parses the content of a go.sum file named file into s. A
// malformed line is an error; lines with hashes other than h1: are
// ignored, as the go command ignores hash algorithms it does not know.
func parseGoSum(s *sumSet, file string, data []byte) error {
	for _, l := range gosum.Parse(file, data) {
		if l.Err != nil {
			return fmt.Errorf("snapshot: %s: malformed go.sum line: %w", l.Pos(), l.Err)
		}
		if l.Alg() != "h1" {
			continue
		}
		if err := s.add(sumKey{Path: l.Path, Version: l.Version, GoMod: l.GoMod}, l.Hash, l.Pos()); err != nil {
			return err
		}
	}
	return nil
}

// A project is what one project directory asks for: the go.sum lines of
// its module, or of every module of its workspace.
type project struct {
	dir       string // as given
	sums      *sumSet
	toolchain string // what go.mod or go.work switches to, "go1.21.13"; "" for none

	toolchainErr error // why toolchain could not be worked out
}

// A need is a module version that a go.mod or go.work file requires, so that
// go.sum must have a line for it.
type need struct {
	path, version string
	file          string // the go.mod (or go.work) file that requires it
}

// loadProject reads the go.mod and go.sum files of the project in dir, or
// of every module of its workspace if dir has a go.work file, and checks
// that go.sum has a line for every requirement.
func loadProject(dir string) (*project, error) {
	p := &project{dir: dir, sums: newSumSet()}
	workFile := filepath.Join(dir, "go.work")
	var needs []need
	data, err := os.ReadFile(workFile)
	switch {
	case err == nil:
		needs, err = p.loadWorkspace(workFile, data)
	case errors.Is(err, fs.ErrNotExist):
		needs, err = p.loadModule(dir)
	default:
		err = fmt.Errorf("snapshot: %w", err)
	}
	if err != nil {
		return nil, err
	}

	var missing []string
	for _, n := range needs {
		if !p.sums.has(n.path, n.version) {
			missing = append(missing, fmt.Sprintf("%s@%s (required by %s)", n.path, n.version, n.file))
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		missing = slices.Compact(missing)
		return nil, fmt.Errorf("snapshot: go.sum has no line for %s; run `go mod tidy` in %s (for a workspace, in each of its modules)",
			strings.Join(missing, ", "), dir)
	}
	return p, nil
}

// loadModule reads the go.mod and go.sum files of the module in dir.
func (p *project) loadModule(dir string) ([]need, error) {
	m, err := readModule(dir)
	if err != nil {
		return nil, err
	}
	if err := readGoSum(p.sums, filepath.Join(dir, "go.sum")); err != nil {
		return nil, err
	}
	p.setToolchain(m.file, m.f.Go, m.f.Toolchain)
	return m.needs(nil, nil), nil
}

// setToolchain sets p.toolchain from the go and toolchain lines of file, or
// p.toolchainErr, which matters only if toolchains are asked for.
func (p *project) setToolchain(file string, goLine *modfile.Go, toolchainLine *modfile.Toolchain) {
	var g, tc string
	if goLine != nil {
		g = goLine.Version
	}
	if toolchainLine != nil {
		tc = toolchainLine.Name
	}
	t, err := goToolchain(g, tc)
	if err != nil {
		p.toolchainErr = fmt.Errorf("snapshot: %s: %w", file, err)
	}
	p.toolchain = t
}

// loadWorkspace reads a go.work file, and the go.mod and go.sum files of
// every module it uses, and its go.work.sum.
func (p *project) loadWorkspace(workFile string, data []byte) ([]need, error) {
	wf, err := modfile.ParseWork(workFile, data, nil)
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	p.setToolchain(workFile, wf.Go, wf.Toolchain)
	dir := filepath.Dir(workFile)
	var mods []*moduleFile
	workspace := make(map[string]bool) // module paths of the workspace
	for _, u := range wf.Use {
		mdir := filepath.FromSlash(u.Path)
		if !filepath.IsAbs(mdir) {
			mdir = filepath.Join(dir, mdir)
		}
		m, err := readModule(mdir)
		if err != nil {
			return nil, err
		}
		mods = append(mods, m)
		workspace[m.f.Module.Mod.Path] = true
		if err := readGoSum(p.sums, filepath.Join(mdir, "go.sum")); err != nil {
			return nil, err
		}
	}
	if err := readGoSum(p.sums, filepath.Join(dir, "go.work.sum")); err != nil {
		return nil, err
	}
	var needs []need
	for _, m := range mods {
		needs = append(needs, m.needs(wf.Replace, workspace)...)
	}
	return needs, nil
}

// moduleFile is a parsed go.mod file.
type moduleFile struct {
	file string
	f    *modfile.File
}

// readModule reads and parses dir/go.mod.
func readModule(dir string) (*moduleFile, error) {
	file := filepath.Join(dir, "go.mod")
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	f, err := modfile.Parse(file, data, nil)
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	if f.Module == nil {
		return nil, fmt.Errorf("snapshot: %s: no module directive", file)
	}
	return &moduleFile{file: file, f: f}, nil
}

// needs returns the module versions that m's requirements resolve to once
// replaced: by workReplace (a go.work file's replacements, which win), then
// by m's own. Requirements replaced by a local directory, and requirements
// of workspace modules, need no go.sum line.
func (m *moduleFile) needs(workReplace []*modfile.Replace, workspace map[string]bool) []need {
	var needs []need
	for _, r := range m.f.Require {
		path, version := r.Mod.Path, r.Mod.Version
		if workspace[path] {
			continue
		}
		file := m.file
		rep := findReplace(workReplace, path, version)
		if rep == nil {
			rep = findReplace(m.f.Replace, path, version)
		}
		if rep != nil {
			if rep.New.Version == "" { // a local directory
				continue
			}
			path, version = rep.New.Path, rep.New.Version
		}
		needs = append(needs, need{path: path, version: version, file: file})
	}
	return needs
}

// findReplace returns the replacement of path@version: one for exactly that
// version, else one for every version of path, else nil.
func findReplace(reps []*modfile.Replace, path, version string) *modfile.Replace {
	var all *modfile.Replace
	for _, r := range reps {
		if r.Old.Path != path {
			continue
		}
		if r.Old.Version == version {
			return r
		}
		if r.Old.Version == "" {
			all = r
		}
	}
	return all
}
