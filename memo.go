package modmirror

import (
	"sync"
	"sync/atomic"

	"golang.org/x/mod/module"
)

// The checks of module paths and versions in golang.org/x/mod/module are
// pure functions, and on a hit the same path is checked several times
// (parsing the request, checking the version, naming the store key): a
// third of a memory-cached hit's CPU time went to module.CheckPath
// (docs/BENCHMARKS.md). So their successful results are remembered, a
// bounded number of them: a hit pays a map lookup instead. Failures are not
// remembered; they are rare and cannot fill the memo.

// maxMemo bounds each memo (a few MiB at most); past it, it starts over.
const maxMemo = 1 << 14

type memo[K comparable, V any] struct {
	m sync.Map
	n atomic.Int64
}

func (c *memo[K, V]) get(k K) (V, bool) {
	v, ok := c.m.Load(k)
	if !ok {
		var zero V
		return zero, false
	}
	return v.(V), true
}

func (c *memo[K, V]) put(k K, v V) {
	if c.n.Load() >= maxMemo {
		c.m.Clear()
		c.n.Store(0)
	}
	if _, loaded := c.m.LoadOrStore(k, v); !loaded {
		c.n.Add(1)
	}
}

var (
	escaped      memo[string, string]           // module path -> escaped path
	unescaped    memo[string, string]           // escaped path -> module path
	escapedVer   memo[string, string]           // version -> escaped version
	unescapedVer memo[string, string]           // escaped version -> version
	checked      memo[module.Version, struct{}] // passed module.Check
)

// EscapePath is module.EscapePath, which also checks the path
// (module.CheckPath), remembering its answers.
func EscapePath(path string) (string, error) {
	return remember(&escaped, path, module.EscapePath)
}

// UnescapePath is module.UnescapePath, which also checks the path it
// returns, remembering its answers.
func UnescapePath(escapedPath string) (string, error) {
	return remember(&unescaped, escapedPath, module.UnescapePath)
}

// CheckVersion is module.Check, remembering the module versions that pass.
func CheckVersion(path, version string) error {
	mv := module.Version{Path: path, Version: version}
	if _, ok := checked.get(mv); ok {
		return nil
	}
	err := module.Check(path, version)
	if err == nil {
		checked.put(mv, struct{}{})
	}
	return err
}

// EscapeVersion is module.EscapeVersion, remembering its answers.
func EscapeVersion(version string) (string, error) {
	return remember(&escapedVer, version, module.EscapeVersion)
}

// UnescapeVersion is module.UnescapeVersion, remembering its answers.
func UnescapeVersion(escapedVersion string) (string, error) {
	return remember(&unescapedVer, escapedVersion, module.UnescapeVersion)
}

func remember(c *memo[string, string], in string, f func(string) (string, error)) (string, error) {
	if out, ok := c.get(in); ok {
		return out, nil
	}
	out, err := f(in)
	if err == nil {
		c.put(in, out)
	}
	return out, err
}
