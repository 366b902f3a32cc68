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
