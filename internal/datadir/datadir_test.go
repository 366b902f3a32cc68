//go:build unix

package datadir

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/modmirror/modmirror/internal/umask"
)

func TestLock(t *testing.T) {
	defer umask.Set(umask.Get())
	dir := t.TempDir()
	d, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Open(dir, Options{})
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "process "+strconv.Itoa(os.Getpid())) {
		t.Errorf("second Open: %v; want ErrLocked naming this process", err)
	}
	d.Close()
	d2, err := Open(dir, Options{})
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	d2.Close()
}

func TestLeftovers(t *testing.T) {
	defer umask.Set(umask.Get())
	dir := t.TempDir()
	write := func(name string) {
		t.Helper()
		file := filepath.Join(dir, filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(file), 0o755)
		if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	leftovers := []string{
		"tmp/zip-123", "cache/download/.tmp/copy-1", "cache/download/.tmp/link-2-3",
		"origin/tmp/archive-9.zip", "origin/0123abcd.tmp-77/HEAD", ".sumdb.head.tmp-5",
		"sumdb/sum.golang.org/.latest.tmp-8",
	}
	kept := []string{
		"cache/download/example.com/m/@v/v1.0.0.zip", "origin/0123abcd/HEAD", "sumdb.head",
		"sumdb/sum.golang.org/latest", "tokens.db",
	}
	for _, f := range append(leftovers, kept...) {
		write(f)
	}
	d, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, f := range leftovers {
		if _, err := os.Stat(filepath.Join(dir, f)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: still there (%v)", f, err)
		}
	}
	for _, f := range kept {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("%s: %v; want it kept", f, err)
		}
	}
}

func TestPerm(t *testing.T) {
	defer umask.Set(umask.Get())
	umask.Set(0o022)
	dir := filepath.Join(t.TempDir(), "data")
	files := []string{"sumdb.db", "cache/download/corp.example/secret/@v/v1.0.0.zip"}
	for _, f := range files {
		file := filepath.Join(dir, filepath.FromSlash(f))
		os.MkdirAll(filepath.Dir(file), 0o755)
		os.WriteFile(file, []byte("x"), 0o644)
	}
	check := func(perm Perm, wantDir, wantFile fs.FileMode) {
		t.Helper()
		d, err := Open(dir, Options{Perm: perm})
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		filepath.WalkDir(dir, func(name string, e fs.DirEntry, err error) error {
			fi, _ := e.Info()
			want := wantFile
			if e.IsDir() {
				want = wantDir
			}
			if fi.Mode().Perm() != want {
				t.Errorf("%s %s: mode %04o, want %04o", perm, name, fi.Mode().Perm(), want)
			}
			return nil
		})
		// And what is created from now on.
		f, _ := os.Create(filepath.Join(dir, "new-"+string(perm)))
		f.Close()
		if fi, _ := os.Stat(f.Name()); fi.Mode().Perm() != wantFile {
			t.Errorf("%s: a new file has mode %04o, want %04o", perm, fi.Mode().Perm(), wantFile)
		}
	}
	check(Private, 0o700, 0o600)
	check(World, 0o755, 0o644)
	check(Group, 0o750, 0o640)
}
