package catalog_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/modmirror/modmirror/catalog"
	"github.com/modmirror/modmirror/catalog/sqlcatalog"
	"github.com/modmirror/modmirror/fsstore"
)

func TestParseKey(t *testing.T) {
	for name, want := range map[string][3]string{
		"example.com/!azure/x/@v/v1.0.0-!r!c1.zip": {"example.com/Azure/x", "v1.0.0-RC1", ".zip"},
		"example.com/a/@v/v1.0.0.info":             {"example.com/a", "v1.0.0", ".info"},
		"example.com/a/@v/v1.0.0.mod":              {"example.com/a", "v1.0.0", ".mod"},
	} {
		p, v, ext, ok := catalog.ParseKey(name)
		if !ok || [3]string{p, v, ext} != want {
			t.Errorf("ParseKey(%q) = %q %q %q %v, want %q", name, p, v, ext, ok, want)
		}
	}
	for _, name := range []string{
		"example.com/a/@v/list", "sumdb/sum.golang.org/lookup/example.com/a@v1.0.0",
		"example.com/a/@v/v1.0.zip", "example.com/A/@v/v1.0.0.zip", "example.com/a/@v/sub/v1.0.0.zip", "readme.zip",
	} {
		if p, v, ext, ok := catalog.ParseKey(name); ok {
			t.Errorf("ParseKey(%q) = %q %q %q, want not a version's file", name, p, v, ext)
		}
	}
}

// TestRebuild fills a store, rebuilds an empty catalog from it, and finds
// every version with its files' sizes and times; a second rebuild changes
// nothing, and keeps what the catalog knew better (the source).
func TestRebuild(t *testing.T) {
	ctx := context.Background()
	store, err := fsstore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]int{
		"example.com/a/@v/v1.0.0.info": 40,
		"example.com/a/@v/v1.0.0.mod":  20,
		"example.com/a/@v/v1.0.0.zip":  3000,
		"example.com/a/@v/v1.1.0.mod":  21,
		"example.com/a/@v/list":        14,
		"sumdb/sum.golang.org/latest":  100,
	}
	for name, n := range files {
		if err := store.Create(ctx, name, bytes.NewReader(bytes.Repeat([]byte("x"), n))); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Date(2025, 5, 6, 7, 8, 9, 0, time.UTC)
	if err := os.Chtimes(filepath.Join(store.Root(), "example.com/a/@v/v1.0.0.mod"), old, old); err != nil {
		t.Fatal(err)
	}
	s, err := sqlcatalog.OpenSQLite(filepath.Join(t.TempDir(), "catalog.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	n, err := catalog.Rebuild(ctx, s, store)
	if err != nil || n != 4 {
		t.Fatalf("Rebuild = %d, %v; want 4 files", n, err)
	}
	v, err := s.Version(ctx, "example.com/a", "v1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	if v.InfoSize != 40 || v.ModSize != 20 || v.ZipSize != 3000 || v.Source != "store" || !v.FirstStored.Equal(old) {
		t.Errorf("after rebuild: %+v; want sizes 40/20/3000, source store, first stored %v (the oldest file)", v, old)
	}
	st, _ := s.Stats(ctx)
	if st.Versions != 2 || st.Modules != 1 {
		t.Errorf("Stats = %+v, want 1 module, 2 versions", st)
	}
	if n, err := catalog.Rebuild(ctx, s, store); err != nil || n != 4 {
		t.Errorf("second Rebuild = %d, %v", n, err)
	}
	if v2, _ := s.Version(ctx, "example.com/a", "v1.0.0"); v2 != v {
		t.Errorf("a second rebuild changed %+v to %+v", v, v2)
	}
}
