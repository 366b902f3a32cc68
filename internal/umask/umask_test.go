//go:build unix

package umask

import (
	"os"
	"path/filepath"
	"testing"
)

func TestSetApply(t *testing.T) {
	old := Get()
	defer Set(old)
	Set(0o077)
	if got := Apply(0o644); got != 0o600 {
		t.Errorf("Apply(0644) with mask 077 = %o, want 600", got)
	}
	// The process's mask itself changed: OpenFile applies it.
	file := filepath.Join(t.TempDir(), "f")
	f, err := os.OpenFile(file, os.O_CREATE|os.O_WRONLY, 0o666)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	fi, _ := os.Stat(file)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("file created with mask 077: mode %o, want 600", fi.Mode().Perm())
	}
}
