package snapshot_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modmirror/modmirror"
	"github.com/modmirror/modmirror/internal/testupstream"
	"github.com/modmirror/modmirror/snapshot"
	"github.com/modmirror/modmirror/upstream"
)

// fixtures are the modules of the fixture upstream.
func fixtures() []testupstream.Module {
	pkg := func(path, name, version string) testupstream.Module {
		return testupstream.Module{Path: path, Version: version, Files: map[string]string{
			"go.mod":           "module " + path + "\n\ngo 1.21\n",
			name + ".go":       "package " + name + "\n\n// Version is the module version.\nconst Version = \"" + version + "\"\n",
			"README":           path + "@" + version + "\n",
			"internal/x/x.go":  "package x\n",
			"LICENSE":          "fixture\n",
			"testdata/data.in": "data\n",
		}}
	}
	return []testupstream.Module{
		pkg("example.com/a", "a", "v1.0.0"),
		pkg("example.com/b", "b", "v1.2.0"),
		pkg("example.com/Capital/c", "c", "v0.1.0"),
		pkg("example.com/d", "d", "v1.0.0"),
		pkg("example.com/d", "d", "v1.1.0"),
		pkg("example.com/new", "new", "v1.0.0"),
		pkg("example.com/pseudo", "pseudo", "v0.0.0-20200102030405-abcdefabcdef"),
	}
}

// env is a fixture upstream and a client for it.
type env struct {
	srv *testupstream.Server
	up  modmirror.Upstream
}

func newEnv(t *testing.T) *env {
	t.Helper()
	srv := testupstream.New(t, fixtures()...)
	up, err := upstream.Parse(srv.URL, upstream.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return &env{srv: srv, up: up}
}

// sums returns the go.sum lines of module versions given as "path@version".
func (e *env) sums(t *testing.T, mvs ...string) string {
	t.Helper()
	var b strings.Builder
	for _, mv := range mvs {
		path, version, _ := strings.Cut(mv, "@")
		for _, l := range e.srv.GoSumLines(path, version) {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// writeProject writes files (name -> content) under dir.
func writeProject(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		file := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

const mainGoMod = `module example.com/main

go 1.21

require (
	example.com/a v1.0.0
	example.com/b v1.2.0
	example.com/Capital/c v0.1.0
)
`

const mainGo = `package main

import (
	"fmt"

	"example.com/a"
	"example.com/b"
	"example.com/Capital/c"
)

func main() { fmt.Println(a.Version, b.Version, c.Version) }
`

// mainProject writes a project with three dependencies and returns its
// directory.
func (e *env) mainProject(t *testing.T) string {
	dir := t.TempDir()
	writeProject(t, dir, map[string]string{
		"go.mod":  mainGoMod,
		"go.sum":  e.sums(t, "example.com/a@v1.0.0", "example.com/b@v1.2.0", "example.com/Capital/c@v0.1.0"),
		"main.go": mainGo,
	})
	return dir
}

func (e *env) run(t *testing.T, opts snapshot.Options) (*snapshot.Result, error) {
	t.Helper()
	if opts.Upstream == nil {
		opts.Upstream = e.up
	}
	if opts.Manifest == "" {
		opts.Manifest = snapshot.ManifestFile(opts.Out)
	}
	return snapshot.Run(context.Background(), opts)
}

// tree returns the files under dir, slash-separated names to content, and
// fails on anything but regular files and directories with the snapshot's
// modes and times.
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := make(map[string]string)
	err := filepath.WalkDir(dir, func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		want := fs.FileMode(0o644)
		if d.IsDir() {
			want = fs.ModeDir | 0o755
		}
		if fi.Mode() != want {
			t.Errorf("%s: mode %v, want %v", name, fi.Mode(), want)
		}
		if !fi.ModTime().Equal(snapshot.ModTime) {
			t.Errorf("%s: mtime %v, want %v", name, fi.ModTime(), snapshot.ModTime)
		}
		if d.IsDir() {
			return nil
		}
		data, err := os.ReadFile(name)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, name)
		files[filepath.ToSlash(rel)] = string(data)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s: %v %s", url, err, resp.Status)
	}
	return string(data)
}

// checkNoLeftovers fails if the parent of out holds anything but out and
// its manifest.
func checkNoLeftovers(t *testing.T, out string) {
	t.Helper()
	entries, err := os.ReadDir(filepath.Dir(out))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if n := e.Name(); n != filepath.Base(out) && n != filepath.Base(out)+".manifest" {
			t.Errorf("left beside the snapshot: %s", n)
		}
	}
}

func TestSnapshot(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dir := e.mainProject(t)
	out := filepath.Join(t.TempDir(), "deps")
	res, err := e.run(t, snapshot.Options{Dirs: []string{dir}, Out: out})
	if err != nil {
		t.Fatal(err)
	}
	got := tree(t, out)
	var want []string
	for _, mv := range []struct{ epath, path, version string }{
		{"example.com/a", "example.com/a", "v1.0.0"},
		{"example.com/b", "example.com/b", "v1.2.0"},
		{"example.com/!capital/c", "example.com/Capital/c", "v0.1.0"},
	} {
		base := mv.epath + "/@v/" + mv.version
		want = append(want, mv.epath+"/@v/list", base+".info", base+".mod", base+".zip")
		for _, ext := range []string{".mod", ".zip"} {
			if got[base+ext] != get(t, e.srv.URL+"/"+base+ext) {
				t.Errorf("%s differs from the upstream's", base+ext)
			}
		}
		if g, w := got[base+".info"], `{"Version":"`+mv.version+`","Time":"2019-01-01T00:00:00Z"}`; g != w {
			t.Errorf("%s.info = %s, want %s", base, g, w)
		}
		if g, w := got[mv.epath+"/@v/list"], mv.version+"\n"; g != w {
			t.Errorf("%s/@v/list = %q, want %q", mv.epath, g, w)
		}
	}
	slices.Sort(want)
	names := slices.Sorted(func(yield func(string) bool) {
		for k := range got {
			if !yield(k) {
				return
			}
		}
	})
	if !slices.Equal(names, want) {
		t.Errorf("files:\n%s\nwant:\n%s", strings.Join(names, "\n"), strings.Join(want, "\n"))
	}
	if res.Modules != 3 || res.Files != 9 || res.Fetched != 9 || res.Reused != 0 {
		t.Errorf("result: %+v", res)
	}
	h, err := snapshot.Hash(out)
	if err != nil || h != res.Hash || !strings.HasPrefix(h, "sha256-") {
		t.Errorf("Hash = %q, %v; Run said %q", h, err, res.Hash)
	}
	checkNoLeftovers(t, out)
	m, err := snapshot.ReadManifest(out + ".manifest")
	if err != nil {
		t.Fatal(err)
	}
	if m.Hash != res.Hash || len(m.Lines) != 9 {
		t.Errorf("manifest: %+v", m)
	}
}

func TestDeterministic(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dir := e.mainProject(t)
	var trees []map[string]string
	var hashes []string
	for _, jobs := range []int{1, 32} {
		out := filepath.Join(t.TempDir(), fmt.Sprint("deps", jobs))
		res, err := e.run(t, snapshot.Options{Dirs: []string{dir}, Out: out, Jobs: jobs})
		if err != nil {
			t.Fatal(err)
		}
		trees = append(trees, tree(t, out))
		hashes = append(hashes, res.Hash)
	}
	if hashes[0] != hashes[1] {
		t.Errorf("hashes differ: %v", hashes)
	}
	if fmt.Sprint(trees[0]) != fmt.Sprint(trees[1]) {
		t.Errorf("trees differ")
	}
}

func TestReuse(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dir := e.mainProject(t)
	out := filepath.Join(t.TempDir(), "deps")
	first, err := e.run(t, snapshot.Options{Dirs: []string{dir}, Out: out})
	if err != nil {
		t.Fatal(err)
	}
	e.srv.ResetRequests()
	before := fileInfos(t, out)
	second, err := e.run(t, snapshot.Options{Dirs: []string{dir}, Out: out})
	if err != nil {
		t.Fatal(err)
	}
	checkKept(t, out, before)
	if log := e.srv.RequestLog(); len(log) != 0 {
		t.Errorf("warm run asked the upstream: %v", log)
	}
	if second.Hash != first.Hash || second.Fetched != 0 || second.Reused != 9 {
		t.Errorf("second run: %+v", second)
	}
	// Offline too.
	third, err := snapshot.Run(context.Background(), snapshot.Options{Dirs: []string{dir}, Out: out})
	if err != nil || third.Hash != first.Hash {
		t.Errorf("offline run: %v, %+v", err, third)
	}
}

func TestTamper(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		fault testupstream.Fault
		file  string
	}{
		{testupstream.TamperZip, "example.com/b/@v/v1.2.0.zip"},
		{testupstream.TamperMod, "example.com/b/@v/v1.2.0.mod"},
	} {
		t.Run(tc.fault.String(), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			dir := e.mainProject(t)
			out := filepath.Join(t.TempDir(), "deps")
			e.srv.SetFault("/"+tc.file, tc.fault)
			_, err := e.run(t, snapshot.Options{Dirs: []string{dir}, Out: out})
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, modmirror.ErrSecurity) {
				t.Errorf("error does not wrap ErrSecurity: %v", err)
			}
			lines := e.srv.GoSumLines("example.com/b", "v1.2.0")
			want := strings.Fields(lines[0])[2]
			if strings.HasSuffix(tc.file, ".mod") {
				want = strings.Fields(lines[1])[2]
			}
			msg := err.Error()
			t.Log(msg)
			if !strings.Contains(msg, "example.com/b@v1.2.0") || !strings.Contains(msg, want) || strings.Count(msg, "h1:") < 2 {
				t.Errorf("error does not name the module and both hashes: %v", err)
			}
			if _, err := os.Stat(filepath.Join(out, tc.file)); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("%s: %v, want not exist", tc.file, err)
			}
			checkNoLeftovers(t, out)
		})
	}
}

// TestWarm100 checks that a warm re-run over 100 modules is fast.
func TestWarm100(t *testing.T) {
	t.Parallel()
	var mods []testupstream.Module
	var require strings.Builder
	for i := range 100 {
		path := fmt.Sprintf("example.com/many/m%03d", i)
		files := map[string]string{"go.mod": "module " + path + "\n", "m.go": "package m\n"}
		for j := range 20 {
			files[fmt.Sprintf("f%02d.go", j)] = strings.Repeat("// filler\n", 200) + "package m\n"
		}
		mods = append(mods, testupstream.Module{Path: path, Version: "v1.0.0", Files: files})
		fmt.Fprintf(&require, "require %s v1.0.0\n", path)
	}
	srv := testupstream.New(t, mods...)
	up, err := upstream.Parse(srv.URL, upstream.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var sums strings.Builder
	for _, m := range mods {
		for _, l := range srv.GoSumLines(m.Path, m.Version) {
			sums.WriteString(l + "\n")
		}
	}
	dir := t.TempDir()
	writeProject(t, dir, map[string]string{
		"go.mod": "module example.com/main\n\ngo 1.21\n\n" + require.String(),
		"go.sum": sums.String(),
	})
	out := filepath.Join(t.TempDir(), "deps")
	opts := snapshot.Options{Dirs: []string{dir}, Out: out, Upstream: up}
	first, err := snapshot.Run(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	srv.ResetRequests()
	before := fileInfos(t, out)
	second, err := snapshot.Run(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	checkKept(t, out, before)
	if n := len(srv.RequestLog()); n != 0 || second.Hash != first.Hash {
		t.Errorf("warm run: %d requests, hash %s, want %s", n, second.Hash, first.Hash)
	}
	if second.Modules != 100 || second.Fetched != 0 || second.Reused != second.Files || second.Files != first.Files {
		t.Errorf("warm run: %d modules, %d files fetched, %d of %d kept; want 100 modules, none fetched, all %d kept",
			second.Modules, second.Fetched, second.Reused, second.Files, first.Files)
	}
}

// fileInfos returns what Lstat says of each file and directory under dir.
func fileInfos(t *testing.T, dir string) map[string]fs.FileInfo {
	t.Helper()
	infos := make(map[string]fs.FileInfo)
	err := filepath.WalkDir(dir, func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		infos[name] = fi
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return infos
}

// checkKept checks that a warm run left the tree under dir as it found it
// (before, from fileInfos): the same files, none written again (a file
// written again is a new file renamed into place), so that the run's work
// was to check what it had, not to fetch or write it. How fast that is
// the benchmarks measure, not the tests.
func checkKept(t *testing.T, dir string, before map[string]fs.FileInfo) {
	t.Helper()
	after := fileInfos(t, dir)
	if len(after) != len(before) {
		t.Errorf("%d files and directories after the warm run, %d before", len(after), len(before))
	}
	for name, fi := range after {
		if old, ok := before[name]; !ok || !os.SameFile(old, fi) {
			t.Errorf("the warm run wrote %s", name)
		}
	}
}

func TestMissingSum(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dir := t.TempDir()
	writeProject(t, dir, map[string]string{
		"go.mod": mainGoMod,
		"go.sum": e.sums(t, "example.com/a@v1.0.0", "example.com/Capital/c@v0.1.0"),
	})
	_, err := e.run(t, snapshot.Options{Dirs: []string{dir}, Out: filepath.Join(t.TempDir(), "deps")})
	if err == nil || !strings.Contains(err.Error(), "go mod tidy") || !strings.Contains(err.Error(), "example.com/b@v1.2.0") {
		t.Errorf("err = %v, want one naming example.com/b@v1.2.0 and go mod tidy", err)
	}
}

func TestReplace(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dir := t.TempDir()
	writeProject(t, dir, map[string]string{
		"go.mod": `module example.com/main

go 1.21

require (
	example.com/a v1.0.0
	example.com/local v1.0.0
	example.com/old v1.0.0
)

replace example.com/local => ../local

replace example.com/old => example.com/new v1.0.0
`,
		"go.sum": e.sums(t, "example.com/a@v1.0.0", "example.com/new@v1.0.0"),
	})
	out := filepath.Join(t.TempDir(), "deps")
	if _, err := e.run(t, snapshot.Options{Dirs: []string{dir}, Out: out}); err != nil {
		t.Fatal(err)
	}
	got := tree(t, out)
	for _, name := range []string{"example.com/a/@v/v1.0.0.zip", "example.com/new/@v/v1.0.0.zip", "example.com/new/@v/v1.0.0.mod"} {
		if _, ok := got[name]; !ok {
			t.Errorf("no %s", name)
		}
	}
	for name := range got {
		if strings.Contains(name, "local") || strings.Contains(name, "old") {
			t.Errorf("unexpected %s", name)
		}
	}
}

func TestWorkspace(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dir := t.TempDir()
	writeProject(t, dir, map[string]string{
		"go.work": "go 1.21\n\nuse (\n\t./one\n\t./two\n)\n",
		"one/go.mod": `module example.com/one

go 1.21

require (
	example.com/a v1.0.0
	example.com/two v0.0.0
)
`,
		"one/go.sum":  e.sums(t, "example.com/a@v1.0.0"),
		"two/go.mod":  "module example.com/two\n\ngo 1.21\n\nrequire example.com/b v1.2.0\n",
		"two/go.sum":  e.sums(t, "example.com/b@v1.2.0"),
		"go.work.sum": e.sums(t, "example.com/Capital/c@v0.1.0"),
	})
	out := filepath.Join(t.TempDir(), "deps")
	res, err := e.run(t, snapshot.Options{Dirs: []string{dir}, Out: out})
	if err != nil {
		t.Fatal(err)
	}
	if res.Modules != 3 {
		t.Errorf("%d modules, want 3 (a, b, c)", res.Modules)
	}
}

func TestSkew(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p1, p2 := t.TempDir(), t.TempDir()
	writeProject(t, p1, map[string]string{
		"go.mod": "module example.com/p1\n\ngo 1.21\n\nrequire example.com/d v1.0.0\n",
		"go.sum": e.sums(t, "example.com/d@v1.0.0", "example.com/a@v1.0.0"),
	})
	writeProject(t, p2, map[string]string{
		"go.mod": "module example.com/p2\n\ngo 1.21\n\nrequire example.com/d v1.1.0\n",
		"go.sum": e.sums(t, "example.com/d@v1.1.0", "example.com/a@v1.0.0"),
	})
	out := filepath.Join(t.TempDir(), "deps")
	res, err := e.run(t, snapshot.Options{Dirs: []string{p1, p2}, Out: out})
	if err != nil {
		t.Fatal(err)
	}
	want := []snapshot.Skew{{Path: "example.com/d", Versions: []snapshot.SkewVersion{
		{Version: "v1.0.0", Projects: []string{p1}},
		{Version: "v1.1.0", Projects: []string{p2}},
	}}}
	if fmt.Sprint(res.Skew) != fmt.Sprint(want) {
		t.Errorf("skew = %v, want %v", res.Skew, want)
	}
	if g := tree(t, out)["example.com/d/@v/list"]; g != "v1.0.0\nv1.1.0\n" {
		t.Errorf("list = %q", g)
	}
}

func TestStaleRemoved(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dir := e.mainProject(t)
	out := filepath.Join(t.TempDir(), "deps")
	old := t.TempDir()
	writeProject(t, old, map[string]string{
		"go.mod": "module example.com/old\n\ngo 1.21\n\nrequire example.com/d v1.0.0\n",
		"go.sum": e.sums(t, "example.com/d@v1.0.0", "example.com/a@v1.0.0"),
	})
	if _, err := e.run(t, snapshot.Options{Dirs: []string{old}, Out: out}); err != nil {
		t.Fatal(err)
	}
	res, err := e.run(t, snapshot.Options{Dirs: []string{dir}, Out: out})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"example.com/d/@v/list", "example.com/d/@v/v1.0.0.info", "example.com/d/@v/v1.0.0.mod", "example.com/d/@v/v1.0.0.zip"}
	if !slices.Equal(res.Removed, want) {
		t.Errorf("removed %v, want %v", res.Removed, want)
	}
	if _, err := os.Stat(filepath.Join(out, "example.com/d")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("example.com/d still there: %v", err)
	}
	fresh := filepath.Join(t.TempDir(), "deps")
	res2, err := e.run(t, snapshot.Options{Dirs: []string{dir}, Out: fresh})
	if err != nil || res2.Hash != res.Hash {
		t.Errorf("fresh snapshot: %v, hash %s, want %s", err, res2.Hash, res.Hash)
	}
}

func TestRefuseNonSnapshot(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dir := e.mainProject(t)
	for _, extra := range []string{"notes.txt", "example.com/a/@v/v1.0.0.ziphash", "example.com/a/@v/v1.0.0.lock", "sumdb/sum.golang.org/latest"} {
		out := filepath.Join(t.TempDir(), "deps")
		writeProject(t, out, map[string]string{extra: "keep me"})
		_, err := e.run(t, snapshot.Options{Dirs: []string{dir}, Out: out})
		if err == nil || !strings.Contains(err.Error(), "does not look like a snapshot") {
			t.Errorf("%s: err = %v", extra, err)
		}
		if _, err := os.Stat(filepath.Join(out, extra)); err != nil {
			t.Errorf("%s removed: %v", extra, err)
		}
	}
}

func TestExpect(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dir := e.mainProject(t)
	out := filepath.Join(t.TempDir(), "deps")
	first, err := e.run(t, snapshot.Options{Dirs: []string{dir}, Out: out, Expect: ""})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.run(t, snapshot.Options{Dirs: []string{dir}, Out: out, Expect: first.Hash}); err != nil {
		t.Fatalf("expecting the right hash: %v", err)
	}
	// go.sum changes: b is upgraded to another version (here: d).
	writeProject(t, dir, map[string]string{
		"go.mod": strings.Replace(mainGoMod, "example.com/b v1.2.0", "example.com/d v1.1.0", 1),
		"go.sum": e.sums(t, "example.com/a@v1.0.0", "example.com/d@v1.1.0", "example.com/Capital/c@v0.1.0"),
	})
	res, err := e.run(t, snapshot.Options{Dirs: []string{dir}, Out: out, Expect: first.Hash})
	var merr *snapshot.HashMismatchError
	if !errors.As(err, &merr) {
		t.Fatalf("err = %v, want a HashMismatchError", err)
	}
	if res == nil || merr.Got != res.Hash || merr.Expected != first.Hash {
		t.Errorf("mismatch error %+v, result %+v", merr, res)
	}
	diff := strings.Join(merr.Diff, "\n")
	if !strings.Contains(diff, "- example.com/b v1.2.0 h1:") || !strings.Contains(diff, "+ example.com/d v1.1.0 h1:") || strings.Contains(diff, "example.com/a") {
		t.Errorf("diff:\n%s", diff)
	}
	// The failing run left the expected snapshot's manifest, so a second
	// failing run still says what changed.
	_, err = e.run(t, snapshot.Options{Dirs: []string{dir}, Out: out, Expect: first.Hash})
	if !errors.As(err, &merr) || strings.Join(merr.Diff, "\n") != diff {
		t.Errorf("second failing run: %v, diff %q; want the same diff", err, merr.Diff)
	}
}

func TestInfoFallback(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dir := t.TempDir()
	const pv = "v0.0.0-20200102030405-abcdefabcdef"
	writeProject(t, dir, map[string]string{
		"go.mod": "module example.com/main\n\ngo 1.21\n\nrequire (\n\texample.com/pseudo " + pv + "\n\texample.com/a v1.0.0\n)\n",
		"go.sum": e.sums(t, "example.com/pseudo@"+pv, "example.com/a@v1.0.0"),
	})
	e.srv.SetFault("/example.com/pseudo/@v/"+pv+".info", testupstream.Status(404))
	e.srv.SetFault("/example.com/a/@v/v1.0.0.info", testupstream.Status(410))
	out := filepath.Join(t.TempDir(), "deps")
	if _, err := e.run(t, snapshot.Options{Dirs: []string{dir}, Out: out}); err != nil {
		t.Fatal(err)
	}
	got := tree(t, out)
	if g, w := got["example.com/pseudo/@v/"+pv+".info"], `{"Version":"`+pv+`","Time":"2020-01-02T03:04:05Z"}`; g != w {
		t.Errorf("pseudo .info = %s, want %s", g, w)
	}
	if g, w := got["example.com/a/@v/v1.0.0.info"], `{"Version":"v1.0.0","Time":"1970-01-01T00:00:00Z"}`; g != w {
		t.Errorf("a .info = %s, want %s", g, w)
	}
}

// TestGoBuild builds a project offline from its snapshot with the real go
// command, the upstream closed.
func TestGoBuild(t *testing.T) {
	t.Parallel()
	goBin := goCommand(t)
	e := newEnv(t)
	dir := e.mainProject(t)
	out := filepath.Join(t.TempDir(), "deps")
	if _, err := e.run(t, snapshot.Options{Dirs: []string{dir}, Out: out}); err != nil {
		t.Fatal(err)
	}
	e.srv.Close()

	gopath := t.TempDir()
	cmd := exec.Command(goBin, "build", "-o", filepath.Join(t.TempDir(), "main"), ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"GOPROXY=file://"+filepath.ToSlash(out),
		"GOFLAGS=-mod=mod -modcacherw",
		"GOSUMDB=off", "GONOSUMDB=", "GOPRIVATE=", "GONOPROXY=",
		"GOPATH="+gopath,
		"GOMODCACHE="+filepath.Join(gopath, "pkg", "mod"),
		"GOTOOLCHAIN=local",
		"CGO_ENABLED=0",
		"GOWORK=off",
	)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("go build: %v\n%s", err, stderr.Bytes())
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "go.sum")); string(data) != e.sums(t, "example.com/a@v1.0.0", "example.com/b@v1.2.0", "example.com/Capital/c@v0.1.0") {
		t.Errorf("go build changed go.sum:\n%s", data)
	}
}

func TestProgress(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dir := e.mainProject(t)
	var buf bytes.Buffer
	_, err := e.run(t, snapshot.Options{Dirs: []string{dir}, Out: filepath.Join(t.TempDir(), "deps"),
		Progress: &buf, ProgressInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "snapshot: 3/3 modules, ") || !strings.Contains(last, "/s") {
		t.Errorf("last progress line %q", last)
	}
}

// TestStagingInside checks that a staging directory left inside the output
// directory (where it goes when the parent is read-only) is removed and
// does not change the hash, and that a read-only parent works.
func TestStagingInside(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dir := e.mainProject(t)
	parent := t.TempDir()
	out := filepath.Join(parent, "deps")
	first, err := e.run(t, snapshot.Options{Dirs: []string{dir}, Out: out})
	if err != nil {
		t.Fatal(err)
	}
	writeProject(t, out, map[string]string{".snapshot-staging-123/zip-456": "partial"})
	second, err := e.run(t, snapshot.Options{Dirs: []string{dir}, Out: out})
	if err != nil {
		t.Fatal(err)
	}
	if second.Hash != first.Hash {
		t.Errorf("hash changed: %s, want %s", second.Hash, first.Hash)
	}
	tree(t, out)
	if _, err := os.Stat(filepath.Join(out, ".snapshot-staging-123")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("leftover staging directory: %v", err)
	}

	if os.Getuid() == 0 {
		t.Skip("root can write to read-only directories")
	}
	if err := os.RemoveAll(filepath.Join(out, "example.com/b")); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(parent, 0o555); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(parent, 0o755)
	third, err := e.run(t, snapshot.Options{Dirs: []string{dir}, Out: out, Manifest: filepath.Join(t.TempDir(), "m")})
	if err != nil {
		t.Fatal(err)
	}
	if third.Hash != first.Hash {
		t.Errorf("hash with read-only parent: %s, want %s", third.Hash, first.Hash)
	}
	tree(t, out)
}

// TestNixHash checks the hash against the real nix, as a Nix fixed-output
// derivation would compute it.
func TestNixHash(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	out := filepath.Join(t.TempDir(), "deps")
	res, err := e.run(t, snapshot.Options{Dirs: []string{e.mainProject(t)}, Out: out})
	if err != nil {
		t.Fatal(err)
	}
	got := nixHashPath(t, out)
	if got == "" {
		t.Skip("nix not on PATH")
	}
	if got != res.Hash {
		t.Errorf("nix hash path = %s, snapshot hash = %s", got, res.Hash)
	}
}
