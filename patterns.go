package modmirror

import (
	"errors"
	"fmt"
	"path"
	"strings"

	"golang.org/x/mod/module"
)

// Patterns is a list of module path patterns in the syntax of GOPRIVATE:
// comma-separated globs (path.Match syntax), each matched against as many
// leading elements of a module path as it has, so that "corp.example/*"
// matches corp.example/lib and corp.example/lib/sub/v2. The zero value
// matches nothing.
//
// A mistyped pattern that silently matches nothing can send a private
// module path to a public upstream, so ParsePatterns refuses every pattern
// that can never match a module path rather than ignore it.
type Patterns struct {
	list string // cleaned: no spaces, no empty entries, no trailing slashes
}

// ParsePatterns parses a comma-separated list of patterns. Spaces around
// each pattern, empty entries and trailing slashes are dropped. A pattern
// is refused, with an error that names it and says why, when it has a URL
// scheme, is not a valid glob, has an empty element, or has characters that
// no module path has (anything but ASCII letters, digits and "-._~" outside
// the glob syntax; "!" in particular, which only escaped paths contain), or
// when its first element can never match a module path's first element
// (which is lower-case and has a dot).
func ParsePatterns(list string) (Patterns, error) {
	return parsePatterns(list, false)
}

// ParseHostPatterns parses a comma-separated list of host name patterns,
// as GOINSECURE's are used for hosts: one element each (no path), checked
// as the first element of a module path pattern, except that a host such as
// localhost needs no dot.
func ParseHostPatterns(list string) (Patterns, error) {
	return parsePatterns(list, true)
}

func parsePatterns(list string, hosts bool) (Patterns, error) {
	var out []string
	for p := range strings.SplitSeq(list, ",") {
		p = strings.TrimSuffix(strings.TrimSpace(p), "/")
		if p == "" {
			continue
		}
		if err := checkPattern(p, hosts); err != nil {
			return Patterns{}, fmt.Errorf("pattern %q %w", p, err)
		}
		out = append(out, p)
	}
	return Patterns{list: strings.Join(out, ",")}, nil
}

// MustParsePatterns is ParsePatterns for lists known to be valid; it
// panics on an error.
func MustParsePatterns(list string) Patterns {
	p, err := ParsePatterns(list)
	if err != nil {
		panic(err)
	}
	return p
}

// Match reports whether a module path matches one of the patterns.
func (p Patterns) Match(modPath string) bool {
	return p.list != "" && module.MatchPrefixPatterns(p.list, modPath)
}

// Empty reports whether there are no patterns.
func (p Patterns) Empty() bool { return p.list == "" }

// String returns the cleaned list, comma-separated.
func (p Patterns) String() string { return p.list }

// checkPattern checks one pattern; its errors complete the sentence
// "pattern X ...".
func checkPattern(p string, host bool) error {
	if strings.Contains(p, "://") {
		return errors.New("has a URL scheme: a pattern is a module path prefix, such as corp.example/*")
	}
	if _, err := path.Match(p, ""); err != nil {
		return errors.New("is not a valid glob (path.Match syntax: *, ?, [class], \\ to escape)")
	}
	if host && strings.Contains(p, "/") {
		return errors.New("has a path: it is matched against host names, such as corp.example")
	}
	for i, elem := range strings.Split(p, "/") {
		if elem == "" {
			return errors.New("has an empty path element")
		}
		lits, glob := literals(elem)
		for _, r := range lits {
			switch {
			case r == '!':
				return errors.New(`contains "!", which no module path contains: write upper-case letters as they are, not escaped`)
			case !modulePathRune(r):
				return fmt.Errorf("contains %q, which no module path contains", r)
			case i == 0 && 'A' <= r && r <= 'Z':
				return errors.New("has upper-case letters in its first element, which a module path's first element never has")
			}
		}
		if i == 0 && !host && !glob && !strings.Contains(elem, ".") {
			return fmt.Errorf("cannot match any module path: its first element %q has no dot, which a module path's first element needs", elem)
		}
	}
	return nil
}

// modulePathRune reports whether r may appear in a module path element.
func modulePathRune(r rune) bool {
	return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || strings.ContainsRune("-._~", r)
}

// literals returns the characters of a glob element that stand for
// themselves (escaped ones included), and whether the element has any
// wildcard or class. The element is a valid path.Match pattern.
func literals(elem string) (lits []rune, glob bool) {
	rs := []rune(elem)
	for i := 0; i < len(rs); i++ {
		switch rs[i] {
		case '*', '?':
			glob = true
		case '\\':
			if i+1 < len(rs) {
				i++
				lits = append(lits, rs[i])
			}
		case '[':
			glob = true
			// Skip the class, to its first ']' that is not escaped.
			j := i + 1
			for j < len(rs) && rs[j] != ']' {
				if rs[j] == '\\' {
					j++
				}
				j++
			}
			i = j
		default:
			lits = append(lits, rs[i])
		}
	}
	return lits, glob
}
