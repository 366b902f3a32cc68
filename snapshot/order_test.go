package snapshot_test

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/modmirror/modmirror/internal/testenv"
	"github.com/modmirror/modmirror/snapshot"
)

// fileList returns one line per file and directory under dir, sorted by
// name: its relative name, mode, modification time and, for a file, the
// SHA-256 of its bytes.
func fileList(t *testing.T, dir string) []string {
	t.Helper()
	var lines []string
	err := filepath.WalkDir(dir, func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, name)
		if err != nil {
			return err
		}
		line := fmt.Sprintf("%s %v %d", filepath.ToSlash(rel), fi.Mode(), fi.ModTime().UnixNano())
		if !d.IsDir() {
			data, err := os.ReadFile(name)
			if err != nil {
				return err
			}
			line += fmt.Sprintf(" %x", sha256.Sum256(data))
		}
		lines = append(lines, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(lines)
	return lines
}

// nixHashPath returns `nix hash path dir`, or "" if nix is not installed.
func nixHashPath(t *testing.T, dir string) string {
	t.Helper()
	nix, err := exec.LookPath("nix")
	if err != nil {
		if testenv.Required("NIX") {
			t.Fatalf("MODMIRROR_TEST_REQUIRE_NIX=1 but nix is not on PATH: %v", err)
		}
		return ""
	}
	cmd := exec.Command(nix, "--extra-experimental-features", "nix-command", "hash", "path", dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("nix hash path: %v\n%s", err, stderr.Bytes())
	}
	return strings.TrimSpace(string(out))
}

// TestOrderAndJobs checks that neither the order of the projects nor the
// number of workers changes a snapshot: two projects sharing some
// dependencies, and wanting different versions of another, snapshotted as
// (A, B) with one worker and as (B, A) with 64, give trees with the same
// names, modes, times and bytes, the same hash, and the hash nix computes.
func TestOrderAndJobs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b := t.TempDir(), t.TempDir()
	writeProject(t, a, map[string]string{
		"go.mod": "module example.com/pa\n\ngo 1.21\n\nrequire (\n\texample.com/a v1.0.0\n\texample.com/b v1.2.0\n\texample.com/d v1.0.0\n)\n",
		"go.sum": e.sums(t, "example.com/a@v1.0.0", "example.com/b@v1.2.0", "example.com/d@v1.0.0"),
	})
	writeProject(t, b, map[string]string{
		"go.mod": "module example.com/pb\n\ngo 1.21\n\nrequire (\n\texample.com/b v1.2.0\n\texample.com/Capital/c v0.1.0\n\texample.com/d v1.1.0\n\texample.com/pseudo v0.0.0-20200102030405-abcdefabcdef\n)\n",
		"go.sum": e.sums(t, "example.com/b@v1.2.0", "example.com/Capital/c@v0.1.0", "example.com/d@v1.1.0", "example.com/pseudo@v0.0.0-20200102030405-abcdefabcdef"),
	})

	runs := []struct {
		dirs []string
		jobs int
	}{
		{[]string{a, b}, 1},
		{[]string{b, a}, 64},
	}
	var lists [][]string
	var hashes []string
	for i, r := range runs {
		out := filepath.Join(t.TempDir(), fmt.Sprint("out", i+1))
		res, err := e.run(t, snapshot.Options{Dirs: r.dirs, Out: out, Jobs: r.jobs})
		if err != nil {
			t.Fatal(err)
		}
		if res.Modules != 6 {
			t.Errorf("run %d: %d module versions, want 6", i+1, res.Modules)
		}
		lists = append(lists, fileList(t, out))
		hashes = append(hashes, res.Hash)
		if nh := nixHashPath(t, out); nh != "" && nh != res.Hash {
			t.Errorf("run %d: nix hash path = %s, snapshot hash = %s", i+1, nh, res.Hash)
		} else if nh == "" {
			t.Logf("nix not on PATH; not comparing with nix hash path")
		}
	}
	if !slices.Equal(lists[0], lists[1]) {
		t.Errorf("trees differ:\n(A,B) jobs 1:\n\t%s\n(B,A) jobs 64:\n\t%s",
			strings.Join(lists[0], "\n\t"), strings.Join(lists[1], "\n\t"))
	}
	if len(lists[0]) < 20 {
		t.Errorf("tree has %d entries, want at least 20:\n\t%s", len(lists[0]), strings.Join(lists[0], "\n\t"))
	}
	if hashes[0] != hashes[1] {
		t.Errorf("hashes differ: (A,B) jobs 1: %s, (B,A) jobs 64: %s", hashes[0], hashes[1])
	}
}
