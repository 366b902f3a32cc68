package checksum

import (
	"errors"
	"strings"

	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb/tlog"
)

// The kinds of request a Proxy answers.
const (
	reqSupported = "supported"
	reqLatest    = "latest"
	reqLookup    = "lookup"
	reqTile      = "tile"
)

// A request is a parsed, validated checksum database path.
type request struct {
	kind string
	mod  module.Version // for reqLookup
	tile tlog.Tile      // for reqTile
}

var errBadPath = errors.New("checksum: not a checksum database path")

// parseRequest parses a path relative to /sumdb/<name>/. Only the canonical
// spelling of each path is accepted (parseRequest(p).path() == p), so what
// is passed on to the remote, and used as a cache key, is exactly what was
// validated.
func parseRequest(p string) (request, error) {
	var r request
	switch {
	case p == "/supported":
		r.kind = reqSupported
	case p == "/latest":
		r.kind = reqLatest
	case strings.HasPrefix(p, "/lookup/"):
		epath, evers, ok := strings.Cut(p[len("/lookup/"):], "@")
		if !ok {
			return r, errBadPath
		}
		path, err := module.UnescapePath(epath)
		if err != nil {
			return r, err
		}
		vers, err := module.UnescapeVersion(evers)
		if err != nil {
			return r, err
		}
		// The database logs canonical versions only (golang.org/toolchain
		// versions, such as v0.0.1-go1.21.13.linux-amd64, are canonical).
		if err := module.Check(path, vers); err != nil {
			return r, err
		}
		if module.CanonicalVersion(vers) != vers {
			return r, errBadPath
		}
		r.kind, r.mod = reqLookup, module.Version{Path: path, Version: vers}
	case strings.HasPrefix(p, "/tile/"):
		t, err := tlog.ParseTilePath(p[1:])
		if err != nil {
			return r, err
		}
		// The go command asks only for tiles of height 8; hash levels
		// stop at 63 (tlog.HashFromTile).
		if t.H != tileHeight || t.L > 63 || t.N < 0 {
			return r, errBadPath
		}
		r.kind, r.tile = reqTile, t
	default:
		return r, errBadPath
	}
	if r.path() != p {
		return r, errBadPath
	}
	return r, nil
}

// path returns the request's path, as served and as read from the remote.
func (r request) path() string {
	switch r.kind {
	case reqLookup:
		epath, _ := module.EscapePath(r.mod.Path)
		evers, _ := module.EscapeVersion(r.mod.Version)
		return "/lookup/" + epath + "@" + evers
	case reqTile:
		return "/" + r.tile.Path()
	}
	return "/" + r.kind
}

// fullHashTile reports whether r asks for a complete tile of hashes: one that
// never changes, and that can be authenticated and stored.
func (r request) fullHashTile() bool {
	return r.kind == reqTile && r.tile.L >= 0 && r.tile.W == 1<<r.tile.H
}
