package modgraph

import (
	"context"
	"fmt"
	"io/fs"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/mod/module"
)

// memReqs is a Reqs over go.mod files written as "go 1.21; a v1.0.0; b
// v1.2.0": a go version (or "-" for none), then requirements.
type memReqs struct {
	files map[module.Version]string
	reads atomic.Int64
}

func (r *memReqs) GoMod(ctx context.Context, m module.Version) (*ModFile, error) {
	r.reads.Add(1)
	text, ok := r.files[m]
	if !ok {
		return nil, fmt.Errorf("%s: %w", m, fs.ErrNotExist)
	}
	f := &ModFile{}
	for i, field := range strings.Split(text, ";") {
		field = strings.TrimSpace(field)
		if i == 0 {
			if v, ok := strings.CutPrefix(field, "go "); ok {
				f.Go = v
			}
			continue
		}
		if field == "" {
			continue
		}
		p, v, _ := strings.Cut(field, " ")
		f.Require = append(f.Require, module.Version{Path: "example.com/" + p, Version: v})
	}
	return f, nil
}

// graphFixture is a graph that tells pruning apart, as the comments say.
// The go command agrees (TestGoCommandAgrees builds it for real).
var graphFixture = map[string]string{
	"a@v1.0.0": "go 1.21; c v1.0.0; u v1.0.0", // a pruned root
	"a@v1.1.0": "go 1.21; h v1.0.0",           // a leaf in round 1 (e's), a root in round 2
	"b@v1.0.0": "go 1.16; c v1.1.0",           // an unpruned root: read transitively
	"c@v1.0.0": "go 1.21; d v1.5.0",           // a leaf of a: its requirements pruned
	"c@v1.1.0": "go 1.21; f v1.0.0",           // under b: read although it says 1.21
	"d@v1.2.0": "go 1.21",
	"d@v1.5.0": "go 1.21",
	"e@v1.0.0": "go 1.21; a v1.1.0",
	"f@v1.0.0": "go 1.21; g v1.3.0",
	"g@v1.3.0": "-",
	"h@v1.0.0": "go 1.21",
	"u@v1.0.0": "go 1.16; d v1.2.0", // unpruned, but a leaf of a pruned root: not read
}

func newMemReqs(files map[string]string) *memReqs {
	r := &memReqs{files: make(map[module.Version]string)}
	for k, v := range files {
		p, ver, _ := strings.Cut(k, "@")
		r.files[module.Version{Path: "example.com/" + p, Version: ver}] = v
	}
	return r
}

func mv(s string) module.Version {
	p, v, _ := strings.Cut(s, "@")
	return module.Version{Path: "example.com/" + p, Version: v}
}

func mvs(ss ...string) []module.Version {
	var out []module.Version
	for _, s := range ss {
		out = append(out, mv(s))
	}
	return out
}

func format(list []module.Version) string {
	var b []string
	for _, m := range list {
		b = append(b, strings.TrimPrefix(m.Path, "example.com/")+"@"+m.Version)
	}
	return strings.Join(b, " ")
}

func TestLoad(t *testing.T) {
	ctx := context.Background()
	roots := mvs("a@v1.0.0", "b@v1.0.0", "e@v1.0.0")
	for _, tc := range []struct {
		name   string
		pruned bool
		want   string // the build list
		read   string // nodes whose go.mod was read
	}{{
		name:   "pruned",
		pruned: true,
		want:   "a@v1.1.0 b@v1.0.0 c@v1.1.0 e@v1.0.0 f@v1.0.0 g@v1.3.0 u@v1.0.0",
		read:   "a@v1.0.0 b@v1.0.0 c@v1.1.0 e@v1.0.0 f@v1.0.0 g@v1.3.0",
	}, {
		name:   "unpruned",
		pruned: false,
		want:   "a@v1.1.0 b@v1.0.0 c@v1.1.0 d@v1.5.0 e@v1.0.0 f@v1.0.0 g@v1.3.0 h@v1.0.0 u@v1.0.0",
		read:   "a@v1.0.0 a@v1.1.0 b@v1.0.0 c@v1.0.0 c@v1.1.0 d@v1.2.0 d@v1.5.0 e@v1.0.0 f@v1.0.0 g@v1.3.0 h@v1.0.0 u@v1.0.0",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := Load(ctx, newMemReqs(graphFixture), roots, tc.pruned, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := format(g.BuildList()); got != tc.want {
				t.Errorf("build list\n got %s\nwant %s", got, tc.want)
			}
			var read []module.Version
			for _, n := range g.Nodes() {
				if g.Read(n) {
					read = append(read, n)
				}
			}
			if got := format(read); got != tc.read {
				t.Errorf("go.mod files read\n got %s\nwant %s", got, tc.read)
			}
		})
	}
}

func TestResolve(t *testing.T) {
	ctx := context.Background()
	// Pruned: a is raised to v1.1.0 (e requires it), so a v1.0.0's
	// requirements (c v1.0.0, u) no longer count, and a v1.1.0's (h) do.
	g, roots, err := Resolve(ctx, newMemReqs(graphFixture), mvs("a@v1.0.0", "b@v1.0.0", "e@v1.0.0"), true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := format(g.BuildList()), "a@v1.1.0 b@v1.0.0 c@v1.1.0 e@v1.0.0 f@v1.0.0 g@v1.3.0 h@v1.0.0"; got != want {
		t.Errorf("pruned build list\n got %s\nwant %s", got, want)
	}
	if got, want := format(roots), "a@v1.1.0 b@v1.0.0 e@v1.0.0"; got != want {
		t.Errorf("requirements %s, want %s", got, want)
	}
	// Unpruned: every version's requirements count.
	g, _, err = Resolve(ctx, newMemReqs(graphFixture), mvs("a@v1.0.0", "b@v1.0.0", "e@v1.0.0"), false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := format(g.BuildList()), "a@v1.1.0 b@v1.0.0 c@v1.1.0 d@v1.5.0 e@v1.0.0 f@v1.0.0 g@v1.3.0 h@v1.0.0 u@v1.0.0"; got != want {
		t.Errorf("unpruned build list\n got %s\nwant %s", got, want)
	}
}

// twoProjects are p1, which requires a and b, and p2, which requires e
// (and so a v1.1.0).
var twoProjects = []Project{
	{Path: "example.com/p1", Roots: mvs("a@v1.0.0", "b@v1.0.0"), Pruned: true},
	{Path: "example.com/p2", Roots: mvs("e@v1.0.0"), Pruned: true},
}

func TestUnify(t *testing.T) {
	ctx := context.Background()
	u, err := Unify(ctx, newMemReqs(graphFixture), twoProjects, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := "a@v1.1.0 b@v1.0.0 c@v1.1.0 e@v1.0.0 f@v1.0.0 g@v1.3.0 h@v1.0.0"
	if got := format(fromMap(u.Versions)); got != want || len(u.Extra) != 0 {
		t.Errorf("Unify = %s, extra %v; want %s and none", got, u.Extra, want)
	}
	// p1 requires a at the chosen v1.1.0; alone, it selects the chosen
	// version of every path in its graph.
	for i, wantReqs := range []string{"a@v1.1.0 b@v1.0.0", "e@v1.0.0"} {
		p := u.Projects[i]
		if got := format(p.Requirements); got != wantReqs {
			t.Errorf("project %d requires %s, want %s", i+1, got, wantReqs)
		}
		for path, v := range p.Graph.Selected() {
			if u.Versions[path] != v {
				t.Errorf("project %d selects %s@%s, not the chosen %s", i+1, path, v, u.Versions[path])
			}
		}
	}
}

// leafFixture: p1 requires x, whose go.mod says y v1.0.0; p2 requires z,
// whose go.mod says y v1.1.0, which requires w. Together y v1.1.0 is
// chosen, a leaf, so w is not; p1 alone must require y v1.1.0 to select
// it, and then reads its go.mod, and w.
var leafFixture = map[string]string{
	"x@v1.0.0": "go 1.21; y v1.0.0",
	"z@v1.0.0": "go 1.21; y v1.1.0",
	"y@v1.0.0": "go 1.21",
	"y@v1.1.0": "go 1.21; w v1.0.0",
	"w@v1.0.0": "go 1.21",
}

func TestUnifyExtra(t *testing.T) {
	projects := []Project{
		{Path: "example.com/p1", Roots: mvs("x@v1.0.0"), Pruned: true},
		{Path: "example.com/p2", Roots: mvs("z@v1.0.0"), Pruned: true},
	}
	u, err := Unify(context.Background(), newMemReqs(leafFixture), projects, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := format(fromMap(u.Versions)), "w@v1.0.0 x@v1.0.0 y@v1.1.0 z@v1.0.0"; got != want || u.Rounds != 2 {
		t.Errorf("Unify = %s in %d rounds, want %s in 2", got, u.Rounds, want)
	}
	if got, want := format(u.Extra), "x@v1.0.0 y@v1.1.0"; got != want {
		t.Errorf("extra requirements %s, want %s", got, want)
	}
	if got, want := format(u.Projects[0].Requirements), "x@v1.0.0 y@v1.1.0"; got != want {
		t.Errorf("p1 requires %s, want %s", got, want)
	}
}

func TestUnifyPins(t *testing.T) {
	ctx := context.Background()
	// Pinning a to v1.0.0: every version of a has a v1.0.0's requirements
	// (c v1.0.0 and u, not h).
	u, err := Unify(ctx, newMemReqs(graphFixture), twoProjects, map[string]string{"example.com/a": "v1.0.0"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := "a@v1.0.0 b@v1.0.0 c@v1.1.0 e@v1.0.0 f@v1.0.0 g@v1.3.0 u@v1.0.0"
	if got := format(fromMap(u.Versions)); got != want {
		t.Errorf("Unify with a pinned = %s, want %s", got, want)
	}
	if _, err := Unify(ctx, newMemReqs(graphFixture), twoProjects, map[string]string{"example.com/a": "1.0"}, nil); err == nil {
		t.Errorf("a pin to a non-canonical version was accepted")
	}
}

func TestReplace(t *testing.T) {
	ctx := context.Background()
	// c@v1.0.0's content is d's: its requirements are d@v1.2.0's (none),
	// and a directory's are read as such.
	repl := func(m module.Version) (module.Version, bool) {
		switch m {
		case mv("b@v1.0.0"):
			return module.Version{Path: "../b"}, true
		}
		return module.Version{}, false
	}
	reqs := newMemReqs(graphFixture)
	reqs.files[module.Version{Path: "../b"}] = "go 1.21; g v1.3.0"
	g, err := Load(ctx, reqs, mvs("b@v1.0.0"), true, repl)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := format(g.BuildList()), "b@v1.0.0 g@v1.3.0"; got != want {
		t.Errorf("build list with b replaced by a directory = %s, want %s", got, want)
	}
	if _, err := Load(ctx, reqs, mvs("zz@v1.0.0"), true, nil); err == nil || !strings.Contains(err.Error(), "example.com/zz@v1.0.0") {
		t.Errorf("a missing go.mod: %v, want an error naming the module", err)
	}
}

func TestCache(t *testing.T) {
	reqs := newMemReqs(graphFixture)
	c := NewCache(reqs)
	ctx := context.Background()
	for range 3 {
		if _, err := Unify(ctx, c, twoProjects, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	if n := reqs.reads.Load(); n != 7 {
		t.Errorf("read %d go.mod files through the cache, want each of the 7 the graphs read once", n)
	}
}

func TestPruned(t *testing.T) {
	for v, want := range map[string]bool{"": false, "1.16": false, "1.17": true, "1.21.3": true, "1.9": false} {
		if Pruned(v) != want {
			t.Errorf("Pruned(%q) = %v", v, !want)
		}
	}
}
