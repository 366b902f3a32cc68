package snapshot

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// manifestHeader is the first line of a manifest file.
const manifestHeader = "# modmirror snapshot manifest v1"

// A Manifest describes a snapshot tree. It is written beside the tree, at
// the output directory's name plus ".manifest", not inside it, so that it
// does not change the tree's hash. Its text form is
//
//	# modmirror snapshot manifest v1
//	# hash sha256-...
//	example.com/a v1.0.0 h1:...
//	example.com/a v1.0.0/go.mod h1:...
//	example.com/a v1.0.0/info 2019-01-01T00:00:00Z
//
// with one line per file of the tree (list files aside, which follow from
// the rest): the go.sum line of each .zip and .mod, and the time written in
// each .info, sorted by path, then version. Two trees with the same lines
// are byte-identical, so when a pinned hash no longer matches, the lines
// that differ between the manifest of the pinned tree and the new one name
// the modules that changed.
type Manifest struct {
	Hash  string   // the NAR hash of the tree, "sha256-..."
	Lines []string // sorted as described above
}

// manifestLines returns the manifest lines of versions, whose .info files
// hold times.
func manifestLines(versions []modVersion, times []time.Time) []string {
	var lines []string
	for i, v := range versions { // sorted by path and version
		if v.ZipSum != "" {
			lines = append(lines, v.Path+" "+v.Version+" "+v.ZipSum)
		}
		if v.ModSum != "" {
			lines = append(lines, v.Path+" "+v.Version+"/go.mod "+v.ModSum)
		}
		lines = append(lines, v.Path+" "+v.Version+"/info "+times[i].UTC().Format(time.RFC3339))
	}
	return lines
}

// Bytes returns the text form of m.
func (m *Manifest) Bytes() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s\n# hash %s\n", manifestHeader, m.Hash)
	for _, l := range m.Lines {
		b.WriteString(l + "\n")
	}
	return b.Bytes()
}

// ReadManifest reads a manifest file. A missing file returns an error
// matching fs.ErrNotExist.
func ReadManifest(file string) (*Manifest, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	m := new(Manifest)
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case n == 1:
			if line != manifestHeader {
				return nil, fmt.Errorf("snapshot: %s: not a snapshot manifest", file)
			}
		case strings.HasPrefix(line, "# hash "):
			m.Hash = strings.TrimPrefix(line, "# hash ")
		case strings.HasPrefix(line, "#") || line == "":
		default:
			m.Lines = append(m.Lines, line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("snapshot: %s: %w", file, err)
	}
	return m, nil
}

// DiffManifests returns the lines only in old, prefixed with "- ", and the
// lines only in new, prefixed with "+ ", sorted by their text after the
// prefix so that the two sides of a change are next to each other.
func DiffManifests(old, new *Manifest) []string {
	inOld := make(map[string]bool, len(old.Lines))
	for _, l := range old.Lines {
		inOld[l] = true
	}
	inNew := make(map[string]bool, len(new.Lines))
	for _, l := range new.Lines {
		inNew[l] = true
	}
	var diff []string
	for _, l := range old.Lines {
		if !inNew[l] {
			diff = append(diff, "- "+l)
		}
	}
	for _, l := range new.Lines {
		if !inOld[l] {
			diff = append(diff, "+ "+l)
		}
	}
	slices.SortStableFunc(diff, func(a, b string) int { return strings.Compare(a[2:], b[2:]) })
	return diff
}

// HashMismatchError reports a snapshot whose hash is not the expected one.
type HashMismatchError struct {
	Expected, Got string

	// Diff is DiffManifests of the manifest of the expected tree (the one
	// left by an earlier run, if its hash was Expected) and of the new
	// tree, or nil if there was no such manifest.
	Diff []string

	// Previous is the hash recorded in the manifest of the earlier run, if
	// there was one.
	Previous string
}

func (e *HashMismatchError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "snapshot: hash mismatch: expected %s, got %s", e.Expected, e.Got)
	switch {
	case e.Diff != nil:
		b.WriteString("\nchanges from the expected snapshot (- expected, + now):")
		for _, l := range e.Diff {
			b.WriteString("\n\t" + l)
		}
	case e.Previous != "":
		fmt.Fprintf(&b, "\n(the manifest of the previous run is for %s, so which modules differ is unknown)", e.Previous)
	default:
		b.WriteString("\n(no manifest of a previous run, so which modules differ is unknown)")
	}
	return b.String()
}

// writeManifest writes m to file atomically, through a temporary file
// beside it.
func writeManifest(file string, m *Manifest) error {
	if err := writeFile(filepath.Dir(file), file, m.Bytes()); err != nil {
		return fmt.Errorf("%w (use --manifest to write it elsewhere, or --manifest=off)", err)
	}
	return nil
}

// readPreviousManifest reads the manifest of an earlier run, or returns nil
// if there is none or it cannot be read: it is only used to explain a hash
// mismatch.
func readPreviousManifest(file string) *Manifest {
	m, err := ReadManifest(file)
	if err != nil {
		return nil
	}
	return m
}
