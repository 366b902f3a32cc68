package vulndb

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"

	"golang.org/x/mod/semver"
)

// An Entry is what the mirror reads of one OSV entry: enough to say which
// module versions it affects and to name it in a policy's answer. The
// entry's JSON is served as it is (see the package documentation for the
// times).
type Entry struct {
	ID        string
	Aliases   []string // CVE-..., GHSA-...
	Summary   string
	Modified  time.Time // as served
	Withdrawn bool

	// Reviewed is false for entries the database marks UNREVIEWED
	// (database_specific.review_status): imported from another source
	// without a Go team review.
	Reviewed bool

	// Severity is the highest CVSS v3 base score among the entry's
	// severity ratings (0 to 10), or -1 when it has none. The Go
	// vulnerability database rates none of its entries today.
	Severity float64

	Affected []Affected
}

// Affected is one module an entry affects, and in which versions.
type Affected struct {
	Path   string // a module path, or "stdlib" or "toolchain"
	Ranges []Range
}

// A Range is an OSV SEMVER range: its events in the order of their
// versions. A version is affected when the last event at or below it
// introduces the vulnerability (or when it lies between an introduced
// event and a last_affected one).
type Range []Event

// An Event is one point of a Range. Versions carry their "v" here, unlike
// in OSV; "v0" stands for OSV's "0", before every version.
type Event struct {
	Kind    string // "introduced", "fixed" or "last_affected"
	Version string
}

// idPattern is the shape of the entry IDs served; anything else in the
// module (a stray file) is left out, and never becomes a URL path.
var idPattern = regexp.MustCompile(`^[A-Z]+-[0-9]{4}-[0-9A-Za-z-]{1,32}$`)

// osvEntry is the part of an OSV entry the mirror reads.
type osvEntry struct {
	ID        string    `json:"id"`
	Modified  time.Time `json:"modified"`
	Published time.Time `json:"published"`
	Withdrawn time.Time `json:"withdrawn"`
	Aliases   []string  `json:"aliases"`
	Summary   string    `json:"summary"`
	Severity  []struct {
		Type  string `json:"type"`
		Score string `json:"score"`
	} `json:"severity"`
	Affected []struct {
		Package struct {
			Name      string `json:"name"`
			Ecosystem string `json:"ecosystem"`
		} `json:"package"`
		Ranges []struct {
			Type   string              `json:"type"`
			Events []map[string]string `json:"events"`
		} `json:"ranges"`
	} `json:"affected"`
	DatabaseSpecific struct {
		ReviewStatus string `json:"review_status"`
		Severity     string `json:"severity"` // a label, as some databases give
	} `json:"database_specific"`
}

// parseEntry reads an OSV entry. Its ranges are checked: a range the mirror
// cannot read would make a policy wrongly pass versions, so it is an error.
func parseEntry(data []byte) (*Entry, *osvEntry, error) {
	var o osvEntry
	if err := json.Unmarshal(data, &o); err != nil {
		return nil, nil, err
	}
	if !idPattern.MatchString(o.ID) {
		return nil, nil, fmt.Errorf("id %q is not of the form GO-2024-1234", o.ID)
	}
	e := &Entry{
		ID:        o.ID,
		Aliases:   o.Aliases,
		Summary:   o.Summary,
		Modified:  o.Modified,
		Withdrawn: !o.Withdrawn.IsZero(),
		Reviewed:  o.DatabaseSpecific.ReviewStatus != "UNREVIEWED",
		Severity:  -1,
	}
	for _, s := range o.Severity {
		if strings.HasPrefix(s.Type, "CVSS_V3") {
			if score, err := CVSS3Score(s.Score); err == nil {
				e.Severity = max(e.Severity, score)
			}
		}
	}
	if e.Severity < 0 && o.DatabaseSpecific.Severity != "" {
		if score, ok := labelScore[strings.ToUpper(o.DatabaseSpecific.Severity)]; ok {
			e.Severity = score
		}
	}
	for _, a := range o.Affected {
		if a.Package.Ecosystem != "" && a.Package.Ecosystem != "Go" {
			continue
		}
		aff := Affected{Path: a.Package.Name}
		for _, r := range a.Ranges {
			if r.Type != "SEMVER" {
				return nil, nil, fmt.Errorf("%s: range of type %q; only SEMVER ranges are read", o.ID, r.Type)
			}
			var rng Range
			for _, ev := range r.Events {
				if len(ev) != 1 {
					return nil, nil, fmt.Errorf("%s: an event with %d fields", o.ID, len(ev))
				}
				for kind, v := range ev {
					if kind != "introduced" && kind != "fixed" && kind != "last_affected" {
						return nil, nil, fmt.Errorf("%s: event %q not known", o.ID, kind)
					}
					if v == "0" {
						v = "0.0.0"
					}
					if !semver.IsValid("v" + v) {
						return nil, nil, fmt.Errorf("%s: event %s %q is not a semantic version", o.ID, kind, v)
					}
					rng = append(rng, Event{Kind: kind, Version: "v" + v})
				}
			}
			rng.sort()
			aff.Ranges = append(aff.Ranges, rng)
		}
		e.Affected = append(e.Affected, aff)
	}
	return e, &o, nil
}

// labelScore maps severity labels to the lowest CVSS score of their band.
var labelScore = map[string]float64{"LOW": 0.1, "MODERATE": 4, "MEDIUM": 4, "HIGH": 7, "CRITICAL": 9}

func (r Range) sort() {
	// Events are few: insertion sort, stable, by version.
	for i := 1; i < len(r); i++ {
		for j := i; j > 0 && semver.Compare(r[j].Version, r[j-1].Version) < 0; j-- {
			r[j], r[j-1] = r[j-1], r[j]
		}
	}
}

// Contains reports whether the range affects v.
func (r Range) Contains(v string) bool {
	affected := false
	for _, ev := range r {
		n := semver.Compare(v, ev.Version)
		switch ev.Kind {
		case "introduced":
			if n >= 0 {
				affected = true
			}
		case "fixed":
			if n >= 0 {
				affected = false
			}
		case "last_affected":
			if n > 0 {
				affected = false
			}
		}
		if n < 0 {
			break
		}
	}
	return affected
}

// Affects reports whether the entry affects version v of module path. A
// withdrawn entry affects nothing.
func (e *Entry) Affects(path, v string) bool {
	if e.Withdrawn {
		return false
	}
	for _, a := range e.Affected {
		if a.Path != path {
			continue
		}
		if len(a.Ranges) == 0 {
			return true // every version
		}
		for _, r := range a.Ranges {
			if r.Contains(v) {
				return true
			}
		}
	}
	return false
}

// Fixed returns the lowest version above v that no range of the entry
// affects for path and that a range names as a fix, or "" if there is none.
func (e *Entry) Fixed(path, v string) string {
	best := ""
	for _, a := range e.Affected {
		if a.Path != path {
			continue
		}
		for _, r := range a.Ranges {
			for _, ev := range r {
				if ev.Kind == "fixed" && semver.Compare(ev.Version, v) > 0 && (best == "" || semver.Compare(ev.Version, best) < 0) && !e.Affects(path, ev.Version) {
					best = ev.Version
				}
			}
		}
	}
	return best
}

// HasFix reports whether some range of the entry for path ends in a fix.
func (e *Entry) HasFix(path string) bool {
	for _, a := range e.Affected {
		if a.Path == path {
			for _, r := range a.Ranges {
				if len(r) > 0 && r[len(r)-1].Kind == "fixed" {
					return true
				}
			}
		}
	}
	return false
}

// latestFix returns the version to give as "fixed" for path in the
// modules index: the highest fix, or "" when the entry still affects the
// newest versions (an introduced event with no fix after it), so that
// govulncheck, which skips entries whose fixed version is below the one it
// checks, never skips one that applies.
func (e *Entry) latestFix(path string) string {
	best := ""
	for _, a := range e.Affected {
		if a.Path != path {
			continue
		}
		if len(a.Ranges) == 0 {
			return ""
		}
		for _, r := range a.Ranges {
			if len(r) == 0 || r[len(r)-1].Kind != "fixed" {
				return ""
			}
			if v := r[len(r)-1].Version; best == "" || semver.Compare(v, best) > 0 {
				best = v
			}
		}
	}
	return strings.TrimPrefix(best, "v")
}
