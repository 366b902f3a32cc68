package modmirror

import (
	"fmt"
	"io/fs"
	"strings"

	"golang.org/x/mod/module"
)

// The suffixes of the three files of a module version.
const (
	ExtInfo = ".info"
	ExtMod  = ".mod"
	ExtZip  = ".zip"
)

// Limits on what a mirror accepts from an upstream; the go command enforces
// the same ones on what it downloads.
const (
	MaxZipFile  = 500 << 20 // zip files, as golang.org/x/mod/zip.MaxZipFile
	MaxGoMod    = 16 << 20  // go.mod files, as golang.org/x/mod/zip.MaxGoMod
	MaxInfoFile = 1 << 20   // .info, /@latest and /@v/list responses
)

// MaxKeyElem is the longest element of a store key, in bytes: what every
// common file system allows in a file name (NAME_MAX), so that any copy of
// a store, and the go command's own module cache, can hold what the store
// holds. module.CheckPath allows longer elements; a mirror answers them
// not found.
const MaxKeyElem = 255

// ModuleDir returns the store directory of a module path: "<escaped path>/@v".
// A path with an element that escapes to more than MaxKeyElem bytes gives an
// error matching fs.ErrNotExist: no store can hold it.
func ModuleDir(path string) (string, error) {
	epath, err := EscapePath(path)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if err := checkElems(epath); err != nil {
		return "", err
	}
	return epath + "/@v", nil
}

// CheckPath checks a module path as module.CheckPath does (an error
// wrapping ErrInvalid) and that a store can hold it (an error matching
// fs.ErrNotExist), as ModuleDir does, without building the key.
func CheckPath(path string) error {
	if err := module.CheckPath(path); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	for elem := range strings.SplitSeq(path, "/") {
		n := len(elem) // escaped: an upper-case letter becomes two bytes
		for i := 0; i < len(elem); i++ {
			if 'A' <= elem[i] && elem[i] <= 'Z' {
				n++
			}
		}
		if n > MaxKeyElem {
			return tooLong(path)
		}
	}
	return nil
}

// checkElems refuses a key with an element longer than MaxKeyElem.
func checkElems(key string) error {
	for elem := range strings.SplitSeq(key, "/") {
		if len(elem) > MaxKeyElem {
			return tooLong(key)
		}
	}
	return nil
}

func tooLong(name string) error {
	return NotFound("%.40s...: a path element is longer than %d bytes, which the mirror cannot store", name, MaxKeyElem)
}

// ListKey returns the store name of a module's version list.
func ListKey(path string) (string, error) {
	dir, err := ModuleDir(path)
	if err != nil {
		return "", err
	}
	return dir + "/list", nil
}

// VersionKey returns the store name of one file of a module version; ext is
// ExtInfo, ExtMod or ExtZip. The version must be canonical (or a
// golang.org/toolchain version, which module.Check accepts too).
func VersionKey(path, version, ext string) (string, error) {
	switch ext {
	case ExtInfo, ExtMod, ExtZip:
	default:
		return "", fmt.Errorf("%w: unknown file type %q", ErrInvalid, ext)
	}
	dir, err := ModuleDir(path)
	if err != nil {
		return "", err
	}
	evers, err := EscapeVersion(version)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if len(evers)+len(ext) > MaxKeyElem {
		return "", tooLong(evers)
	}
	return dir + "/" + evers + ext, nil
}

// CheckKey checks a name given to a Store: a slash-separated relative
// path whose elements are not empty, ".", ".." or anything else beginning
// with a dot (no module path or version element does; stores keep their
// temporary files under such names), and not longer than MaxKeyElem bytes.
// Its errors wrap ErrInvalid. "." alone, the store's root, is for List
// only, and refused here.
func CheckKey(name string) error {
	if !fs.ValidPath(name) || name == "." {
		return fmt.Errorf("%w: bad store name %q", ErrInvalid, name)
	}
	for elem := range strings.SplitSeq(name, "/") {
		if strings.HasPrefix(elem, ".") || len(elem) > MaxKeyElem {
			return fmt.Errorf("%w: bad store name %q", ErrInvalid, name)
		}
	}
	return nil
}

// SumDBKey returns the store name of a checksum database file, such as a
// verified tile: "sumdb/<name>/<file>", the go command's own cache layout.
func SumDBKey(name, file string) string {
	return "sumdb/" + name + "/" + file
}
