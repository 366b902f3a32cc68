// Package vulndb serves the Go vulnerability database offline, built from
// the module that publishes it (golang.org/x/vulndb), and answers which
// entries affect a module version, for policy.
//
// # From the module to the protocol
//
// The module's data/osv directory holds one OSV entry per file, named for
// its ID. The database protocol that govulncheck reads
// (https://go.dev/security/vulndb/api) serves those entries under
// /ID/<id>.json and two indexes, /index/db.json and /index/modules.json,
// each also gzipped (.json.gz, which is what govulncheck asks for). The
// module and the protocol differ in three ways, and the mirror derives what
// is missing:
//
//   - Times. The module's entries carry zero "modified" and "published"
//     times: the published database sets them from the repository's
//     history, which a module zip does not have. The mirror sets every
//     zero time to the time of the module version it loaded (its .info
//     Time, the commit's), so that no time it serves is older than the
//     truth: an entry's "modified" moves forward whenever the database is
//     refreshed. /index/db.json's "modified" is the newest of them.
//   - The modules index. For each module path named by an entry (and
//     "stdlib" and "toolchain"), the IDs that name it, their times, and
//     "fixed": the highest version that fixes it, or nothing when a range
//     is still open (no fix after its last introduction), so that a client
//     that skips entries fixed below the version it checks never skips one
//     that applies.
//   - /index/vulns.json, as the published database has: every ID with its
//     time and aliases.
//
// Entries whose ID is not of the form GO-2024-1234 are left out, so that
// nothing else in the module becomes a URL path.
package vulndb

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"path"
	"slices"
	"strings"
	"time"
)

// A DB is one version of the vulnerability database, loaded in memory. It
// is immutable and safe for concurrent use.
type DB struct {
	// Module and Version are the module version it was loaded from; Time
	// is that version's time.
	Module, Version string
	Time            time.Time

	// Modified is the newest time of an entry.
	Modified time.Time

	entries  map[string]*Entry   // by ID
	byModule map[string][]*Entry // by affected module path
	files    map[string][]byte   // gzipped, by protocol path without ".gz"
}

// Limits on what Load reads: one entry, and all of them. The real database
// has a few thousand entries of a few KiB each.
const (
	maxEntry   = 4 << 20
	maxEntries = 512 << 20
)

// Load reads the database from the zip of module version mod@version of
// the given time, from the entries in data/osv. It fails if the zip holds
// no entries, or an entry it cannot read.
func Load(zr *zip.Reader, mod, version string, t time.Time) (*DB, error) {
	prefix := mod + "@" + version + "/data/osv/"
	db := &DB{
		Module:   mod,
		Version:  version,
		Time:     t.UTC(),
		entries:  make(map[string]*Entry),
		byModule: make(map[string][]*Entry),
		files:    make(map[string][]byte),
	}
	var total int64
	for _, f := range zr.File {
		name, ok := strings.CutPrefix(f.Name, prefix)
		if !ok || strings.Contains(name, "/") || path.Ext(name) != ".json" {
			continue
		}
		if f.UncompressedSize64 > maxEntry {
			return nil, fmt.Errorf("vulndb: %s@%s: %s is larger than %d bytes", mod, version, name, maxEntry)
		}
		if total += int64(f.UncompressedSize64); total > maxEntries {
			return nil, fmt.Errorf("vulndb: %s@%s: entries larger than %d bytes in all", mod, version, maxEntries)
		}
		data, err := readZipFile(f)
		if err != nil {
			return nil, fmt.Errorf("vulndb: %s@%s: %s: %v", mod, version, name, err)
		}
		if err := db.add(strings.TrimSuffix(name, ".json"), data); err != nil {
			return nil, fmt.Errorf("vulndb: %s@%s: %s: %v", mod, version, name, err)
		}
	}
	if len(db.entries) == 0 {
		return nil, fmt.Errorf("vulndb: %s@%s has no entries in data/osv", mod, version)
	}
	if err := db.index(); err != nil {
		return nil, err
	}
	return db, nil
}

func readZipFile(f *zip.File) ([]byte, error) {
	rc, err := f.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(io.LimitReader(rc, maxEntry))
}

// add adds the entry data, from the file named for id.
func (db *DB) add(id string, data []byte) error {
	e, o, err := parseEntry(data)
	if err != nil {
		return err
	}
	if e.ID != id {
		return fmt.Errorf("holds entry %s", e.ID)
	}
	if _, dup := db.entries[id]; dup {
		return fmt.Errorf("entry %s twice", id)
	}
	// The entry as served: its own JSON, with zero times set (see the
	// package documentation). Fields stay as they are.
	if o.Modified.IsZero() || o.Published.IsZero() {
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(data, &fields); err != nil {
			return err
		}
		t, _ := json.Marshal(db.Time)
		if o.Modified.IsZero() {
			fields["modified"] = t
			e.Modified = db.Time
		}
		if o.Published.IsZero() {
			fields["published"] = t
		}
		if data, err = json.Marshal(fields); err != nil {
			return err
		}
	}
	db.entries[id] = e
	db.files["ID/"+id+".json"] = gzipped(data)
	seen := map[string]bool{}
	for _, a := range e.Affected {
		if !seen[a.Path] {
			seen[a.Path] = true
			db.byModule[a.Path] = append(db.byModule[a.Path], e)
		}
	}
	if e.Modified.After(db.Modified) {
		db.Modified = e.Modified
	}
	return nil
}

// index writes the indexes of the protocol.
func (db *DB) index() error {
	type moduleVuln struct {
		ID       string    `json:"id"`
		Modified time.Time `json:"modified"`
		Fixed    string    `json:"fixed,omitempty"`
	}
	type moduleMeta struct {
		Path  string       `json:"path"`
		Vulns []moduleVuln `json:"vulns"`
	}
	var modules []moduleMeta
	for _, p := range slices.Sorted(maps.Keys(db.byModule)) {
		m := moduleMeta{Path: p}
		for _, e := range db.byModule[p] {
			m.Vulns = append(m.Vulns, moduleVuln{ID: e.ID, Modified: e.Modified, Fixed: e.latestFix(p)})
		}
		slices.SortFunc(m.Vulns, func(a, b moduleVuln) int { return strings.Compare(a.ID, b.ID) })
		modules = append(modules, m)
	}
	type vulnMeta struct {
		ID       string    `json:"id"`
		Modified time.Time `json:"modified"`
		Aliases  []string  `json:"aliases,omitempty"`
	}
	var vulns []vulnMeta
	for _, id := range slices.Sorted(maps.Keys(db.entries)) {
		e := db.entries[id]
		vulns = append(vulns, vulnMeta{ID: id, Modified: e.Modified, Aliases: e.Aliases})
	}
	for name, v := range map[string]any{
		"index/db.json": struct {
			Modified time.Time `json:"modified"`
		}{db.Modified},
		"index/modules.json": modules,
		"index/vulns.json":   vulns,
	} {
		data, err := json.Marshal(v)
		if err != nil {
			return err
		}
		db.files[name] = gzipped(data)
	}
	return nil
}

func gzipped(data []byte) []byte {
	var b bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&b, gzip.DefaultCompression)
	zw.Write(data)
	zw.Close()
	return b.Bytes()
}

// Len returns the number of entries.
func (db *DB) Len() int { return len(db.entries) }

// Entry returns the entry with the given ID, or nil.
func (db *DB) Entry(id string) *Entry { return db.entries[id] }

// Affecting returns the entries that affect version v of module path, in
// ID order. Withdrawn entries affect nothing.
func (db *DB) Affecting(path, v string) []*Entry {
	var out []*Entry
	for _, e := range db.byModule[path] {
		if e.Affects(path, v) {
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b *Entry) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Covers reports whether some entry names module path at all: most paths
// have none, and need no more work.
func (db *DB) Covers(path string) bool { return len(db.byModule[path]) > 0 }

// file returns the gzipped content of a protocol path such as
// "index/modules.json", and whether it exists.
func (db *DB) file(name string) ([]byte, bool) {
	data, ok := db.files[name]
	return data, ok
}
