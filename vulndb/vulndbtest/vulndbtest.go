// Package vulndbtest writes small vulnerability databases for tests: OSV
// entries as the golang.org/x/vulndb module holds them (zero times), as
// module files or as a zip.
package vulndbtest

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"strings"
	"time"
)

// An Entry describes one OSV entry.
type Entry struct {
	ID      string
	Aliases []string
	Summary string
	Module  string

	// Ranges are the SEMVER ranges, each a list of events written
	// "introduced:0", "fixed:1.0.1" or "last_affected:1.2.0" (OSV's
	// versions, without "v").
	Ranges [][]string

	// Package and Symbols, if set, say which package and functions are
	// vulnerable, for govulncheck.
	Package string
	Symbols []string

	Unreviewed bool
	Withdrawn  bool
	Severity   string // a CVSS v3 vector, if any
}

// JSON returns the entry as the module's data/osv file has it.
func (e Entry) JSON() []byte {
	type event map[string]string
	type rng struct {
		Type   string  `json:"type"`
		Events []event `json:"events"`
	}
	type imp struct {
		Path    string   `json:"path"`
		Symbols []string `json:"symbols,omitempty"`
	}
	type affected struct {
		Package struct {
			Name      string `json:"name"`
			Ecosystem string `json:"ecosystem"`
		} `json:"package"`
		Ranges            []rng `json:"ranges,omitempty"`
		EcosystemSpecific struct {
			Imports []imp `json:"imports,omitempty"`
		} `json:"ecosystem_specific"`
	}
	a := affected{}
	a.Package.Name, a.Package.Ecosystem = e.Module, "Go"
	for _, r := range e.Ranges {
		x := rng{Type: "SEMVER"}
		for _, ev := range r {
			k, v, _ := strings.Cut(ev, ":")
			x.Events = append(x.Events, event{k: v})
		}
		a.Ranges = append(a.Ranges, x)
	}
	if e.Package != "" {
		a.EcosystemSpecific.Imports = []imp{{Path: e.Package, Symbols: e.Symbols}}
	}
	o := map[string]any{
		"schema_version": "1.3.1",
		"id":             e.ID,
		"modified":       time.Time{},
		"published":      time.Time{},
		"aliases":        e.Aliases,
		"summary":        e.Summary,
		"details":        e.Summary,
		"affected":       []affected{a},
		"database_specific": map[string]string{
			"url":           "https://pkg.go.dev/vuln/" + e.ID,
			"review_status": map[bool]string{false: "REVIEWED", true: "UNREVIEWED"}[e.Unreviewed],
		},
	}
	if e.Withdrawn {
		o["withdrawn"] = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	if e.Severity != "" {
		o["severity"] = []map[string]string{{"type": "CVSS_V3", "score": e.Severity}}
	}
	data, err := json.MarshalIndent(o, "", "  ")
	if err != nil {
		panic(err)
	}
	return data
}

// Files returns the entries as module files, by name within the module:
// data/osv/<id>.json.
func Files(entries ...Entry) map[string]string {
	files := make(map[string]string)
	for _, e := range entries {
		files["data/osv/"+e.ID+".json"] = string(e.JSON())
	}
	return files
}

// Zip returns a module zip of mod@version holding the entries (and a
// go.mod), as a zip.Reader.
func Zip(mod, version string, entries ...Entry) *zip.Reader {
	b := ZipBytes(mod, version, entries...)
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		panic(err)
	}
	return zr
}

// ZipBytes is Zip's zip, as bytes.
func ZipBytes(mod, version string, entries ...Entry) []byte {
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	files := Files(entries...)
	files["go.mod"] = "module " + mod + "\n"
	files["data/reports/README"] = "not read\n"
	for name, content := range files {
		w, err := zw.Create(mod + "@" + version + "/" + name)
		if err != nil {
			panic(err)
		}
		w.Write([]byte(content))
	}
	if err := zw.Close(); err != nil {
		panic(err)
	}
	return b.Bytes()
}
