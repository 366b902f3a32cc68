package nar

import (
	"os"
	"syscall"
)

// openRead opens a file or directory for reading. os.Open would also try
// to add it to the network poller (four fcntl and a failing epoll_ctl on
// Linux, for a regular file or directory): a tenth of the system calls of
// hashing a tree of small files.
func openRead(name string) (*os.File, error) {
	for {
		fd, err := syscall.Open(name, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "open", Path: name, Err: err}
		}
		return os.NewFile(uintptr(fd), name), nil
	}
}
