package mirror

import (
	"sync"
	"time"

	"golang.org/x/mod/semver"
)

// newestSeen remembers, for a while, the highest version of each module
// path that a client's module graph was seen to name: a go.mod asked for
// and missed, or a requirement of a go.mod the mirror filled. The go
// command selects the highest version of each path its graph names, and
// with graph pruning asks for the go.mod files of the selected versions,
// not of the older ones that pruned go.mod files require; so such a
// requirement older than a version already seen is not worth a checksum
// database lookup in advance (prefetchRequirements). It only guides
// prefetching: forgetting costs a lookup, never a wrong answer.
type newestSeen struct {
	mu    sync.Mutex
	paths map[string]seenVersion
}

type seenVersion struct {
	version string
	at      time.Time
}

const (
	// newestTTL is how long a version seen counts: longer than a client
	// takes to load a module graph, short enough that the next build,
	// which may need older versions, starts afresh.
	newestTTL = 10 * time.Minute
	// maxNewest bounds the paths remembered; past it they are forgotten.
	maxNewest = 10000
)

// raise notes version of path as seen, and reports whether it is higher
// than every version of path seen in the last newestTTL (the same version
// seen again was asked for or looked up already).
func (n *newestSeen) raise(path, version string) bool {
	now := time.Now()
	n.mu.Lock()
	defer n.mu.Unlock()
	old, ok := n.paths[path]
	if ok && now.Sub(old.at) < newestTTL && semver.Compare(version, old.version) <= 0 {
		return false
	}
	if n.paths == nil {
		n.paths = make(map[string]seenVersion)
	}
	putBounded(n.paths, path, seenVersion{version, now}, maxNewest)
	return true
}
