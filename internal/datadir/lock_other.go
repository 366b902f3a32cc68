//go:build !unix

package datadir

import "os"

// lock opens the lock file; there is no flock to take here, so a second
// process is not kept out.
func lock(name string) (*os.File, error) {
	return os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o666)
}
