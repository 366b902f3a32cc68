package modgraph

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/mod/module"

	"github.com/modmirror/modmirror/internal/goenv"
	"github.com/modmirror/modmirror/internal/testupstream"
)

// httpReqs reads go.mod files from a GOPROXY server.
type httpReqs struct{ base string }

func (r httpReqs) GoMod(ctx context.Context, m module.Version) (*ModFile, error) {
	ep, _ := module.EscapePath(m.Path)
	ev, _ := module.EscapeVersion(m.Version)
	resp, err := http.Get(r.base + "/" + ep + "/@v/" + ev + ".mod")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		return nil, fmt.Errorf("%s: %s %v", m, resp.Status, err)
	}
	return ParseModFile(m.String()+".mod", data)
}

// fixtureModules turns go.mod texts as memReqs reads them into modules.
func fixtureModules(files map[string]string) []testupstream.Module {
	var mods []testupstream.Module
	for k, text := range files {
		p, v, _ := strings.Cut(k, "@")
		path := "example.com/" + p
		var gomod strings.Builder
		fmt.Fprintf(&gomod, "module %s\n", path)
		for i, field := range strings.Split(text, ";") {
			field = strings.TrimSpace(field)
			switch {
			case i == 0 && field != "-":
				fmt.Fprintf(&gomod, "\n%s\n", field)
			case i > 0 && field != "":
				fmt.Fprintf(&gomod, "\nrequire example.com/%s\n", field)
			}
		}
		pkg := strings.ReplaceAll(p, "-", "")
		mods = append(mods, testupstream.Module{Path: path, Version: v, Files: map[string]string{
			"go.mod":    gomod.String(),
			pkg + ".go": "package " + pkg + "\n",
		}})
	}
	return mods
}

// goListAll runs "go list -m all" in a main module with the go version
// goVersion that requires reqs, through the fixture upstream, and returns
// the build list without the main module.
func goListAll(t *testing.T, up *testupstream.Server, goVersion string, reqs []module.Version) string {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command on PATH")
	}
	dir := t.TempDir()
	var gomod strings.Builder
	fmt.Fprintf(&gomod, "module example.com/main\n\ngo %s\n", goVersion)
	for _, r := range reqs {
		fmt.Fprintf(&gomod, "\nrequire %s %s\n", r.Path, r.Version)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(gomod.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	if err := goenv.TelemetryOff(home); err != nil { // nothing writes into home once go exits
		t.Fatal(err)
	}
	cmd := exec.Command("go", "list", "-m", "all")
	cmd.Dir = dir
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + home, "GOPATH=" + filepath.Join(home, "gopath"),
		"GOMODCACHE=" + filepath.Join(home, "modcache"), "GOCACHE=" + filepath.Join(home, "cache"),
		"GOFLAGS=-mod=mod -modcacherw", "GOPROXY=" + up.URL, "GOSUMDB=" + up.VerifierKey(),
		"GONOSUMDB=", "GOPRIVATE=", "GONOPROXY=", "GOTOOLCHAIN=local", "GOWORK=off", "GOENV=off",
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go list -m all: %v\n%s\ngo.mod:\n%s", err, out, gomod.String())
	}
	var list []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n")[1:] {
		p, v, _ := strings.Cut(line, " ")
		list = append(list, strings.TrimPrefix(p, "example.com/")+"@"+v)
	}
	return strings.Join(list, " ")
}

// TestGoCommandAgrees builds the fixtures as real modules and checks that
// the go command selects what Resolve selects, pruned (go 1.21) and
// unpruned (go 1.16), and, for a main module that requires what the
// projects to unify require (and the extra requirements), what Unify
// chooses.
func TestGoCommandAgrees(t *testing.T) {
	up := testupstream.New(t, append(fixtureModules(graphFixture), fixtureModules(leafFixture)...)...)
	ctx := context.Background()
	roots := mvs("a@v1.0.0", "b@v1.0.0", "e@v1.0.0")
	for _, tc := range []struct {
		goVersion string
		pruned    bool
	}{{"1.21", true}, {"1.16", false}} {
		g, _, err := Resolve(ctx, httpReqs{up.URL}, roots, tc.pruned, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := format(g.BuildList()), goListAll(t, up, tc.goVersion, roots); got != want {
			t.Errorf("go %s: Resolve selects\n%s\nthe go command\n%s", tc.goVersion, got, want)
		}
	}
	for _, projects := range [][]Project{twoProjects, {
		{Path: "example.com/p1", Roots: mvs("x@v1.0.0"), Pruned: true},
		{Path: "example.com/p2", Roots: mvs("z@v1.0.0"), Pruned: true},
	}} {
		u, err := Unify(ctx, httpReqs{up.URL}, projects, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		all := slices.Clone(u.Extra)
		for _, p := range projects {
			all = append(all, p.Roots...)
		}
		if got, want := format(fromMap(u.Versions)), goListAll(t, up, "1.21", highest(all)); got != want {
			t.Errorf("Unify chose\n%s\nthe go command, requiring what the projects and Extra require, selects\n%s", got, want)
		}
		for i, p := range u.Projects {
			if got, want := format(p.Graph.BuildList()), goListAll(t, up, "1.21", p.Requirements); got != want {
				t.Errorf("project %d alone selects\n%s\nthe go command, with its requirements, selects\n%s", i+1, got, want)
			}
		}
	}
}
