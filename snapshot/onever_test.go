package snapshot_test

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/mod/module"

	"github.com/modmirror/modmirror/checksum"
	"github.com/modmirror/modmirror/fsstore"
	"github.com/modmirror/modmirror/internal/testupstream"
	"github.com/modmirror/modmirror/snapshot"
	"github.com/modmirror/modmirror/upstream"
)

// goModule is a fixture module version with a package of the module's
// last path element that says its version, plus code.
func goModule(path, version, gomod, code string) testupstream.Module {
	name := pkgName(path)
	return testupstream.Module{Path: path, Version: version, Files: map[string]string{
		"go.mod":     "module " + path + "\n\ngo 1.21\n" + gomod,
		name + ".go": "package " + name + "\n\n// Version is the module version.\nconst Version = \"" + version + "\"\n" + code,
		"LICENSE":    mitLicense,
	}}
}

func pkgName(path string) string {
	elems := strings.Split(path, "/")
	if last := elems[len(elems)-1]; len(last) == 2 && last[0] == 'v' {
		return elems[len(elems)-2]
	}
	return elems[len(elems)-1]
}

const mitLicense = `Copyright (c) 2024 The Fixture Authors

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
`

// The fixture of one version per module:
//
//   - lib v1.1.0 and v1.2.0: project a wants the first, b the second
//     (whose New a does not call, but b does);
//   - third: lib v1.2.0 requires third v1.1.0, which a asks for at v1.0.0,
//     so choosing lib v1.2.0 raises third (the fixed point);
//   - shared: both use v1.0.0, which b replaces by v1.0.1 (so a builds
//     with v1.0.1 too: one content per module);
//   - major v1.5.0 and major/v2 v2.0.0: two paths, not skew.
func oneVersionFixtures() []testupstream.Module {
	return []testupstream.Module{
		goModule("example.com/u/lib", "v1.1.0", "\nrequire example.com/u/third v1.0.0\n", ""),
		goModule("example.com/u/lib", "v1.2.0", "\nrequire example.com/u/third v1.1.0\n", "\n// New is new in v1.2.0.\nfunc New() string { return \"new\" }\n"),
		goModule("example.com/u/third", "v1.0.0", "", ""),
		goModule("example.com/u/third", "v1.1.0", "", ""),
		goModule("example.com/u/shared", "v1.0.0", "", ""),
		goModule("example.com/u/shared", "v1.0.1", "", ""),
		goModule("example.com/u/major", "v1.5.0", "", ""),
		goModule("example.com/u/major/v2", "v2.0.0", "", ""),
		// An application, named by module@version.
		{Path: "example.com/u/app", Version: "v1.0.0", Files: map[string]string{
			"go.mod":  "module example.com/u/app\n\ngo 1.21\n\nrequire example.com/u/third v1.0.0\n",
			"main.go": "package main\n\nimport (\n\t\"fmt\"\n\n\t\"example.com/u/third\"\n)\n\nfunc main() { fmt.Println(\"app\", third.Version) }\n",
		}},
	}
}

// oneEnv is a fixture upstream for one version per module, its checksum
// database as a verifier, and the projects.
type oneEnv struct {
	srv    *testupstream.Server
	opts   snapshot.Options
	ov     snapshot.OneVersion
	a, b   string // project directories
	ws     string // a workspace
	goBin  string
	goPath string
}

func newOneEnv(t *testing.T) *oneEnv {
	t.Helper()
	e := &oneEnv{goBin: goCommand(t), goPath: goHome(t)}
	e.srv = testupstream.New(t, oneVersionFixtures()...)
	up, err := upstream.Parse(e.srv.URL, upstream.Options{})
	if err != nil {
		t.Fatal(err)
	}
	store, err := fsstore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	v, err := checksum.NewVerifier(checksum.Config{Name: e.srv.SumDBName(), Key: e.srv.VerifierKey(), Remote: up, Store: store, StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	e.ov = snapshot.OneVersion{Sums: v}
	e.opts = snapshot.Options{Upstream: up, Out: filepath.Join(t.TempDir(), "deps")}

	sums := func(mvs ...string) string {
		var b strings.Builder
		for _, mv := range mvs {
			p, v, _ := strings.Cut(mv, "@")
			for _, l := range e.srv.GoSumLines(p, v) {
				b.WriteString(l + "\n")
			}
		}
		return b.String()
	}
	e.a = t.TempDir()
	writeProject(t, e.a, map[string]string{
		"go.mod": "module example.com/proj/a\n\ngo 1.21\n\nrequire (\n\texample.com/u/lib v1.1.0\n\texample.com/u/major v1.5.0\n\texample.com/u/shared v1.0.0\n)\n\nrequire example.com/u/third v1.0.0 // indirect\n",
		"go.sum": sums("example.com/u/lib@v1.1.0", "example.com/u/major@v1.5.0", "example.com/u/shared@v1.0.0", "example.com/u/third@v1.0.0"),
		"main.go": `package main

import (
	"fmt"

	"example.com/u/lib"
	"example.com/u/major"
	"example.com/u/shared"
)

func main() { fmt.Println("a", lib.Version, major.Version, shared.Version) }
`,
	})
	e.b = t.TempDir()
	writeProject(t, e.b, map[string]string{
		"go.mod": "module example.com/proj/b\n\ngo 1.21\n\nrequire (\n\texample.com/u/lib v1.2.0\n\texample.com/u/major/v2 v2.0.0\n\texample.com/u/shared v1.0.0\n)\n\nrequire example.com/u/third v1.1.0 // indirect\n\nreplace example.com/u/shared => example.com/u/shared v1.0.1\n",
		"go.sum": sums("example.com/u/lib@v1.2.0", "example.com/u/major/v2@v2.0.0", "example.com/u/shared@v1.0.1", "example.com/u/third@v1.1.0"),
		"main.go": `package main

import (
	"fmt"

	"example.com/u/lib"
	"example.com/u/major/v2"
	"example.com/u/shared"
)

func main() { fmt.Println("b", lib.Version, lib.New(), major.Version, shared.Version) }
`,
	})
	e.ws = t.TempDir()
	writeProject(t, e.ws, map[string]string{
		"go.work":       "go 1.21\n\nuse (\n\t./one\n\t./two\n)\n",
		"one/go.mod":    "module example.com/ws/one\n\ngo 1.21\n\nrequire example.com/u/third v1.0.0\n",
		"one/go.sum":    sums("example.com/u/third@v1.0.0"),
		"one/one.go":    "package one\n\nimport \"example.com/u/third\"\n\n// Third is third's version.\nconst Third = third.Version\n",
		"two/go.mod":    "module example.com/ws/two\n\ngo 1.21\n\nrequire example.com/ws/one v0.0.0\n",
		"two/main.go":   "package main\n\nimport (\n\t\"fmt\"\n\n\t\"example.com/ws/one\"\n)\n\nfunc main() { fmt.Println(\"two\", one.Third) }\n",
		"two/go.sum":    "",
		"go.work.sum":   "",
		"one/README.md": "one\n",
	})
	return e
}

func (e *oneEnv) run(t *testing.T, dirs ...string) *snapshot.OneVersionResult {
	t.Helper()
	opts := e.opts
	opts.Dirs = dirs
	res, err := snapshot.RunOneVersion(context.Background(), opts, e.ov)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// goEnv is the environment of a build from the snapshot out with the
// alternate module file mod: nothing from the network, go.sum checks on.
func (e *oneEnv) goEnv(out, mod string) []string {
	return []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + e.goPath, "GOPATH=" + e.goPath,
		"GOMODCACHE=" + filepath.Join(e.goPath, "pkg", "mod"), "GOCACHE=" + hostGoCache(e.goBin),
		"GOFLAGS=-mod=mod -modcacherw -modfile=" + mod, "GOPROXY=file://" + filepath.ToSlash(out),
		"GOSUMDB=off", "GONOSUMDB=", "GOPRIVATE=", "GONOPROXY=", "GOTOOLCHAIN=local", "GOWORK=off", "CGO_ENABLED=0", "GOENV=off",
	}
}

// goRun runs "go run ." in dir with a copy of a project's alternate files.
func (e *oneEnv) goRun(t *testing.T, res *snapshot.OneVersionResult, p snapshot.ProjectFiles, dir string) (string, error) {
	t.Helper()
	tmp := t.TempDir()
	for _, f := range []string{p.ModFile, p.SumFile} {
		data, err := os.ReadFile(filepath.Join(res.Out, filepath.FromSlash(f)))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(tmp, "alt"+filepath.Ext(f)), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(e.goBin, "run", ".")
	cmd.Dir = dir
	cmd.Env = e.goEnv(res.Out, filepath.Join(tmp, "alt.mod"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		err = fmt.Errorf("%v\n%s", err, stderr.Bytes())
	}
	return stdout.String(), err
}

func chosenString(list []module.Version) string {
	var s []string
	for _, m := range list {
		s = append(s, m.String())
	}
	return strings.Join(s, " ")
}

// goListAll is "go list -m all" (without the main module) of a main module
// at go 1.21 that requires reqs, through the fixture upstream.
func (e *oneEnv) goListAll(t *testing.T, reqs []module.Version) string {
	t.Helper()
	dir := t.TempDir()
	var gomod strings.Builder
	gomod.WriteString("module example.com/synthetic\n\ngo 1.21\n")
	for _, r := range reqs {
		fmt.Fprintf(&gomod, "\nrequire %s %s\n", r.Path, r.Version)
	}
	writeProject(t, dir, map[string]string{"go.mod": gomod.String()})
	home := goHome(t)
	cmd := exec.Command(e.goBin, "list", "-m", "all")
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "GOPATH=" + home, "GOMODCACHE=" + filepath.Join(home, "mod"),
		"GOCACHE=" + filepath.Join(home, "cache"), "GOFLAGS=-mod=mod -modcacherw", "GOPROXY=" + e.srv.URL, "GOSUMDB=" + e.srv.VerifierKey(),
		"GONOSUMDB=", "GOPRIVATE=", "GOTOOLCHAIN=local", "GOWORK=off", "GOENV=off"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go list -m all: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")[1:]
	for i, l := range lines {
		p, v, _ := strings.Cut(l, " ")
		v, _, _ = strings.Cut(v, " ") // "=> replacement"
		lines[i] = p + "@" + v
	}
	return strings.Join(lines, " ")
}

// TestOneVersion unifies two projects, a workspace of two modules and an
// application: the chosen versions are what the go command selects for a
// module requiring everything they require; each builds offline from the
// snapshot with its alternate module file and go.sum checks on, and runs
// with the chosen versions; the skew before is reported and none is left
// after; licenses and NAR hashes are reported per module.
func TestOneVersion(t *testing.T) {
	t.Parallel()
	e := newOneEnv(t)
	e.ov.Apps = []module.Version{{Path: "example.com/u/app", Version: "v1.0.0"}}
	res := e.run(t, e.a, e.b, e.ws)

	// lib v1.2.0 raises third to v1.1.0; shared's version is v1.0.0 for
	// everyone, its content v1.0.1's (b's replacement).
	want := "example.com/u/lib@v1.2.0 example.com/u/major@v1.5.0 example.com/u/major/v2@v2.0.0 example.com/u/shared@v1.0.0 example.com/u/third@v1.1.0"
	if got := chosenString(res.Chosen); got != want {
		t.Errorf("chosen\n%s\nwant\n%s", got, want)
	}
	var all []module.Version
	for _, dir := range []string{e.a, e.b, filepath.Join(e.ws, "one")} {
		all = append(all, requirements(t, dir)...)
	}
	all = append(append(all, res.Extra...), module.Version{Path: "example.com/u/third", Version: "v1.0.0"}) // the app's
	if got := e.goListAll(t, all); got != want {
		t.Errorf("the go command selects, for a module requiring everything,\n%s\nUnify chose\n%s", got, want)
	}
	if len(res.Extra) != 0 {
		t.Errorf("extra requirements %v, want none", res.Extra)
	}
	if len(res.Skew) != 0 {
		t.Errorf("skew left in the snapshot: %+v", res.Skew)
	}
	var before []string
	for _, s := range res.Before {
		before = append(before, s.Path)
	}
	if got := strings.Join(before, " "); got != "example.com/u/lib example.com/u/third" {
		t.Errorf("skew before: %s, want lib and third (not major and major/v2, not shared)", got)
	}

	names := make(map[string]snapshot.ProjectFiles)
	for _, p := range res.Projects {
		names[p.Name] = p
	}
	wsBase := filepath.Base(e.ws)
	for dir, wantOut := range map[string]string{
		e.a:                        "a v1.2.0 v1.5.0 v1.0.1\n",
		e.b:                        "b v1.2.0 new v2.0.0 v1.0.1\n",
		filepath.Join(e.ws, "two"): "two v1.1.0\n",
	} {
		name := filepath.Base(dir)
		if dir == filepath.Join(e.ws, "two") {
			name = wsBase + "-two"
		}
		p, ok := names[name]
		if !ok {
			t.Fatalf("no project %s in %+v", name, res.Projects)
		}
		got, err := e.goRun(t, res, p, dir)
		if err != nil || got != wantOut {
			t.Errorf("go run in %s with %s: %q, %v; want %q", name, p.ModFile, got, err, wantOut)
		}
	}
	checks, err := snapshot.CheckBuilds(context.Background(), res, snapshot.CheckOptions{Go: e.goBin, Vet: true, GoCache: hostGoCache(e.goBin)})
	if err != nil {
		t.Fatal(err)
	}
	if len(checks) != 5 {
		t.Errorf("%d projects checked, want 5 (a, b, two modules, the app)", len(checks))
	}
	for _, c := range checks {
		if c.Failed != "" {
			t.Errorf("%s: %s failed:\n%s", c.Project.Name, c.Failed, c.Output)
		}
	}
	// The projects' directories are as they were: no executable left.
	for _, dir := range []string{e.a, e.b, filepath.Join(e.ws, "two")} {
		entries, _ := os.ReadDir(dir)
		for _, ent := range entries {
			if !strings.Contains(ent.Name(), ".") {
				t.Errorf("the check left %s in %s", ent.Name(), dir)
			}
		}
	}
	for _, m := range res.Reports {
		if !strings.HasPrefix(m.NAR, "sha256-") {
			t.Errorf("%s: NAR hash %q", m.Path, m.NAR)
		}
		if m.Path != "example.com/u/app" && !slices.Equal(m.Licenses, []string{"MIT"}) {
			t.Errorf("%s: licenses %v, want MIT", m.Path, m.Licenses)
		}
	}

	// Deterministic: again, the same hash.
	if again := e.run(t, e.a, e.b, e.ws); again.Hash != res.Hash {
		t.Errorf("a second run hashes to %s, the first to %s", again.Hash, res.Hash)
	}
}

// requirements returns the requirements of the go.mod file in dir.
func requirements(t *testing.T, dir string) []module.Version {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	var reqs []module.Version
	for _, l := range strings.Split(string(data), "\n") {
		f := strings.Fields(strings.TrimPrefix(strings.TrimSpace(l), "require "))
		if len(f) >= 2 && strings.HasPrefix(f[0], "example.com/u/") && strings.HasPrefix(f[1], "v") {
			reqs = append(reqs, module.Version{Path: f[0], Version: f[1]})
		}
	}
	return reqs
}

// TestOneVersionPin pins lib to v1.1.0: b, which calls New, fails to
// build, and the check says so, naming lib's change for b.
func TestOneVersionPin(t *testing.T) {
	t.Parallel()
	e := newOneEnv(t)
	e.ov.Pins = map[string]string{"example.com/u/lib": "v1.1.0"}
	res := e.run(t, e.a, e.b)
	if len(res.Pins) != 1 || res.Pins[0] != (snapshot.PinEffect{Path: "example.com/u/lib", Pinned: "v1.1.0", Selected: "v1.2.0"}) {
		t.Errorf("pins: %+v", res.Pins)
	}
	checks, err := snapshot.CheckBuilds(context.Background(), res, snapshot.CheckOptions{Go: e.goBin, GoCache: hostGoCache(e.goBin)})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range checks {
		switch c.Project.Name {
		case filepath.Base(e.a):
			if c.Failed != "" {
				t.Errorf("a failed with lib pinned to what it asked for:\n%s", c.Output)
			}
		case filepath.Base(e.b):
			if c.Failed != "build" || !strings.Contains(c.Output, "undefined: lib.New") {
				t.Errorf("b with lib pinned to v1.1.0: failed %q:\n%s", c.Failed, c.Output)
			}
			if !slices.Contains(c.Project.Changed, snapshot.VersionChange{Path: "example.com/u/lib", From: "v1.2.0", To: "v1.1.0"}) {
				t.Errorf("b's changes do not name lib: %+v", c.Project.Changed)
			}
		}
	}
}

// TestOneVersionTamper changes a zip in the snapshot: the go command,
// building with the alternate sum file, refuses it.
func TestOneVersionTamper(t *testing.T) {
	t.Parallel()
	e := newOneEnv(t)
	res := e.run(t, e.a, e.b)
	key, err := module.EscapePath("example.com/u/lib")
	if err != nil {
		t.Fatal(err)
	}
	zipFile := filepath.Join(res.Out, key, "@v", "v1.2.0.zip")
	other := filepath.Join(res.Out, key, "@v", "v1.1.0.zip")
	if _, err := os.Stat(other); err == nil {
		t.Fatalf("the snapshot holds lib v1.1.0's zip, which no build list has")
	}
	// The same files, one of them changed: a valid zip with other bytes.
	zr, err := zip.OpenReader(zipFile)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		content, _ := io.ReadAll(rc)
		rc.Close()
		if strings.HasSuffix(f.Name, "/lib.go") {
			content = bytes.Replace(content, []byte(`"new"`), []byte(`"pwned"`), 1)
		}
		w, err := zw.Create(f.Name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(content)
	}
	zr.Close()
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	os.Chmod(zipFile, 0o644)
	if err := os.WriteFile(zipFile, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = e.goRun(t, res, res.Projects[1], e.b)
	if err == nil || !strings.Contains(err.Error(), "checksum mismatch") || !strings.Contains(err.Error(), "SECURITY ERROR") {
		t.Errorf("go run with a tampered zip: %v, want the go command's checksum mismatch", err)
	}
}

// TestOneVersionExclude: an exclusion of a version no build needs under
// the chosen versions changes nothing and stays in the module file; one
// that a build needs is an error that names both.
func TestOneVersionExclude(t *testing.T) {
	t.Parallel()
	e := newOneEnv(t)
	x := t.TempDir()
	writeProject(t, x, map[string]string{
		"go.mod":  "module example.com/proj/x\n\ngo 1.21\n\nrequire example.com/u/major v1.5.0\n\nexclude example.com/u/third v1.0.0\n",
		"main.go": "package main\n\nimport _ \"example.com/u/major\"\n\nfunc main() {}\n",
	})
	// With b, third is v1.1.0 for everyone: a no longer needs v1.0.0.
	res := e.run(t, e.a, e.b, x)
	data, err := os.ReadFile(filepath.Join(res.Out, "modfiles", filepath.Base(x)+".mod"))
	if err != nil || !strings.Contains(string(data), "exclude example.com/u/third v1.0.0") {
		t.Errorf("x's module file lost its exclusion: %v\n%s", err, data)
	}
	// Without b, a needs third v1.0.0, which x excludes.
	opts := e.opts
	opts.Dirs = []string{e.a, x}
	opts.Out = filepath.Join(t.TempDir(), "deps")
	_, err = snapshot.RunOneVersion(context.Background(), opts, e.ov)
	if err == nil || !strings.Contains(err.Error(), filepath.Base(x)+" excludes example.com/u/third@v1.0.0, which "+filepath.Base(e.a)+"'s build needs") {
		t.Errorf("an excluded version a build needs: %v", err)
	}
}
