//go:build !linux

package openread

import "os"

// Open opens name for reading: os.Open.
func Open(name string) (*os.File, error) { return os.Open(name) }
