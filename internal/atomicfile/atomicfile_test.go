package atomicfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteAndCreate(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "sub", "f")
	if err := Write(file, []byte("one"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Write(file, []byte("two"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(file)
	fi, _ := os.Stat(file)
	if err != nil || string(got) != "two" || fi.Mode().Perm() != 0o600 {
		t.Errorf("after Write: %q %v, mode %v", got, err, fi.Mode().Perm())
	}
	if err := Create(file, []byte("three"), 0o600); !errors.Is(err, fs.ErrExist) {
		t.Errorf("Create of an existing file: %v, want fs.ErrExist", err)
	}
	if got, _ := os.ReadFile(file); string(got) != "two" {
		t.Errorf("Create changed an existing file: %q", got)
	}
	key := filepath.Join(dir, "key")
	if err := Create(key, []byte("k"), 0o600); err != nil {
		t.Fatal(err)
	}
	names, _ := os.ReadDir(filepath.Join(dir, "sub"))
	names2, _ := os.ReadDir(dir)
	if len(names) != 1 || len(names2) != 2 {
		t.Errorf("temporary files left behind: %v %v", names, names2)
	}
}
