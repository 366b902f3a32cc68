package openread

import (
	"os"
	"syscall"
)

// Open opens name for reading. Its errors are *fs.PathError, as os.Open's:
// errors.Is(err, fs.ErrNotExist) holds for a missing file.
func Open(name string) (*os.File, error) {
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
