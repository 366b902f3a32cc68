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
	if run(context.Background(), []string{"snapshot", dir, "-o", out, "--upstream", "off", "-q", "--expect", "sha256-AAAA"}) != 1 {
		t.Errorf("--expect mismatch does not exit 1")
	}

	var ue usageError
	if _, _, err := runSnapshot(t, dir); !errors.As(err, &ue) {
		t.Errorf("no -o: %v, want a usage error", err)
	}
}
