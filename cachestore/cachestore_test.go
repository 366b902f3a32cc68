package cachestore_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/modmirror/modmirror"
	"github.com/modmirror/modmirror/cachestore"
	"github.com/modmirror/modmirror/fsstore"
	"github.com/modmirror/modmirror/storetest"
)

func newStore(t *testing.T, maxBytes, maxFile int64) (*cachestore.Store, string) {
	t.Helper()
	dir := t.TempDir()
	fss, err := fsstore.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	return cachestore.New(fss, maxBytes, maxFile), dir
}

func TestConformance(t *testing.T) {
	s, _ := newStore(t, 1<<20, 64<<10)
	storetest.Run(t, s)
}

func read(t *testing.T, s *cachestore.Store, name string) string {
	t.Helper()
	f, err := s.Open(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	data, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := f.Stat()
	if err != nil || fi.Size() != int64(len(data)) || fi.ModTime().IsZero() {
		t.Fatalf("Stat = %v, %v for %d bytes", fi, err, len(data))
	}
	return string(data)
}

// TestServedFromMemory: once read, a small file is served from memory, even
// if the file underneath goes away; large files and lists are not kept.
func TestServedFromMemory(t *testing.T) {
	ctx := context.Background()
	s, dir := newStore(t, 1<<20, 100)
	files := map[string]string{
		"example.com/m/@v/v1.0.0.info": `{"Version":"v1.0.0"}`,
		"example.com/m/@v/v1.0.0.zip":  strings.Repeat("z", 200), // larger than maxFile
	}
	for name, content := range files {
		if err := s.Create(ctx, name, strings.NewReader(content)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Replace(ctx, "example.com/m/@v/list", strings.NewReader("v1.0.0\n")); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		if got := read(t, s, name); got != content {
			t.Fatalf("%s = %q", name, got)
		}
	}
	read(t, s, "example.com/m/@v/list")
	if n, size := s.Len(); n != 1 || size != int64(len(files["example.com/m/@v/v1.0.0.info"])) {
		t.Errorf("cache holds %d files, %d bytes; want only the .info", n, size)
	}

	if err := os.RemoveAll(filepath.Join(dir, "example.com")); err != nil {
		t.Fatal(err)
	}
	if got := read(t, s, "example.com/m/@v/v1.0.0.info"); got != files["example.com/m/@v/v1.0.0.info"] {
		t.Errorf("cached .info = %q", got)
	}
	if _, err := s.Open(ctx, "example.com/m/@v/v1.0.0.zip"); err == nil {
		t.Error("a file larger than maxFile was served from memory")
	}
	if _, err := s.Open(ctx, "example.com/m/@v/list"); err == nil {
		t.Error("a list was served from memory")
	}
}

// TestEviction: the cache never holds more than maxBytes, dropping the least
// recently used files first.
func TestEviction(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t, 300, 100)
	names := []string{"a.com/m/@v/v1.0.0.mod", "b.com/m/@v/v1.0.0.mod", "c.com/m/@v/v1.0.0.mod", "d.com/m/@v/v1.0.0.mod"}
	for _, name := range names {
		if err := s.Create(ctx, name, bytes.NewReader(bytes.Repeat([]byte("x"), 100))); err != nil {
			t.Fatal(err)
		}
	}
	read(t, s, names[0])
	read(t, s, names[1])
	read(t, s, names[2])
	read(t, s, names[0]) // a is now the most recently used
	read(t, s, names[3]) // evicts b
	if n, size := s.Len(); n != 3 || size != 300 {
		t.Fatalf("cache holds %d files, %d bytes; want 3, 300", n, size)
	}
	// Removing b underneath shows whether it is still cached.
	os.RemoveAll(filepath.Join(s.Store.Store.(*fsstore.Store).Root(), "b.com"))
	if _, err := s.Open(ctx, names[1]); err == nil {
		t.Error("the least recently used file was not evicted")
	}
}

// statCounter is a store whose files count the Stat calls made on them.
type statCounter struct {
	modmirror.Store
	stats atomic.Int64
}

type countedFile struct {
	modmirror.File
	n *atomic.Int64
}

func (f countedFile) Stat() (fs.FileInfo, error) {
	f.n.Add(1)
	return f.File.Stat()
}

func (s *statCounter) Open(ctx context.Context, name string) (modmirror.File, error) {
	f, err := s.Store.Open(ctx, name)
	if err != nil {
		return nil, err
	}
	return countedFile{f, &s.stats}, nil
}

// A file too large to keep is opened straight from the store after the
// first time, without a Stat of the cache's own: the server makes its own,
// and on this path a system call is a tenth of a hit.
func TestLargeFileStatOnce(t *testing.T) {
	ctx := context.Background()
	fss, err := fsstore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	inner := &statCounter{Store: fss}
	s := cachestore.New(inner, 1<<20, 100)
	const name = "example.com/m/@v/v1.0.0.zip"
	content := strings.Repeat("z", 200)
	if err := s.Create(ctx, name, strings.NewReader(content)); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		f, err := s.Open(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(f)
		f.Close()
		if err != nil || string(data) != content {
			t.Fatalf("read %q, %v", data, err)
		}
	}
	if n := inner.stats.Load(); n != 1 {
		t.Errorf("the cache made %d Stat calls for 3 opens of a large file; want 1", n)
	}
	if n, _ := s.Len(); n != 0 {
		t.Errorf("the cache holds %d files; want none", n)
	}
}

// holding is a store whose first Open, once it has the file open, waits
// until release is closed.
type holding struct {
	modmirror.Store
	once            atomic.Bool
	opened, release chan struct{}
}

func (h *holding) Open(ctx context.Context, name string) (modmirror.File, error) {
	f, err := h.Store.Open(ctx, name)
	if err == nil && h.once.CompareAndSwap(false, true) {
		close(h.opened)
		<-h.release
	}
	return f, err
}

func (h *holding) Delete(ctx context.Context, name string) error {
	return h.Store.(modmirror.Deleter).Delete(ctx, name)
}

// A file deleted while an Open was reading it into memory is not kept
// there: the next Open does not find it.
func TestDeleteDuringRead(t *testing.T) {
	ctx := context.Background()
	fss, err := fsstore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	const name = "example.com/m/@v/v1.0.0.mod"
	if err := fss.Create(ctx, name, strings.NewReader("module example.com/m\n")); err != nil {
		t.Fatal(err)
	}
	inner := &holding{Store: fss, opened: make(chan struct{}), release: make(chan struct{})}
	s := cachestore.New(inner, 1<<20, 64<<10)
	done := make(chan error)
	go func() {
		f, err := s.Open(ctx, name)
		if err == nil {
			f.Close()
		}
		done <- err
	}()
	<-inner.opened
	if err := s.Delete(ctx, name); err != nil {
		t.Fatal(err)
	}
	close(inner.release)
	if err := <-done; err != nil {
		t.Fatalf("the Open begun before the Delete: %v", err)
	}
	if f, err := s.Open(ctx, name); !errors.Is(err, fs.ErrNotExist) {
		if err == nil {
			f.Close()
		}
		t.Errorf("Open after a Delete during an Open: %v, want fs.ErrNotExist", err)
	}
}
