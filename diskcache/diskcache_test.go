package diskcache_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modmirror/modmirror"
	"github.com/modmirror/modmirror/diskcache"
	"github.com/modmirror/modmirror/fsstore"
	"github.com/modmirror/modmirror/storetest"
)

// counting is a store that counts the files opened in it, whose files are
// not *os.File (as an S3 store's are not).
type counting struct {
	modmirror.Store
	opens  atomic.Int64
	cutOff atomic.Bool // reads of files opened after the first end early

	// hold, if set before the first Open, makes every later Open (the
	// copy's) send on held once it has opened the file, then wait until
	// hold is closed.
	hold, held chan struct{}
}

type remoteFile struct{ modmirror.File }

// shortFile is a file whose reads end early without an error, as a
// connection to the bucket cut off mid-object may look.
type shortFile struct {
	modmirror.File
	left int
}

func (f *shortFile) Read(p []byte) (int, error) {
	if f.left <= 0 {
		return 0, io.EOF
	}
	n, err := f.File.Read(p[:min(len(p), f.left)])
	f.left -= n
	return n, err
}

func (c *counting) Open(ctx context.Context, name string) (modmirror.File, error) {
	n := c.opens.Add(1)
	f, err := c.Store.Open(ctx, name)
	if err != nil {
		return nil, err
	}
	if c.hold != nil && n > 1 {
		c.held <- struct{}{}
		<-c.hold
	}
	if c.cutOff.Load() && n > 1 {
		// The client's read is whole; the copy's is cut off.
		return &shortFile{File: f, left: 1000}, nil
	}
	return remoteFile{f}, nil
}

func (c *counting) Walk(ctx context.Context, fn func(name string, size int64, modTime time.Time) error) error {
	return c.Store.(modmirror.Walker).Walk(ctx, fn)
}

func (c *counting) Delete(ctx context.Context, name string) error {
	return c.Store.(modmirror.Deleter).Delete(ctx, name)
}

func newCache(t *testing.T, maxBytes, minFile int64) (*diskcache.Store, *counting, string) {
	t.Helper()
	fss, err := fsstore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	back := &counting{Store: fss}
	dir := filepath.Join(t.TempDir(), "diskcache")
	s, err := diskcache.New(back, dir, maxBytes, minFile, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Wait)
	return s, back, dir
}

// read opens name in s and returns its content and whether it is a file on
// disk (*os.File, which net/http sends by sendfile).
func read(t *testing.T, s modmirror.Store, name string) ([]byte, bool) {
	t.Helper()
	f, err := s.Open(context.Background(), name)
	if err != nil {
		t.Fatalf("open %s: %v", name, err)
	}
	defer f.Close()
	data, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	_, onDisk := f.(*os.File)
	return data, onDisk
}

func TestConformance(t *testing.T) {
	s, _, _ := newCache(t, 1<<20, 0)
	storetest.Run(t, s)
}

// TestCopies: a large file is read from the store once, then from its copy,
// with the same bytes and the same time; small files and version lists are
// never copied.
func TestCopies(t *testing.T) {
	ctx := context.Background()
	s, back, _ := newCache(t, 1<<20, 1000)
	large := bytes.Repeat([]byte("0123456789"), 10_000)
	for name, data := range map[string][]byte{
		"example.com/m/@v/v1.0.0.zip": large,
		"example.com/m/@v/v1.0.0.mod": []byte("module example.com/m\n"),
	} {
		if err := s.Create(ctx, name, bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Replace(ctx, "example.com/m/@v/list", bytes.NewReader(bytes.Repeat([]byte("v1.0.0\n"), 500))); err != nil {
		t.Fatal(err)
	}

	const zip = "example.com/m/@v/v1.0.0.zip"
	if got, _ := read(t, s, zip); !bytes.Equal(got, large) {
		t.Fatalf("first read: %d bytes, want %d", len(got), len(large))
	}
	s.Wait()
	before := back.opens.Load()
	got, onDisk := read(t, s, zip)
	if !bytes.Equal(got, large) || !onDisk {
		t.Errorf("read of the copy: %d bytes, a file on disk: %v", len(got), onDisk)
	}
	if n := back.opens.Load() - before; n != 0 {
		t.Errorf("the store was opened %d times for a copied file", n)
	}
	if files, size := s.Len(); files != 1 || size != int64(len(large)) {
		t.Errorf("Len = %d files, %d bytes; want 1, %d", files, size, len(large))
	}
	// The time a hit's ETag and Last-Modified are made of.
	stat := func(s modmirror.Store) int64 {
		f, err := s.Open(ctx, zip)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			t.Fatal(err)
		}
		return fi.ModTime().UnixNano()
	}
	if a, b := stat(s), stat(back.Store); a != b {
		t.Errorf("the copy's time is %d, the store's %d", a, b)
	}

	for _, name := range []string{"example.com/m/@v/v1.0.0.mod", "example.com/m/@v/list"} {
		read(t, s, name)
		s.Wait()
		if _, onDisk := read(t, s, name); onDisk {
			t.Errorf("%s was copied", name)
		}
	}
	if files, _ := s.Len(); files != 1 {
		t.Errorf("%d copies, want 1", files)
	}
}

// TestEvicts: the copies never take more than the bytes allowed, the least
// recently used going first, and a file whose copy went is read from the
// store again.
func TestEvicts(t *testing.T) {
	ctx := context.Background()
	const size, max = 10_000, 45_000
	s, back, dir := newCache(t, max, 0)
	var names []string
	for i := range 6 {
		name := "example.com/m/@v/v1.0." + string(rune('0'+i)) + ".zip"
		names = append(names, name)
		if err := s.Create(ctx, name, bytes.NewReader(bytes.Repeat([]byte{byte(i)}, size))); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range names[:4] {
		read(t, s, name)
		s.Wait()
	}
	read(t, s, names[0]) // now the most recently used
	for _, name := range names[4:] {
		read(t, s, name)
		s.Wait()
	}
	files, bytes := s.Len()
	if bytes > max || files != 4 {
		t.Errorf("Len = %d files, %d bytes; want 4 files, at most %d", files, bytes, max)
	}
	// names[1] and names[2] went; names[0] stayed.
	before := back.opens.Load()
	if _, onDisk := read(t, s, names[0]); !onDisk {
		t.Errorf("the most recently used copy was evicted")
	}
	if back.opens.Load() != before {
		t.Errorf("the store was opened for a file with a copy")
	}
	if _, onDisk := read(t, s, names[1]); onDisk {
		t.Errorf("the least recently used copy was kept")
	}
	if back.opens.Load() == before {
		t.Errorf("an evicted file was not read from the store")
	}
	s.Wait()
	var onDisk int
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			onDisk++
		}
		return nil
	})
	if files, _ := s.Len(); onDisk != files {
		t.Errorf("%d files in the directory, %d copies", onDisk, files)
	}
}

// TestDeleteDropsCopy: a deleted file is not served from its copy.
func TestDeleteDropsCopy(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newCache(t, 1<<20, 0)
	const name = "example.com/m/@v/v1.0.0.zip"
	if err := s.Create(ctx, name, strings.NewReader("zip")); err != nil {
		t.Fatal(err)
	}
	read(t, s, name)
	s.Wait()
	if err := s.Delete(ctx, name); err != nil {
		t.Fatal(err)
	}
	if f, err := s.Open(ctx, name); err == nil {
		f.Close()
		t.Errorf("a deleted file opens")
	}
}

// TestDeleteDuringCopy: a file deleted while its copy is being made (the
// copy has it open) is not served from that copy afterwards.
func TestDeleteDuringCopy(t *testing.T) {
	ctx := context.Background()
	s, back, _ := newCache(t, 1<<20, 0)
	const name = "example.com/m/@v/v1.0.0.zip"
	if err := s.Create(ctx, name, strings.NewReader("zip")); err != nil {
		t.Fatal(err)
	}
	back.hold, back.held = make(chan struct{}), make(chan struct{})
	read(t, s, name) // starts the copy
	<-back.held
	if err := s.Delete(ctx, name); err != nil {
		t.Fatal(err)
	}
	close(back.hold)
	s.Wait()
	if f, err := s.Open(ctx, name); err == nil {
		f.Close()
		t.Errorf("a file deleted while it was being copied opens")
	}
}

// TestStartsEmpty: what an earlier run left in the directory is removed,
// never served.
func TestStartsEmpty(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "diskcache")
	if err := os.MkdirAll(filepath.Join(dir, "ab"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ab", "cdef"), []byte("left over"), 0o600); err != nil {
		t.Fatal(err)
	}
	fss, err := fsstore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := diskcache.New(fss, dir, 1<<20, 0, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "ab", "cdef")); !os.IsNotExist(err) {
		t.Errorf("a file left in the directory is still there: %v", err)
	}
}

// TestCutOffCopy: a copy whose read from the store ends early is never
// kept, and the file is still served whole, from the store.
func TestCutOffCopy(t *testing.T) {
	ctx := context.Background()
	s, back, dir := newCache(t, 1<<20, 0)
	const name = "example.com/m/@v/v1.0.0.zip"
	data := bytes.Repeat([]byte("zip "), 5000)
	if err := s.Create(ctx, name, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	back.cutOff.Store(true)
	if got, _ := read(t, s, name); !bytes.Equal(got, data) {
		t.Fatalf("first read: %d bytes, want %d", len(got), len(data))
	}
	s.Wait()
	if files, _ := s.Len(); files != 0 {
		t.Errorf("%d copies kept after a cut-off read", files)
	}
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			t.Errorf("%s left in the cache directory", path)
		}
		return nil
	})
	back.cutOff.Store(false)
	if got, _ := read(t, s, name); !bytes.Equal(got, data) {
		t.Errorf("read after a cut-off copy: %d bytes, want %d", len(got), len(data))
	}
}
