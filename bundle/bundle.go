// Package bundle moves module versions between mirrors as one file, for
// networks with no internet: "modmirror export" writes one, "modmirror
// import" reads it into another mirror.
//
// # Format
//
// A bundle is a tar archive. Its regular files are module files in the
// module cache layout (<escaped path>/@v/<escaped version>.info, .mod,
// .zip), then, last, the manifest, ManifestName: JSON that lists every
// version with the go.sum lines of its files and, where the exporting
// mirror keeps its own checksum database, the version's record there and
// an inclusion proof of it in that log's signed tree head, so that an
// importer holding the log's verifier key can tell that the lines are the
// ones the log vouches for.
//
// # Import is all or nothing
//
// Import reads the whole bundle into a staging directory and checks every
// file against the manifest (zips with golang.org/x/mod/zip as a fill
// does), and the manifest's lines against the log's proofs when a key is
// given, and that no file it would store differs from one stored already,
// before it stores anything. A truncated or tampered bundle is refused
// with the first bad file named, and the store is as it was.
package bundle

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/modmirror/modmirror"
	"github.com/modmirror/modmirror/catalog"
	"github.com/modmirror/modmirror/gosum"
	"github.com/modmirror/modmirror/sumlog"
)

// ManifestName is the name of the manifest, the bundle's last file.
const ManifestName = "modmirror-bundle.json"

// Format is the manifest's format version.
const Format = 1

// A Manifest describes a bundle.
type Manifest struct {
	Format   int
	Created  time.Time
	Versions []Version

	// LogHead is the signed tree head of the exporting mirror's own
	// checksum database, to which the records' proofs lead; empty if it
	// keeps none.
	LogHead string `json:",omitempty"`
}

// A Version is one module version of a bundle.
type Version struct {
	Path, Version string
	Files         []string // the kinds of its files in the bundle: info, mod, zip
	GoSum         []string // go.sum lines of its zip (if any) and go.mod

	// Record is the version's record in the exporting mirror's own log,
	// with its proof; nil if the log has none.
	Record *Record `json:",omitempty"`
}

// A Record is a log record and its inclusion proof.
type Record struct {
	ID    int64
	Data  string   // the record: go.sum lines
	Proof []string // the tlog.RecordProof hashes, base64
}

// ExportOptions configure Export.
type ExportOptions struct {
	Store   modmirror.Store
	Catalog catalog.Storage
	Since   time.Time
	Match   func(path string) bool // nil: every path
	Log     sumlog.Storage         // the own log, for records and proofs; nil for none
}

// Export writes a bundle of the versions the catalog says were first
// stored at or after Since (and whose paths Match) to w, and returns its
// manifest.
func Export(ctx context.Context, w io.Writer, opts ExportOptions) (*Manifest, error) {
	tw := tar.NewWriter(w)
	man := &Manifest{Format: Format, Created: time.Now().UTC()}
	var head tlog.Tree
	if opts.Log != nil {
		h, err := opts.Log.Head(ctx)
		if err != nil {
			return nil, fmt.Errorf("bundle: reading the own log's head: %w", err)
		}
		if h.Size > 0 {
			man.LogHead = string(h.Signed)
			head.N = h.Size
		}
	}
	tmp, err := os.MkdirTemp("", "modmirror-export-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	since := opts.Since
	seen := make(map[[2]string]bool)
	for {
		batch, err := opts.Catalog.Since(ctx, since, 1000)
		if err != nil {
			return nil, err
		}
		for _, cv := range batch {
			k := [2]string{cv.Path, cv.Version}
			if seen[k] || opts.Match != nil && !opts.Match(cv.Path) {
				continue
			}
			seen[k] = true
			v, err := exportVersion(ctx, tw, opts, cv.Path, cv.Version, tmp)
			if err != nil {
				return nil, err
			}
			if v == nil {
				continue // gone from the store meanwhile
			}
			if opts.Log != nil && head.N > 0 {
				if v.Record, err = proveRecord(ctx, opts.Log, head.N, cv.Path, cv.Version); err != nil {
					return nil, err
				}
			}
			man.Versions = append(man.Versions, *v)
		}
		if len(batch) < 1000 {
			break
		}
		since = batch[len(batch)-1].FirstStored
	}
	data, err := json.MarshalIndent(man, "", "\t")
	if err != nil {
		return nil, err
	}
	if err := writeEntry(tw, ManifestName, bytes.NewReader(data), int64(len(data))); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	return man, nil
}

// exportVersion writes a version's files and returns its manifest entry;
// nil if its .mod is not stored.
func exportVersion(ctx context.Context, tw *tar.Writer, opts ExportOptions, path, version, tmp string) (*Version, error) {
	v := &Version{Path: path, Version: version}
	var modLine, zipLine string
	for _, ext := range []string{modmirror.ExtInfo, modmirror.ExtMod, modmirror.ExtZip} {
		key, err := modmirror.VersionKey(path, version, ext)
		if err != nil {
			return nil, err
		}
		f, err := opts.Store.Open(ctx, key)
		if errors.Is(err, fs.ErrNotExist) {
			if ext == modmirror.ExtMod {
				return nil, nil
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		// A copy on disk: the zip's hash needs random access, and the tar
		// entry its size, before its bytes.
		file := filepath.Join(tmp, "file")
		n, err := copyTo(file, f)
		f.Close()
		if err != nil {
			return nil, err
		}
		switch ext {
		case modmirror.ExtMod:
			data, err := os.ReadFile(file)
			if err != nil {
				return nil, err
			}
			h, err := modmirror.HashGoMod(data)
			if err != nil {
				return nil, err
			}
			modLine = path + " " + version + "/go.mod " + h
		case modmirror.ExtZip:
			h, err := modmirror.HashZip(file)
			if err != nil {
				return nil, fmt.Errorf("bundle: hashing %s: %w", key, err)
			}
			zipLine = path + " " + version + " " + h
		}
		src, err := os.Open(file)
		if err != nil {
			return nil, err
		}
		err = writeEntry(tw, key, src, n)
		src.Close()
		if err != nil {
			return nil, err
		}
		v.Files = append(v.Files, ext[1:])
	}
	if zipLine != "" {
		v.GoSum = append(v.GoSum, zipLine)
	}
	v.GoSum = append(v.GoSum, modLine)
	return v, nil
}

func copyTo(file string, r io.Reader) (int64, error) {
	f, err := os.Create(file)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return n, err
}

// writeEntry writes a regular file to the tar, with a fixed mode and time.
func writeEntry(tw *tar.Writer, name string, r io.Reader, size int64) error {
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: name, Size: size, Mode: 0o644, ModTime: time.Unix(0, 0).UTC(), Format: tar.FormatPAX}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	if _, err := io.Copy(tw, r); err != nil {
		return fmt.Errorf("bundle: writing %s: %w", name, err)
	}
	return nil
}

// proveRecord returns a version's record in the log and its proof in the
// tree of size n; nil if the log has no record of it.
func proveRecord(ctx context.Context, log sumlog.Storage, n int64, path, version string) (*Record, error) {
	id, err := log.Lookup(ctx, path, version)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if id >= n {
		return nil, nil // recorded after the head was read
	}
	recs, err := log.ReadRecords(ctx, id, 1)
	if err != nil {
		return nil, err
	}
	proof, err := tlog.ProveRecord(n, id, hashReader{ctx, log})
	if err != nil {
		return nil, fmt.Errorf("bundle: proving record %d: %w", id, err)
	}
	r := &Record{ID: id, Data: string(recs[0])}
	for _, h := range proof {
		r.Proof = append(r.Proof, base64.StdEncoding.EncodeToString(h[:]))
	}
	return r, nil
}

type hashReader struct {
	ctx context.Context
	log sumlog.Storage
}

func (r hashReader) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	return r.log.ReadHashes(r.ctx, indexes)
}

// ImportOptions configure Import.
type ImportOptions struct {
	Store   modmirror.Store
	TempDir string // the staging directory's parent; "" means os.TempDir()

	// LogKey, if not empty, is the verifier key of the exporting mirror's
	// own log: the bundle's head must be signed with it, and every
	// version must have a record that its proof shows in that log, with
	// the manifest's lines.
	LogKey string

	// Record, if not nil, records an imported version's go.sum lines in
	// the importing mirror's own log.
	Record func(ctx context.Context, path, version string, data []byte) error

	// Catalog, if not nil, notes the imported files (source "import").
	Catalog catalog.Storage
}

// An ImportResult says what Import did.
type ImportResult struct {
	New, Present []module.Version
}

// maxManifest bounds the manifest's size.
const maxManifest = 256 << 20

// Import reads a bundle from r into the store, all or nothing.
func Import(ctx context.Context, r io.Reader, opts ImportOptions) (*ImportResult, error) {
	stage, err := os.MkdirTemp(opts.TempDir, "modmirror-import-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(stage)
	staged, man, err := readBundle(r, stage)
	if err != nil {
		return nil, err
	}
	if err := checkBundle(staged, man); err != nil {
		return nil, err
	}
	if opts.LogKey != "" {
		if err := checkRecords(man, opts.LogKey); err != nil {
			return nil, err
		}
	}
	res := &ImportResult{}
	// Nothing stored yet: a stored file that differs stops it all.
	present := make(map[string]bool)
	for key, file := range staged {
		same, err := storedSame(ctx, opts.Store, key, file)
		if err != nil {
			return nil, err
		}
		present[key] = same
	}
	for _, v := range man.Versions {
		isNew := false
		for _, kind := range v.Files {
			key, _ := modmirror.VersionKey(v.Path, v.Version, "."+kind)
			if present[key] {
				continue
			}
			isNew = true
			f, err := os.Open(staged[key])
			if err != nil {
				return res, err
			}
			err = opts.Store.Create(ctx, key, f)
			f.Close()
			if err != nil && !errors.Is(err, fs.ErrExist) {
				return res, fmt.Errorf("bundle: storing %s: %w", key, err)
			}
			if opts.Catalog != nil {
				size := fileSize(staged[key])
				if err := opts.Catalog.Stored(ctx, []catalog.File{{Path: v.Path, Version: v.Version, Ext: "." + kind, Size: size, Source: "import", At: time.Now()}}); err != nil {
					return res, err
				}
			}
		}
		if opts.Record != nil {
			if err := opts.Record(ctx, v.Path, v.Version, []byte(strings.Join(v.GoSum, "\n")+"\n")); err != nil {
				return res, fmt.Errorf("bundle: recording %s@%s in the own checksum database: %w", v.Path, v.Version, err)
			}
		}
		mv := module.Version{Path: v.Path, Version: v.Version}
		if isNew {
			res.New = append(res.New, mv)
		} else {
			res.Present = append(res.Present, mv)
		}
	}
	paths := make(map[string]bool)
	for _, v := range man.Versions {
		paths[v.Path] = true
	}
	for _, p := range slices.Sorted(maps.Keys(paths)) {
		if err := modmirror.WriteList(ctx, opts.Store, p); err != nil {
			return res, err
		}
	}
	return res, nil
}

func fileSize(name string) int64 {
	fi, err := os.Stat(name)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// readBundle reads the tar into stage: each module file under a name of
// its own (never the tar's), and the manifest, which must come last.
func readBundle(r io.Reader, stage string) (map[string]string, *Manifest, error) {
	tr := tar.NewReader(r)
	staged := make(map[string]string)
	var man *Manifest
	last := "(none)"
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("bundle: truncated or damaged after %s: %w", last, err)
		}
		if man != nil {
			return nil, nil, fmt.Errorf("bundle: %s comes after the manifest, which must be last", hdr.Name)
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
			continue
		case tar.TypeReg:
		default:
			return nil, nil, fmt.Errorf("bundle: %s is not a regular file", hdr.Name)
		}
		if hdr.Name == ManifestName {
			data, err := io.ReadAll(io.LimitReader(tr, maxManifest+1))
			if err != nil {
				return nil, nil, fmt.Errorf("bundle: reading the manifest: %w", err)
			}
			if len(data) > maxManifest {
				return nil, nil, errors.New("bundle: the manifest is too large")
			}
			man = new(Manifest)
			if err := json.Unmarshal(data, man); err != nil {
				return nil, nil, fmt.Errorf("bundle: the manifest: %w", err)
			}
			if man.Format != Format {
				return nil, nil, fmt.Errorf("bundle: manifest format %d; this modmirror reads format %d", man.Format, Format)
			}
			continue
		}
		_, _, ext, ok := catalog.ParseKey(hdr.Name)
		if !ok {
			return nil, nil, fmt.Errorf("bundle: %s is not a module file", hdr.Name)
		}
		if _, dup := staged[hdr.Name]; dup {
			return nil, nil, fmt.Errorf("bundle: %s is in the bundle twice", hdr.Name)
		}
		limit := int64(modmirror.MaxZipFile)
		if ext != modmirror.ExtZip {
			limit = modmirror.MaxGoMod
		}
		if hdr.Size > limit {
			return nil, nil, fmt.Errorf("bundle: %s is larger than %d bytes", hdr.Name, limit)
		}
		file := filepath.Join(stage, fmt.Sprintf("%d", len(staged)))
		n, err := copyTo(file, io.LimitReader(tr, limit+1))
		if err != nil || n != hdr.Size {
			return nil, nil, fmt.Errorf("bundle: %s is truncated (%d of %d bytes): %v", hdr.Name, n, hdr.Size, err)
		}
		staged[hdr.Name] = file
		last = hdr.Name
	}
	if man == nil {
		return nil, nil, fmt.Errorf("bundle: no manifest: the bundle is truncated after %s, or not a bundle", last)
	}
	return staged, man, nil
}

// checkBundle checks every staged file against the manifest, in the
// manifest's order, and that every staged file is in it.
func checkBundle(staged map[string]string, man *Manifest) error {
	listed := make(map[string]bool)
	for _, v := range man.Versions {
		if err := module.Check(v.Path, v.Version); err != nil {
			return fmt.Errorf("bundle: manifest: %w", err)
		}
		lines := make(map[bool]string) // go.mod line?
		for _, l := range gosum.Parse("manifest", []byte(strings.Join(v.GoSum, "\n")+"\n")) {
			if l.Err != nil || l.Path != v.Path || l.Version != v.Version {
				return fmt.Errorf("bundle: manifest: %s@%s: bad go.sum line", v.Path, v.Version)
			}
			lines[l.GoMod] = l.Hash
		}
		for _, kind := range v.Files {
			key, err := modmirror.VersionKey(v.Path, v.Version, "."+kind)
			if err != nil {
				return err
			}
			listed[key] = true
			file, ok := staged[key]
			if !ok {
				return fmt.Errorf("bundle: %s is in the manifest but not in the bundle", key)
			}
			if err := checkFile(file, key, v, kind, lines); err != nil {
				return err
			}
		}
		if !slices.Contains(v.Files, "mod") {
			return fmt.Errorf("bundle: %s@%s has no go.mod file", v.Path, v.Version)
		}
	}
	for key := range staged {
		if !listed[key] {
			return fmt.Errorf("bundle: %s is not in the manifest", key)
		}
	}
	return nil
}

func checkFile(file, key string, v Version, kind string, lines map[bool]string) error {
	switch kind {
	case "mod":
		data, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		h, err := modmirror.HashGoMod(data)
		if err != nil {
			return err
		}
		if h != lines[true] {
			return fmt.Errorf("bundle: %s: %w", key, &modmirror.MismatchError{DB: "the bundle's manifest", Path: v.Path, Version: v.Version + "/go.mod", Got: h, Want: lines[true]})
		}
	case "zip":
		if err := modmirror.CheckZip(v.Path, v.Version, file); err != nil {
			return fmt.Errorf("bundle: %s: %w", key, err)
		}
		h, err := modmirror.HashZip(file)
		if err != nil {
			return err
		}
		if h != lines[false] {
			return fmt.Errorf("bundle: %s: %w", key, &modmirror.MismatchError{DB: "the bundle's manifest", Path: v.Path, Version: v.Version, Got: h, Want: lines[false]})
		}
	case "info":
		data, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		var info struct{ Version string }
		if json.Unmarshal(data, &info) != nil || info.Version != v.Version {
			return fmt.Errorf("bundle: %s: not the .info of %s", key, v.Version)
		}
	default:
		return fmt.Errorf("bundle: %s@%s: unknown file kind %q", v.Path, v.Version, kind)
	}
	return nil
}

// checkRecords checks the manifest's lines against the exporting log: the
// head's signature, and for every version a record with those lines that
// its proof shows in the signed tree.
func checkRecords(man *Manifest, vkey string) error {
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		return fmt.Errorf("bundle: --log-key: %w", err)
	}
	n, err := note.Open([]byte(man.LogHead), note.VerifierList(verifier))
	if err != nil {
		return fmt.Errorf("bundle: the log head is not signed with %s: %w", verifier.Name(), err)
	}
	tree, err := tlog.ParseTree([]byte(n.Text))
	if err != nil {
		return fmt.Errorf("bundle: the log head: %w", err)
	}
	for _, v := range man.Versions {
		if v.Record == nil {
			return fmt.Errorf("bundle: %s@%s has no record in the log %s", v.Path, v.Version, verifier.Name())
		}
		var proof tlog.RecordProof
		for _, s := range v.Record.Proof {
			b, err := base64.StdEncoding.DecodeString(s)
			if err != nil || len(b) != sha256.Size {
				return fmt.Errorf("bundle: %s@%s: a bad proof hash", v.Path, v.Version)
			}
			proof = append(proof, tlog.Hash(b))
		}
		if err := tlog.CheckRecord(proof, tree.N, tree.Hash, v.Record.ID, tlog.RecordHash([]byte(v.Record.Data))); err != nil {
			return fmt.Errorf("bundle: %s@%s: its record is not in the log %s: %w", v.Path, v.Version, verifier.Name(), err)
		}
		if want := strings.Join(v.GoSum, "\n") + "\n"; v.Record.Data != want {
			return fmt.Errorf("bundle: %s@%s: the manifest's lines are not the log's record:\n%s", v.Path, v.Version, v.Record.Data)
		}
	}
	return nil
}

// storedSame reports whether the store has key already, with the staged
// file's bytes; a stored file with other bytes is a security error.
func storedSame(ctx context.Context, store modmirror.Store, key, file string) (bool, error) {
	f, err := store.Open(ctx, key)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	if strings.HasSuffix(key, modmirror.ExtInfo) {
		return true, nil // an .info may differ in fields; the stored one stays
	}
	stored, err := sha256Of(f)
	if err != nil {
		return false, err
	}
	sf, err := os.Open(file)
	if err != nil {
		return false, err
	}
	defer sf.Close()
	staged, err := sha256Of(sf)
	if err != nil {
		return false, err
	}
	if stored == staged {
		return true, nil
	}
	return false, fmt.Errorf("%w: bundle: %s is stored with other bytes than the bundle has; nothing was imported", modmirror.ErrSecurity, key)
}

func sha256Of(r io.Reader) ([sha256.Size]byte, error) {
	h := sha256.New()
	var sum [sha256.Size]byte
	if _, err := io.Copy(h, r); err != nil {
		return sum, err
	}
	copy(sum[:], h.Sum(nil))
	return sum, nil
}
