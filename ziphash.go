package modmirror

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"
	"sync"

	"github.com/klauspost/compress/flate"

	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb/dirhash"
	modzip "golang.org/x/mod/zip"
)

// HashGoMod returns the go.sum hash ("h1:...") of a go.mod file, computed
// as the go command computes it: dirhash.Hash1 over one file named go.mod.
func HashGoMod(data []byte) (string, error) {
	return dirhash.Hash1([]string{"go.mod"}, func(string) (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	})
}

// HashZip returns the go.sum hash ("h1:...") of a module zip file: the
// hash dirhash.HashZip(file, dirhash.Hash1) returns, and an error wherever
// that fails (archive/zip still checks each file's CRC-32 and size). Only
// the inflater differs: klauspost/compress's, fed from memory for the small
// files module zips are made of. Inflating is most of the CPU a cold fill
// costs (docs/BENCHMARKS.md); this takes about a fifth less.
func HashZip(file string) (string, error) {
	z, err := zip.OpenReader(file)
	if err != nil {
		return "", err
	}
	defer z.Close()
	z.RegisterDecompressor(zip.Deflate, newInflater)
	files := make([]string, 0, len(z.File))
	byName := make(map[string]*zip.File, len(z.File))
	for _, f := range z.File {
		files = append(files, f.Name)
		byName[f.Name] = f // the last of a repeated name, as dirhash.HashZip
	}
	return dirhash.Hash1(files, func(name string) (io.ReadCloser, error) {
		r, err := byName[name].Open()
		if err != nil {
			return nil, err
		}
		return &bufferedReader{r: r}, nil
	})
}

var copyBuffers = sync.Pool{New: func() any { return new([32 << 10]byte) }}

// bufferedReader lets io.Copy in dirhash.Hash1 use a pooled buffer
// rather than allocate one per file.
type bufferedReader struct{ r io.ReadCloser }

func (b *bufferedReader) Read(p []byte) (int, error) { return b.r.Read(p) }
func (b *bufferedReader) Close() error               { return b.r.Close() }
func (b *bufferedReader) WriteTo(w io.Writer) (int64, error) {
	buf := copyBuffers.Get().(*[32 << 10]byte)
	defer copyBuffers.Put(buf)
	return io.CopyBuffer(struct{ io.Writer }{w}, struct{ io.Reader }{b.r}, buf[:])
}

// maxInflateInMemory is the largest compressed file HashZip reads into
// memory before inflating it; larger ones are inflated as they are read.
const maxInflateInMemory = 1 << 20

var (
	inflaters      sync.Pool // of *inflater
	inflateBuffers sync.Pool // of *[]byte
)

// inflater is a pooled klauspost/compress inflater, with the buffer that
// holds its compressed input when it was read into memory.
type inflater struct {
	io.ReadCloser
	buf *[]byte
	src bytes.Reader
}

// newInflater is an archive/zip Decompressor. archive/zip hands it a section
// of the zip file; one that is small enough is read into memory first, since
// the inflater is fastest on a bytes.Reader.
func newInflater(r io.Reader) io.ReadCloser {
	f, _ := inflaters.Get().(*inflater)
	if f == nil {
		f = &inflater{ReadCloser: flate.NewReader(nil)}
	}
	src := r
	if s, ok := r.(interface{ Size() int64 }); ok && s.Size() <= maxInflateInMemory {
		buf, _ := inflateBuffers.Get().(*[]byte)
		if buf == nil {
			buf = new([]byte)
		}
		b := slices.Grow((*buf)[:0], int(s.Size()))[:s.Size()]
		n, err := io.ReadFull(r, b)
		*buf = b[:n]
		f.buf = buf
		f.src.Reset(*buf)
		src = &f.src
		if err != nil {
			// A short or failed read: inflate what was read, then fail
			// with the read's error, as a streamed read would.
			src = io.MultiReader(&f.src, errReader{err})
		}
	}
	f.ReadCloser.(flate.Resetter).Reset(src, nil)
	return f
}

// Close returns the inflater and its buffer to their pools.
func (f *inflater) Close() error {
	err := f.ReadCloser.Close()
	if f.buf != nil {
		inflateBuffers.Put(f.buf)
		f.buf = nil
	}
	f.src.Reset(nil)
	f.ReadCloser.(flate.Resetter).Reset(&f.src, nil) // lets go of the zip
	inflaters.Put(f)
	return err
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// CheckZip checks a module zip file with golang.org/x/mod/zip, as the go
// command does before it extracts one: file names, the path@version/ prefix,
// sizes. Toolchain zips (golang.org/toolchain) hold a whole Go distribution
// and need follow only the prefix rule.
func CheckZip(path, version, file string) error {
	mv := module.Version{Path: path, Version: version}
	if path != "golang.org/toolchain" {
		cf, err := modzip.CheckZip(mv, file)
		if err != nil {
			return err
		}
		return cf.Err()
	}
	z, err := zip.OpenReader(file)
	if err != nil {
		return err
	}
	defer z.Close()
	prefix := path + "@" + version + "/"
	for _, f := range z.File {
		name, ok := strings.CutPrefix(f.Name, prefix)
		if !ok || name == "" || !fs.ValidPath(strings.TrimSuffix(name, "/")) {
			return fmt.Errorf("zip file contains %q, which is not a clean name under %s", f.Name, prefix)
		}
	}
	return nil
}
