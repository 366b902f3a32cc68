// Package storetest is the conformance suite that every modmirror.Store
// implementation must pass. An implementation's whole test can be one line:
//
//	func TestStore(t *testing.T) { storetest.Run(t, newStore(t)) }
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modmirror/modmirror"
)

// Run checks that s behaves as the modmirror.Store contract says. The store
// must be empty.
func Run(t *testing.T, s modmirror.Store) {
	ctx := context.Background()

	t.Run("OpenMissing", func(t *testing.T) {
		_, err := s.Open(ctx, "example.com/missing/@v/v1.0.0.mod")
		if !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Open of a missing file: got %v, want an error matching fs.ErrNotExist", err)
		}
	})

	t.Run("CreateOpen", func(t *testing.T) {
		name := "example.com/create/@v/v1.0.0.mod"
		want := []byte("module example.com/create\n")
		if err := s.Create(ctx, name, bytes.NewReader(want)); err != nil {
			t.Fatal(err)
		}
		if got := read(t, s, name); !bytes.Equal(got, want) {
			t.Fatalf("read back %q, want %q", got, want)
		}
	})

	t.Run("CreateIsImmutable", func(t *testing.T) {
		name := "example.com/immutable/@v/v1.0.0.mod"
		first := []byte("module example.com/immutable\n")
		if err := s.Create(ctx, name, bytes.NewReader(first)); err != nil {
			t.Fatal(err)
		}
		err := s.Create(ctx, name, bytes.NewReader([]byte("module evil\n")))
		if !errors.Is(err, fs.ErrExist) {
			t.Fatalf("second Create: got %v, want an error matching fs.ErrExist", err)
		}
		if got := read(t, s, name); !bytes.Equal(got, first) {
			t.Fatalf("after second Create, read %q, want the first content %q", got, first)
		}
	})

	t.Run("FailedReaderStoresNothing", func(t *testing.T) {
		name := "example.com/failed/@v/v1.0.0.zip"
		r := io.MultiReader(bytes.NewReader([]byte("partial content")), errReader{})
		if err := s.Create(ctx, name, r); err == nil {
			t.Fatal("Create with a failing reader succeeded")
		}
		if _, err := s.Open(ctx, name); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("after a failed Create, Open: got %v, want not exist", err)
		}
		if err := s.Replace(ctx, name, io.MultiReader(bytes.NewReader([]byte("x")), errReader{})); err == nil {
			t.Fatal("Replace with a failing reader succeeded")
		}
		if _, err := s.Open(ctx, name); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("after a failed Replace, Open: got %v, want not exist", err)
		}
		// The name is still free for a good write.
		if err := s.Create(ctx, name, bytes.NewReader([]byte("whole"))); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("Replace", func(t *testing.T) {
		name := "example.com/replace/@v/list"
		for _, content := range []string{"v1.0.0\n", "v1.0.0\nv1.1.0\n", ""} {
			if err := s.Replace(ctx, name, bytes.NewReader([]byte(content))); err != nil {
				t.Fatal(err)
			}
			if got := read(t, s, name); string(got) != content {
				t.Fatalf("read %q after Replace, want %q", got, content)
			}
		}
	})

	t.Run("StatSeek", func(t *testing.T) {
		name := "example.com/seek/@v/v1.0.0.zip"
		content := bytes.Repeat([]byte("0123456789"), 1000)
		if err := s.Create(ctx, name, bytes.NewReader(content)); err != nil {
			t.Fatal(err)
		}
		f, err := s.Open(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() != int64(len(content)) {
			t.Errorf("Stat().Size() = %d, want %d", fi.Size(), len(content))
		}
		if fi.ModTime().IsZero() {
			t.Errorf("Stat().ModTime() is zero")
		}
		if _, err := f.Seek(9995, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		tail, err := io.ReadAll(f)
		if err != nil {
			t.Fatal(err)
		}
		if string(tail) != "56789" {
			t.Errorf("read %q after Seek, want %q", tail, "56789")
		}
	})

	t.Run("SeekRead", func(t *testing.T) {
		// What http.ServeContent does, and more: the size from a Seek to
		// the end, back to the start, reads, seeks both ways, and past
		// the end.
		name := "example.com/seekread/@v/v1.0.0.zip"
		content := make([]byte, 300<<10)
		for i := range content {
			content[i] = byte(i * 7 >> 3)
		}
		if err := s.Create(ctx, name, bytes.NewReader(content)); err != nil {
			t.Fatal(err)
		}
		f, err := s.Open(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		at := func(off int64, whence int, want int64) {
			t.Helper()
			if got, err := f.Seek(off, whence); err != nil || got != want {
				t.Fatalf("Seek(%d, %d) = %d, %v; want %d", off, whence, got, err, want)
			}
		}
		read := func(n int, from int) {
			t.Helper()
			buf := make([]byte, n)
			if _, err := io.ReadFull(f, buf); err != nil {
				t.Fatalf("reading %d bytes at %d: %v", n, from, err)
			}
			if !bytes.Equal(buf, content[from:from+n]) {
				t.Fatalf("%d bytes at %d differ from what was stored", n, from)
			}
		}
		at(0, io.SeekEnd, int64(len(content)))
		at(0, io.SeekStart, 0)
		read(1000, 0)
		at(200<<10, io.SeekStart, 200<<10)
		read(5000, 200<<10)
		at(-6000, io.SeekCurrent, 200<<10-1000)
		read(10, 200<<10-1000)
		rest, err := io.ReadAll(f)
		if err != nil || !bytes.Equal(rest, content[200<<10-990:]) {
			t.Errorf("reading to the end: %d bytes, %v; want the last %d", len(rest), err, len(content)-(200<<10-990))
		}
		at(10, io.SeekEnd, int64(len(content))+10)
		if n, err := f.Read(make([]byte, 10)); n != 0 || err != io.EOF {
			t.Errorf("Read past the end = %d, %v; want 0, EOF", n, err)
		}
		if _, err := f.Seek(-1, io.SeekStart); err == nil {
			t.Errorf("Seek to -1 succeeded")
		}
	})

	t.Run("List", func(t *testing.T) {
		dir := "example.com/list/@v"
		got, err := s.List(ctx, dir)
		if err != nil || len(got) != 0 {
			t.Fatalf("List of a missing directory = %v, %v; want nothing, no error", got, err)
		}
		for _, v := range []string{"v1.1.0.mod", "v1.0.0.mod", "v1.0.0.zip"} {
			if err := s.Create(ctx, dir+"/"+v, bytes.NewReader([]byte(v))); err != nil {
				t.Fatal(err)
			}
		}
		// A file in a subdirectory is not directly inside dir.
		if err := s.Create(ctx, "example.com/list/@v/sub/v9.mod", bytes.NewReader(nil)); err != nil {
			t.Fatal(err)
		}
		got, err = s.List(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"v1.0.0.mod", "v1.0.0.zip", "v1.1.0.mod"}
		if !slices.Equal(got, want) {
			t.Fatalf("List = %q, want %q", got, want)
		}
		// The root works, and holds no file yet: only directories.
		if got, err := s.List(ctx, "."); err != nil || len(got) != 0 {
			t.Fatalf(`List(".") = %q, %v; want no files, no error`, got, err)
		}
	})

	t.Run("BadNames", func(t *testing.T) {
		for _, name := range []string{"", "/abs/@v/list", "../escape/@v/list", "a/../../b", "a//b", ".tmp/x", "a/.hidden"} {
			if err := s.Create(ctx, name, bytes.NewReader(nil)); err == nil {
				t.Errorf("Create(%q) succeeded, want an error", name)
			}
			if _, err := s.Open(ctx, name); err == nil {
				t.Errorf("Open(%q) succeeded, want an error", name)
			}
		}
	})

	t.Run("LargeCreate", func(t *testing.T) {
		// Large enough for a multipart upload in an object store (at
		// least two parts of 5 MiB), read from a stream of unknown size.
		name := "example.com/large/@v/v1.0.0.zip"
		content := bytes.Repeat([]byte("0123456789abcdef"), 12<<20/16)
		if err := s.Create(ctx, name, struct{ io.Reader }{bytes.NewReader(content)}); err != nil {
			t.Fatal(err)
		}
		if got := read(t, s, name); !bytes.Equal(got, content) {
			t.Fatalf("read back %d bytes, not the %d written", len(got), len(content))
		}
		err := s.Create(ctx, name, bytes.NewReader(bytes.Repeat([]byte("x"), 11<<20)))
		if !errors.Is(err, fs.ErrExist) {
			t.Fatalf("second large Create: got %v, want an error matching fs.ErrExist", err)
		}
		if got := read(t, s, name); !bytes.Equal(got, content) {
			t.Fatalf("after a second large Create, the content changed")
		}
	})

	t.Run("Walk", func(t *testing.T) {
		w, ok := s.(modmirror.Walker)
		if !ok {
			t.Skip("the store is not a modmirror.Walker")
		}
		want := map[string]int{
			"example.com/walk/@v/v1.0.0.mod": 10,
			"example.com/walk/@v/v1.0.0.zip": 2000,
			"example.com/walk/sub/@v/list":   7,
			"sumdb/sum.example/tile/8/0/000": 32,
		}
		for name, n := range want {
			if err := s.Create(ctx, name, bytes.NewReader(bytes.Repeat([]byte("w"), n))); err != nil {
				t.Fatal(err)
			}
		}
		start := time.Now().Add(-time.Minute)
		got := map[string]int64{}
		err := w.Walk(ctx, func(name string, size int64, modTime time.Time) error {
			if _, dup := got[name]; dup {
				t.Errorf("Walk gave %s twice", name)
			}
			got[name] = size
			if _, mine := want[name]; mine && modTime.Before(start) {
				t.Errorf("%s: modification time %v, before it was made", name, modTime)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for name, n := range want {
			if got[name] != int64(n) {
				t.Errorf("Walk: %s has size %d (present: %v), want %d", name, got[name], got[name] != 0, n)
			}
		}
		for name := range got {
			if strings.HasPrefix(name, ".") || strings.Contains(name, "/.") {
				t.Errorf("Walk gave a temporary file %s", name)
			}
		}
		stop := errors.New("stop")
		calls := 0
		if err := w.Walk(ctx, func(string, int64, time.Time) error { calls++; return stop }); err != stop || calls != 1 {
			t.Errorf("Walk with fn failing: %v after %d calls, want fn's error after 1", err, calls)
		}
	})

	t.Run("Delete", func(t *testing.T) {
		d, ok := s.(modmirror.Deleter)
		if !ok {
			t.Skip("the store is not a modmirror.Deleter")
		}
		name := "example.com/gone/@v/v1.0.0.zip"
		keep := "example.com/gone/@v/v1.0.0.mod"
		for _, n := range []string{name, keep} {
			if err := s.Create(ctx, n, strings.NewReader("content")); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.Open(ctx, name); err != nil { // perhaps kept in memory now
			t.Fatal(err)
		}
		if err := d.Delete(ctx, name); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Open(ctx, name); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Open after Delete: %v, want fs.ErrNotExist", err)
		}
		if got := read(t, s, keep); string(got) != "content" {
			t.Errorf("the other file of the directory: %q", got)
		}
		if err := d.Delete(ctx, name); err != nil {
			t.Errorf("deleting a file that is not there: %v, want no error", err)
		}
		// A deleted name can be created again (a refill).
		if err := s.Create(ctx, name, strings.NewReader("again")); err != nil {
			t.Fatal(err)
		}
		if got := read(t, s, name); string(got) != "again" {
			t.Errorf("after a new Create: %q", got)
		}
	})

	t.Run("ConcurrentCreateLarge", func(t *testing.T) {
		// Writers of large contents race, some with the same bytes: one
		// wins, the others see fs.ErrExist, nothing is mixed.
		race(t, s, "example.com/racelarge/@v/v1.0.0.zip", 4, 11<<20/10, func(i int) int { return i % 2 })
	})

	t.Run("ConcurrentCreate", func(t *testing.T) {
		// Many writers race for one name: exactly one wins, the others see
		// fs.ErrExist, and the stored content is the winner's, whole.
		race(t, s, "example.com/race/@v/v1.0.0.zip", 16, 4096, func(i int) int { return i })
	})
}

// race has n writers create name at once, writer i with reps repetitions
// of a 10-byte pattern numbered pattern(i), and checks that exactly one
// wins, the others see fs.ErrExist, and the stored content is one
// writer's, whole.
func race(t *testing.T, s modmirror.Store, name string, n, reps int, pattern func(int) int) {
	t.Helper()
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			content := bytes.Repeat([]byte(fmt.Sprintf("writer %02d ", pattern(i))), reps)
			errs[i] = s.Create(ctx, name, bytes.NewReader(content))
		})
	}
	wg.Wait()
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, fs.ErrExist):
			t.Errorf("Create: %v", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d Creates succeeded, want exactly 1", wins)
	}
	got := read(t, s, name)
	if len(got) != 10*reps || !bytes.Equal(got, bytes.Repeat(got[:10], reps)) {
		t.Fatalf("stored content is not one writer's whole content")
	}
}

func read(t *testing.T, s modmirror.Store, name string) []byte {
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
	return data
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("storetest: injected read error") }
