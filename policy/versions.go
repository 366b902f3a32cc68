package policy

import (
	"fmt"
	"strings"

	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"
)

// A Range is a set of versions, written as alternatives separated by "||",
// each a list of conditions separated by commas that a version must all
// meet:
//
//	>= v1.2.0, < v1.4.0
//	< v1.0.0 || >= v2.0.0, !prerelease
//	pseudo
//
// A condition is a comparison (=, !=, <, <=, >, >=) with a semantic
// version, or one of the words release, prerelease, pseudo and
// incompatible, which may be negated with "!":
//
//   - release: no pre-release part, and not a pseudo-version;
//   - prerelease: a pre-release part (v1.3.0-rc.1), and not a
//     pseudo-version;
//   - pseudo: a pseudo-version (v0.0.0-20240102030405-abcdefabcdef);
//   - incompatible: a "+incompatible" version.
//
// Versions compare in semantic version order, as the go command orders
// them: a pre-release sorts before its release (v1.4.0-rc.1 < v1.4.0), a
// pseudo-version is a pre-release of the version after the tag it
// follows (v1.3.1-0.20240102030405-abcdefabcdef sorts between v1.3.0 and
// v1.3.1), and "+incompatible" is ignored (v2.0.0+incompatible = v2.0.0).
// So "< v1.4.0" holds for v1.4.0-rc.1 and for the pseudo-versions that
// follow v1.3.x tags; add "release" to leave them out. The empty Range
// holds for every version.
type Range struct {
	text string
	alts [][]condition // nil: every version
}

type condition struct {
	op      string // "=", "!=", "<", "<=", ">", ">=", or "is" for a word
	version string // canonical, for comparisons
	word    string // for "is"
	not     bool   // for "is": the word negated
}

// ParseRange parses a version range. Its errors say which condition is
// wrong and why.
func ParseRange(text string) (Range, error) {
	r := Range{text: strings.TrimSpace(text)}
	if r.text == "" {
		return r, nil
	}
	for alt := range strings.SplitSeq(r.text, "||") {
		var conds []condition
		for c := range strings.SplitSeq(alt, ",") {
			c = strings.TrimSpace(c)
			if c == "" {
				return Range{}, fmt.Errorf("version range %q: an empty condition", text)
			}
			cond, err := parseCondition(c)
			if err != nil {
				return Range{}, fmt.Errorf("version range %q: %v", text, err)
			}
			conds = append(conds, cond)
		}
		r.alts = append(r.alts, conds)
	}
	return r, nil
}

var words = map[string]bool{"release": true, "prerelease": true, "pseudo": true, "incompatible": true}

func parseCondition(c string) (condition, error) {
	word, not := strings.CutPrefix(c, "!")
	if words[strings.TrimSpace(word)] && (not || !strings.ContainsAny(c, "<>=")) {
		return condition{op: "is", word: strings.TrimSpace(word), not: not}, nil
	}
	op := ""
	for _, o := range []string{">=", "<=", "!=", "=", "<", ">"} {
		if rest, ok := strings.CutPrefix(c, o); ok {
			op, c = o, strings.TrimSpace(rest)
			break
		}
	}
	if op == "" {
		if !strings.HasPrefix(c, "v") {
			return condition{}, fmt.Errorf("%q is not a comparison (=, !=, <, <=, >, >= and a version) or a word (release, prerelease, pseudo, incompatible)", c)
		}
		op = "=" // a bare version means that version
	}
	if !semver.IsValid(c) {
		return condition{}, fmt.Errorf("%q is not a semantic version such as v1.2.3", c)
	}
	if op == "=" || op == "!=" {
		// An exact version must be written in full: v1.2 means nothing
		// as one version.
		if semver.Canonical(c) != strings.TrimSuffix(c, "+incompatible") {
			return condition{}, fmt.Errorf("%q is not a full version (vMAJOR.MINOR.PATCH) for %s", c, op)
		}
	}
	return condition{op: op, version: semver.Canonical(c)}, nil
}

// String returns the range as it was written.
func (r Range) String() string { return r.text }

// Any reports whether the range holds for every version.
func (r Range) Any() bool { return r.alts == nil }

// Contains reports whether v, a canonical version, is in the range.
func (r Range) Contains(v string) bool {
	if r.alts == nil {
		return true
	}
	for _, alt := range r.alts {
		if allHold(alt, v) {
			return true
		}
	}
	return false
}

func allHold(conds []condition, v string) bool {
	for _, c := range conds {
		if !c.holds(v) {
			return false
		}
	}
	return true
}

func (c condition) holds(v string) bool {
	if c.op == "is" {
		return is(c.word, v) != c.not
	}
	n := semver.Compare(v, c.version)
	switch c.op {
	case "=":
		return n == 0
	case "!=":
		return n != 0
	case "<":
		return n < 0
	case "<=":
		return n <= 0
	case ">":
		return n > 0
	default: // ">="
		return n >= 0
	}
}

func is(word, v string) bool {
	switch word {
	case "pseudo":
		return module.IsPseudoVersion(v)
	case "prerelease":
		return semver.Prerelease(v) != "" && !module.IsPseudoVersion(v)
	case "release":
		return semver.Prerelease(v) == ""
	default: // "incompatible"
		return strings.HasSuffix(v, "+incompatible")
	}
}
