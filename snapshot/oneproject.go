package snapshot

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"

	"github.com/modmirror/modmirror/modgraph"
)

// A mainModule is one main module of OneVersion: a project directory's
// module, one module of a workspace, or an application named by its
// module path and version.
type mainModule struct {
	name string         // the base name of its files in ModFilesDir
	dir  string         // its root directory, absolute; "" for an application
	app  module.Version // the application, if it is one
	data []byte         // its go.mod file, as read
	file *modfile.File  // parsed
	sums *sumSet        // its go.sum lines (and go.work.sum's): hashes for what no database has

	// replace are its replacements, those of its workspace first (they
	// win), then its own, then, for a workspace module, one to the
	// directory of every other module of the workspace. Directory paths
	// are as written: relative to dir unless absolute.
	replace []*modfile.Replace

	// added are the replacements that are not in its own go.mod file:
	// its workspace's, and those by the other modules' directories.
	added []*modfile.Replace
}

// path returns the main module's module path.
func (m *mainModule) path() string { return m.file.Module.Mod.Path }

// pruned reports whether the main module's graph is pruned.
func (m *mainModule) pruned() bool {
	return m.file.Go != nil && modgraph.Pruned(m.file.Go.Version)
}

// roots returns the main module's requirements.
func (m *mainModule) roots() []module.Version {
	var roots []module.Version
	for _, r := range m.file.Require {
		roots = append(roots, r.Mod)
	}
	return roots
}

// replacer returns the replacements of the main module, its own first,
// then those of other main modules that replace a module by another (but
// not by a directory: global), as a modgraph.Replacer: a directory as an
// absolute path with no version.
func (m *mainModule) replacer(global []*modfile.Replace) modgraph.Replacer {
	return func(v module.Version) (module.Version, bool) {
		r := findReplace(m.replace, v.Path, v.Version)
		if r == nil {
			r = findReplace(global, v.Path, v.Version)
		}
		if r == nil {
			return module.Version{}, false
		}
		if r.New.Version == "" {
			return module.Version{Path: m.localDir(r.New.Path)}, true
		}
		return r.New, true
	}
}

// localDir returns the absolute directory of a replacement by a path.
func (m *mainModule) localDir(p string) string {
	p = filepath.FromSlash(p)
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(m.dir, p)
}

// loadMainModules reads the main modules of the project directories: the
// module in each, or every module of its workspace (go.work). Names are
// made unique in the order given.
func loadMainModules(dirs []string) ([]*mainModule, error) {
	var mains []*mainModule
	names := make(map[string]int)
	name := func(base string) string {
		base = strings.Map(nameRune, base)
		names[base]++
		if n := names[base]; n > 1 {
			return fmt.Sprintf("%s-%d", base, n)
		}
		return base
	}
	for _, dir := range dirs {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return nil, fmt.Errorf("snapshot: %w", err)
		}
		workFile := filepath.Join(abs, "go.work")
		data, err := os.ReadFile(workFile)
		switch {
		case err == nil:
			ws, err := loadWorkspaceModules(abs, workFile, data)
			if err != nil {
				return nil, err
			}
			for _, m := range ws {
				rel, _ := filepath.Rel(abs, m.dir)
				m.name = name(filepath.Base(abs) + "-" + strings.ReplaceAll(filepath.ToSlash(rel), "/", "-"))
				if rel == "." {
					m.name = name(filepath.Base(abs))
				}
			}
			mains = append(mains, ws...)
		case errors.Is(err, fs.ErrNotExist):
			m, err := loadMainModule(abs)
			if err != nil {
				return nil, err
			}
			m.replace = m.file.Replace
			m.name = name(filepath.Base(abs))
			mains = append(mains, m)
		default:
			return nil, fmt.Errorf("snapshot: %w", err)
		}
	}
	return mains, nil
}

// nameRune keeps the characters of a file name that are safe everywhere.
func nameRune(r rune) rune {
	switch {
	case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9', r == '-', r == '_', r == '.', r == '@', r == '+':
		return r
	}
	return '_'
}

// loadMainModule reads the go.mod and go.sum files in dir.
func loadMainModule(dir string) (*mainModule, error) {
	file := filepath.Join(dir, "go.mod")
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	m, err := parseMainModule(file, data)
	if err != nil {
		return nil, err
	}
	m.dir = dir
	if err := readGoSum(m.sums, filepath.Join(dir, "go.sum")); err != nil {
		return nil, err
	}
	return m, nil
}

// parseMainModule parses the go.mod file of a main module.
func parseMainModule(file string, data []byte) (*mainModule, error) {
	f, err := modfile.Parse(file, data, nil)
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	if f.Module == nil {
		return nil, fmt.Errorf("snapshot: %s: no module directive", file)
	}
	return &mainModule{data: data, file: f, sums: newSumSet()}, nil
}

// loadWorkspaceModules reads the modules of a workspace. Each becomes a main
// module of its own that reaches the others through replacements by their
// directories, with the workspace's replacements first.
func loadWorkspaceModules(dir, workFile string, data []byte) ([]*mainModule, error) {
	wf, err := modfile.ParseWork(workFile, data, nil)
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	var mods []*mainModule
	for _, u := range wf.Use {
		mdir := filepath.FromSlash(u.Path)
		if !filepath.IsAbs(mdir) {
			mdir = filepath.Join(dir, mdir)
		}
		m, err := loadMainModule(filepath.Clean(mdir))
		if err != nil {
			return nil, err
		}
		if err := readGoSum(m.sums, filepath.Join(dir, "go.work.sum")); err != nil {
			return nil, err
		}
		mods = append(mods, m)
	}
	for _, m := range mods {
		for _, r := range wf.Replace {
			r := *r
			if r.New.Version == "" && !filepath.IsAbs(filepath.FromSlash(r.New.Path)) {
				r.New.Path = relativeDir(m.dir, filepath.Join(dir, filepath.FromSlash(r.New.Path)))
			}
			m.added = append(m.added, &r)
		}
		var siblings []*modfile.Replace
		for _, other := range mods {
			if other != m {
				siblings = append(siblings, &modfile.Replace{
					Old: module.Version{Path: other.path()},
					New: module.Version{Path: relativeDir(m.dir, other.dir)},
				})
			}
		}
		m.replace = slices.Concat(m.added, m.file.Replace, siblings)
		m.added = append(m.added, siblings...)
	}
	return mods, nil
}

// relativeDir returns target as a replacement path relative to dir:
// "./x" or "../x", as go.mod files write them.
func relativeDir(dir, target string) string {
	rel, err := filepath.Rel(dir, target)
	if err != nil {
		return filepath.ToSlash(target)
	}
	rel = filepath.ToSlash(rel)
	if !strings.HasPrefix(rel, "../") && rel != ".." {
		rel = "./" + rel
	}
	return rel
}
