//go:build unix

package nar

import (
	"crypto/sha256"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestUnsupportedTypes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	// Unix socket paths are limited to about 108 bytes; TempDir may be longer.
	sockDir, err := os.MkdirTemp("", "nar")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	sock := filepath.Join(sockDir, "s")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	for _, tc := range []struct{ path, kind string }{
		{fifo, "named pipe"},
		{dir, "named pipe"}, // a fifo inside the tree fails the whole tree
		{sock, "socket"},
		{"/dev/null", "character device"},
	} {
		_, err := Hash(tc.path)
		if !errors.Is(err, ErrUnsupportedType) {
			t.Errorf("Hash(%s) error = %v, want one wrapping ErrUnsupportedType", tc.path, err)
			continue
		}
		if !strings.Contains(err.Error(), tc.kind) || !strings.HasPrefix(err.Error(), "nar: ") {
			t.Errorf("Hash(%s) error = %q, want it to begin with \"nar: \" and name %q", tc.path, err, tc.kind)
		}
	}
}

// TestHashPipeline checks the hashing's two goroutines against Write: the
// same hash for trees whose archive spans many chunks, some of them passed
// on before they are full (files around handOnAt), and an error after
// several chunks (a fifo sorted after large files) ends the hash with that
// error, not a hang.
func TestHashPipeline(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sizes := []int{hashChunkSize - 7, 3*hashChunkSize + 1, 1, 0, handOnAt - 1, handOnAt + 3, 5, 2 * handOnAt, hashChunks*hashChunkSize + 5}
	for i, size := range sizes {
		data := make([]byte, size)
		for j := range data {
			data[j] = byte(i*31 + j*7)
		}
		if err := os.WriteFile(filepath.Join(dir, "f"+strings.Repeat("x", i)), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	h := sha256.New()
	if err := Write(h, dir); err != nil {
		t.Fatal(err)
	}
	var want [sha256.Size]byte
	h.Sum(want[:0])
	if got, err := Hash(dir); err != nil || got != SRI(want) {
		t.Errorf("Hash = %s, %v; the hash of Write's archive is %s", got, err, SRI(want))
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "zz-fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Hash(dir); !errors.Is(err, ErrUnsupportedType) {
		t.Errorf("Hash of a tree with a fifo after %d bytes of files: %v", hashChunks*hashChunkSize, err)
	}
}
