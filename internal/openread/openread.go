// Package openread opens files to be read, as os.Open does, for the paths
// that open one file per request or per file of a tree: the store's hits
// and the snapshot hash.
//
// On Linux, os.Open also tries to register every file it opens with the
// runtime's network poller, which a regular file or directory refuses: two
// fcntl calls to make the descriptor non-blocking, an epoll_ctl that fails,
// and two more to undo it. Open skips that: open(2), then os.NewFile, which
// checks with one fcntl that the descriptor blocks and leaves it alone. The
// result is still an *os.File, so net/http still sends it with sendfile(2).
// Elsewhere Open is os.Open.
package openread
