package openread

import (
	"errors"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOpen: a file's contents, a directory's names, and os.Open's errors.
func TestOpen(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "f")
	if err := os.WriteFile(name, []byte("contents"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := Open(name)
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(f)
	f.Close()
	if err != nil || string(data) != "contents" {
		t.Errorf("read %q, %v; want %q", data, err, "contents")
	}

	d, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil || len(names) != 1 || names[0] != "f" {
		t.Errorf("directory names %q, %v; want [f]", names, err)
	}

	missing := filepath.Join(dir, "missing")
	_, err = Open(missing)
	var pe *fs.PathError
	if !errors.Is(err, fs.ErrNotExist) || !errors.As(err, &pe) || pe.Op != "open" || pe.Path != missing {
		t.Errorf("Open of a missing file: %#v; want a *fs.PathError for open %s matching fs.ErrNotExist", err, missing)
	}
	if err := os.Chmod(name, 0); err == nil && os.Geteuid() != 0 {
		if _, err := Open(name); !errors.Is(err, fs.ErrPermission) {
			t.Errorf("Open of an unreadable file: %v; want fs.ErrPermission", err)
		}
	}
}

// TestServed: a file from Open served by net/http arrives whole (on Linux,
// by sendfile, which needs an *os.File).
func TestServed(t *testing.T) {
	name := filepath.Join(t.TempDir(), "big")
	want := strings.Repeat("0123456789abcdef", 1<<16) // 1 MiB
	if err := os.WriteFile(name, []byte(want), 0o644); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, err := Open(name)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		http.ServeContent(w, r, "big", fi.ModTime(), f)
	})}
	go srv.Serve(ln)
	defer srv.Close()
	resp, err := http.Get("http://" + ln.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || string(got) != want {
		t.Errorf("status %d, %d bytes, %v; want 200 and the file's %d bytes", resp.StatusCode, len(got), err, len(want))
	}
}
