package snapshot_test

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/modmirror/modmirror/internal/goenv"
	"github.com/modmirror/modmirror/internal/testupstream"
	"github.com/modmirror/modmirror/snapshot"
	"github.com/modmirror/modmirror/upstream"
)

// cdepModule is a module whose only package uses cgo with a C header and a
// C file from directories that hold no Go package: include/cdep.h, which
// includes csrc/cdep.c. The go command's module zip keeps them; `go mod
// vendor`, which copies package directories only, drops them.
var cdepModule = testupstream.Module{Path: "example.com/cdep", Version: "v1.0.0", Files: map[string]string{
	"go.mod": "module example.com/cdep\n\ngo 1.21\n",
	"cdep.go": `package cdep

/*
#cgo CFLAGS: -I${SRCDIR}/include
#include "cdep.h"
*/
import "C"

// Greeting returns a string made by C code.
func Greeting() string { return C.GoString(C.cdep_greeting()) }
`,
	"include/cdep.h": `#ifndef CDEP_H
#define CDEP_H
#define CDEP_WHO "include/cdep.h"
#include "../csrc/cdep.c"
#endif
`,
	"csrc/cdep.c": `static const char *cdep_greeting(void) {
	return "hello from csrc/cdep.c via " CDEP_WHO;
}
`,
}}

const cdepOutput = "hello from csrc/cdep.c via include/cdep.h"

// goCommand returns the go command to run, or skips the test.
// goHome returns a new HOME for a go command, with its telemetry off, so
// that nothing writes into it once go exits (goenv.TelemetryOff).
func goHome(t *testing.T) string {
	t.Helper()
	home := t.TempDir()
	if err := goenv.TelemetryOff(home); err != nil {
		t.Fatal(err)
	}
	return home
}

func goCommand(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat("/usr/local/go/bin/go"); err == nil {
		return "/usr/local/go/bin/go"
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	return goBin
}

// hostGoCache is the build cache of the user running the tests: sharing it
// only saves compiling the standard library again; it holds no modules.
func hostGoCache(goBin string) string {
	hostGoCacheOnce.Do(func() {
		if out, err := exec.Command(goBin, "env", "GOCACHE").Output(); err == nil {
			hostGoCacheDir = strings.TrimSpace(string(out))
		}
	})
	return hostGoCacheDir
}

var (
	hostGoCacheOnce sync.Once
	hostGoCacheDir  string
)

// canUnshareNet reports whether `unshare -n` can run a command without
// network (it can as root, or with user namespaces).
var canUnshareNet = sync.OnceValue(func() bool {
	return exec.Command("unshare", "-n", "true").Run() == nil
})

// offlineGo returns a go command run in dir, from the snapshot in out only:
// a fresh module cache, GOPATH and HOME, GOPROXY naming out alone, and
// under `unshare -n` (no network at all) when it works.
func offlineGo(t *testing.T, goBin, out, dir string, args ...string) *exec.Cmd {
	t.Helper()
	home := goHome(t)
	gopath := filepath.Join(home, "go")
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"GOPATH=" + gopath,
		"GOMODCACHE=" + filepath.Join(gopath, "pkg", "mod"),
		"GOPROXY=file://" + filepath.ToSlash(out),
		"GOFLAGS=-mod=mod -modcacherw",
		"GOSUMDB=off", "GONOSUMDB=", "GOPRIVATE=", "GONOPROXY=", "GOINSECURE=",
		"GOTOOLCHAIN=local",
		"GOWORK=off",
		"CGO_ENABLED=1",
	}
	if c := hostGoCache(goBin); c != "" {
		env = append(env, "GOCACHE="+c)
	} else {
		env = append(env, "GOCACHE="+filepath.Join(home, "cache"))
	}
	var cmd *exec.Cmd
	if canUnshareNet() {
		cmd = exec.Command("unshare", append([]string{"-n", goBin}, args...)...)
	} else {
		t.Logf("unshare -n does not work here; running %s without a network namespace", strings.Join(args, " "))
		cmd = exec.Command(goBin, args...)
	}
	cmd.Dir = dir
	cmd.Env = env
	return cmd
}

// TestCgoHeaderOffline is the reason snapshots exist beside `go mod
// vendor`: a dependency's C header and C file, in directories with no Go
// package, are in the snapshot, so a cgo build offline from it works and
// the binary prints what the C code returns; vendoring the same project
// leaves the header out.
func TestCgoHeaderOffline(t *testing.T) {
	t.Parallel()
	goBin := goCommand(t)
	if _, err := exec.LookPath("gcc"); err != nil {
		if _, err := exec.LookPath("cc"); err != nil {
			t.Skip("no C compiler")
		}
	}
	srv := testupstream.New(t, cdepModule)
	up, err := upstream.Parse(srv.URL, upstream.Options{})
	if err != nil {
		t.Fatal(err)
	}
	project := map[string]string{
		"go.mod": "module example.com/cmain\n\ngo 1.21\n\nrequire example.com/cdep v1.0.0\n",
		"go.sum": strings.Join(srv.GoSumLines("example.com/cdep", "v1.0.0"), "\n") + "\n",
		"main.go": `package main

import (
	"fmt"

	"example.com/cdep"
)

func main() { fmt.Println(cdep.Greeting()) }
`,
	}
	dir := t.TempDir()
	writeProject(t, dir, project)
	out := filepath.Join(t.TempDir(), "deps")
	if _, err := snapshot.Run(t.Context(), snapshot.Options{Dirs: []string{dir}, Out: out, Upstream: up}); err != nil {
		t.Fatal(err)
	}
	srv.Close()

	bin := filepath.Join(t.TempDir(), "cmain")
	build := offlineGo(t, goBin, out, dir, "build", "-o", bin, ".")
	if output, err := build.CombinedOutput(); err != nil {
		t.Fatalf("offline cgo build: %v\n%s", err, output)
	}
	got, err := exec.Command(bin).Output()
	if err != nil {
		t.Fatalf("running the binary: %v", err)
	}
	if strings.TrimSpace(string(got)) != cdepOutput {
		t.Errorf("binary printed %q, want %q", got, cdepOutput)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "go.sum")); string(data) != project["go.sum"] {
		t.Errorf("go build changed go.sum:\n%s", data)
	}

	// The same project vendored: the header is gone, and so is the build.
	vdir := t.TempDir()
	writeProject(t, vdir, project)
	vendor := offlineGo(t, goBin, out, vdir, "mod", "vendor")
	vendor.Env = append(vendor.Env, "GOFLAGS=-modcacherw")
	if output, err := vendor.CombinedOutput(); err != nil {
		t.Fatalf("go mod vendor: %v\n%s", err, output)
	}
	if _, err := os.Stat(filepath.Join(vdir, "vendor/example.com/cdep/cdep.go")); err != nil {
		t.Errorf("go mod vendor did not vendor the package: %v", err)
	}
	for _, name := range []string{"include/cdep.h", "csrc/cdep.c"} {
		if _, err := os.Stat(filepath.Join(vdir, "vendor/example.com/cdep", name)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("vendor/example.com/cdep/%s: %v, want it absent", name, err)
		}
	}
	vbuild := offlineGo(t, goBin, out, vdir, "build", "-mod=vendor", "-o", filepath.Join(t.TempDir(), "vmain"), ".")
	vbuild.Env = append(vbuild.Env, "GOFLAGS=")
	var stderr bytes.Buffer
	vbuild.Stderr = &stderr
	if err := vbuild.Run(); err == nil {
		t.Errorf("vendored cgo build succeeded without the header")
	} else if !strings.Contains(stderr.String(), "cdep.h") {
		t.Errorf("vendored cgo build failed, but not for the header: %v\n%s", err, stderr.Bytes())
	}
}
