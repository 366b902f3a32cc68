// Package gosum reads go.sum files and checks their lines against a
// checksum database.
//
// # The format
//
// A go.sum file has one line per hash: "<module path> <version> <hash>" for
// a module's zip and "<module path> <version>/go.mod <hash>" for its go.mod
// file, the hash being "<algorithm>:<base64>" (the go command writes only
// h1:, dirhash.Hash1). Blank lines are allowed. [Parse] keeps every other
// line, malformed ones too (with the reason), so that a caller can report
// them or refuse the file as it needs.
package gosum

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/mod/module"
)

// MaxFile bounds the size of a go.sum file read by ReadFile: the largest
// real ones have a few thousand lines.
const MaxFile = 64 << 20

// A Line is one non-blank line of a go.sum file.
type Line struct {
	File string // the file's name, as given
	Num  int    // the line's number, from 1

	Path    string // module path
	Version string // without "/go.mod"
	GoMod   bool   // the hash is of the go.mod file, not the zip
	Hash    string // "h1:..."

	// Err says why the line is malformed: not three fields, an invalid
	// module path or version, a hash without an algorithm. The other
	// fields are then set only as far as they could be read.
	Err error
}

// Pos returns "file:line".
func (l Line) Pos() string { return fmt.Sprintf("%s:%d", l.File, l.Num) }

// Key returns the line's first two fields: "<path> <version>[/go.mod]".
func (l Line) Key() string {
	if l.GoMod {
		return l.Path + " " + l.Version + "/go.mod"
	}
	return l.Path + " " + l.Version
}

// Alg returns the algorithm of the line's hash ("h1").
func (l Line) Alg() string {
	alg, _, _ := strings.Cut(l.Hash, ":")
	return alg
}

// Parse parses data, the content of the go.sum file named file.
func Parse(file string, data []byte) []Line {
	var lines []Line
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		l := Line{File: file, Num: n}
		if len(fields) != 3 {
			l.Err = fmt.Errorf("%d fields, want 3", len(fields))
			lines = append(lines, l)
			continue
		}
		l.Path, l.Hash = fields[0], fields[2]
		l.Version, l.GoMod = strings.CutSuffix(fields[1], "/go.mod")
		if err := module.Check(l.Path, l.Version); err != nil {
			l.Err = err
		} else if alg, h, ok := strings.Cut(l.Hash, ":"); !ok || alg == "" || h == "" {
			l.Err = fmt.Errorf("%s: malformed hash %q", l.Path, l.Hash)
		}
		lines = append(lines, l)
	}
	if err := sc.Err(); err != nil {
		// Only a line longer than the buffer: say where.
		lines = append(lines, Line{File: file, Num: len(lines) + 1, Err: err})
	}
	return lines
}

// ErrTooLarge is wrapped by the error ReadFile returns for a file larger
// than MaxFile.
var ErrTooLarge = errors.New("go.sum file too large")

// ReadFile reads and parses a go.sum file of at most MaxFile bytes.
func ReadFile(file string) ([]Line, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxFile {
		return nil, fmt.Errorf("%s: %w: more than %d bytes", file, ErrTooLarge, MaxFile)
	}
	return Parse(file, data), nil
}
