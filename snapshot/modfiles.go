package snapshot

import (
	"fmt"
	"maps"
	"slices"

	"golang.org/x/mod/modfile"

	"github.com/modmirror/modmirror/modgraph"
)

// altModFile returns the alternate module file of a main module under the
// chosen versions: its own go.mod file, with the requirements Unify worked
// out for it (those it required directly stay direct, the others are
// marked indirect) in place of its own, its workspace's replacements
// added (a workspace module builds alone, reaching the others by
// directory), the other main modules' replacements by modules (global)
// of paths in its graph, and a replacement by the pinned version for each
// pinned path in its graph, which a requirement alone could not lower.
// Everything else (go, toolchain, godebug, tool lines, retractions,
// comments) is kept.
func altModFile(m *mainModule, up modgraph.UnifiedProject, global []*modfile.Replace, pins map[string]string) ([]byte, error) {
	f, err := modfile.Parse(m.name+".mod", m.data, nil)
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	direct := make(map[string]bool)
	for _, r := range f.Require {
		if !r.Indirect {
			direct[r.Mod.Path] = true
		}
	}
	var reqs []*modfile.Require
	for _, r := range up.Requirements {
		if r.Path != m.path() {
			reqs = append(reqs, &modfile.Require{Mod: r, Indirect: !direct[r.Path]})
		}
	}
	f.SetRequireSeparateIndirect(reqs)
	for _, r := range m.added {
		if err := f.AddReplace(r.Old.Path, r.Old.Version, r.New.Path, r.New.Version); err != nil {
			return nil, fmt.Errorf("snapshot: %s: %w", m.name, err)
		}
	}
	selected := up.Graph.Selected()
	for _, r := range global {
		if _, ok := selected[r.Old.Path]; ok && findReplace(m.replace, r.Old.Path, r.Old.Version) == nil {
			if err := f.AddReplace(r.Old.Path, r.Old.Version, r.New.Path, r.New.Version); err != nil {
				return nil, fmt.Errorf("snapshot: %s: %w", m.name, err)
			}
		}
	}
	for _, p := range slices.Sorted(maps.Keys(pins)) {
		if _, ok := selected[p]; ok {
			if err := f.AddReplace(p, "", p, pins[p]); err != nil {
				return nil, fmt.Errorf("snapshot: %s: %w", m.name, err)
			}
		}
	}
	f.Cleanup()
	return modfile.Format(f.Syntax), nil
}
