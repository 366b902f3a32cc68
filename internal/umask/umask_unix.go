//go:build unix

package umask

import (
	"io/fs"
	"syscall"
)

func swap(mask fs.FileMode) fs.FileMode { return fs.FileMode(syscall.Umask(int(mask))) }
