// Package sumdbpath parses the paths of the checksum database protocol, as
// the go command sends them below <database URL>/ or <proxy>/sumdb/<name>/:
//
//	/supported
//	/latest
//	/lookup/<escaped path>@<escaped version>
//	/tile/8/<L>/<N>[.p/<W>]
//	/tile/8/data/<N>[.p/<W>]
//
// Both the proxy of a remote database and modmirror's own log parse with it,
// so what one accepts the other does too.
package sumdbpath

import (
	"errors"
	"strings"

	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb/tlog"
)

// TileHeight is the height of the tiles the go command asks for;
// sum.golang.org and modmirror's own log serve no others.
const TileHeight = 8

// The kinds of request.
const (
	Supported = "supported"
	Latest    = "latest"
	Lookup    = "lookup"
	Tile      = "tile"
)

// A Request is a parsed, validated checksum database path.
type Request struct {
	Kind string
	Mod  module.Version // for Lookup
	Tile tlog.Tile      // for Tile; L is -1 for a data tile
}

// ErrBadPath is returned for a path that is not a checksum database path.
var ErrBadPath = errors.New("not a checksum database path")

// Parse parses a path relative to the database's root. Only the canonical
// spelling of each path is accepted (Parse(p).Path() == p), so what is
// passed on, and used as a cache key, is exactly what was validated.
// Lookups must name a canonical version (golang.org/toolchain versions,
// such as v0.0.1-go1.21.13.linux-amd64, are canonical).
func Parse(p string) (Request, error) {
	var r Request
	switch {
	case p == "/supported":
		r.Kind = Supported
	case p == "/latest":
		r.Kind = Latest
	case strings.HasPrefix(p, "/lookup/"):
		epath, evers, ok := strings.Cut(p[len("/lookup/"):], "@")
		if !ok {
			return r, ErrBadPath
		}
		path, err := module.UnescapePath(epath)
		if err != nil {
			return r, err
		}
		vers, err := module.UnescapeVersion(evers)
		if err != nil {
			return r, err
		}
		if err := module.Check(path, vers); err != nil {
			return r, err
		}
		if module.CanonicalVersion(vers) != vers {
			return r, ErrBadPath
		}
		r.Kind, r.Mod = Lookup, module.Version{Path: path, Version: vers}
	case strings.HasPrefix(p, "/tile/"):
		t, err := tlog.ParseTilePath(p[1:])
		if err != nil {
			return r, err
		}
		// Hash levels stop at 63 (tlog.HashFromTile).
		if t.H != TileHeight || t.L > 63 || t.N < 0 {
			return r, ErrBadPath
		}
		r.Kind, r.Tile = Tile, t
	default:
		return r, ErrBadPath
	}
	if r.Path() != p {
		return r, ErrBadPath
	}
	return r, nil
}

// SplitName splits rest, a URL path below a proxy's "/sumdb/", into the
// name of one of the databases names and the path below it ("/latest",
// ...). A database name may have slashes ("corp.example/sumdb"), so the
// longest name that rest begins with, followed by a slash, wins. ok is
// false if rest names none of them.
func SplitName(rest string, names []string) (name, sub string, ok bool) {
	for _, n := range names {
		if len(n) > len(name) && len(rest) > len(n) && rest[len(n)] == '/' && rest[:len(n)] == n {
			name = n
		}
	}
	if name == "" {
		return "", "", false
	}
	return name, rest[len(name):], true
}

// Path returns the request's path, as parsed.
func (r Request) Path() string {
	switch r.Kind {
	case Lookup:
		epath, _ := module.EscapePath(r.Mod.Path)
		evers, _ := module.EscapeVersion(r.Mod.Version)
		return "/lookup/" + epath + "@" + evers
	case Tile:
		return "/" + r.Tile.Path()
	}
	return "/" + r.Kind
}

// FullHashTile reports whether r asks for a complete tile of hashes: one
// that never changes.
func (r Request) FullHashTile() bool {
	return r.Kind == Tile && r.Tile.L >= 0 && r.Tile.W == 1<<r.Tile.H
}

// FullTile reports whether r asks for a complete tile, of hashes or of
// record data: one that never changes.
func (r Request) FullTile() bool {
	return r.Kind == Tile && r.Tile.W == 1<<r.Tile.H
}
