package mirror

import (
	"archive/zip"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/dirhash"

	"github.com/modmirror/modmirror"
)

// A Recorder keeps the go.sum lines of the module versions the mirror
// stores: modmirror's own checksum database (sumlog.Log). Record returns
// once the record is durable.
type Recorder interface {
	Record(ctx context.Context, path, version string, data []byte) (int64, error)
}

// lineLister is a Checker that returns the authenticated go.sum lines its
// database lists (checksum.Verifier).
type lineLister interface {
	Lines(ctx context.Context, path, version string) ([]string, error)
}

// public reports whether path is verified against the public checksum
// database, whose lines are then recorded verbatim.
func (m *Mirror) public(path string) bool {
	return m.cfg.Checker != nil && !m.cfg.NoSumDB(path) && !m.cfg.Private(path)
}

// recordsPublicLines reports whether path is recorded with the public
// checksum database's lines, rather than with hashes of the stored files.
func (m *Mirror) recordsPublicLines(path string) bool {
	_, ok := m.cfg.Checker.(lineLister)
	return ok && m.public(path)
}

// publicRecord returns the public checksum database's lines for a module
// version, as a record: what it lists, verbatim.
func (m *Mirror) publicRecord(ctx context.Context, path, version string) ([]byte, error) {
	lines, err := m.cfg.Checker.(lineLister).Lines(ctx, path, version)
	if err != nil {
		return nil, upstreamError(err)
	}
	return []byte(strings.Join(lines, "\n") + "\n"), nil
}

// GoSum returns the go.sum lines to record for a module version in the
// mirror's own checksum database, once the version is stored, filling it
// first with all the checks of a fill. For a module verified against the
// public checksum database they are that database's lines, verbatim, once
// the .mod is verified against them: the go command looks up the go.mod
// of every module in a build's graph, and most of their zips it never
// downloads, so neither does the mirror (a zip is verified when it is
// filled). For any other module they are the hashes of the stored .mod and
// .zip. Not-found errors match fs.ErrNotExist.
func (m *Mirror) GoSum(ctx context.Context, path, version string) ([]byte, error) {
	if err := checkVersion(path, version); err != nil {
		return nil, err
	}
	mod, err := m.Mod(ctx, path, version)
	if err != nil {
		return nil, err
	}
	defer mod.Close()
	if m.recordsPublicLines(path) {
		return m.publicRecord(ctx, path, version)
	}
	zf, err := m.Zip(ctx, path, version)
	if err != nil {
		return nil, err
	}
	defer zf.Close()
	modData, err := readAll(mod, modmirror.MaxGoMod, "stored go.mod")
	if err != nil {
		return nil, fmt.Errorf("mirror: %s@%s: %w", path, version, err)
	}
	modHash, err := modmirror.HashGoMod(modData)
	if err != nil {
		return nil, err
	}
	zipHash, err := m.hashStoredZip(zf)
	if err != nil {
		return nil, modmirror.StorageError("hashing the stored zip of", path+"@"+version, err)
	}
	return []byte(path + " " + version + " " + zipHash + "\n" + path + " " + version + "/go.mod " + modHash + "\n"), nil
}

// hashStoredZip returns the h1: hash of a stored zip.
func (m *Mirror) hashStoredZip(f modmirror.File) (string, error) {
	fi, err := f.Stat()
	if err != nil {
		return "", err
	}
	ra, ok := f.(io.ReaderAt)
	if !ok {
		// Not seekable at random: hash a copy.
		tmp, err := os.CreateTemp(m.cfg.TempDir, "hash-*")
		if err != nil {
			return "", err
		}
		defer os.Remove(tmp.Name())
		defer tmp.Close()
		if _, err := io.Copy(tmp, f); err != nil {
			return "", err
		}
		ra = tmp
	}
	z, err := zip.NewReader(ra, fi.Size())
	if err != nil {
		return "", err
	}
	files := make([]string, 0, len(z.File))
	byName := make(map[string]*zip.File, len(z.File))
	for _, zf := range z.File {
		files = append(files, zf.Name)
		byName[zf.Name] = zf
	}
	return dirhash.Hash1(files, func(name string) (io.ReadCloser, error) {
		return byName[name].Open()
	})
}

// recordLater records a version in the background once one of its files
// was filled: with the lines of the public checksum database for a public
// module (which needs neither file), or else with the hashes of the stored
// files, filling the other file first. Lookups record on their own when
// this has not happened yet, so a failure is only logged.
func (m *Mirror) recordLater(path, version string) {
	if m.cfg.Recorder == nil {
		return
	}
	m.recording.Go(func() {
		ctx, cancel := context.WithTimeout(context.Background(), m.cfg.FetchTimeout)
		defer cancel()
		var data []byte
		var err error
		if m.recordsPublicLines(path) {
			data, err = m.publicRecord(ctx, path, version)
		} else {
			data, err = m.GoSum(ctx, path, version)
		}
		if err == nil {
			_, err = m.cfg.Recorder.Record(ctx, path, version, data)
		}
		if err != nil {
			m.log.Warn("recording in the checksum database failed; a lookup will record it", "module", path, "version", version, "err", err)
		}
	})
}

// Wait waits for the work the mirror does in the background: fills that go
// on after their answer (a public go.mod or .info, answered before it is
// stored) or that no request waits for (fills ahead), and records made in
// the mirror's own checksum database.
func (m *Mirror) Wait() { m.recording.Wait() }

// Close waits for the work started in the background (Wait), for at most a
// minute.
func (m *Mirror) Close() error {
	done := make(chan struct{})
	go func() { m.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Minute):
	}
	return nil
}
