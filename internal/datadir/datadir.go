// Package datadir opens the data directory of a "modmirror serve" process:
// it creates it, locks it so that no second process serves from it, removes
// what a crashed process left behind, and keeps its permissions.
//
// # Layout
//
//	<data>/serve.lock        the lock (flock), with the pid of its holder
//	<data>/cache/download/   the store (package fsstore); .tmp/ its staging files
//	<data>/tmp/              zips being fetched and verified
//	<data>/origin/           bare clones of origin repositories; tmp/ archives being zipped
//	<data>/sumdb/            the verified tree heads of proxied checksum databases
//	<data>/sumdb.db, sumdb.head   the own checksum database and its witness head
//	<data>/tokens.db         client tokens (hashed)
//
// # Leftovers
//
// Temporary files are written, synced and then renamed or linked into
// place, so a crash never leaves a partial file where it could be served;
// but it leaves the temporary file. Open holds the lock before it removes
// every temporary file under the directory, so none of them can belong to a
// live process.
//
// # Permissions
//
// The directory holds the names of private modules (the own checksum
// database, the store's paths) and their code, so by default it is readable
// by its owner only: Open sets the process's umask (see package umask) so
// that directories are 0700 and files 0600, and when the directory itself
// was made with other permissions (by an earlier version, or another
// setting) it walks it once and changes the group and other bits of
// everything in it to match. [Group] and [World] open it up for a backup
// user or a web server that serves the store directly.
package datadir

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"

	"github.com/modmirror/modmirror/internal/umask"
)

// Perm is who may read the data directory besides its owner.
type Perm string

// The permissions of a data directory.
const (
	Private Perm = "private" // directories 0700, files 0600
	Group   Perm = "group"   // 0750 and 0640
	World   Perm = "world"   // 0755 and 0644
)

// ParsePerm parses "private", "group" or "world".
func ParsePerm(s string) (Perm, error) {
	switch p := Perm(s); p {
	case Private, Group, World:
		return p, nil
	}
	return "", fmt.Errorf("%q is not private, group or world", s)
}

// mask is the umask that gives the permissions.
func (p Perm) mask() fs.FileMode {
	switch p {
	case Group:
		return 0o027
	case World:
		return 0o022
	}
	return 0o077
}

// Options configures Open.
type Options struct {
	// Perm is who may read the directory; empty means Private.
	Perm Perm

	// ReadOnly allows a directory that cannot be written (a read-only
	// mount, a copied snapshot): it is then opened without a lock,
	// leftovers and permissions are left alone, and Dir.ReadOnly is set.
	// Only a process that writes nothing, such as an offline mirror, may
	// set it.
	ReadOnly bool

	Logger *slog.Logger
}

// A Dir is an open, locked data directory.
type Dir struct {
	Path     string // absolute
	ReadOnly bool   // opened without a lock: nothing may be written
	lock     *os.File
}

// lockName is the lock file's name in the directory.
const lockName = "serve.lock"

// ErrLocked is wrapped by the error Open returns when another process
// holds the directory.
var ErrLocked = errors.New("data directory in use by another process")

// Open opens the data directory at path, creating it if needed. It sets the
// process's umask from opts.Perm, so call it before anything else writes
// files.
func Open(path string, opts Options) (*Dir, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Perm == "" {
		opts.Perm = Private
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	umask.Set(opts.Perm.mask())
	d := &Dir{Path: abs}
	if err := os.MkdirAll(abs, 0o777); err != nil && !(opts.ReadOnly && readOnly(err)) {
		return nil, fmt.Errorf("data directory %s: %w", abs, pathless(err))
	}
	d.lock, err = lock(filepath.Join(abs, lockName))
	switch {
	case err == nil:
	case opts.ReadOnly && readOnly(err):
		d.ReadOnly = true
		log.Info("the data directory cannot be written: serving it as it is, without a lock", "dir", abs, "reason", errors.Unwrap(err))
		return d, nil
	case errors.Is(err, ErrLocked):
		return nil, err
	default:
		return nil, fmt.Errorf("data directory %s cannot be locked (a read-only store can be served with --offline): %w", abs, err)
	}
	if err := d.fixPerm(opts.Perm, log); err != nil {
		d.Close()
		return nil, err
	}
	n, err := d.removeLeftovers()
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("data directory %s: removing temporary files: %w", abs, err)
	}
	if n > 0 {
		log.Info("removed temporary files left by an earlier process", "files", n)
	}
	return d, nil
}

// Lock takes the lock of an existing data directory, as Open does, and
// nothing else (no permissions changed, no files removed): for commands
// such as "modmirror gc" that must not run beside serve. Close releases
// it.
func Lock(path string) (*Dir, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	d := &Dir{Path: abs}
	if d.lock, err = lock(filepath.Join(abs, lockName)); err != nil {
		return nil, err
	}
	return d, nil
}

// Close releases the lock.
func (d *Dir) Close() error {
	if d.lock == nil {
		return nil
	}
	err := d.lock.Close() // closing the file releases the flock
	d.lock = nil
	return err
}

// pathless returns the reason of a *fs.PathError, whose path the caller
// names already, or err.
func pathless(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// readOnly reports whether err says that a file could not be written
// because the file system or the directory does not allow it.
func readOnly(err error) bool {
	return errors.Is(err, syscall.EROFS) || errors.Is(err, fs.ErrPermission)
}

// leftovers are the places where temporary files are written, relative to
// the data directory: directories all of whose entries are temporary, and
// glob patterns of temporary names.
var (
	tempDirs  = []string{"tmp", "cache/download/.tmp", "origin/tmp"}
	tempGlobs = []string{
		"origin/*.tmp-*",     // clones being made
		".*.tmp-*",           // files written atomically (internal/atomicfile)
		"sumdb/*/.*.tmp-*",   // tree heads of proxied checksum databases
		"sumdb/*/*/.*.tmp-*", // names with a slash
	}
)

// removeLeftovers removes the temporary files of earlier processes and
// returns how many it removed.
func (d *Dir) removeLeftovers() (int, error) {
	n := 0
	for _, dir := range tempDirs {
		entries, err := os.ReadDir(filepath.Join(d.Path, dir))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return n, err
		}
		for _, e := range entries {
			if err := os.RemoveAll(filepath.Join(d.Path, dir, e.Name())); err != nil {
				return n, err
			}
			n++
		}
	}
	for _, g := range tempGlobs {
		names, _ := filepath.Glob(filepath.Join(d.Path, filepath.FromSlash(g)))
		for _, name := range names {
			if err := os.RemoveAll(name); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

// fixPerm gives everything in the directory the group and other bits of
// perm, if the directory itself does not have them yet: once after an
// upgrade, or after a change of the setting.
func (d *Dir) fixPerm(perm Perm, log *slog.Logger) error {
	fi, err := os.Stat(d.Path)
	if err != nil {
		return err
	}
	want := umask.Apply(0o777)
	if fi.Mode().Perm() == want {
		return nil
	}
	n := 0
	err = filepath.WalkDir(d.Path, func(name string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		mode := info.Mode().Perm()
		// Keep the owner's bits; the group's and others' follow the
		// owner's, less the mask.
		owner := mode & 0o700
		next := umask.Apply(owner | owner>>3 | owner>>6)
		if next != mode {
			if err := os.Chmod(name, next); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("data directory %s: setting permissions: %w", d.Path, err)
	}
	log.Info("changed the permissions of the data directory", "dir", d.Path, "perm", string(perm),
		"directories", fmt.Sprintf("%04o", want), "files", fmt.Sprintf("%04o", umask.Apply(0o666)), "changed", n)
	return nil
}
