// Package proxy serves the GOPROXY protocol over HTTP
// (https://go.dev/ref/mod#goproxy-protocol) from a Source, such as a
// mirror.Mirror, and routes /sumdb/<name>/ requests to checksum database
// handlers.
//
// # Requests
//
//	<path>/@v/list          versions, one per line
//	<path>/@v/<query>.info  JSON {"Version", "Time"}; the query may be non-canonical
//	<path>/@v/<version>.mod the go.mod file
//	<path>/@v/<version>.zip the module zip
//	<path>/@latest          JSON, as .info
//
// Paths and versions arrive case-escaped ("!a" for "A") and percent-decoded
// by net/http; both are unescaped and validated by golang.org/x/mod/module
// before anything reaches the Source. A malformed request is answered 400.
//
// # Status codes
//
// 200 with the content; 404 when the mirror does not have it and cannot get
// it (clients fall through to their next GOPROXY entry); 400 for a malformed
// request; 502 when an upstream failed or served content that failed
// verification (the body says SECURITY ERROR then); 500 for a local failure.
// Error bodies are one or a few lines of plain text, which the go command
// prints to its user.
package proxy

import (
	"fmt"
	"strings"

	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"

	"github.com/modmirror/modmirror"
)

// Kind is the kind of a GOPROXY request.
type Kind int

// The kinds of GOPROXY requests.
const (
	KindList Kind = iota + 1
	KindLatest
	KindInfo
	KindMod
	KindZip
)

var kindNames = [...]string{KindList: "list", KindLatest: "latest", KindInfo: "info", KindMod: "mod", KindZip: "zip"}

func (k Kind) String() string {
	if k > 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// A Request is a parsed GOPROXY request.
type Request struct {
	Kind    Kind
	Path    string // module path, unescaped and checked
	Version string // for KindInfo, KindMod, KindZip: unescaped; canonical for mod and zip
}

// ParseRequest parses the path of a GOPROXY request, with any base path
// already removed and without the leading slash:
// "github.com/!azure/go/@v/v1.0.0.zip". Errors wrap modmirror.ErrInvalid.
func ParseRequest(p string) (Request, error) {
	if escPath, ok := strings.CutSuffix(p, "/@latest"); ok {
		path, err := unescapePath(escPath)
		if err != nil {
			return Request{}, err
		}
		return Request{Kind: KindLatest, Path: path}, nil
	}
	// A module path never contains "@", so the first "/@v/" ends it.
	escPath, file, ok := strings.Cut(p, "/@v/")
	if !ok {
		return Request{}, fmt.Errorf("%w: %q is not a GOPROXY request path", modmirror.ErrInvalid, p)
	}
	path, err := unescapePath(escPath)
	if err != nil {
		return Request{}, err
	}
	if file == "list" {
		return Request{Kind: KindList, Path: path}, nil
	}
	var kind Kind
	var escVersion string
	for _, k := range []struct {
		ext  string
		kind Kind
	}{{modmirror.ExtInfo, KindInfo}, {modmirror.ExtMod, KindMod}, {modmirror.ExtZip, KindZip}} {
		if v, ok := strings.CutSuffix(file, k.ext); ok {
			kind, escVersion = k.kind, v
			break
		}
	}
	if kind == 0 || strings.Contains(escVersion, "/") {
		return Request{}, fmt.Errorf("%w: unknown file %q (want list, <version>.info, .mod or .zip)", modmirror.ErrInvalid, file)
	}
	version, err := modmirror.UnescapeVersion(escVersion)
	if err != nil {
		return Request{}, fmt.Errorf("%w: %s: %w", modmirror.ErrInvalid, path, err)
	}
	// A query the upstream resolves (for .info): a version, a branch, a
	// tag, a commit prefix. Keep it to the characters those use: anything
	// else is malformed in every reading.
	if strings.IndexFunc(version, func(r rune) bool { return !queryRune(r) }) >= 0 {
		return Request{}, fmt.Errorf("%w: %s: query %q has characters no version, branch or tag uses here", modmirror.ErrInvalid, path, version)
	}
	if kind != KindInfo && !validVersion(path, version) {
		// The go command asks for .mod and .zip only with the canonical
		// version that the .info of a query named; a GOPROXY=file://
		// directory has no such file. Not found, so that clients fall
		// through to their next proxy, as they would there.
		return Request{}, modmirror.NotFound("%s@%s: not a canonical version of the module (.mod and .zip are served for the version that %s.info resolves to)", path, version, version)
	}
	return Request{Kind: kind, Path: path, Version: version}, nil
}

func queryRune(r rune) bool {
	return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || strings.ContainsRune("-._~+", r)
}

func unescapePath(escaped string) (string, error) {
	path, err := modmirror.UnescapePath(escaped)
	if err != nil {
		return "", fmt.Errorf("%w: %w", modmirror.ErrInvalid, err)
	}
	return path, nil
}

// Canonical reports whether the request names a fixed version, whose
// answer never changes and may be cached forever.
func (r Request) Canonical() bool {
	switch r.Kind {
	case KindMod, KindZip:
		return true
	case KindInfo:
		return validVersion(r.Path, r.Version)
	}
	return false
}

// validVersion reports whether version is a canonical version of the
// module path: canonical semver (+incompatible only from v2 on) that suits
// the path's major version suffix.
func validVersion(path, version string) bool {
	return module.CanonicalVersion(version) == version && modmirror.CheckVersion(path, version) == nil &&
		!(semver.Build(version) == "+incompatible" && semver.Compare(semver.Major(version), "v2") < 0)
}
