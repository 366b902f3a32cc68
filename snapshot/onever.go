package snapshot

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
	"golang.org/x/sync/errgroup"

	"github.com/modmirror/modmirror/modgraph"
)

// OneVersion configures [RunOneVersion].
type OneVersion struct {
	// Apps are applications named by module path and version, fetched
	// through Options.Upstream, besides the projects of Options.Dirs.
	Apps []module.Version

	// Pins are versions chosen for their module paths whatever selection
	// says (path to version).
	Pins map[string]string

	// Sums gives go.sum lines from a checksum database, authenticated:
	// normally a checksum.Verifier for sum.golang.org, or for a mirror's
	// own database. Required.
	Sums LineSource

	// Private, if not nil, reports the module paths never sent to Sums:
	// their hashes come from the projects' go.sum files only.
	Private func(path string) bool
}

// A OneVersionResult describes what RunOneVersion made.
type OneVersionResult struct {
	*Result

	// Chosen is the version of each module path, sorted by path.
	Chosen []module.Version

	// Extra are requirements added to the projects' for the choice to
	// hold in each project alone (see modgraph.Unify); usually none.
	Extra []module.Version

	// Before is the version skew among the projects' own build lists:
	// the module paths they select at more than one version.
	Before []Skew

	// Pins says what each pin changed.
	Pins []PinEffect

	// Projects are the main modules, in the order of Options.Dirs (a
	// workspace's modules in its go.work's order), then of
	// OneVersion.Apps.
	Projects []ProjectFiles

	// Reports are the chosen versions in the snapshot, with their NAR
	// hashes and licenses (see ModuleReport).
	Reports []ModuleReport
}

// A PinEffect is what a pin changed.
type PinEffect struct {
	Path     string
	Pinned   string // the pinned version
	Selected string // what would have been chosen without pins; "" if nothing requires the path
}

// ProjectFiles is a main module's alternate module and sum files.
type ProjectFiles struct {
	Name string // the base name of its files
	Dir  string // its directory; "" for an application
	App  string // module@version, for an application

	// ModFile and SumFile are the names of its files, slash-separated and
	// relative to the output directory: ModFilesDir/<Name>.mod and .sum.
	ModFile, SumFile string

	// Changed are the module paths of its own build list whose version
	// the choice changed, and those it now has that it had not.
	Changed []VersionChange
}

// A VersionChange is a module path whose version changed for a project.
type VersionChange struct {
	Path string
	From string // "" if the project did not have the path
	To   string
}

// RunOneVersion makes Out a snapshot with one version of each module path
// for all the projects of opts.Dirs and the applications of ov.Apps
// together, and an alternate module file (with its sum file) for each, in
// Out/ModFilesDir, with which the project builds from the snapshot with
// the go command's -modfile flag and every hash check on.
//
// The versions are chosen by modgraph.Unify from the projects' go.mod
// files, read from their directories (a workspace's modules are each a
// project, which reach each other through replacements by directory);
// every go.mod file of a dependency is checked against its hash before
// its requirements count. The hashes come from ov.Sums (the checksum
// database), or, for a version it does not know or a private path, from
// a project's go.sum; never from a download alone. The snapshot holds the
// zips of the chosen versions (and of the applications) and the go.mod
// files of every version whose go.mod file a build list reads, verified
// against those hashes as in Run. Options.Toolchains is not supported
// here.
func RunOneVersion(ctx context.Context, opts Options, ov OneVersion) (*OneVersionResult, error) {
	if opts.Out == "" {
		return nil, errors.New("snapshot: no output directory")
	}
	if ov.Sums == nil {
		return nil, errors.New("snapshot: one version per module needs a checksum database for its hashes")
	}
	if len(opts.Toolchains) > 0 {
		return nil, errors.New("snapshot: toolchains are not supported with one version per module")
	}
	out, err := filepath.Abs(opts.Out)
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	dirs := opts.Dirs
	if len(dirs) == 0 && len(ov.Apps) == 0 {
		dirs = []string{"."}
	}
	if err := checkOutside(out, dirs); err != nil {
		return nil, err
	}
	mains, err := loadMainModules(dirs)
	if err != nil {
		return nil, err
	}
	fallback := newSumSet()
	for _, m := range mains {
		if err := fallback.addAll(m.sums); err != nil {
			return nil, err
		}
	}
	h := &hashes{sumdb: ov.Sums, private: ov.Private, fallback: fallback, memo: make(map[module.Version]*hashEntry)}
	vr := &verifiedReqs{up: opts.Upstream, out: out, hashes: h}
	reqs := modgraph.NewCache(vr)
	for _, app := range ov.Apps {
		m, err := loadApp(ctx, vr, app)
		if err != nil {
			return nil, err
		}
		mains = append(mains, m)
	}
	global, err := globalReplacements(mains)
	if err != nil {
		return nil, err
	}
	// An application is a version of its module: what every project that
	// needs that module as a library gets too.
	userPins := ov.Pins
	pins := maps.Clone(ov.Pins)
	for _, m := range mains {
		if m.app.Path == "" {
			continue
		}
		if v, ok := pins[m.app.Path]; ok && v != m.app.Version {
			return nil, fmt.Errorf("snapshot: --pin %s@%s, but the application %s is another version of it", m.app.Path, v, m.app)
		}
		if pins == nil {
			pins = make(map[string]string)
		}
		pins[m.app.Path] = m.app.Version
	}
	ov.Pins = pins
	union := unionReplacer(mains, global)
	projects := make([]modgraph.Project, len(mains))
	for i, m := range mains {
		projects[i] = modgraph.Project{Path: m.path(), Roots: m.roots(), Pruned: m.pruned(), Replace: m.replacer(global)}
	}
	u, err := modgraph.Unify(ctx, reqs, projects, ov.Pins, union)
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	if err := checkLocalReplacements(mains, u); err != nil {
		return nil, err
	}
	if err := checkExclusions(mains, u); err != nil {
		return nil, err
	}

	all := newSumSet()
	extra := make(map[string][]byte)
	var skewProjects []*project
	res := &OneVersionResult{Extra: u.Extra}
	for _, p := range slices.Sorted(maps.Keys(u.Versions)) {
		res.Chosen = append(res.Chosen, module.Version{Path: p, Version: u.Versions[p]})
	}
	for i, m := range mains {
		repl := modgraph.Pinned(ov.Pins, m.replacer(global))
		sums, err := projectSums(ctx, h, m, u.Projects[i].Graph, repl)
		if err != nil {
			return nil, err
		}
		if m.app.Path != "" {
			// The application itself: its source, for building it.
			if err := addVersionSums(ctx, h, sums, m.app, true); err != nil {
				return nil, err
			}
		}
		if err := all.addAll(sums); err != nil {
			return nil, err
		}
		modData, err := altModFile(m, u.Projects[i], global, ov.Pins)
		if err != nil {
			return nil, err
		}
		pf := ProjectFiles{Name: m.name, Dir: m.dir, ModFile: ModFilesDir + "/" + m.name + ".mod", SumFile: ModFilesDir + "/" + m.name + ".sum"}
		if m.app.Path != "" {
			pf.App = m.app.String()
		}
		extra[pf.ModFile] = modData
		extra[pf.SumFile] = sums.format()
		before, err := ownBuildList(ctx, reqs, m, nil)
		if err != nil {
			return nil, err
		}
		pf.Changed = changes(before, u.Projects[i].Graph.Selected(), m.path())
		res.Projects = append(res.Projects, pf)
		skewProjects = append(skewProjects, &project{dir: m.name, sums: sums})
		res.Before = addSkew(res.Before, m.name, before, m.path())
	}
	res.Before = finishSkew(res.Before)
	if len(userPins) > 0 {
		// What the choice would be with the applications' pins alone.
		appPins := maps.Clone(pins)
		for p := range userPins {
			delete(appPins, p)
		}
		free, err := modgraph.Unify(ctx, reqs, projects, appPins, union)
		if err != nil {
			return nil, fmt.Errorf("snapshot: %w", err)
		}
		for _, p := range slices.Sorted(maps.Keys(userPins)) {
			res.Pins = append(res.Pins, PinEffect{Path: p, Pinned: userPins[p], Selected: free.Versions[p]})
		}
	}

	// The go.mod files read for the graph are not fetched again.
	opts.preloaded = &vr.fetched
	r, err := run(ctx, opts, out, skewProjects, all, extra)
	if r != nil {
		res.Result = r
	}
	if err != nil {
		return res, err
	}
	res.Reports, err = moduleReports(out, res.Chosen, appVersions(mains))
	return res, err
}

// loadApp reads the go.mod file of an application, verified.
func loadApp(ctx context.Context, vr *verifiedReqs, app module.Version) (*mainModule, error) {
	if err := module.Check(app.Path, app.Version); err != nil {
		return nil, fmt.Errorf("snapshot: application %s: %w", app, err)
	}
	data, err := vr.read(ctx, app)
	if err != nil {
		return nil, err
	}
	m, err := parseMainModule(app.String()+" go.mod", data)
	if err != nil {
		return nil, err
	}
	for _, r := range m.file.Replace {
		if r.New.Version == "" {
			return nil, fmt.Errorf("snapshot: application %s replaces %s by the directory %s, which it does not come with", app, r.Old.Path, r.New.Path)
		}
	}
	m.app = app
	m.replace = m.file.Replace
	m.name = strings.Map(nameRune, strings.ReplaceAll(app.Path, "/", "_")+"@"+app.Version)
	return m, nil
}

func appVersions(mains []*mainModule) []module.Version {
	var apps []module.Version
	for _, m := range mains {
		if m.app.Path != "" {
			apps = append(apps, m.app)
		}
	}
	return apps
}

// globalReplacements returns the replacements of a module by another
// module (not by a directory) of all main modules: one version per module
// means one content per module, so they apply to every main module. The
// same module (and version) replaced in two ways, by modules or
// directories, is an error.
func globalReplacements(mains []*mainModule) ([]*modfile.Replace, error) {
	type target struct {
		to  module.Version
		who string
	}
	byOld := make(map[module.Version]target)
	var global []*modfile.Replace
	for _, m := range mains {
		for _, r := range m.replace {
			to := r.New
			if to.Version == "" {
				to.Path = m.localDir(to.Path)
			}
			if t, ok := byOld[r.Old]; ok {
				if t.to != to {
					return nil, fmt.Errorf("snapshot: %s and %s replace %s differently (%s, %s): one version per module cannot hold both", t.who, m.name, oldString(r.Old), targetString(t.to), targetString(to))
				}
				continue
			}
			byOld[r.Old] = target{to, m.name}
			if r.New.Version != "" {
				global = append(global, r)
			}
		}
	}
	return global, nil
}

// unionReplacer returns the replacements of all main modules together, for
// the graph of all of them.
func unionReplacer(mains []*mainModule, global []*modfile.Replace) modgraph.Replacer {
	replacers := make([]modgraph.Replacer, len(mains))
	for i, m := range mains {
		replacers[i] = m.replacer(global)
	}
	return func(v module.Version) (module.Version, bool) {
		for _, r := range replacers {
			if c, ok := r(v); ok {
				return c, true
			}
		}
		return module.Version{}, false
	}
}

func oldString(m module.Version) string {
	if m.Version == "" {
		return m.Path
	}
	return m.String()
}

func targetString(m module.Version) string {
	if m.Version == "" {
		return "directory " + m.Path
	}
	return m.String()
}

// checkLocalReplacements fails if a module path that a main module
// replaces by a directory is in another main module's graph as a module:
// the one would build with the directory, the other with a version.
func checkLocalReplacements(mains []*mainModule, u *modgraph.Unified) error {
	for _, a := range mains {
		for _, r := range a.replace {
			if r.New.Version != "" {
				continue
			}
			dir := a.localDir(r.New.Path)
			for j, b := range mains {
				if b == a || b.path() == r.Old.Path {
					continue
				}
				if _, ok := u.Projects[j].Graph.Selected()[r.Old.Path]; !ok {
					continue
				}
				if br := findReplace(b.replace, r.Old.Path, r.Old.Version); br == nil || br.New.Version != "" || b.localDir(br.New.Path) != dir {
					return fmt.Errorf("snapshot: %s replaces %s by the directory %s, but %s needs it as a module: one version per module cannot hold both", a.name, r.Old.Path, r.New.Path, b.name)
				}
			}
		}
	}
	return nil
}

// checkExclusions fails if a version that a main module excludes is in a
// main module's graph: the go command would then require the next version
// up instead, which one choice for all cannot follow. An exclusion of a
// version no graph has (the main module's own, an old one) changes
// nothing, and stays in the alternate module file.
func checkExclusions(mains []*mainModule, u *modgraph.Unified) error {
	for _, a := range mains {
		for _, x := range a.file.Exclude {
			for j, b := range mains {
				if x.Mod.Path == b.path() {
					continue
				}
				g := u.Projects[j].Graph
				if _, ok := slices.BinarySearchFunc(g.Nodes(), x.Mod, compareModules); ok {
					return fmt.Errorf("snapshot: %s excludes %s, which %s's build needs under the chosen versions; --pin %s to another version", a.name, x.Mod, b.name, x.Mod.Path)
				}
			}
		}
	}
	return nil
}

func compareModules(a, b module.Version) int {
	return compareKeys(sumKey{Path: a.Path, Version: a.Version}, sumKey{Path: b.Path, Version: b.Version})
}

// projectSums returns the go.sum lines a main module's build needs from
// its graph g: the go.mod hash of every version whose go.mod file the
// graph read, and of every selected version, and the zip hash of every
// selected version, each of the content that repl gives. Directories and
// the main module itself need none.
func projectSums(ctx context.Context, h *hashes, m *mainModule, g *modgraph.Graph, repl modgraph.Replacer) (*sumSet, error) {
	zips := make(map[module.Version]bool)
	mods := make(map[module.Version]bool)
	content := func(v module.Version) module.Version {
		if c, ok := repl(v); ok {
			return c
		}
		return v
	}
	for _, n := range g.Nodes() {
		if c := content(n); n.Path != m.path() && g.Read(n) && c.Version != "" {
			mods[c] = true
		}
	}
	for p, v := range g.Selected() {
		if c := content(module.Version{Path: p, Version: v}); p != m.path() && c.Version != "" {
			mods[c] = true
			zips[c] = true
		}
	}
	sums := newSumSet()
	list := sortVersionList(slices.Collect(maps.Keys(mods)))
	got := make([]versionSums, len(list))
	g2, gctx := errgroup.WithContext(ctx)
	g2.SetLimit(DefaultJobs)
	for i, v := range list {
		g2.Go(func() error {
			var err error
			got[i], err = h.get(gctx, v)
			return err
		})
	}
	if err := g2.Wait(); err != nil {
		return nil, err
	}
	for i, v := range list {
		if err := sums.add(sumKey{Path: v.Path, Version: v.Version, GoMod: true}, got[i].mod, got[i].from); err != nil {
			return nil, err
		}
		if zips[v] {
			if got[i].zip == "" {
				return nil, fmt.Errorf("snapshot: %s: no hash of its zip (%s has only its go.mod's)", v, got[i].from)
			}
			if err := sums.add(sumKey{Path: v.Path, Version: v.Version}, got[i].zip, got[i].from); err != nil {
				return nil, err
			}
		}
	}
	return sums, nil
}

// addVersionSums adds the go.mod line of v, and its zip line if zip is set.
func addVersionSums(ctx context.Context, h *hashes, s *sumSet, v module.Version, zip bool) error {
	got, err := h.get(ctx, v)
	if err != nil {
		return err
	}
	if err := s.add(sumKey{Path: v.Path, Version: v.Version, GoMod: true}, got.mod, got.from); err != nil {
		return err
	}
	if zip {
		if got.zip == "" {
			return fmt.Errorf("snapshot: %s: no hash of its zip (%s has only its go.mod's)", v, got.from)
		}
		return s.add(sumKey{Path: v.Path, Version: v.Version}, got.zip, got.from)
	}
	return nil
}

func sortVersionList(list []module.Version) []module.Version {
	slices.SortFunc(list, func(a, b module.Version) int {
		return compareKeys(sumKey{Path: a.Path, Version: a.Version}, sumKey{Path: b.Path, Version: b.Version})
	})
	return list
}

// ownBuildList returns what a main module selects with its own
// requirements and replacements (and global), as the go command would
// resolve them.
func ownBuildList(ctx context.Context, reqs modgraph.Reqs, m *mainModule, global []*modfile.Replace) (map[string]string, error) {
	g, _, err := modgraph.Resolve(ctx, reqs, m.roots(), m.pruned(), m.replacer(global))
	if err != nil {
		return nil, fmt.Errorf("snapshot: %s: %w", m.name, err)
	}
	return g.Selected(), nil
}

// changes lists the paths whose version differs between a build list
// before and after, the main module's own path aside.
func changes(before, after map[string]string, self string) []VersionChange {
	var out []VersionChange
	for _, p := range slices.Sorted(maps.Keys(after)) {
		if p != self && before[p] != after[p] {
			out = append(out, VersionChange{Path: p, From: before[p], To: after[p]})
		}
	}
	return out
}

// addSkew adds a project's build list to skews, which is keyed by path in
// the order found; finishSkew keeps the paths with more than one version.
func addSkew(skews []Skew, name string, list map[string]string, self string) []Skew {
	for _, p := range slices.Sorted(maps.Keys(list)) {
		if p == self {
			continue
		}
		i := slices.IndexFunc(skews, func(s Skew) bool { return s.Path == p })
		if i < 0 {
			skews = append(skews, Skew{Path: p})
			i = len(skews) - 1
		}
		s := &skews[i]
		j := slices.IndexFunc(s.Versions, func(sv SkewVersion) bool { return sv.Version == list[p] })
		if j < 0 {
			s.Versions = append(s.Versions, SkewVersion{Version: list[p]})
			j = len(s.Versions) - 1
		}
		s.Versions[j].Projects = append(s.Versions[j].Projects, name)
	}
	return skews
}

func finishSkew(skews []Skew) []Skew {
	var out []Skew
	for _, s := range skews {
		if len(s.Versions) > 1 {
			slices.SortFunc(s.Versions, func(a, b SkewVersion) int { return compareVersions(a.Version, b.Version) })
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b Skew) int { return strings.Compare(a.Path, b.Path) })
	return out
}
