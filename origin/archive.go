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

// maxLicense bounds the root LICENSE file copied into the zip of a module
// in a subdirectory.
const maxLicense = 16 << 20

// archivePrefix is the top directory of git archive's zips; what follows
// it is the path in the repository.
const archivePrefix = "prefix/"

// zip returns the module zip of a canonical version as a stream. The zip
// holds what the Go Modules Reference ("Module zip files") says it holds:
// the files of the module's directory at the version's commit as they are
// in the repository (git archive, with no attribute applied), less what
// golang.org/x/mod/zip.Create leaves out (vendor directories, nested
// modules, symbolic links), plus the repository root's LICENSE for a
// module in a subdirectory that has none. Its h1: hash is the go command's
// for GOPROXY=direct, which TestGoCommandAgreement checks.
//
// golang.org/x/mod/zip.CreateFromVCS would do it from a work tree; a
// mirror has bare clones, must bound its memory, and must not let a
// repository's export-ignore and export-subst attributes change the files.
func (r *versionResolver) zip(ctx context.Context, version string) (io.ReadCloser, error) {
	if err := r.checkCanonical(ctx, version); err != nil {
		return nil, err
	}
	dir, _, err := r.findModule(ctx, version)
	if err != nil {
		return nil, err
	}
	hash, err := r.repo.resolve(ctx, r.revisionOf(version))
	if err != nil {
		return nil, err
	}
	files, cleanup, err := r.moduleFiles(ctx, hash, dir)
	if err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	go func() {
		err := modzip.Create(pw, module.Version{Path: r.path, Version: version}, files)
		cleanup() // before the reader sees the end of the zip
		if err != nil {
			err = fmt.Errorf("origin: %s@%s: making the module zip: %w", r.path, version, err)
		}
		pw.CloseWithError(err)
	}()
	return pr, nil
}

// moduleFiles returns the files of the directory dir at commit hash, read
// from git archive's zip of it, which is kept in a temporary file that
// cleanup removes.
func (r *versionResolver) moduleFiles(ctx context.Context, hash, dir string) (files []modzip.File, cleanup func(), err error) {
	spool, err := os.CreateTemp(r.repo.o.tmpDir, "archive-*.zip")
	if err != nil {
		return nil, nil, failure{err}
	}
	cleanup = func() {
		spool.Close()
		os.Remove(spool.Name())
	}
	defer func() {
		if err != nil {
			cleanup()
		}
	}()
	// A zip is read from its end, so git's is written out first, within
	// the limit on module zips.
	lw := &limitedWriter{w: spool, n: modmirror.MaxZipFile}
	if err := r.repo.archive(ctx, hash, dir, lw); err != nil {
		if lw.n <= 0 {
			return nil, nil, fmt.Errorf("the files of %s at %s are more than %d bytes: %w", r.path, hash, modmirror.MaxZipFile, errTooLarge)
		}
		return nil, nil, err
	}
	zr, err := zip.NewReader(spool, modmirror.MaxZipFile-lw.n)
	if err != nil {
		return nil, nil, failure{fmt.Errorf("reading git archive's zip: %w", err)}
	}
	under := archivePrefix
	if dir != "" {
		under += dir + "/"
	}
	hasLicense := false
	for _, f := range zr.File {
		name, ok := strings.CutPrefix(f.Name, under)
		if !ok || name == "" || strings.HasSuffix(name, "/") {
			continue // outside the module, or a directory entry
		}
		files = append(files, archivedFile{name: name, f: f})
		hasLicense = hasLicense || name == "LICENSE"
	}
	if dir != "" && !hasLicense {
		data, err := r.repo.readFile(ctx, hash, "LICENSE", maxLicense)
		switch {
		case err == nil:
			files = append(files, memFile{name: "LICENSE", data: data})
		case !isNotExist(err):
			return nil, nil, err
		}
	}
	return files, cleanup, nil
}

// An archivedFile is a file of git archive's zip, as a modzip.File.
type archivedFile struct {
	name string
	f    *zip.File
}

func (a archivedFile) Path() string                 { return a.name }
func (a archivedFile) Lstat() (fs.FileInfo, error)  { return a.f.FileInfo(), nil }
func (a archivedFile) Open() (io.ReadCloser, error) { return a.f.Open() }

// A memFile is a file held in memory, as a modzip.File.
type memFile struct {
	name string
	data []byte
}

func (m memFile) Path() string                 { return m.name }
func (m memFile) Lstat() (fs.FileInfo, error)  { return memFileInfo{m}, nil }
func (m memFile) Open() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(m.data)), nil }

type memFileInfo struct{ m memFile }

func (i memFileInfo) Name() string       { return path.Base(i.m.name) }
func (i memFileInfo) Size() int64        { return int64(len(i.m.data)) }
func (i memFileInfo) Mode() fs.FileMode  { return 0o644 }
func (i memFileInfo) ModTime() time.Time { return time.Time{} }
func (i memFileInfo) IsDir() bool        { return false }
func (i memFileInfo) Sys() any           { return nil }
