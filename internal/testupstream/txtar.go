package testupstream

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// ParseTxtar reads one fixture module version from a txtar archive. The
// archive's comment (the text before the first "-- name --" line) holds
// key=value lines, and may hold any other text:
//
//	module=<module path>   required
//	version=<version>      required, canonical
//	time=<RFC 3339 time>   optional: Module.Time
//	alias=<query>          optional, repeatable: Module.Aliases
//
// Every file in the archive is a file of the module, named relative to the
// module root. Like cmd/go's testdata/mod, a directory of fixtures names
// each archive "<escaped path with / as _>_<version>.txt", but only the
// header counts. A line of the form word=value with an unknown word is an
// error, to catch misspelled keys.
func ParseTxtar(data []byte) (Module, error) {
	comment, files, err := parseTxtar(data)
	if err != nil {
		return Module{}, err
	}
	m := Module{Files: files}
	for _, line := range strings.Split(string(comment), "\n") {
		key, value, ok := strings.Cut(strings.TrimSpace(line), "=")
		if !ok || !isKey(key) {
			continue // free text
		}
		switch key {
		case "module":
			m.Path = value
		case "version":
			m.Version = value
		case "time":
			if m.Time, err = time.Parse(time.RFC3339, value); err != nil {
				return Module{}, fmt.Errorf("testupstream: txtar header: %v", err)
			}
		case "alias":
			m.Aliases = append(m.Aliases, value)
		default:
			return Module{}, fmt.Errorf("testupstream: txtar header: unknown key %q", key)
		}
	}
	if m.Path == "" || m.Version == "" {
		return Module{}, fmt.Errorf("testupstream: txtar header must set module= and version=")
	}
	return m, nil
}

// LoadDir reads every *.txt file in dir with [ParseTxtar], in file name
// order.
func LoadDir(dir string) ([]Module, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.txt"))
	if err != nil {
		return nil, err
	}
	mods := make([]Module, 0, len(names)) // Glob sorts names
	for _, name := range names {
		data, err := os.ReadFile(name)
		if err != nil {
			return nil, err
		}
		m, err := ParseTxtar(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		mods = append(mods, m)
	}
	return mods, nil
}

// isKey reports whether s looks like a header key: a lowercase word.
func isKey(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < 'a' || 'z' < c {
			return false
		}
	}
	return true
}

// parseTxtar splits a txtar archive, as golang.org/x/tools/txtar.Parse
// does: a file marker is a whole line "-- name --", and a file's content is
// every byte up to the next marker line.
func parseTxtar(data []byte) (comment []byte, files map[string]string, err error) {
	files = make(map[string]string)
	comment, name, data := nextFile(data)
	for name != "" {
		content, next, rest := nextFile(data)
		if _, dup := files[name]; dup {
			return nil, nil, fmt.Errorf("testupstream: txtar: duplicate file %q", name)
		}
		files[name] = string(content)
		name, data = next, rest
	}
	return comment, files, nil
}

// nextFile returns the bytes of data before its first file marker line, the
// name in that marker, and the bytes after it. If there is no marker, name
// is empty and before is all of data.
func nextFile(data []byte) (before []byte, name string, after []byte) {
	for i := 0; i < len(data); {
		line := data[i:]
		end := bytes.IndexByte(line, '\n')
		if end >= 0 {
			line = line[:end]
		}
		if n, ok := markerName(line); ok {
			if end < 0 {
				return data[:i], n, nil
			}
			return data[:i], n, data[i+end+1:]
		}
		if end < 0 {
			break
		}
		i += end + 1
	}
	return data, "", nil
}

// markerName returns the file name in a "-- name --" line.
func markerName(line []byte) (string, bool) {
	line = bytes.TrimSuffix(line, []byte("\r"))
	if !bytes.HasPrefix(line, []byte("-- ")) || !bytes.HasSuffix(line, []byte(" --")) || len(line) < len("-- x --") {
		return "", false
	}
	name := strings.TrimSpace(string(line[3 : len(line)-3]))
	return name, name != ""
}
