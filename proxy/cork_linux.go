package proxy

import "syscall"

// setCork sets or clears TCP_CORK. Control holds the descriptor, so a
// connection closed meanwhile is not mistaken for another that reuses its
// number. It reports whether the connection was still open; a failed
// setsockopt changes nothing and needs nothing undone.
func setCork(rc syscall.RawConn, on bool) bool {
	f := corkOff
	if on {
		f = corkOn
	}
	return rc.Control(f) == nil
}

// Functions, not closures, so that corking allocates nothing.
func corkOn(fd uintptr) {
	syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_CORK, 1)
}

func corkOff(fd uintptr) {
	syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_CORK, 0)
}
