package mirror

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	goversion "go/version"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"

	"github.com/modmirror/modmirror"
	"github.com/modmirror/modmirror/gosum"
	"github.com/modmirror/modmirror/internal/srcerr"
)

// fillInfo fetches the .info of a canonical version and stores it, giving
// it to early once checked.
func (m *Mirror) fillInfo(ctx context.Context, path, version, key string, early *earlyAnswer) error {
	data, err := m.source(path).Info(ctx, path, version)
	if err != nil {
		return upstreamError(err)
	}
	info, err := parseInfo(data)
	if err != nil {
		return upstreamError(fmt.Errorf("%s@%s: upstream %s: %w", path, version, m.source(path), err))
	}
	if info.Version != version {
		return upstreamError(fmt.Errorf("%s@%s: upstream %s answered .info for version %s", path, version, m.source(path), info.Version))
	}
	early.give(data)
	// An .info carries no hash and may legitimately gain fields upstream
	// (Origin): a differing later copy is not a security event, but the
	// first stored copy is still the one served.
	err = m.cfg.Store.Create(ctx, key, bytes.NewReader(data))
	if errors.Is(err, fs.ErrExist) {
		m.noteMoved(ctx, path, version, key, data)
		return nil
	}
	if err == nil {
		m.cataloged(ctx, path, version, modmirror.ExtInfo, int64(len(data)))
	}
	return err
}

// recheckOrigin asks the origin again, in the background and at most once
// per ListTTL, about a stored version of a private module, so that a tag
// moved at the origin is reported (noteMoved) while clients still use it.
// Public modules need no such check: the checksum database pins them.
func (m *Mirror) recheckOrigin(ctx context.Context, path, version, key string) {
	if !m.cfg.Private(path) || m.cfg.Origin == nil || m.cfg.Offline {
		return
	}
	flight := "recheck\x00" + path + "\x00" + version
	if _, ok := m.lists.get(flight); ok {
		return
	}
	m.lists.put(flight, true)
	m.recording.Go(func() {
		ctx, cancel := detach(ctx, m.cfg.FetchTimeout/10)
		defer cancel()
		// A list brings the origin's view of tags up to date (an origin
		// answers a version it has without asking the repository).
		m.cfg.Origin.List(ctx, path)
		data, err := m.cfg.Origin.Info(ctx, path, version)
		if err != nil {
			m.log.Debug("rechecking a stored version at its origin", "module", path, "version", version, "err", err)
			return
		}
		m.noteMoved(ctx, path, version, key, data)
	})
}

// noteMoved compares an .info just answered for a stored version with the
// stored one: when both name the commit they come from (their Origin) and
// the commits differ, the version was moved at its origin (a tag deleted
// and pushed again). The stored copy stays the one served; the change is
// reported, as a security event, because go.sum files and the checksum
// database hold the first copy's hashes.
func (m *Mirror) noteMoved(ctx context.Context, path, version, key string, fresh []byte) {
	f, err := m.cfg.Store.Open(ctx, key)
	if err != nil {
		return
	}
	stored, err := readAll(f, modmirror.MaxInfoFile, "stored .info")
	f.Close()
	if err != nil {
		return
	}
	var a, b struct {
		Origin *struct{ URL, Ref, Hash string }
	}
	if json.Unmarshal(stored, &a) != nil || json.Unmarshal(fresh, &b) != nil ||
		a.Origin == nil || b.Origin == nil || a.Origin.Hash == "" || b.Origin.Hash == "" || a.Origin.Hash == b.Origin.Hash {
		return
	}
	m.metrics.VerifyFailure("info", "moved")
	m.log.Error("SECURITY ERROR: the version was moved at its origin; keeping and serving the first copy",
		"module", path, "version", version, "stored commit", a.Origin.Hash, "origin commit now", b.Origin.Hash,
		"ref", b.Origin.Ref, "upstream", m.source(path).String())
}

// fillMod fetches, verifies and stores the go.mod of a canonical version,
// giving it to early once verified. The caller updates the module's
// version list after.
func (m *Mirror) fillMod(ctx context.Context, path, version, key string, early *earlyAnswer) error {
	data, err := m.source(path).Mod(ctx, path, version)
	if err != nil {
		return upstreamError(err)
	}
	if len(data) > modmirror.MaxGoMod {
		return upstreamError(fmt.Errorf("%s@%s: go.mod from %s is larger than %d bytes", path, version, m.source(path), modmirror.MaxGoMod))
	}
	hash, err := modmirror.HashGoMod(data)
	if err != nil {
		return err
	}
	if err := m.verify(ctx, path, version+"/go.mod", hash, "mod"); err != nil {
		return err
	}
	// Before the answer: the go command asks for the requirements' go.mod
	// files next.
	m.prefetchRequirements(path, data)
	early.give(data)
	err = m.cfg.Store.Create(ctx, key, bytes.NewReader(data))
	if errors.Is(err, fs.ErrExist) {
		err = m.keepStored(ctx, path, version, key, "mod", bytes.NewReader(data))
	}
	if err != nil {
		return err
	}
	m.cataloged(ctx, path, version, modmirror.ExtMod, int64(len(data)))
	if m.recordsPublicLines(path) {
		// Other modules are recorded once their zip is stored too.
		m.recordLater(path, version)
	}
	return nil // the list is updated by startFill, once the fill lock is let go
}

// maxPrefetchRequirements bounds the requirements of one go.mod whose
// checksum database records prefetchRequirements starts looking up.
const maxPrefetchRequirements = 200

// prefetchRequirements starts looking up, in the checksum database, the
// versions that a verified go.mod requires: the go command loading a module
// graph asks for their go.mod files next, and each fill then finds its
// record (and the log tiles that prove it) already fetched and verified,
// rather than adding a lookup's round trips after its own download. Only
// public requirements are looked up, and nothing is fetched from the
// upstream proxy or stored: it only overlaps verification with the
// client's next requests. The checksum database bounds how many run.
//
// A requirement of a pruned go.mod that is older than a version of its path
// already seen (asked for, or required elsewhere) is left out: the go
// command selects the highest version of each path and, with graph pruning,
// asks for the go.mod files of those it selects, not of every version a
// pruned go.mod names. An unpruned go.mod's requirements are all loaded, so
// all are looked up.
func (m *Mirror) prefetchRequirements(path string, gomod []byte) {
	p, ok := m.cfg.Checker.(modmirror.Prefetcher)
	if !ok || !m.public(path) || m.cfg.Offline {
		return
	}
	f, err := modfile.ParseLax("go.mod", gomod, nil)
	if err != nil {
		return
	}
	// The go command loads the go.mod files a pruned go.mod (go 1.17 or
	// later) requires only where they are selected; an unpruned one's, all.
	pruned := f.Go != nil && goversion.Compare("go"+f.Go.Version, "go1.17") >= 0
	for i, r := range f.Require {
		if i == maxPrefetchRequirements {
			break
		}
		if !m.public(r.Mod.Path) || checkVersion(r.Mod.Path, r.Mod.Version) != nil {
			continue
		}
		if higher := m.newest.raise(r.Mod.Path, r.Mod.Version); higher || !pruned {
			p.Prefetch(r.Mod.Path, r.Mod.Version)
		}
	}
}

// fillZip fetches a module zip to a temporary file, checks and verifies it,
// and stores it. Memory use does not depend on the zip's size.
func (m *Mirror) fillZip(ctx context.Context, path, version, key string) error {
	rc, err := m.source(path).Zip(ctx, path, version)
	if err != nil {
		return upstreamError(err)
	}
	defer rc.Close()

	tmp, err := os.CreateTemp(m.cfg.TempDir, "zip-*")
	if err != nil {
		return modmirror.StorageError("creating a temporary file for", key, err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()

	// The upstream's failures and the disk's are told apart: a full disk
	// is the mirror's problem (500), not the upstream's (502).
	src := &srcerr.Reader{R: io.LimitReader(rc, m.cfg.MaxZipSize+1)}
	n, err := io.Copy(tmp, src)
	switch {
	case src.Err != nil:
		return upstreamError(fmt.Errorf("%s@%s: reading zip from %s: %w", path, version, m.source(path), src.Err))
	case err != nil:
		return modmirror.StorageError("writing a temporary file for", key, err)
	}
	if n > m.cfg.MaxZipSize {
		m.metrics.VerifyFailure("zip", "size")
		return upstreamError(fmt.Errorf("%s@%s: zip from %s is larger than the %d byte limit", path, version, m.source(path), m.cfg.MaxZipSize))
	}
	// Not synced here: the store syncs what it keeps (the file system
	// store links this file and syncs it then; others copy it), so a zip
	// is synced once, and never when it fails verification.
	if err := modmirror.CheckZip(path, version, tmp.Name()); err != nil {
		m.metrics.VerifyFailure("zip", "invalid")
		return upstreamError(fmt.Errorf("%s@%s: invalid zip from %s: %w", path, version, m.source(path), err))
	}
	hash, err := modmirror.HashZip(tmp.Name())
	if err != nil {
		// CheckZip read the same file: what fails now is the disk.
		return modmirror.StorageError("hashing a temporary file for", key, err)
	}
	if err := m.verify(ctx, path, version, hash, "zip"); err != nil {
		return err
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return modmirror.StorageError("reading a temporary file for", key, err)
	}
	err = m.cfg.Store.Create(ctx, key, tmp)
	if errors.Is(err, fs.ErrExist) {
		if _, err := tmp.Seek(0, io.SeekStart); err != nil {
			return modmirror.StorageError("reading a temporary file for", key, err)
		}
		err = m.keepStored(ctx, path, version, key, "zip", tmp)
	}
	if err == nil {
		m.cataloged(ctx, path, version, modmirror.ExtZip, n)
		m.recordLater(path, version)
	}
	return err
}

// cataloged notes a stored file in the catalog, if there is one.
func (m *Mirror) cataloged(ctx context.Context, path, version, ext string, size int64) {
	if m.cfg.Catalog == nil {
		return
	}
	source := "origin"
	if !m.cfg.Private(path) && m.cfg.Upstream != nil {
		source = m.cfg.Upstream.String()
	}
	m.cfg.Catalog.File(ctx, path, version, ext, size, source)
}

// verify checks a hash against the checksum database, unless the module is
// exempt from it.
func (m *Mirror) verify(ctx context.Context, path, version, hash, kind string) error {
	if !m.public(path) {
		// Private paths never reach the public database; they and
		// nosumdb paths are recorded in the mirror's own (recordLater).
		// A version recorded there before (stored, collected by gc,
		// filled again) must have the hashes it was recorded with.
		return m.verifyRecorded(ctx, path, version, hash, kind)
	}
	err := m.cfg.Checker.Check(ctx, path, version, hash)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, modmirror.ErrSecurity):
		m.metrics.VerifyFailure(kind, "checksum")
		return err
	case errors.Is(err, modmirror.ErrStorage):
		return err
	case errors.Is(err, modmirror.ErrNotInSumDB):
		// Unverifiable content is never served: this is a failure, not a
		// not-found, whatever the checksum database said.
		return &wrapped{err: fmt.Errorf("%w (modules that the checksum database cannot know belong in the mirror's nosumdb or private patterns)", err), is: modmirror.ErrUpstream}
	default:
		return &wrapped{err: err, is: modmirror.ErrUpstream}
	}
}

// recordedLister is a Recorder that can say what a version is recorded
// with (sumlog.Log).
type recordedLister interface {
	Recorded(ctx context.Context, path, version string) ([]byte, error)
}

// verifyRecorded checks a hash against the mirror's own checksum database,
// if it has recorded the version: a version filled again after it was
// deleted must be what it was. An unrecorded version passes.
func (m *Mirror) verifyRecorded(ctx context.Context, path, version, hash, kind string) error {
	rl, ok := m.cfg.Recorder.(recordedLister)
	if !ok {
		return nil
	}
	rec, err := rl.Recorded(ctx, path, strings.TrimSuffix(version, "/go.mod"))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return err
	}
	for _, l := range gosum.Parse("record", rec) {
		if l.Err == nil && l.Path == path && l.Version == strings.TrimSuffix(version, "/go.mod") && l.GoMod == strings.HasSuffix(version, "/go.mod") {
			if l.Hash != hash {
				m.metrics.VerifyFailure(kind, "checksum")
				return &modmirror.MismatchError{DB: "the mirror's own checksum database", Path: path, Version: version, Got: hash, Want: l.Hash}
			}
			return nil
		}
	}
	return nil
}

// keepStored handles a fill whose file was stored meanwhile (by a racing
// fill or another replica): the stored copy stays, and a differing upstream
// copy is reported as a security event.
func (m *Mirror) keepStored(ctx context.Context, path, version, key, kind string, fresh io.Reader) error {
	f, err := m.cfg.Store.Open(ctx, key)
	if err != nil {
		return err
	}
	defer f.Close()
	same, err := sameContent(f, fresh)
	if err != nil {
		return modmirror.StorageError("comparing", key, err)
	}
	if !same {
		m.metrics.VerifyFailure(kind, "changed")
		m.log.Error("SECURITY ERROR: upstream copy differs from the stored one; keeping the stored copy",
			"module", path, "version", version, "file", kind, "upstream", m.source(path).String())
	}
	return nil
}

// sameContent reports whether two streams hold the same bytes.
func sameContent(a, b io.Reader) (bool, error) {
	bufA := make([]byte, 32<<10)
	bufB := make([]byte, 32<<10)
	for {
		na, errA := io.ReadFull(a, bufA)
		nb, errB := io.ReadFull(b, bufB)
		if !bytes.Equal(bufA[:na], bufB[:nb]) {
			return false, nil
		}
		endA := errA == io.EOF || errA == io.ErrUnexpectedEOF
		endB := errB == io.EOF || errB == io.ErrUnexpectedEOF
		if errA != nil && !endA {
			return false, errA
		}
		if errB != nil && !endB {
			return false, errB
		}
		if endA || endB {
			return endA && endB, nil
		}
	}
}

// info is the part of an .info file the mirror reads.
type info struct {
	Version string
	Time    time.Time
}

// parseInfo parses and validates an .info or /@latest answer.
func parseInfo(data []byte) (*info, error) {
	var i info
	if err := json.Unmarshal(data, &i); err != nil {
		return nil, fmt.Errorf("malformed .info: %w", err)
	}
	if i.Version == "" {
		return nil, errors.New("malformed .info: no Version")
	}
	if strings.ContainsAny(i.Version, "\n/") || module.CanonicalVersion(i.Version) != i.Version {
		return nil, fmt.Errorf("malformed .info: version %q is not canonical", i.Version)
	}
	return &i, nil
}
