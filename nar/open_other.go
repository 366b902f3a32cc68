//go:build !linux

package nar

import "os"

func openRead(name string) (*os.File, error) { return os.Open(name) }
