package snapshot

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/mod/module"

	"github.com/modmirror/modmirror"
)

// The modes and modification time of everything in a snapshot.
const (
	fileMode = 0o644
	dirMode  = 0o755
)

// ModTime is the modification time of every file and directory of a
// snapshot: the Unix epoch plus one second, as in the Nix store.
var ModTime = time.Unix(1, 0)

// place moves the finished temporary file tmp to target with the
// snapshot's mode and time, creating target's directory if needed.
func place(tmp, target string) error {
	if err := os.Chmod(tmp, fileMode); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	if err := os.Chtimes(tmp, ModTime, ModTime); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(target), dirMode); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	if err := os.Rename(tmp, target); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	return nil
}

// checkLayout checks that the directory out, if it exists, holds only
// files of a snapshot, so that removing the files a snapshot does not name
// cannot remove anything else.
func checkLayout(out string) error {
	fi, err := os.Stat(out)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("snapshot: %s exists and is not a directory", out)
	}
	return filepath.WalkDir(out, func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("snapshot: %w", err)
		}
		if name == out {
			return nil
		}
		rel, err := filepath.Rel(out, name)
		if err != nil {
			return fmt.Errorf("snapshot: %w", err)
		}
		rel = filepath.ToSlash(rel)
		if d.IsDir() && strings.HasPrefix(rel, stagingPrefix) && !strings.Contains(rel, "/") {
			return filepath.SkipDir // left by a crash; finish removes it
		}
		ok := d.IsDir() && !strings.HasPrefix(d.Name(), ".") && !strings.Contains(rel, "/@v/") ||
			d.Type().IsRegular() && (isSnapshotFile(rel) || isModFile(rel))
		if !ok {
			return fmt.Errorf("snapshot: refusing to write to %s: it exists and does not look like a snapshot (%s is not in the module cache layout); remove it or choose another directory", out, rel)
		}
		return nil
	})
}

// ModFilesDir is the directory of a snapshot that holds the alternate
// module files of OneVersion. No module path can begin with it: the first
// element of a module path has a dot.
const ModFilesDir = "modfiles"

// isModFile reports whether rel (slash-separated, relative to the output
// directory) is the name of an alternate module or sum file.
func isModFile(rel string) bool {
	name, ok := strings.CutPrefix(rel, ModFilesDir+"/")
	return ok && !strings.Contains(name, "/") && !strings.HasPrefix(name, ".") &&
		(strings.HasSuffix(name, ".mod") || strings.HasSuffix(name, ".sum"))
}

// isSnapshotFile reports whether rel (slash-separated, relative to the
// output directory) is the name of a file that a snapshot can hold.
func isSnapshotFile(rel string) bool {
	epath, file, ok := strings.Cut(rel, "/@v/")
	if !ok || strings.Contains(file, "/") {
		return false
	}
	modPath, err := module.UnescapePath(epath)
	if err != nil {
		return false
	}
	if file == "list" {
		return true
	}
	ext := path.Ext(file)
	switch ext {
	case modmirror.ExtInfo, modmirror.ExtMod, modmirror.ExtZip:
	default:
		return false
	}
	version, err := module.UnescapeVersion(strings.TrimSuffix(file, ext))
	return err == nil && module.Check(modPath, version) == nil
}

// finish makes out exactly the snapshot of versions, whose files are all in
// place: it writes the list files, removes files that the snapshot does not
// name and directories left empty, sets every mode and time, and syncs every
// directory. It returns the names of the files removed, slash-separated and
// relative to out, sorted.
func finish(out, staging string, versions []modVersion, extra map[string][]byte, changed bool) ([]string, error) {
	want := make(map[string]bool) // slash-separated names relative to out
	for _, name := range slices.Sorted(maps.Keys(extra)) {
		want[name] = true
		w, err := writeList(staging, filepath.Join(out, filepath.FromSlash(name)), extra[name])
		if err != nil {
			return nil, err
		}
		changed = changed || w
	}
	lists := make(map[string][]string)
	for _, v := range versions {
		for _, f := range []struct {
			sum, ext string
		}{{v.ZipSum, modmirror.ExtZip}, {v.ModSum, modmirror.ExtMod}, {"info", modmirror.ExtInfo}} {
			if f.sum == "" {
				continue
			}
			key, err := modmirror.VersionKey(v.Path, v.Version, f.ext)
			if err != nil {
				return nil, fmt.Errorf("snapshot: %s: %w", v, err)
			}
			want[key] = true
		}
		if v.ModSum != "" {
			lists[v.Path] = append(lists[v.Path], v.Version)
		}
	}
	for modPath, vs := range lists {
		key, err := modmirror.ListKey(modPath)
		if err != nil {
			return nil, fmt.Errorf("snapshot: %w", err)
		}
		want[key] = true
		slices.SortFunc(vs, compareVersions)
		var b bytes.Buffer
		for _, v := range slices.Compact(vs) {
			b.WriteString(v + "\n")
		}
		w, err := writeList(staging, filepath.Join(out, filepath.FromSlash(key)), b.Bytes())
		if err != nil {
			return nil, err
		}
		changed = changed || w
	}

	// Walk bottom-up: remove what is not wanted, then fix modes and times,
	// a directory's after its children's, since removing a child changes
	// its directory's time.
	var removed, files, dirs []string
	err := filepath.WalkDir(out, func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(out, name)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if strings.HasPrefix(rel, stagingPrefix) && !strings.Contains(rel, "/") {
				if name != staging {
					removed = append(removed, rel)
					if err := os.RemoveAll(name); err != nil {
						return err
					}
				}
				return filepath.SkipDir
			}
			dirs = append(dirs, name)
			return nil
		}
		if !want[rel] {
			removed = append(removed, rel)
			return os.Remove(name)
		}
		files = append(files, name)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	for _, name := range files {
		if err := setModeTime(name, fileMode); err != nil {
			return nil, err
		}
	}
	slices.Reverse(dirs) // children before parents
	for _, name := range dirs {
		if name != out {
			if err := os.Remove(name); err == nil {
				continue // it was empty
			}
		}
		if changed || len(removed) > 0 {
			if err := syncDir(name); err != nil {
				return nil, err
			}
		}
		if err := setModeTime(name, dirMode); err != nil {
			return nil, err
		}
	}
	slices.Sort(removed)
	return removed, nil
}

// writeList writes a list file through the staging directory, unless it
// already holds data, and reports whether it wrote.
func writeList(staging, name string, data []byte) (bool, error) {
	if old, err := os.ReadFile(name); err == nil && bytes.Equal(old, data) {
		return false, nil
	}
	return true, writeFile(staging, name, data)
}

// writeFile stores data at target through a temporary file in the staging
// directory, which must be on target's filesystem.
func writeFile(staging, target string, data []byte) error {
	tmp, err := os.CreateTemp(staging, "."+filepath.Base(target)+".tmp-*")
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename, there is nothing to remove
	defer tmp.Close()
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	return place(tmp.Name(), target)
}

// setModeTime gives a file or directory the snapshot's mode and time,
// touching it only if they differ.
func setModeTime(name string, mode fs.FileMode) error {
	fi, err := os.Lstat(name)
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	if fi.Mode().Perm() != mode {
		if err := os.Chmod(name, mode); err != nil {
			return fmt.Errorf("snapshot: %w", err)
		}
	}
	if !fi.ModTime().Equal(ModTime) {
		if err := os.Chtimes(name, ModTime, ModTime); err != nil {
			return fmt.Errorf("snapshot: %w", err)
		}
	}
	return nil
}

// syncDir makes the entries of a directory durable.
func syncDir(name string) error {
	d, err := os.Open(name)
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	return nil
}
