package access_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/modmirror/modmirror/access"
	"github.com/modmirror/modmirror/access/tokentest"
)

// TestTokenDB runs the conformance suite on the SQLite file, opened twice
// as the mirror and "modmirror token" open it, and checks the file's mode.
func TestTokenDB(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "sub", "tokens.db")
	tokentest.Run(t, func(t *testing.T) access.TokenStore {
		db, err := access.OpenTokenDB(file)
		if err != nil {
			t.Fatal(err)
		}
		return db
	})
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("%s: mode %v, %v; want 0600", file, fi.Mode().Perm(), err)
	}
}
