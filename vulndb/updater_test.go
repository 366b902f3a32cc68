package vulndb_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modmirror/modmirror"
	"github.com/modmirror/modmirror/vulndb"
	"github.com/modmirror/modmirror/vulndb/vulndbtest"
)

// source serves versions of the database module from a directory, as the
// mirror would; latest names the version @latest gives, and seqOnly hides
// ReadAt, as an object store's files do.
type source struct {
	dir     string
	latest  string
	fail    error
	seqOnly bool
}

func (s *source) add(t *testing.T, version string, es ...vulndbtest.Entry) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(s.dir, version+".zip"), vulndbtest.ZipBytes(mod, version, es...), 0o644); err != nil {
		t.Fatal(err)
	}
	info := fmt.Sprintf(`{"Version":%q,"Time":"2026-11-05T23:49:57Z"}`, version)
	if err := os.WriteFile(filepath.Join(s.dir, version+".info"), []byte(info), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (s *source) Latest(ctx context.Context, path string) ([]byte, error) {
	if s.fail != nil {
		return nil, s.fail
	}
	return os.ReadFile(filepath.Join(s.dir, s.latest+".info"))
}

func (s *source) Info(ctx context.Context, path, query string) (modmirror.File, error) {
	if s.fail != nil {
		return nil, s.fail
	}
	return os.Open(filepath.Join(s.dir, query+".info"))
}

type seqFile struct{ *os.File } // no ReadAt

func (f seqFile) Stat() (fs.FileInfo, error) { return f.File.Stat() }

func (s *source) Zip(ctx context.Context, path, version string) (modmirror.File, error) {
	f, err := os.Open(filepath.Join(s.dir, version+".zip"))
	if err != nil || !s.seqOnly {
		return f, err
	}
	return seqFile{f}, nil
}

func TestUpdater(t *testing.T) {
	const v1, v2 = "v0.0.0-20261105234957-e22db6528018", "v0.0.0-20261201000000-aaaaaaaaaaaa"
	src := &source{dir: t.TempDir(), latest: v1, seqOnly: true}
	src.add(t, v1, entries[0])
	src.add(t, v2, entries[0], entries[1])
	cur := new(vulndb.Current)
	u := &vulndb.Updater{Source: src, Current: cur, TempDir: t.TempDir()}
	ctx := context.Background()

	if loaded, err := u.Update(ctx); !loaded || err != nil {
		t.Fatalf("first update: %v, %v", loaded, err)
	}
	if db := cur.Load(); db.Version != v1 || db.Len() != 1 {
		t.Fatalf("loaded %s with %d entries, want %s with 1", db.Version, db.Len(), v1)
	}
	if loaded, err := u.Update(ctx); loaded || err != nil {
		t.Errorf("an update to the version loaded: %v, %v; want nothing loaded", loaded, err)
	}
	src.latest = v2
	if loaded, err := u.Update(ctx); !loaded || err != nil || cur.Load().Len() != 2 {
		t.Errorf("an update to a newer version: %v, %v, %d entries", loaded, err, cur.Load().Len())
	}
	// A failing source keeps the database loaded.
	src.fail = errors.New("upstream down")
	if _, err := u.Update(ctx); err == nil || !strings.Contains(err.Error(), "golang.org/x/vulndb@latest: upstream down") {
		t.Errorf("a failing source: %v", err)
	}
	if cur.Load().Version != v2 {
		t.Errorf("after a failure, %s is loaded, want %s still", cur.Load().Version, v2)
	}
	src.fail = nil

	// Kept to a version: loads that one, whatever is latest.
	pinned := &vulndb.Updater{Version: v1, Source: src, Current: cur}
	src.seqOnly = false
	if loaded, err := pinned.Update(ctx); !loaded || err != nil || cur.Load().Version != v1 {
		t.Errorf("an updater kept to %s: %v, %v, loaded %s", v1, loaded, err, cur.Load().Version)
	}
	missing := &vulndb.Updater{Version: "v0.0.0-20200101000000-bbbbbbbbbbbb", Source: src, Current: cur}
	if _, err := missing.Update(ctx); err == nil || !strings.Contains(err.Error(), "@v0.0.0-20200101000000-bbbbbbbbbbbb") {
		t.Errorf("an updater kept to a missing version: %v", err)
	}
	if cur.Load().Version != v1 {
		t.Errorf("after a failure, %s is loaded, want %s still", cur.Load().Version, v1)
	}
}
