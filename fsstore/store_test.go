package fsstore_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/modmirror/modmirror/fsstore"
	"github.com/modmirror/modmirror/storetest"
)

func TestStore(t *testing.T) {
	s, err := fsstore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	storetest.Run(t, s)
}

// TestLayout checks that names map to the module download cache layout, so
// the directory works as GOPROXY=file://.
func TestLayout(t *testing.T) {
	dir := t.TempDir()
	s, err := fsstore.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	name := "github.com/!azure/go/@v/v1.0.0.mod"
	if err := s.Create(context.Background(), name, bytes.NewReader([]byte("module github.com/Azure/go\n"))); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "github.com", "!azure", "go", "@v", "v1.0.0.mod"))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "module github.com/Azure/go\n" {
		t.Fatalf("file content %q", got)
	}
	fi, err := os.Stat(filepath.Join(dir, "github.com", "!azure", "go", "@v", "v1.0.0.mod"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644 so other users (a static file server) can read it", fi.Mode().Perm())
	}
}

// TestCreateFromFileLinks checks that a file handed to Create is stored with
// its content, even when the caller removes its own copy afterwards.
func TestCreateFromFileLinks(t *testing.T) {
	dir := t.TempDir()
	s, err := fsstore.New(filepath.Join(dir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(dir, "download")
	if err := os.WriteFile(src, []byte("zip bytes"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	name := "example.com/m/@v/v1.0.0.zip"
	if err := s.Create(context.Background(), name, f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	os.Remove(src)
	got, err := os.ReadFile(filepath.Join(dir, "store", "example.com", "m", "@v", "v1.0.0.zip"))
	if err != nil || string(got) != "zip bytes" {
		t.Fatalf("stored %q, %v", got, err)
	}
	// Nothing is left in the staging directory.
	left, _ := os.ReadDir(filepath.Join(dir, "store", ".tmp"))
	if len(left) != 0 {
		t.Errorf("staging directory holds %d files after Create", len(left))
	}
}
