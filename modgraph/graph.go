// Package modgraph loads module requirement graphs and selects versions in
// them, as the Go Modules Reference defines minimal version selection
// (https://go.dev/ref/mod#minimal-version-selection) and module graph
// pruning (https://go.dev/ref/mod#graph-pruning). It does no I/O of its
// own: a [Reqs] brings the go.mod files.
//
// # The graph
//
// The nodes are module versions; a node's edges are the requirements in
// its go.mod file. A main module's requirements are the roots. Which
// go.mod files are read depends on pruning:
//
//   - A main module whose go directive is older than 1.17 has an unpruned
//     graph: the go.mod file of every node reachable from the roots is read,
//     transitively.
//   - Otherwise the graph is pruned. The go.mod file of each root is read,
//     and its requirements become nodes. If the root's own go directive is
//     1.17 or newer, that is all: the requirements of its requirements are
//     pruned out. If it is older (or it has no go directive), everything
//     reachable from it is read, transitively, whatever the go directives
//     further down say, since such a go.mod file does not list all that its
//     packages need.
//
// # Selection
//
// The version selected for a module path is the highest version of it
// among all nodes, whether or not their go.mod files were read, or none if
// no node has the path.
//
// # Replacements
//
// A [Replacer] gives the content of a node whose content comes from
// elsewhere (a replace directive, or a pin): the node keeps its identity
// (path and version, for selection) and its requirements are those of the
// replacement.
package modgraph

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"
	"golang.org/x/sync/errgroup"
)

// A ModFile is what the graph needs of a go.mod file.
type ModFile struct {
	Go      string           // the go directive's version, such as "1.21"; "" if there is none
	Require []module.Version // the requirements, as written
}

// Pruned reports whether a go.mod file whose go directive says goVersion
// has its requirements pruned: go 1.17 or newer.
func Pruned(goVersion string) bool {
	return goVersion != "" && semver.Compare("v"+goVersion, "v1.17") >= 0
}

// A Reqs reads go.mod files. Its methods must be safe for concurrent use;
// GoMod may be called more than once for one module version.
type Reqs interface {
	// GoMod returns the go.mod file of m. An m with an empty Version is a
	// directory (a replacement by a file path) whose go.mod is meant.
	GoMod(ctx context.Context, m module.Version) (*ModFile, error)
}

// A Replacer returns the module version (or directory, with an empty
// Version) whose content a node has, and whether it is replaced at all.
type Replacer func(m module.Version) (module.Version, bool)

// A Graph is a loaded module graph.
type Graph struct {
	nodes map[module.Version]bool             // every node; true if its go.mod was read
	edges map[module.Version][]module.Version // the requirements of the nodes read
	goVer map[module.Version]string           // the go directives of the nodes read
}

// Jobs is how many go.mod files Load reads at once.
const Jobs = 16

// Load loads the graph of a main module with the requirements roots,
// pruned if pruned is set (the main module says go 1.17 or newer), reading
// go.mod files through reqs, with the contents that replace gives (nil for
// none).
func Load(ctx context.Context, reqs Reqs, roots []module.Version, pruned bool, replace Replacer) (*Graph, error) {
	g := &Graph{
		nodes: make(map[module.Version]bool),
		edges: make(map[module.Version][]module.Version),
		goVer: make(map[module.Version]string),
	}
	// A node is read in one of two ways: "one level" (a root of a pruned
	// graph: its requirements become nodes, not read), or "transitively"
	// (its requirements are read transitively too). A node read one level
	// may later be reached transitively too.
	deep := make(map[module.Version]bool) // nodes whose requirements are read transitively
	var frontier []task
	for _, r := range roots {
		g.nodes[r] = g.nodes[r] || false
		frontier = append(frontier, task{m: r, deep: !pruned})
	}
	for len(frontier) > 0 {
		// Read every go.mod file of this round at once.
		var todo []task
		seen := make(map[task]bool)
		for _, t := range frontier {
			if seen[t] || (!t.deep && g.nodes[t.m]) || (t.deep && deep[t.m]) {
				continue
			}
			seen[t] = true
			todo = append(todo, t)
		}
		files := make([]*ModFile, len(todo))
		eg, ectx := errgroup.WithContext(ctx)
		eg.SetLimit(Jobs)
		for i, t := range todo {
			if g.nodes[t.m] {
				continue // read already, now reached transitively
			}
			eg.Go(func() error {
				content := t.m
				if replace != nil {
					if c, ok := replace(t.m); ok {
						content = c
					}
				}
				f, err := reqs.GoMod(ectx, content)
				if err != nil {
					return fmt.Errorf("modgraph: reading the go.mod file of %s: %w", describe(t.m, content), err)
				}
				files[i] = f
				return nil
			})
		}
		if err := eg.Wait(); err != nil {
			return nil, err
		}
		frontier = frontier[:0]
		for i, t := range todo {
			if f := files[i]; f != nil {
				g.nodes[t.m] = true
				g.edges[t.m] = slices.Clone(f.Require)
				g.goVer[t.m] = f.Go
			}
			for _, r := range g.edges[t.m] {
				if _, ok := g.nodes[r]; !ok {
					g.nodes[r] = false
				}
			}
			// The requirements of a node read transitively, or of one
			// whose own go.mod is older than pruning, are read
			// transitively.
			if t.deep || !Pruned(g.goVer[t.m]) {
				deep[t.m] = true
				for _, r := range g.edges[t.m] {
					frontier = append(frontier, task{m: r, deep: true})
				}
			}
		}
	}
	return g, nil
}

type task struct {
	m    module.Version
	deep bool
}

func describe(m, content module.Version) string {
	switch {
	case m == content:
		return m.String()
	case content.Version == "":
		return m.String() + " (replaced by directory " + content.Path + ")"
	}
	return m.String() + " (replaced by " + content.String() + ")"
}

// Nodes returns every node of the graph, sorted by path and version.
func (g *Graph) Nodes() []module.Version {
	return sortVersions(slices.Collect(maps.Keys(g.nodes)))
}

// Read reports whether the go.mod file of node m was read.
func (g *Graph) Read(m module.Version) bool { return g.nodes[m] }

// Requirements returns the requirements of node m, if its go.mod file was
// read.
func (g *Graph) Requirements(m module.Version) []module.Version { return g.edges[m] }

// GoVersion returns the go directive of node m, if its go.mod file was
// read.
func (g *Graph) GoVersion(m module.Version) string { return g.goVer[m] }

// Selected returns the version selected for each module path: the highest
// among the nodes.
func (g *Graph) Selected() map[string]string {
	sel := make(map[string]string)
	for m := range g.nodes {
		if v, ok := sel[m.Path]; !ok || compareVersions(m.Version, v) > 0 {
			sel[m.Path] = m.Version
		}
	}
	return sel
}

// BuildList returns the selected versions, sorted by path.
func (g *Graph) BuildList() []module.Version {
	var list []module.Version
	for p, v := range g.Selected() {
		list = append(list, module.Version{Path: p, Version: v})
	}
	return sortVersions(list)
}

// compareVersions orders versions by semantic version precedence, and
// versions of equal precedence (v1.0.0 and v1.0.0+incompatible) as
// strings, so that the order is total.
func compareVersions(a, b string) int {
	return cmp.Or(semver.Compare(a, b), cmp.Compare(a, b))
}

func sortVersions(list []module.Version) []module.Version {
	slices.SortFunc(list, func(a, b module.Version) int {
		return cmp.Or(cmp.Compare(a.Path, b.Path), compareVersions(a.Version, b.Version))
	})
	return list
}

// A Cache is a Reqs that reads each go.mod file once through another.
type Cache struct {
	reqs Reqs
	mu   sync.Mutex
	memo map[module.Version]*cacheEntry
}

type cacheEntry struct {
	done chan struct{}
	f    *ModFile
	err  error
}

// NewCache returns a Cache in front of reqs.
func NewCache(reqs Reqs) *Cache {
	return &Cache{reqs: reqs, memo: make(map[module.Version]*cacheEntry)}
}

// GoMod implements Reqs. A failed read is not remembered.
func (c *Cache) GoMod(ctx context.Context, m module.Version) (*ModFile, error) {
	c.mu.Lock()
	e, ok := c.memo[m]
	if !ok {
		e = &cacheEntry{done: make(chan struct{})}
		c.memo[m] = e
	}
	c.mu.Unlock()
	if ok {
		select {
		case <-e.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if e.err == nil {
			return e.f, nil
		}
		return c.reqs.GoMod(ctx, m)
	}
	e.f, e.err = c.reqs.GoMod(ctx, m)
	if e.err != nil {
		c.mu.Lock()
		delete(c.memo, m)
		c.mu.Unlock()
	}
	close(e.done)
	return e.f, e.err
}

// ParseModFile parses the go.mod file of a dependency, as the go command
// reads one: laxly, ignoring directives that only a main module's go.mod
// file may use (replace, exclude) and any it does not know.
func ParseModFile(file string, data []byte) (*ModFile, error) {
	f, err := modfile.ParseLax(file, data, nil)
	if err != nil {
		return nil, fmt.Errorf("modgraph: %w", err)
	}
	mf := &ModFile{}
	if f.Go != nil {
		mf.Go = f.Go.Version
	}
	for _, r := range f.Require {
		mf.Require = append(mf.Require, r.Mod)
	}
	return mf, nil
}
