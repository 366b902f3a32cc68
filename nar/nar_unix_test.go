//go:build unix

package nar

import (
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
