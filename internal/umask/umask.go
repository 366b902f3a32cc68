// Package umask keeps the process's file mode creation mask where the code
// that writes files can read it.
//
// os.OpenFile and os.MkdirAll apply the mask; Chmod does not. Files that
// modmirror writes through a temporary file (os.CreateTemp, mode 0600) are
// given their final mode with Chmod, so they ask Apply for it: a file meant
// to be 0644 becomes 0600 in a mirror whose data directory is private.
package umask

import (
	"io/fs"
	"sync/atomic"
)

var current atomic.Uint32

func init() {
	// Read at start, before any goroutine of this program writes files:
	// the only way to read the mask is to set it and put it back.
	current.Store(uint32(swap(0o022)))
	swap(fs.FileMode(current.Load()))
}

// Get returns the mask.
func Get() fs.FileMode { return fs.FileMode(current.Load()) }

// Set sets the process's mask. Call it at start, before files are written.
func Set(mask fs.FileMode) {
	swap(mask & fs.ModePerm)
	current.Store(uint32(mask & fs.ModePerm))
}

// Apply returns perm less the mask: the mode os.OpenFile would give a file
// created with perm.
func Apply(perm fs.FileMode) fs.FileMode { return perm &^ Get() }
