// Package rmtree removes directory trees that may hold a module cache,
// whose directories the go command makes read-only (unless -modcacherw).
package rmtree

import (
	"io/fs"
	"os"
	"path/filepath"
)

// RemoveAll removes dir and everything in it, first making its directories
// writable.
func RemoveAll(dir string) error {
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(p, 0o755)
		}
		return nil
	})
	return os.RemoveAll(dir)
}
