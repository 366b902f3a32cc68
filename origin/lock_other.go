//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package origin

import "context"

// lockFile does nothing on systems without flock: repositories are then
// locked only within one process, and a cache directory must not be shared
// by several processes.
func lockFile(ctx context.Context, name string) (unlock func(), err error) {
	return func() {}, ctx.Err()
}
