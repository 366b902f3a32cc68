package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modmirror/modmirror/internal/testupstream"
	"github.com/modmirror/modmirror/snapshot"
)

// runSnapshot runs "modmirror snapshot args..." and returns its stdout and
// stderr.
func runSnapshot(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	c := &snapshotCommand{stdout: &out, stderr: &errOut}
	err = c.Run(context.Background(), args)
	return out.String(), errOut.String(), err
}

func TestSnapshotCommand(t *testing.T) {
	srv := testupstream.New(t,
		testupstream.Module{Path: "example.com/a", Version: "v1.0.0", Files: map[string]string{
			"go.mod": "module example.com/a\n", "a.go": "package a\n"}},
		testupstream.Module{Path: "example.com/b", Version: "v1.0.0", Files: map[string]string{
			"go.mod": "module example.com/b\n", "b.go": "package b\n"}},
	)
	dir := t.TempDir()
	sums := strings.Join(append(srv.GoSumLines("example.com/a", "v1.0.0"), srv.GoSumLines("example.com/b", "v1.0.0")...), "\n") + "\n"
	for name, content := range map[string]string{
		"go.mod": "module example.com/main\n\ngo 1.21\n\nrequire (\n\texample.com/a v1.0.0\n\texample.com/b v1.0.0\n)\n",
		"go.sum": sums,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(t.TempDir(), "deps")

	// Flags after the directory, as in "modmirror snapshot ./project -o deps".
	stdout, stderr, err := runSnapshot(t, dir, "-o", out, "--upstream", srv.URL, "--jobs", "3", "--print-env", "-q")
	if err != nil {
		t.Fatalf("snapshot: %v\n%s", err, stderr)
	}
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	hash := lines[0]
	if !strings.HasPrefix(hash, "sha256-") {
		t.Fatalf("first line %q is not a hash", hash)
	}
	env := strings.Join(lines[1:], "\n")
	for _, want := range []string{"GOPROXY=file://" + filepath.ToSlash(out), "GOFLAGS=-mod=mod", "GOSUMDB=off", "GOTOOLCHAIN=local", "GONOSUMDB=", "GOPRIVATE=", "GONOPROXY="} {
		if !strings.Contains(env+"\n", want+"\n") {
			t.Errorf("--print-env lacks %s:\n%s", want, env)
		}
	}
	if stderr != "" {
		t.Errorf("-q printed %q", stderr)
	}

	// Without --print-env, the hash is the last line; offline works from
	// what is there.
	stdout, _, err = runSnapshot(t, "-o", out, "--upstream", "off", "--expect", hash, dir)
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(stdout), "\n"); lines[len(lines)-1] != hash {
		t.Errorf("last line %q, want %s", lines[len(lines)-1], hash)
	}

	stdout, _, err = runSnapshot(t, "hash", out)
	if err != nil || strings.TrimSpace(stdout) != hash {
		t.Errorf("snapshot hash: %q, %v; want %s", stdout, err, hash)
	}

	_, _, err = runSnapshot(t, dir, "-o", out, "--upstream", "off", "--expect", "sha256-AAAA")
	var merr *snapshot.HashMismatchError
	if !errors.As(err, &merr) || merr.Got != hash {
		t.Errorf("--expect mismatch: %v", err)
	}
	if run(context.Background(), []string{"snapshot", dir, "-o", out, "--upstream", "off", "-q", "--expect", "sha256-AAAA"}, os.Stdout, os.Stderr) != 1 {
		t.Errorf("--expect mismatch does not exit 1")
	}

	var ue usageError
	if _, _, err := runSnapshot(t, dir); !errors.As(err, &ue) {
		t.Errorf("no -o: %v, want a usage error", err)
	}
}

func TestSnapshotToolchainCommand(t *testing.T) {
	tcMod := func(goos, goarch string) testupstream.Module {
		return testupstream.Module{Path: "golang.org/toolchain", Version: "v0.0.1-go1.99.1." + goos + "-" + goarch,
			Files: map[string]string{"go.mod": "module golang.org/toolchain\n", "bin/go": "#!/bin/sh\n"}}
	}
	srv := testupstream.New(t, tcMod("linux", "amd64"), tcMod("darwin", "arm64"))
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/main\n\ngo 1.99.1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "deps")

	stdout, stderr, err := runSnapshot(t, dir, "-o", out, "--upstream", srv.URL, "--sumdb", srv.VerifierKey(),
		"--toolchain", "linux/amd64,darwin/arm64", "--print-env", "-q")
	if err != nil {
		t.Fatalf("snapshot --toolchain: %v\n%s", err, stderr)
	}
	if !strings.Contains(stdout, "\nGOTOOLCHAIN=auto\n") {
		t.Errorf("--print-env with --toolchain lacks GOTOOLCHAIN=auto:\n%s", stdout)
	}
	for _, name := range []string{"v0.0.1-go1.99.1.linux-amd64.zip", "v0.0.1-go1.99.1.darwin-arm64.zip", "v0.0.1-go1.99.1.linux-amd64.mod", "v0.0.1-go1.99.1.darwin-arm64.info"} {
		if _, err := os.Stat(filepath.Join(out, "golang.org/toolchain/@v", name)); err != nil {
			t.Errorf("--toolchain: %v", err)
		}
	}
	manifest, err := os.ReadFile(snapshot.ManifestFile(out))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range srv.GoSumLines("golang.org/toolchain", "v0.0.1-go1.99.1.linux-amd64") {
		if !strings.Contains(string(manifest), l+"\n") {
			t.Errorf("manifest lacks %q:\n%s", l, manifest)
		}
	}

	// A checksum database that does not know the toolchain is a failure.
	other := testupstream.New(t)
	if _, _, err := runSnapshot(t, dir, "-o", filepath.Join(t.TempDir(), "deps"), "--upstream", srv.URL, "--sumdb", other.VerifierKey(),
		"--toolchain", "linux/amd64", "-q"); err == nil {
		t.Errorf("--toolchain with a checksum database the upstream does not serve succeeded")
	}

	var ue usageError
	if _, _, err := runSnapshot(t, dir, "-o", out, "--upstream", srv.URL, "--toolchain", "linux"); !errors.As(err, &ue) {
		t.Errorf("--toolchain linux: %v, want a usage error", err)
	}
}

// TestSnapshotOneVersionCommand: two projects that want lib v1.0.0 and
// v1.1.0 get v1.1.0 and build; pinned to v1.0.0, the one that calls what
// v1.1.0 added fails the check, which names lib's change for it.
func TestSnapshotOneVersionCommand(t *testing.T) {
	lib := func(version, code string) testupstream.Module {
		return testupstream.Module{Path: "example.com/lib", Version: version, Files: map[string]string{
			"go.mod": "module example.com/lib\n\ngo 1.21\n",
			"lib.go": "package lib\n\nconst Version = \"" + version + "\"\n" + code,
		}}
	}
	srv := testupstream.New(t, lib("v1.0.0", ""), lib("v1.1.0", "\nfunc New() string { return \"new\" }\n"))
	project := func(name, version, use string) string {
		dir := filepath.Join(t.TempDir(), name)
		files := map[string]string{
			"go.mod":  "module example.com/" + name + "\n\ngo 1.21\n\nrequire example.com/lib " + version + "\n",
			"go.sum":  strings.Join(srv.GoSumLines("example.com/lib", version), "\n") + "\n",
			"main.go": "package main\n\nimport (\n\t\"fmt\"\n\n\t\"example.com/lib\"\n)\n\nfunc main() { fmt.Println(" + use + ") }\n",
		}
		for n, content := range files {
			os.MkdirAll(dir, 0o755)
			if err := os.WriteFile(filepath.Join(dir, n), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	a := project("a", "v1.0.0", "lib.Version")
	b := project("b", "v1.1.0", "lib.New()")
	out := filepath.Join(t.TempDir(), "deps")
	common := []string{"--one-version", "--check", "-o", out, "--upstream", srv.URL, "--sumdb", srv.VerifierKey(), "-q"}

	stdout, stderr, err := runSnapshot(t, append([]string{a, b}, common...)...)
	if err != nil {
		t.Fatalf("snapshot --one-version --check: %v\n%s", err, stderr)
	}
	if !strings.HasPrefix(stdout, "sha256-") {
		t.Errorf("stdout %q, want the hash", stdout)
	}
	for _, want := range []string{"example.com/lib: chose v1.1.0", "v1.0.0\twanted by a", "check: " + a + ": ok", "check: " + b + ": ok", a + ": modfiles/a.mod, modfiles/a.sum; 1 changed:\n\texample.com/lib v1.0.0 => v1.1.0"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if data, err := os.ReadFile(out + ".report.json"); err != nil || !strings.Contains(string(data), `"example.com/lib@v1.1.0"`) {
		t.Errorf("report: %v\n%s", err, data)
	}

	_, stderr, err = runSnapshot(t, append([]string{a, b, "--pin", "example.com/lib@v1.0.0"}, common...)...)
	if err == nil || err.Error() != "check: 1 of 2 projects failed under the chosen versions; a --pin may help" {
		t.Fatalf("with lib pinned back: %v\n%s", err, stderr)
	}
	for _, want := range []string{"--pin example.com/lib@v1.0.0: instead of v1.1.0", "check: " + b + ": go build failed", "undefined: lib.New", "versions changed for it: example.com/lib v1.1.0 => v1.0.0;"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}

	for _, args := range [][]string{
		{a, "--pin", "example.com/lib@v1.0.0", "-o", out},
		{"example.com/app@v1.0.0", "-o", out},
		{a, "--one-version", "--pin", "example.com/lib", "-o", out},
		{a, "--one-version", "--sumdb", "off", "-o", out},
	} {
		if _, _, err := runSnapshot(t, args...); !errors.As(err, new(usageError)) {
			t.Errorf("snapshot %q: %v, want a usage error", args, err)
		}
	}
}
