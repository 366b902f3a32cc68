// Package atomicfile writes files so that a crash leaves either the
// old content or the new, never a mix: a temporary file in the same
// directory, synced, renamed over the target (or linked, when the target
// must not exist), and the directory synced.
package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/modmirror/modmirror/internal/umask"
)

// Write replaces file with data, with permissions perm less the process's
// umask (as os.WriteFile gives them), creating the directory if needed.
func Write(file string, data []byte, perm fs.FileMode) error {
	return write(file, data, perm, os.Rename)
}

// Create writes data to file, with permissions perm less the umask, only
// if file does not exist; otherwise it returns an error matching
// fs.ErrExist and leaves the file untouched.
func Create(file string, data []byte, perm fs.FileMode) error {
	return write(file, data, perm, os.Link)
}

// WriteFunc replaces file with what fill writes, as Write does: the file
// appears whole when fill succeeds, and not at all when it fails.
func WriteFunc(file string, perm fs.FileMode, fill func(w io.Writer) error) error {
	return writeWith(file, perm, os.Rename, fill)
}

func write(file string, data []byte, perm fs.FileMode, place func(tmp, file string) error) error {
	return writeWith(file, perm, place, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

func writeWith(file string, perm fs.FileMode, place func(tmp, file string) error, fill func(w io.Writer) error) error {
	dir := filepath.Dir(file)
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(file)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // fails harmlessly once renamed; removes the link's source
	err = fill(f)
	if err == nil {
		err = f.Chmod(umask.Apply(perm))
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = place(tmp, file)
	}
	if err != nil {
		var le *os.LinkError
		if errors.As(err, &le) && errors.Is(le.Err, fs.ErrExist) {
			return fmt.Errorf("%s: %w", file, fs.ErrExist)
		}
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	return nil
}
