package snapshot_test

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/modmirror/modmirror/checksum"
	"github.com/modmirror/modmirror/fsstore"
	"github.com/modmirror/modmirror/snapshot"
	"github.com/modmirror/modmirror/upstream"
)

// TestOlderToolchainSameFiles checks, against the real proxy.golang.org and
// a real older Go, that the snapshot's .zip and .mod files are the bytes
// that `go mod download` stores, with the local go and with go1.21.13:
// the snapshot never runs the go command, so which Go is installed cannot
// change it, and the go command of either version accepts it. It needs the
// network, so it runs only with MODMIRROR_TEST_E2E_REAL=1.
func TestOlderToolchainSameFiles(t *testing.T) {
	if os.Getenv("MODMIRROR_TEST_E2E_REAL") != "1" {
		t.Skip("set MODMIRROR_TEST_E2E_REAL=1 to run against proxy.golang.org and go1.21.13")
	}
	goBin := goCommand(t)
	const proxy = "https://proxy.golang.org"

	// goEnv is a go command with its own GOPATH and module cache, fetching
	// from proxy.golang.org.
	goEnv := func(dir, gotoolchain string, args ...string) (*exec.Cmd, string) {
		home := goHome(t)
		modcache := filepath.Join(home, "go", "pkg", "mod")
		cmd := exec.Command(goBin, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(),
			"HOME="+home, "GOPATH="+filepath.Join(home, "go"), "GOMODCACHE="+modcache,
			"GOCACHE="+filepath.Join(home, "cache"),
			"GOPROXY="+proxy, "GOSUMDB=sum.golang.org", "GOFLAGS=-mod=mod -modcacherw",
			"GONOSUMDB=", "GOPRIVATE=", "GONOPROXY=", "GOWORK=off",
			"GOTOOLCHAIN="+gotoolchain)
		return cmd, modcache
	}
	run := func(cmd *exec.Cmd) string {
		t.Helper()
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, stderr.Bytes())
		}
		return string(out)
	}

	dir := t.TempDir()
	writeProject(t, dir, map[string]string{
		"go.mod":  "module example.com/e2e\n\ngo 1.21\n",
		"main.go": "package main\n\nimport (\n\t\"fmt\"\n\n\t\"golang.org/x/mod/semver\"\n\t\"golang.org/x/text/cases\"\n\t\"golang.org/x/text/language\"\n)\n\nfunc main() { fmt.Println(semver.Max(\"v1.0.0\", \"v1.1.0\"), cases.Title(language.English).String(\"ok\")) }\n",
	})
	cmd, _ := goEnv(dir, "local", "get", "golang.org/x/mod@v0.14.0", "golang.org/x/text@v0.14.0")
	run(cmd)
	cmd, _ = goEnv(dir, "local", "mod", "tidy")
	run(cmd)

	up, err := upstream.Parse(proxy, upstream.Options{})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "deps")
	res, err := snapshot.Run(t.Context(), snapshot.Options{Dirs: []string{dir}, Out: out, Upstream: up})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("snapshot %s: %d module versions", res.Hash, res.Modules)

	for _, gotoolchain := range []string{"local", "go1.21.13"} {
		cmd, _ := goEnv(dir, gotoolchain, "version")
		version := run(cmd)
		if gotoolchain != "local" && !strings.Contains(version, gotoolchain+" ") {
			t.Fatalf("GOTOOLCHAIN=%s: go version printed %q", gotoolchain, version)
		}
		cmd, modcache := goEnv(dir, gotoolchain, "mod", "download", "all")
		run(cmd)
		download := filepath.Join(modcache, "cache", "download")
		compared := 0
		err := filepath.WalkDir(out, func(name string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || (!strings.HasSuffix(name, ".zip") && !strings.HasSuffix(name, ".mod")) {
				return err
			}
			rel, _ := filepath.Rel(out, name)
			want, err := os.ReadFile(name)
			if err != nil {
				return err
			}
			got, err := os.ReadFile(filepath.Join(download, rel))
			if err != nil {
				// go.sum may name go.mod files of modules that a pruned
				// module graph does not load.
				t.Logf("%s: go mod download did not store %s", gotoolchain, rel)
				return nil
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s (%s): %s differs from the snapshot's", strings.TrimSpace(version), gotoolchain, rel)
			}
			compared++
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, zip := range []string{"golang.org/x/mod/@v/v0.14.0.zip", "golang.org/x/text/@v/v0.14.0.zip"} {
			if _, err := os.Stat(filepath.Join(download, zip)); err != nil {
				t.Errorf("%s: %v", gotoolchain, err)
			}
		}
		t.Logf("%s: %d files byte-identical to the snapshot's", gotoolchain, compared)
	}
}

// TestOneVersionReal unifies two programs that disagree on the version of
// golang.org/x/text (v0.3.7 and v0.14.0), against the real proxy.golang.org
// and sum.golang.org: the choice is what the go command selects for a
// module requiring both, and both build from the snapshot alone with
// their alternate module files. It needs the network, so it runs only
// with MODMIRROR_TEST_E2E_REAL=1.
func TestOneVersionReal(t *testing.T) {
	if os.Getenv("MODMIRROR_TEST_E2E_REAL") != "1" {
		t.Skip("set MODMIRROR_TEST_E2E_REAL=1 to run against proxy.golang.org and sum.golang.org")
	}
	goBin := goCommand(t)
	const proxy = "https://proxy.golang.org"
	up, err := upstream.Parse(proxy, upstream.Options{})
	if err != nil {
		t.Fatal(err)
	}
	db, err := checksum.ParseSetting("sum.golang.org")
	if err != nil {
		t.Fatal(err)
	}
	store, err := fsstore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	v, err := checksum.NewVerifier(checksum.Config{Name: db.Name, Key: db.Key, Remote: up, Store: store, StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	project := func(name, textVersion string) string {
		dir := filepath.Join(t.TempDir(), name)
		writeProject(t, dir, map[string]string{
			"go.mod":  "module example.com/" + name + "\n\ngo 1.21\n\nrequire golang.org/x/text " + textVersion + "\n",
			"main.go": "package main\n\nimport (\n\t\"fmt\"\n\n\t\"golang.org/x/text/language\"\n)\n\nfunc main() { fmt.Println(language.English) }\n",
		})
		return dir
	}
	old, recent := project("old", "v0.3.7"), project("recent", "v0.14.0")
	opts := snapshot.Options{Dirs: []string{old, recent}, Out: filepath.Join(t.TempDir(), "deps"), Upstream: up}
	res, err := snapshot.RunOneVersion(context.Background(), opts, snapshot.OneVersion{Sums: v})
	if err != nil {
		t.Fatalf("against %s (is it reachable?): %v", proxy, err)
	}
	var chosen []string
	for _, m := range res.Chosen {
		chosen = append(chosen, m.String())
	}
	if !slices.Contains(chosen, "golang.org/x/text@v0.14.0") {
		t.Errorf("chosen %v, want golang.org/x/text@v0.14.0", chosen)
	}
	checks, err := snapshot.CheckBuilds(context.Background(), res, snapshot.CheckOptions{Go: goBin, Vet: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range checks {
		if c.Failed != "" {
			t.Errorf("%s: go %s failed:\n%s", c.Project.Name, c.Failed, c.Output)
		}
	}
	for _, r := range res.Reports {
		if r.Path == "golang.org/x/text" && !slices.Equal(r.Licenses, []string{"BSD-3-Clause"}) {
			t.Errorf("golang.org/x/text: licenses %v, want BSD-3-Clause", r.Licenses)
		}
	}
}
