package snapshot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/mod/module"

	"github.com/modmirror/modmirror"
)

// A modVersion is one module version of a snapshot with the hashes that
// go.sum has for its files: "" when go.sum has no such line, and the
// snapshot then has no such file.
type modVersion struct {
	Path, Version  string
	ZipSum, ModSum string

	// unpinned marks a version that no go.sum line names (a toolchain):
	// its hashes are those of the files fetched, set by fetch.
	unpinned bool
}

func (v modVersion) String() string { return v.Path + "@" + v.Version }

// fetcher fills the output directory with verified files.
type fetcher struct {
	up      modmirror.Upstream // nil: reuse what is in out, fetch nothing
	out     string             // the output directory
	staging string             // temporary files, on out's filesystem
	prog    *progress
	check   modmirror.Checker // nil: unpinned versions are not checked
	known   *sync.Map         // module.Version -> []byte: go.mod files fetched already; nil for none

	fetched, reused atomic.Int64 // files
}

// fetch makes the output directory hold the files of v, verified, reusing
// those already there, and returns the time written in v's .info file. For
// an unpinned version, it sets v's hashes.
func (f *fetcher) fetch(ctx context.Context, v *modVersion) (time.Time, error) {
	defer f.prog.done.Add(1)
	if v.unpinned {
		if err := f.unpinned(ctx, v); err != nil {
			return time.Time{}, err
		}
		return f.info(ctx, *v)
	}
	if v.ZipSum != "" {
		if err := f.zip(ctx, *v); err != nil {
			return time.Time{}, err
		}
	}
	if v.ModSum != "" {
		if err := f.mod(ctx, *v); err != nil {
			return time.Time{}, err
		}
	}
	return f.info(ctx, *v)
}

// target returns the file name in the output directory of one file of v.
func (f *fetcher) target(v modVersion, ext string) (string, error) {
	key, err := modmirror.VersionKey(v.Path, v.Version, ext)
	if err != nil {
		return "", fmt.Errorf("snapshot: %s: %w", v, err)
	}
	return filepath.Join(f.out, filepath.FromSlash(key)), nil
}

// reuse reports whether the file target exists and hashes to want. A file
// that exists but does not match is removed, so that a failure to fetch
// leaves nothing behind.
func (f *fetcher) reuse(target, want string, hash func() (string, error)) (bool, error) {
	if _, err := os.Lstat(target); errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if got, err := hash(); err == nil && got == want {
		f.reused.Add(1)
		return true, nil
	}
	if err := os.Remove(target); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("snapshot: %w", err)
	}
	return false, nil
}

// errOffline returns the error for a file that must be fetched when there
// is no upstream.
func (f *fetcher) errOffline(v modVersion, ext string) error {
	return fmt.Errorf("snapshot: %s: %s file is not in %s and the upstream is off", v, ext, f.out)
}

// mismatch returns the error for a file whose hash is not the one in go.sum.
func (f *fetcher) mismatch(v modVersion, kind, want, got string) error {
	return fmt.Errorf("snapshot: %s: %w: %s hash mismatch: go.sum has %s, %s served %s",
		v, modmirror.ErrSecurity, kind, want, f.up, got)
}

// zip fetches, checks and stores the zip of v, unless the stored one
// matches go.sum.
func (f *fetcher) zip(ctx context.Context, v modVersion) error {
	target, err := f.target(v, modmirror.ExtZip)
	if err != nil {
		return err
	}
	ok, err := f.reuse(target, v.ZipSum, func() (string, error) { return modmirror.HashZip(target) })
	if ok || err != nil {
		return err
	}
	if f.up == nil {
		return f.errOffline(v, modmirror.ExtZip)
	}

	tmp, err := os.CreateTemp(f.staging, "zip-*")
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename, there is nothing to remove
	defer tmp.Close()
	if err := f.download(ctx, v, tmp); err != nil {
		return err
	}
	if err := modmirror.CheckZip(v.Path, v.Version, tmp.Name()); err != nil {
		return fmt.Errorf("snapshot: %s: invalid zip from %s: %w", v, f.up, err)
	}
	got, err := modmirror.HashZip(tmp.Name())
	if err != nil {
		return fmt.Errorf("snapshot: %s: hashing zip from %s: %w", v, f.up, err)
	}
	if got != v.ZipSum {
		return f.mismatch(v, "zip", v.ZipSum, got)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	f.fetched.Add(1)
	return place(tmp.Name(), target)
}

// download copies the zip of v from the upstream into tmp, and syncs it.
func (f *fetcher) download(ctx context.Context, v modVersion, tmp *os.File) error {
	rc, err := f.up.Zip(ctx, v.Path, v.Version)
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	defer rc.Close()
	r := &countingReader{r: io.LimitReader(rc, modmirror.MaxZipFile+1), n: &f.prog.bytes}
	n, err := io.Copy(tmp, r)
	if err != nil {
		return fmt.Errorf("snapshot: %s: reading zip from %s: %w", v, f.up, err)
	}
	if n > modmirror.MaxZipFile {
		return fmt.Errorf("snapshot: %s: zip from %s is larger than %d bytes", v, f.up, modmirror.MaxZipFile)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	return nil
}

// mod fetches, checks and stores the go.mod file of v, unless the stored
// one matches go.sum.
func (f *fetcher) mod(ctx context.Context, v modVersion) error {
	target, err := f.target(v, modmirror.ExtMod)
	if err != nil {
		return err
	}
	ok, err := f.reuse(target, v.ModSum, func() (string, error) {
		data, err := os.ReadFile(target)
		if err != nil {
			return "", err
		}
		return modmirror.HashGoMod(data)
	})
	if ok || err != nil {
		return err
	}
	var data []byte
	if f.known != nil {
		if d, ok := f.known.Load(module.Version{Path: v.Path, Version: v.Version}); ok {
			data = d.([]byte)
		}
	}
	if data == nil {
		if f.up == nil {
			return f.errOffline(v, modmirror.ExtMod)
		}
		if data, err = f.up.Mod(ctx, v.Path, v.Version); err != nil {
			return fmt.Errorf("snapshot: %w", err)
		}
		f.prog.bytes.Add(int64(len(data)))
	}
	got, err := modmirror.HashGoMod(data)
	if err != nil {
		return fmt.Errorf("snapshot: %s: hashing go.mod: %w", v, err)
	}
	if got != v.ModSum {
		return f.mismatch(v, "go.mod", v.ModSum, got)
	}
	f.fetched.Add(1)
	return f.write(target, data)
}

// info writes the .info file of v, unless the stored one is already what
// this package writes for v, and returns its time.
func (f *fetcher) info(ctx context.Context, v modVersion) (time.Time, error) {
	target, err := f.target(v, modmirror.ExtInfo)
	if err != nil {
		return time.Time{}, err
	}
	if data, err := os.ReadFile(target); err == nil {
		if t, ok := parseOwnInfo(data, v.Version); ok {
			f.reused.Add(1)
			return t, nil
		}
		if err := os.Remove(target); err != nil {
			return time.Time{}, fmt.Errorf("snapshot: %w", err)
		}
	}
	if f.up == nil {
		return time.Time{}, f.errOffline(v, modmirror.ExtInfo)
	}
	var t time.Time
	data, err := f.up.Info(ctx, v.Path, v.Version)
	switch {
	case err == nil:
		f.prog.bytes.Add(int64(len(data)))
		var info struct {
			Version string
			Time    time.Time
		}
		if err := json.Unmarshal(data, &info); err != nil {
			return time.Time{}, fmt.Errorf("snapshot: %s: invalid .info from %s: %w", v, f.up, err)
		}
		if info.Version != v.Version {
			return time.Time{}, fmt.Errorf("snapshot: %s: .info from %s is for version %q", v, f.up, info.Version)
		}
		t = info.Time
		if t.IsZero() {
			t = fallbackTime(v.Version)
		}
	case errors.Is(err, fs.ErrNotExist):
		t = fallbackTime(v.Version)
	default:
		return time.Time{}, fmt.Errorf("snapshot: %w", err)
	}
	data, t = encodeInfo(v.Version, t)
	f.fetched.Add(1)
	return t, f.write(target, data)
}

// epoch is the time written in an .info file when nothing better is known.
var epoch = time.Unix(0, 0).UTC()

// fallbackTime returns the .info time of a version that the upstream has
// no .info for: a pseudo-version's own time, else the Unix epoch.
func fallbackTime(version string) time.Time {
	if module.IsPseudoVersion(version) {
		if t, err := module.PseudoVersionTime(version); err == nil {
			return t
		}
	}
	return epoch
}

// encodeInfo returns the .info file this package writes for a version and
// the time it holds: compact JSON with the time in UTC, in whole seconds.
func encodeInfo(version string, t time.Time) ([]byte, time.Time) {
	t = t.UTC().Truncate(time.Second)
	data, err := json.Marshal(struct{ Version, Time string }{version, t.Format(time.RFC3339)})
	if err != nil {
		panic(err) // strings always encode
	}
	return data, t
}

// parseOwnInfo reports whether data is the .info file that encodeInfo
// writes for version, and returns its time.
func parseOwnInfo(data []byte, version string) (time.Time, bool) {
	var info struct{ Version, Time string }
	if err := json.Unmarshal(data, &info); err != nil || info.Version != version {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339, info.Time)
	if err != nil {
		return time.Time{}, false
	}
	want, t := encodeInfo(version, t)
	return t, bytes.Equal(data, want)
}

// write stores data at target.
func (f *fetcher) write(target string, data []byte) error {
	return writeFile(f.staging, target, data)
}

// countingReader adds the bytes read through it to n.
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}
