//go:build !linux

package proxy

import "syscall"

// setCork does nothing where there is no TCP_CORK.
func setCork(rc syscall.RawConn, on bool) bool { return false }
