//go:build !unix

package umask

import "io/fs"

// swap does nothing where there is no umask.
func swap(fs.FileMode) fs.FileMode { return 0 }
