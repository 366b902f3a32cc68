package mirror

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"time"

	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"

	"github.com/modmirror/modmirror"
)

// List returns the versions of a module: the upstream's list (refreshed at
// most once per ListTTL) merged with the versions stored, or the stored ones
// alone when the upstream is unreachable, disabled or not to be asked.
func (m *Mirror) List(ctx context.Context, path string) ([]string, error) {
	v, err := m.upstreamOrStored(ctx, "list", path,
		func(ctx context.Context) (any, error) {
			list, err := m.source(path).List(ctx, path)
			if err != nil {
				return nil, err
			}
			stored, err := m.storedVersions(ctx, path)
			if err != nil {
				return nil, err
			}
			return listVersions(path, list, stored), nil
		},
		func() (any, error) {
			stored, err := m.storedVersions(ctx, path)
			if err == nil && len(stored) == 0 {
				err = modmirror.NotFound("%s: no version stored", path)
			}
			return listVersions(path, nil, stored), err
		})
	if err != nil {
		return nil, err
	}
	return v.([]string), nil
}

// Latest returns the .info of the latest version: the upstream's answer
// (refreshed at most once per ListTTL), or the best stored version when the
// upstream is unreachable, disabled or not to be asked.
func (m *Mirror) Latest(ctx context.Context, path string) ([]byte, error) {
	v, err := m.upstreamOrStored(ctx, "latest", path,
		func(ctx context.Context) (any, error) {
			data, err := m.source(path).Latest(ctx, path)
			if err != nil {
				return nil, err
			}
			if _, err := m.acceptInfo(ctx, path, "latest", data); err != nil {
				return nil, err
			}
			return data, nil
		},
		func() (any, error) { return m.storedLatest(ctx, path) })
	if err != nil {
		return nil, err
	}
	return v.([]byte), nil
}

// upstreamOrStored answers a request whose answer changes over time (kind
// "list" or "latest"): from the TTL cache; else from fetch, one call per
// module at a time; else, when the upstream may not be asked or fails, from
// fromStore. A stored answer that stands in for a failing upstream is cached
// briefly, so that a hanging upstream does not slow every request.
func (m *Mirror) upstreamOrStored(ctx context.Context, kind, path string, fetch func(context.Context) (any, error), fromStore func() (any, error)) (any, error) {
	// Checks the path, and that the store can hold it, before the
	// upstream is asked.
	if err := modmirror.CheckPath(path); err != nil {
		return nil, err
	}
	key := kind + "\x00" + path
	if v, ok := m.lists.get(key); ok {
		return v, nil
	}
	if err := m.fillable(path, kind); err != nil {
		v, serr := fromStore()
		if serr != nil {
			return nil, err
		}
		m.lists.putFor(key, v, m.fallbackTTL())
		return v, nil
	}
	v, err, _ := m.fills.Do(key, func() (any, error) {
		ctx, cancel := detach(ctx, m.cfg.FetchTimeout/10)
		defer cancel()
		v, err := fetch(ctx)
		if err == nil {
			m.lists.put(key, v)
		}
		return v, err
	})
	if err == nil {
		return v, nil
	}
	v, serr := fromStore()
	if serr != nil {
		return nil, upstreamError(err)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		m.log.Warn("upstream failed; answering from the store", "module", path, "request", kind, "err", err)
	}
	m.lists.putFor(key, v, m.fallbackTTL())
	return v, nil
}

// fallbackTTL is how long an answer from the store alone stands in for a
// failing upstream's.
func (m *Mirror) fallbackTTL() time.Duration {
	return min(m.cfg.ListTTL, 10*time.Second)
}

// resolve turns a non-canonical query (a branch, a tag, a commit prefix)
// into a canonical version through the upstream, storing the .info it
// answers. Offline, or when the upstream fails, only commit prefixes of
// stored pseudo-versions can be resolved.
func (m *Mirror) resolve(ctx context.Context, path, query string) (string, error) {
	if err := modmirror.CheckPath(path); err != nil {
		return "", err
	}
	key := "query\x00" + path + "\x00" + query
	if v, ok := m.lists.get(key); ok {
		return v.(string), nil
	}
	if err := m.fillable(path, query); err != nil {
		if v, ok := m.resolveStored(ctx, path, query); ok {
			return v, nil
		}
		return "", err
	}
	v, err, _ := m.fills.Do(key, func() (any, error) {
		ctx, cancel := detach(ctx, m.cfg.FetchTimeout/10)
		defer cancel()
		data, err := m.source(path).Info(ctx, path, query)
		if err != nil {
			return nil, err
		}
		v, err := m.acceptInfo(ctx, path, query, data)
		if err != nil {
			return nil, err
		}
		m.lists.put(key, v)
		return v, nil
	})
	if err == nil {
		return v.(string), nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		if v, ok := m.resolveStored(ctx, path, query); ok {
			return v, nil
		}
	}
	return "", upstreamError(err)
}

// resolveStored resolves a query without the upstream: a commit-hash
// prefix to the one stored pseudo-version whose revision it matches, and
// vN.x.y to a stored vN.x.y+incompatible.
func (m *Mirror) resolveStored(ctx context.Context, path, query string) (string, bool) {
	if inc := query + "+incompatible"; semver.Build(query) == "" && module.CanonicalVersion(inc) == inc && module.Check(path, inc) == nil {
		// A major version above 1 asked for without its +incompatible,
		// as "go get m@v4.1.2" asks: the stored +incompatible version,
		// which is what the upstream resolved it to.
		if key, err := modmirror.VersionKey(path, inc, modmirror.ExtInfo); err == nil {
			if f, err := m.cfg.Store.Open(ctx, key); err == nil {
				f.Close()
				return inc, true
			}
		}
		return "", false
	}
	if len(query) < 7 || strings.Trim(query, "0123456789abcdef") != "" {
		return "", false
	}
	dir, err := modmirror.ModuleDir(path)
	if err != nil {
		return "", false
	}
	names, err := m.cfg.Store.List(ctx, dir)
	if err != nil {
		return "", false
	}
	found := ""
	for _, name := range names {
		v, ok := strings.CutSuffix(name, modmirror.ExtInfo)
		if !ok || !module.IsPseudoVersion(v) {
			continue
		}
		rev, err := module.PseudoVersionRev(v)
		if err != nil || !(strings.HasPrefix(rev, query) || strings.HasPrefix(query, rev)) {
			continue
		}
		if found != "" && found != v {
			return "", false // ambiguous
		}
		found = v
	}
	return found, found != ""
}

// acceptInfo checks an .info the upstream answered for a query (such as a
// branch, or "latest") and stores it under the canonical version it names,
// which it returns.
func (m *Mirror) acceptInfo(ctx context.Context, path, query string, data []byte) (string, error) {
	i, err := parseInfo(data)
	if err == nil {
		err = module.Check(path, i.Version)
	}
	if err != nil {
		return "", fmt.Errorf("%s@%s: upstream %s: %w", path, query, m.source(path), err)
	}
	m.storeInfo(ctx, path, i.Version, data)
	return i.Version, nil
}

// storeInfo stores the .info of a version resolved by a query, so that the
// version can be served offline later. A failure only costs that.
func (m *Mirror) storeInfo(ctx context.Context, path, version string, data []byte) {
	key, err := modmirror.VersionKey(path, version, modmirror.ExtInfo)
	if err != nil {
		return
	}
	err = m.cfg.Store.Create(ctx, key, bytes.NewReader(data))
	switch {
	case errors.Is(err, fs.ErrExist):
		m.noteMoved(ctx, path, version, key, data)
	case err != nil:
		m.log.Warn("storing .info", "module", path, "version", version, "err", err)
	}
}

// storedVersions reads the stored version list of a module.
func (m *Mirror) storedVersions(ctx context.Context, path string) ([]string, error) {
	key, err := modmirror.ListKey(path)
	if err != nil {
		return nil, err
	}
	f, err := m.cfg.Store.Open(ctx, key)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := readAll(f, modmirror.MaxInfoFile, key)
	if err != nil {
		return nil, modmirror.StorageError("reading", key, err)
	}
	return strings.Fields(string(data)), nil
}

// storedLatest picks the latest stored version as the go command would from
// a list: the highest release, else the highest pre-release, else the
// highest pseudo-version; and returns its .info.
func (m *Mirror) storedLatest(ctx context.Context, path string) ([]byte, error) {
	versions, err := m.storedVersions(ctx, path)
	if err != nil {
		return nil, err
	}
	best := ""
	rank := func(v string) int {
		switch {
		case module.IsPseudoVersion(v):
			return 0
		case semver.Prerelease(v) != "":
			return 1
		}
		return 2
	}
	for _, v := range versions {
		if best == "" || rank(v) > rank(best) || rank(v) == rank(best) && semver.Compare(v, best) > 0 {
			best = v
		}
	}
	if best == "" {
		return nil, modmirror.NotFound("%s@latest: no version stored", path)
	}
	key, err := modmirror.VersionKey(path, best, modmirror.ExtInfo)
	if err != nil {
		return nil, err
	}
	if f, err := m.cfg.Store.Open(ctx, key); err == nil {
		defer f.Close()
		return readAll(f, modmirror.MaxInfoFile, key)
	}
	// Only the go.mod of that version was ever asked for.
	return json.Marshal(struct{ Version string }{best})
}

// updateList rewrites the stored version list of a module from the .mod
// files stored, as the go command does in its module cache, so that the
// store works as a GOPROXY=file:// directory.
func (m *Mirror) updateList(ctx context.Context, path string) error {
	unlock := m.locks.lock(path)
	defer unlock()
	dir, err := modmirror.ModuleDir(path)
	if err != nil {
		return err
	}
	if m.cfg.Locker != nil {
		// Replicas too write the list one at a time, each from the
		// listing it makes under the lock, so none writes an older one
		// over a newer.
		unlockShared, err := m.cfg.Locker.Lock(ctx, dir+"/list")
		if err != nil {
			return modmirror.Unavailable("fill lock", err)
		}
		defer unlockShared()
	}
	if err := modmirror.WriteList(ctx, m.cfg.Store, path); err != nil {
		return err
	}
	m.lists.delete("list\x00" + path)
	m.lists.delete("latest\x00" + path)
	return nil
}

// listVersions returns what /@v/list serves: the union of the upstream's
// versions and the stored ones, keeping only canonical versions that are
// valid for the path (module.Check: v4.1.2 is not a version of a path
// without /v4, v4.1.2+incompatible is), once each, in the go command's
// order (semver.Sort). Pseudo-versions are left out, as proxy.golang.org
// leaves them out and the go command ignores them in lists. Whatever else an
// upstream sends (paths, markup, control characters, NUL bytes) is dropped,
// never relayed.
func listVersions(path string, upstream, stored []string) []string {
	seen := make(map[string]bool, len(upstream)+len(stored))
	out := []string{}
	for _, v := range slices.Concat(upstream, stored) {
		if seen[v] || module.CanonicalVersion(v) != v || module.IsPseudoVersion(v) || module.Check(path, v) != nil {
			continue
		}
		seen[v] = true
		out = append(out, v)
	}
	semver.Sort(out)
	return out
}
