package testupstream

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	pathpkg "path"
	"sort"
	"strings"
	"time"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb/dirhash"
	modzip "golang.org/x/mod/zip"
)

// Module is one fixture module version.
type Module struct {
	// Path and Version name the module version. Version must be canonical
	// ("v1.2.3", "v2.0.0+incompatible", a pseudo-version, ...).
	Path, Version string

	// Time is reported in the version's .info, in seconds. If it is zero,
	// the time encoded in a pseudo-version is used, or else
	// 2019-01-01T00:00:00Z, so that fixtures serve the same bytes on every
	// run.
	Time time.Time

	// Files maps file names, relative to the module root and
	// slash-separated, to their content. It normally includes "go.mod";
	// without one the .mod file is "module <path>\n", as proxies serve it
	// for modules that predate go.mod (such as +incompatible versions).
	// Files that do not belong in a module zip (in vendor directories or
	// nested modules) are left out of the zip, as zip.Create does.
	Files map[string]string

	// Aliases are other queries that resolve to this version in .info
	// requests: a branch ("main"), a tag, a commit hash or prefix. When
	// several versions of a path claim one alias, the one added last wins,
	// so a test can move a branch forward.
	Aliases []string
}

// defaultTime is the .info time of a fixture module that sets no Time and
// is not a pseudo-version.
var defaultTime = time.Date(2019, time.January, 1, 0, 0, 0, 0, time.UTC)

// fixtureModule holds every version of one module path.
type fixtureModule struct {
	versions map[string]*fixtureVersion
	aliases  map[string]string // query -> canonical version
}

// fixtureVersion is a module version as served: its three files, built
// once, and the hashes of the original bytes, which the checksum database
// records whatever faults later serve.
type fixtureVersion struct {
	info, mod, zip []byte
	zipSum, modSum string // "h1:..." as in go.sum lines
}

// Add adds modules to the server. Versions already present are an error, so
// that what the checksum database has logged never changes. Add fails the
// test on an invalid module, so like t.Fatal it must be called from the
// goroutine running the test; it may run while requests are being served.
func (s *Server) Add(mods ...Module) {
	s.t.Helper()
	built := make([]*fixtureVersion, len(mods))
	for i, m := range mods {
		v, err := buildVersion(m)
		if err != nil {
			s.t.Fatalf("testupstream: %v", err)
		}
		built[i] = v
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	for i, m := range mods {
		fm := s.modules[m.Path]
		if fm == nil {
			fm = &fixtureModule{versions: make(map[string]*fixtureVersion), aliases: make(map[string]string)}
			s.modules[m.Path] = fm
		}
		if fm.versions[m.Version] != nil {
			s.t.Fatalf("testupstream: %s@%s added twice", m.Path, m.Version)
		}
		fm.versions[m.Version] = built[i]
		for _, a := range m.Aliases {
			fm.aliases[a] = m.Version
		}
	}
}

// GoSumLines returns the go.sum lines of a module version that was added,
// the zip's line first:
//
//	<path> <version> h1:...
//	<path> <version>/go.mod h1:...
//
// They hold the hashes of the original fixture files, whatever faults are
// set. GoSumLines fails the test if there is no such module version.
func (s *Server) GoSumLines(path, version string) []string {
	s.t.Helper()
	v := s.lookupVersion(path, version)
	if v == nil {
		s.t.Fatalf("testupstream: GoSumLines: no module %s@%s", path, version)
		return nil
	}
	return v.goSumLines(path, version)
}

// goSumLines returns the go.sum lines of v, which is path@version.
func (v *fixtureVersion) goSumLines(path, version string) []string {
	return []string{
		fmt.Sprintf("%s %s %s", path, version, v.zipSum),
		fmt.Sprintf("%s %s/go.mod %s", path, version, v.modSum),
	}
}

// lookupVersion returns a module version by its canonical version, or nil.
func (s *Server) lookupVersion(path, version string) *fixtureVersion {
	s.mu.Lock()
	defer s.mu.Unlock()
	if fm := s.modules[path]; fm != nil {
		return fm.versions[version]
	}
	return nil
}

// buildVersion builds the served files of m and hashes them.
func buildVersion(m Module) (*fixtureVersion, error) {
	mv := module.Version{Path: m.Path, Version: m.Version}
	if module.CanonicalVersion(m.Version) != m.Version {
		return nil, fmt.Errorf("%s@%s: version is not canonical", m.Path, m.Version)
	}
	if err := module.Check(m.Path, m.Version); err != nil {
		return nil, err
	}

	names := make([]string, 0, len(m.Files))
	for name := range m.Files {
		names = append(names, name)
	}
	sort.Strings(names) // zip entry order is part of the served bytes
	files := make([]modzip.File, len(names))
	for i, name := range names {
		files[i] = memFile{name: name, data: m.Files[name]}
	}
	var zbuf bytes.Buffer
	if err := modzip.Create(&zbuf, mv, files); err != nil {
		return nil, err
	}

	mod, ok := m.Files["go.mod"]
	if !ok {
		// What the go command synthesizes, and proxy.golang.org serves,
		// for a version without a go.mod.
		mod = fmt.Sprintf("module %s\n", modfile.AutoQuote(m.Path))
	}

	t := m.Time
	if t.IsZero() {
		t = defaultTime
		if module.IsPseudoVersion(m.Version) {
			if pt, err := module.PseudoVersionTime(m.Version); err == nil {
				t = pt
			}
		}
	}
	info, err := json.Marshal(struct{ Version, Time string }{m.Version, t.UTC().Format(time.RFC3339)})
	if err != nil {
		return nil, err
	}

	v := &fixtureVersion{info: info, mod: []byte(mod), zip: zbuf.Bytes()}
	if v.zipSum, err = hashZip(v.zip); err != nil {
		return nil, fmt.Errorf("%s: hashing zip: %v", mv, err)
	}
	if v.modSum, err = hashMod(v.mod); err != nil {
		return nil, fmt.Errorf("%s: hashing go.mod: %v", mv, err)
	}
	return v, nil
}

// hashZip is dirhash.HashZip(file, dirhash.Hash1) for a zip held in memory.
func hashZip(data []byte) (string, error) {
	z, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return "", err
	}
	var names []string
	byName := make(map[string]*zip.File)
	for _, f := range z.File {
		names = append(names, f.Name)
		byName[f.Name] = f
	}
	return dirhash.Hash1(names, func(name string) (io.ReadCloser, error) {
		return byName[name].Open()
	})
}

// hashMod returns the go.sum hash of a go.mod file: Hash1 of a one-file
// tree holding "go.mod", as the go command computes it.
func hashMod(data []byte) (string, error) {
	return dirhash.Hash1([]string{"go.mod"}, func(string) (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	})
}

// memFile is a fixture file for zip.Create.
type memFile struct{ name, data string }

func (f memFile) Path() string                 { return f.name }
func (f memFile) Lstat() (fs.FileInfo, error)  { return memFileInfo(f), nil }
func (f memFile) Open() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(f.data)), nil }

// memFileInfo describes a memFile as a regular file.
type memFileInfo memFile

func (fi memFileInfo) Name() string       { return pathpkg.Base(fi.name) }
func (fi memFileInfo) Size() int64        { return int64(len(fi.data)) }
func (fi memFileInfo) Mode() fs.FileMode  { return 0o644 }
func (fi memFileInfo) ModTime() time.Time { return time.Time{} }
func (fi memFileInfo) IsDir() bool        { return false }
func (fi memFileInfo) Sys() any           { return nil }
