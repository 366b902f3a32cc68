// Package fsstore implements a modmirror.Store on a local filesystem.
//
// The directory it manages is laid out exactly as the go command's module
// download cache, so the directory itself, or any copy of it, works as
// GOPROXY=file://<dir>.
//
// # Durability
//
// Every write goes to a temporary file in the destination directory, is
// synced, and is then moved into place: with link(2) for Create, which fails
// if the name exists and so never replaces an immutable file, and with
// rename(2) for Replace. The directory is synced afterwards, so a crash at any
// moment leaves either no file or the whole file. Temporary files live in
// the directory ".tmp" under the root, which no store name can reach; those
// left behind by a crash are removed when the store is next opened, once
// they are an hour old (another process may be writing them), or at once by
// a mirror that holds its data directory's lock (internal/datadir).
//
// # Permissions
//
// Files get mode 0644 and directories 0755, less the process's umask, as
// os.Create and os.Mkdir would give them: a mirror with a private data
// directory sets a umask of 077.
package fsstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/modmirror/modmirror"
	"github.com/modmirror/modmirror/internal/openread"
	"github.com/modmirror/modmirror/internal/srcerr"
	"github.com/modmirror/modmirror/internal/umask"
)

const stagingDir = ".tmp"

// Store is a modmirror.Store rooted at a directory.
type Store struct {
	root string
}

var _ modmirror.Store = (*Store)(nil)

// New returns a Store rooted at dir, creating the directory if needed.
func New(dir string) (*Store, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("fsstore: %w", err)
	}
	if err := os.MkdirAll(abs, 0o777); err != nil {
		return nil, fmt.Errorf("fsstore: %w", err)
	}
	s := &Store{root: abs}
	if err := s.cleanStaging(); err != nil {
		return nil, fmt.Errorf("fsstore: %w", err)
	}
	return s, nil
}

// Root returns the absolute path of the store's directory.
func (s *Store) Root() string { return s.root }

// String returns the store's location as a URL.
func (s *Store) String() string { return "file://" + filepath.ToSlash(s.root) }

// filename maps a store name to a path under the root, refusing names that
// could escape it or that name a temporary file.
func (s *Store) filename(name string) (string, error) {
	// No valid name starts an element with a dot; the staging directory
	// does.
	if err := modmirror.CheckKey(name); err != nil {
		return "", fmt.Errorf("fsstore: %w", err)
	}
	return filepath.Join(s.root, filepath.FromSlash(name)), nil
}

// Open implements modmirror.Store.
func (s *Store) Open(ctx context.Context, name string) (modmirror.File, error) {
	file, err := s.filename(name)
	if err != nil {
		return nil, err
	}
	f, err := openread.Open(file)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	case err != nil:
		return nil, modmirror.StorageError("reading", name, err)
	}
	return f, nil
}

// Create implements modmirror.Store.
func (s *Store) Create(ctx context.Context, name string, r io.Reader) error {
	// link(2) refuses to replace an existing file, which is exactly the
	// immutability rule; rename(2) would silently overwrite it.
	return s.write(name, r, os.Link)
}

// Replace implements modmirror.Store.
func (s *Store) Replace(ctx context.Context, name string, r io.Reader) error {
	return s.write(name, r, os.Rename)
}

// write stores r under name: a synced temporary file is committed under its
// final name (by link or rename), then the directory is synced.
func (s *Store) write(name string, r io.Reader, commit func(tmp, file string) error) error {
	file, err := s.filename(name)
	if err != nil {
		return err
	}
	dir := filepath.Dir(file)
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return modmirror.StorageError("writing", name, err)
	}
	tmp, err := s.stage(name, r)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	if err := commit(tmp, file); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return &fs.PathError{Op: "create", Path: name, Err: fs.ErrExist}
		}
		return modmirror.StorageError("writing", name, err)
	}
	if err := syncDir(dir); err != nil {
		return modmirror.StorageError("writing", name, err)
	}
	return nil
}

// stage returns the name of a synced file in the staging directory holding
// the content of r. When r is itself a file on the same filesystem (the
// mirror downloads zips to a temporary file before verifying them), it is
// hard-linked rather than copied, so a 500 MiB zip is not written twice.
// Errors reading r are returned as they are; the store's own are storage
// errors about name.
func (s *Store) stage(name string, r io.Reader) (string, error) {
	if err := os.MkdirAll(s.staging(), 0o777); err != nil {
		return "", modmirror.StorageError("writing", name, err)
	}
	if src, ok := r.(*os.File); ok && linkable(src) {
		tmp := filepath.Join(s.staging(), fmt.Sprintf("link-%d-%d", os.Getpid(), linkSeq.Add(1)))
		if err := os.Link(src.Name(), tmp); err == nil {
			if err := errors.Join(src.Sync(), os.Chmod(tmp, fileMode())); err != nil {
				os.Remove(tmp)
				return "", modmirror.StorageError("writing", name, err)
			}
			return tmp, nil
		}
		// A different filesystem, most likely: copy instead.
	}
	f, err := os.CreateTemp(s.staging(), "copy-*")
	if err != nil {
		return "", modmirror.StorageError("writing", name, err)
	}
	tmp := f.Name()
	src := &srcerr.Reader{R: r}
	err = f.Chmod(fileMode())
	if err == nil {
		_, err = io.Copy(f, src)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	switch {
	case src.Err != nil:
		os.Remove(tmp)
		return "", src.Err
	case err != nil:
		os.Remove(tmp)
		return "", modmirror.StorageError("writing", name, err)
	}
	return tmp, nil
}

var linkSeq atomic.Int64

// fileMode is the mode of stored files: 0644 less the process's umask, as
// if they had been created with os.Create. Directories are created with
// 0777 less the umask.
func fileMode() fs.FileMode { return umask.Apply(0o644) }

// linkable reports whether src can be linked instead of copied: it must be a
// regular file read from its start, so that the link has the same content
// the reader would have produced.
func linkable(src *os.File) bool {
	off, err := src.Seek(0, io.SeekCurrent)
	if err != nil || off != 0 {
		return false
	}
	fi, err := src.Stat()
	return err == nil && fi.Mode().IsRegular()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// List implements modmirror.Store.
func (s *Store) List(ctx context.Context, dir string) ([]string, error) {
	d := s.root
	if dir != "." {
		var err error
		if d, err = s.filename(dir); err != nil {
			return nil, err
		}
	}
	entries, err := os.ReadDir(d)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, modmirror.StorageError("listing", dir, err)
	}
	var names []string
	for _, e := range entries {
		if e.Type().IsRegular() && !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names, nil
}

// staging is the directory of temporary files. Its name starts with a dot,
// which no module path or version can, so it is never served.
func (s *Store) staging() string { return filepath.Join(s.root, stagingDir) }

// cleanStaging removes temporary files left behind by a crash. Files younger
// than an hour are kept: another process may be writing them.
func (s *Store) cleanStaging() error {
	entries, err := os.ReadDir(s.staging())
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > time.Hour {
			os.Remove(filepath.Join(s.staging(), e.Name()))
		}
	}
	return nil
}

// Ping implements modmirror.Pinger: the store's directory can be read.
func (s *Store) Ping(ctx context.Context) error {
	if _, err := os.Stat(s.root); err != nil {
		return modmirror.StorageError("reading", ".", err)
	}
	return nil
}

// Walk implements modmirror.Walker. Names starting with a dot (the
// staging directory) are skipped.
func (s *Store) Walk(ctx context.Context, fn func(name string, size int64, modTime time.Time) error) error {
	var fnErr error // fn's, returned as it is
	err := filepath.WalkDir(s.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), ".") && p != s.root {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(s.root, p)
		if err != nil {
			return err
		}
		if fnErr = fn(filepath.ToSlash(rel), fi.Size(), fi.ModTime()); fnErr != nil {
			return fnErr
		}
		return nil
	})
	if fnErr != nil {
		return fnErr
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return modmirror.StorageError("walking", ".", err)
	}
	return nil
}

// Delete implements modmirror.Deleter: the file goes, durably (its
// directory is synced), and directories left empty go too.
func (s *Store) Delete(ctx context.Context, name string) error {
	file, err := s.filename(name)
	if err != nil {
		return err
	}
	if err := os.Remove(file); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return modmirror.StorageError("deleting", name, err)
	}
	dir := filepath.Dir(file)
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	for dir != s.root && os.Remove(dir) == nil { // only empty ones go
		dir = filepath.Dir(dir)
	}
	return nil
}
