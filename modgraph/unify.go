package modgraph

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"golang.org/x/mod/module"
)

// Resolve loads the graph of a main module that requires roots, as the go
// command does when it may update go.mod (-mod=mod): in a pruned graph, a
// requirement below the version selected for its path is raised to that
// version, and the graph loaded again, until every requirement is the
// selected version of its path. The requirements of a version that no
// longer is one then no longer count, as in the go command: a main module
// that requires a v1.0.0 and b, which requires a v1.1.0, builds with a
// v1.1.0 and what it requires, not what a v1.0.0 required. In an unpruned
// graph every version's requirements count, and the roots stand. It
// returns the graph and the requirements it ends with, one per path.
func Resolve(ctx context.Context, reqs Reqs, roots []module.Version, pruned bool, replace Replacer) (*Graph, []module.Version, error) {
	current := highest(roots)
	for range maxRounds {
		g, err := Load(ctx, reqs, current, pruned, replace)
		if err != nil {
			return nil, nil, err
		}
		if !pruned {
			return g, current, nil
		}
		sel := g.Selected()
		raised := false
		for i, r := range current {
			if v := sel[r.Path]; v != r.Version {
				current[i].Version = v
				raised = true
			}
		}
		if !raised {
			return g, current, nil
		}
	}
	return nil, nil, errors.New("modgraph: the requirements did not settle")
}

// highest returns one version per path of list, the highest, sorted.
func highest(list []module.Version) []module.Version {
	top := make(map[string]string)
	for _, m := range list {
		if v, ok := top[m.Path]; !ok || compareVersions(m.Version, v) > 0 {
			top[m.Path] = m.Version
		}
	}
	return fromMap(top)
}

func fromMap(sel map[string]string) []module.Version {
	list := make([]module.Version, 0, len(sel))
	for p, v := range sel {
		list = append(list, module.Version{Path: p, Version: v})
	}
	return sortVersions(list)
}

// A Project is a main module to unify with others.
type Project struct {
	Path   string           // its module path, which is never chosen a version of
	Roots  []module.Version // its requirements (replacements applied by the Replacer, not here)
	Pruned bool             // its go directive is 1.17 or newer

	// Replace gives its own replacements, for its graph alone; nil means
	// Unify's.
	Replace Replacer
}

// A Unified is one version of each module path for several main modules
// together.
type Unified struct {
	// Versions is the version chosen for each module path: what the go
	// command selects for a main module that requires every requirement
	// of every project (and Extra), pins applied.
	Versions map[string]string

	// Extra are requirements added to the projects' for the choice to
	// hold in each project alone (see Unify); usually none.
	Extra []module.Version

	// Projects are, in the order given, each project's graph once it
	// requires what Requirements says.
	Projects []UnifiedProject

	// Rounds is how many times the projects' requirements together were
	// resolved.
	Rounds int
}

// A UnifiedProject is a project under the chosen versions.
type UnifiedProject struct {
	// Requirements are what the project must require, one version per
	// path, for the go command to select the chosen version of every
	// path in its graph: its own requirements at the chosen versions,
	// and any path its graph has below the chosen version, raised.
	Requirements []module.Version

	// Graph is the project's module graph with those requirements.
	Graph *Graph
}

// maxRounds bounds the loops of Resolve and Unify: each round raises at
// least one version or adds a requirement, and real graphs need a few.
const maxRounds = 100

// Unify chooses one version of each module path for the projects
// together, and the requirements under which each project's own build
// selects exactly those versions.
//
// The choice is what the go command selects for a main module that
// requires everything every project requires ([Resolve]), pruned unless a
// project's graph is not. A project alone, requiring its own requirements
// at the chosen versions, may still select a lower version of a path than
// the one chosen (the higher one comes from another project): that path
// is added to its requirements at the chosen version, until none is
// lower. If a requirement so added makes the project select a version
// higher than chosen, or a path that was not chosen (its go.mod file, a
// leaf of the pruned graph before, is read now), the project's
// requirements join the others' as Extra and everything is resolved
// again.
//
// Pins (path to version) win over selection: every version of a pinned
// path has the pinned version's content, as a replace directive without a
// version on its left gives, and the pinned version is chosen. A project's
// own path is chosen only if it is pinned (an application that others
// need as a library). replace gives the other replacements, or is nil.
func Unify(ctx context.Context, reqs Reqs, projects []Project, pins map[string]string, replace Replacer) (*Unified, error) {
	for p, v := range pins {
		if err := module.Check(p, v); err != nil {
			return nil, fmt.Errorf("modgraph: pin %s@%s: %w", p, v, err)
		}
	}
	repl := Pinned(pins, replace)
	pruned := true
	mains := make(map[string]bool)
	var union []module.Version
	for _, p := range projects {
		pruned = pruned && p.Pruned
		mains[p.Path] = true
		union = append(union, p.Roots...)
	}
	extra := make(map[module.Version]bool)
	for round := 1; round <= maxRounds; round++ {
		roots := slices.Clone(union)
		for m := range extra {
			roots = append(roots, m)
		}
		g, _, err := Resolve(ctx, reqs, roots, pruned, repl)
		if err != nil {
			return nil, err
		}
		chosen := g.Selected()
		for p := range mains {
			if _, pinned := pins[p]; !pinned {
				delete(chosen, p)
			}
		}
		for p, v := range pins {
			if _, ok := chosen[p]; ok {
				chosen[p] = v
			}
		}
		u := &Unified{Versions: chosen, Rounds: round}
		again := false
		for _, p := range projects {
			prepl := repl
			if p.Replace != nil {
				prepl = Pinned(pins, p.Replace)
			}
			up, escaped, err := alone(ctx, reqs, p, chosen, pins, mains, prepl)
			if err != nil {
				return nil, err
			}
			if escaped {
				for _, r := range up.Requirements {
					if !extra[r] {
						extra[r] = true
						again = true
					}
				}
			}
			u.Projects = append(u.Projects, up)
		}
		if !again {
			u.Extra = sortVersions(slices.Collect(maps.Keys(extra)))
			return u, nil
		}
	}
	return nil, errors.New("modgraph: the choice did not settle")
}

// Pinned returns a Replacer that gives every version of a pinned path
// (pins: path to version) the pinned version's content, and asks replace
// (if not nil) about the others.
func Pinned(pins map[string]string, replace Replacer) Replacer {
	return func(m module.Version) (module.Version, bool) {
		if v, ok := pins[m.Path]; ok {
			return module.Version{Path: m.Path, Version: v}, true
		}
		if replace != nil {
			return replace(m)
		}
		return module.Version{}, false
	}
}

// alone works out a project's requirements under the chosen versions, and
// reports whether its graph then escapes the choice: a version above the
// chosen one, or a path not chosen.
func alone(ctx context.Context, reqs Reqs, p Project, chosen, pins map[string]string, mains map[string]bool, repl Replacer) (UnifiedProject, bool, error) {
	want := make(map[string]string)
	for _, r := range p.Roots {
		if v, ok := chosen[r.Path]; ok {
			want[r.Path] = v
		} else {
			want[r.Path] = r.Version // a main module's path, required at a version
		}
	}
	for range maxRounds {
		roots := fromMap(want)
		g, err := Load(ctx, reqs, roots, p.Pruned, repl)
		if err != nil {
			return UnifiedProject{}, false, err
		}
		raised, escaped := false, false
		for path, v := range g.Selected() {
			if path == p.Path {
				continue
			}
			if _, pinned := pins[path]; pinned {
				continue // every version has the pinned content
			}
			c, ok := chosen[path]
			switch {
			case mains[path]:
				// Another project's module, which this one requires at
				// a version: not part of the choice.
			case !ok || compareVersions(v, c) > 0:
				escaped = true
			case compareVersions(v, c) < 0:
				want[path] = c
				raised = true
			}
		}
		if escaped || !raised {
			return UnifiedProject{Requirements: roots, Graph: g}, escaped, nil
		}
	}
	return UnifiedProject{}, false, fmt.Errorf("modgraph: the requirements of %s did not settle", p.Path)
}
