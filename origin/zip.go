package origin

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"time"

	"golang.org/x/mod/module"
	modzip "golang.org/x/mod/zip"

	"github.com/modmirror/modmirror"
)

// zip returns the module zip of a canonical version as a stream, built as
// codeRepo.Zip builds it, so that its h1: hash is the go command's: git
// archive of the module's directory, every regular file in it (less what
// golang.org/x/mod/zip.Create leaves out: vendor directories, nested
// modules, symbolic links), plus the repository root's LICENSE for a module
// in a subdirectory that has none.
//
// golang.org/x/mod/zip.CreateFromVCS does much the same, but it does not
// fit: it needs a work tree's .git rather than a bare clone, runs "git" from
// $PATH without a context, holds the whole archive in memory, and leaves
// export-ignore and export-subst on, which changes the files of some
// repositories and so their hashes.
func (r *codeRepo) zip(ctx context.Context, version string) (io.ReadCloser, error) {
	if version != module.CanonicalVersion(version) {
		return nil, fmt.Errorf("version %s is not canonical", version)
	}
	if module.IsPseudoVersion(version) {
		if _, err := r.stat(ctx, version); err != nil {
			return nil, err
		}
	}
	rev, subdir, _, err := r.findDir(ctx, version)
	if err != nil {
		return nil, err
	}
	hash, err := r.code.resolve(ctx, rev)
	if err != nil {
		return nil, err
	}

	// Spool git's archive to a file: a zip is read from its end.
	tmp, err := os.CreateTemp(r.code.o.tmpDir, "archive-*.zip")
	if err != nil {
		return nil, failure{err}
	}
	cleanup := func() {
		tmp.Close()
		os.Remove(tmp.Name())
	}
	lw := &limitedWriter{w: tmp, n: modmirror.MaxZipFile}
	if err := r.code.archive(ctx, hash, subdir, lw); err != nil {
		cleanup()
		if lw.n <= 0 {
			return nil, fmt.Errorf("git archive of %s is larger than %d bytes: %w", rev, modmirror.MaxZipFile, errTooLarge)
		}
		return nil, err
	}
	size := modmirror.MaxZipFile - lw.n
	zr, err := zip.NewReader(tmp, size)
	if err != nil {
		cleanup()
		return nil, failure{fmt.Errorf("reading git archive: %w", err)}
	}

	subdir = strings.Trim(subdir, "/")
	if subdir != "" {
		subdir += "/"
	}
	var files []modzip.File
	haveLICENSE := false
	topPrefix := ""
	for _, zf := range zr.File {
		if topPrefix == "" {
			i := strings.Index(zf.Name, "/")
			if i < 0 {
				cleanup()
				return nil, failure{fmt.Errorf("git archive: missing top-level directory prefix")}
			}
			topPrefix = zf.Name[:i+1]
		}
		name, found := strings.CutPrefix(zf.Name, topPrefix)
		if !found {
			cleanup()
			return nil, failure{fmt.Errorf("git archive: zip file contains more than one top-level directory")}
		}
		if name, found = strings.CutPrefix(name, subdir); !found {
			continue
		}
		if name == "" || strings.HasSuffix(name, "/") {
			continue
		}
		files = append(files, zipFile{name: name, f: zf})
		if name == "LICENSE" {
			haveLICENSE = true
		}
	}
	if !haveLICENSE && subdir != "" {
		data, err := r.code.readFile(ctx, hash, "LICENSE", maxLICENSE)
		if err == nil {
			files = append(files, dataFile{name: "LICENSE", data: data})
		} else if !isNotExist(err) {
			cleanup()
			return nil, err
		}
	}

	mv := module.Version{Path: r.modPath, Version: version}
	pr, pw := io.Pipe()
	go func() {
		err := modzip.Create(pw, mv, files)
		// Before the reader sees the end: the spool file is gone once
		// the zip has been read.
		cleanup()
		if err != nil {
			err = fmt.Errorf("origin: %s@%s: creating module zip: %w", r.modPath, version, err)
		}
		pw.CloseWithError(err)
	}()
	return pr, nil
}

type zipFile struct {
	name string
	f    *zip.File
}

func (f zipFile) Path() string                 { return f.name }
func (f zipFile) Lstat() (fs.FileInfo, error)  { return f.f.FileInfo(), nil }
func (f zipFile) Open() (io.ReadCloser, error) { return f.f.Open() }

type dataFile struct {
	name string
	data []byte
}

func (f dataFile) Path() string                 { return f.name }
func (f dataFile) Lstat() (fs.FileInfo, error)  { return dataFileInfo{f}, nil }
func (f dataFile) Open() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(f.data)), nil }

type dataFileInfo struct{ f dataFile }

func (fi dataFileInfo) Name() string       { return path.Base(fi.f.name) }
func (fi dataFileInfo) Size() int64        { return int64(len(fi.f.data)) }
func (fi dataFileInfo) Mode() fs.FileMode  { return 0o644 }
func (fi dataFileInfo) ModTime() time.Time { return time.Time{} }
func (fi dataFileInfo) IsDir() bool        { return false }
func (fi dataFileInfo) Sys() any           { return nil }
