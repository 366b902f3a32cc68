// Package nar writes the Nix archive (NAR) serialisation of a file tree and
// computes its content hash the way Nix does for a recursive fixed-output
// path: what "nix hash path DIR" prints.
//
// # Format
//
// A NAR is a sequence of strings. Each string is its length as a 64-bit
// little-endian integer followed by its bytes, padded with zeros to a
// multiple of 8. The archive is the string "nix-archive-1" followed by one
// node:
//
//	( type regular [executable ""] contents <bytes> )
//	( type symlink target <target> )
//	( type directory { entry ( name <name> node <node> ) } )
//
// Directory entries are sorted by name in byte order. Nothing else about a
// file is recorded: no times, owners or permissions beyond the executable
// flag.
//
// # What is recorded
//
// A regular file is executable when its owner-execute bit is set (mode
// 0o100), as Nix tests S_IXUSR: a file with mode 0o655 is not executable.
// Symbolic links are never followed, not even at the root; their target is
// recorded as written. The root may be a regular file, a directory or a
// symbolic link. Devices, sockets and named pipes cannot be archived and
// make Write fail with an error wrapping ErrUnsupportedType.
//
// Write streams: file contents are copied, never held in memory, so memory
// use does not grow with file size (only with the number of entries in one
// directory).
package nar

import (
	"bufio"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"

	"github.com/modmirror/modmirror/internal/openread"
)

// ErrUnsupportedType is wrapped by the error Write returns for a file that a
// NAR cannot hold: a device, socket, named pipe or other irregular file.
var ErrUnsupportedType = errors.New("unsupported file type")

// Write writes the NAR serialisation of the file tree at root to w.
func Write(w io.Writer, root string) error {
	return write(w, osTree{}, root)
}

// Hash returns the SRI sha256 hash of the NAR serialisation of root, in the
// form "sha256-" followed by the standard padded base64 encoding of the
// digest. It equals what "nix hash path root" prints.
func Hash(root string) (string, error) {
	return hash(osTree{}, root)
}

// WriteFS writes the NAR serialisation of the tree at name in fsys to w.
// Symbolic links are recorded as links only when fsys implements
// fs.ReadLinkFS; otherwise fsys decides what fs.Stat reports for them.
func WriteFS(w io.Writer, fsys fs.FS, name string) error {
	return write(w, fsTree{fsys}, name)
}

// HashFS is Hash for the tree at name in fsys; see WriteFS.
func HashFS(fsys fs.FS, name string) (string, error) {
	return hash(fsTree{fsys}, name)
}

// SRI formats a sha256 digest as Nix prints it: "sha256-<base64>".
func SRI(sum [sha256.Size]byte) string {
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}

// hash hashes the NAR of root with two goroutines: one walks the tree and
// reads the files, writing the archive into chunks, while the caller's
// hashes the chunks it has filled. SHA-256 is sequential, so this is as
// parallel as hashing one archive gets: the reading (system calls and the
// kernel's copying) overlaps the hashing instead of adding to it. At most
// hashChunks chunks are in flight, so memory stays bounded.
func hash(t tree, root string) (string, error) {
	cw := newChunkWriter()
	errc := make(chan error, 1)
	go func() {
		err := writeTo(cw, t, root)
		close(cw.full)
		errc <- err
	}()
	h := sha256.New()
	for c := range cw.full {
		h.Write(c)
		cw.free <- c[:0]
	}
	if err := <-errc; err != nil {
		return "", err
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return SRI(sum), nil
}

// Chunks of the archive between the reading and the hashing goroutines.
// The reader is faster on average than SHA-256 but not at every moment: a
// run of small files is mostly system calls. With 4 MiB in flight it runs
// far enough ahead to cover such runs; with 512 KiB the hasher waited on
// it for a fifth of its time, and each wait parks and wakes both
// goroutines (BenchmarkHashSmallFiles, shaped like a large graph's
// snapshot: 39.5-41.0 ms with 4 x 128 KiB, 36.4-37.5 ms with 8 x 512 KiB).
//
// When the hasher has nothing to hash, a chunk holding at least
// handOnAt bytes is passed on at the end of a file rather than when full:
// at the start (the walk to the first file, the first chunk's fresh pages)
// and after a run of small files the hasher would otherwise wait for a
// whole chunk.
const (
	hashChunkSize = 512 << 10
	hashChunks    = 8
	handOnAt      = 64 << 10
)

// A chunkWriter is a bufWriter that fills chunks and passes each full one
// on; file contents are read straight into them.
type chunkWriter struct {
	cur  []byte
	full chan []byte // filled, in order
	free chan []byte // emptied by the hasher
}

func newChunkWriter() *chunkWriter {
	cw := &chunkWriter{full: make(chan []byte, hashChunks), free: make(chan []byte, hashChunks)}
	mem := chunkMemory(hashChunks * hashChunkSize)
	for i := range hashChunks {
		c := mem[i*hashChunkSize : i*hashChunkSize : (i+1)*hashChunkSize]
		if i == 0 {
			cw.cur = c
		} else {
			cw.free <- c
		}
	}
	return cw
}

// room returns cur with space left, passing on a full one.
func (cw *chunkWriter) room() []byte {
	if len(cw.cur) == cap(cw.cur) {
		cw.full <- cw.cur
		cw.cur = <-cw.free
	}
	return cw.cur
}

func (cw *chunkWriter) Write(p []byte) (int, error)       { return writeChunks(cw, p) }
func (cw *chunkWriter) WriteString(s string) (int, error) { return writeChunks(cw, s) }

func writeChunks[S ~string | ~[]byte](cw *chunkWriter, p S) (int, error) {
	n := len(p)
	for len(p) > 0 {
		c := cw.room()
		m := copy(c[len(c):cap(c)], p)
		cw.cur = c[:len(c)+m]
		p = p[m:]
	}
	return n, nil
}

// ReadFrom reads r to its end into the chunks. At the end, the chunk is
// passed on early if the hasher has none waiting (handOnAt).
func (cw *chunkWriter) ReadFrom(r io.Reader) (int64, error) {
	var total int64
	for {
		c := cw.room()
		m, err := r.Read(c[len(c):cap(c)])
		cw.cur = c[:len(c)+m]
		total += int64(m)
		if err == io.EOF {
			if len(cw.cur) >= handOnAt && len(cw.full) == 0 {
				cw.full <- cw.cur
				cw.cur = <-cw.free
			}
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// Flush passes on the last chunk, if it holds anything.
func (cw *chunkWriter) Flush() error {
	if len(cw.cur) > 0 {
		cw.full <- cw.cur
		cw.cur = nil
	}
	return nil
}

// tree is the file system a NAR is written from: the operating system's,
// addressed by OS paths, or an fs.FS, addressed by slash paths.
type tree interface {
	lstat(name string) (fs.FileInfo, error)
	readDirNames(name string) ([]string, error)
	readLink(name string) (string, error)
	open(name string) (io.ReadCloser, error)
	join(dir, elem string) string
}

// bufferSize is the size of the buffer between the tree walk and w. Larger
// reads of file contents matter more than the many small tokens.
const bufferSize = 128 << 10

func write(w io.Writer, t tree, root string) error {
	return writeTo(bufio.NewWriterSize(w, bufferSize), t, root)
}

// A bufWriter is where the archive is written: a bufio.Writer, or the
// hashing's chunks. Write errors stick until Flush or ReadFrom report them.
type bufWriter interface {
	io.Writer
	io.StringWriter
	io.ReaderFrom
	Flush() error
}

func writeTo(bw bufWriter, t tree, root string) error {
	nw := &writer{t: t, bw: bw}
	nw.str("nix-archive-1")
	if err := nw.node(root); err != nil {
		return err
	}
	if err := nw.bw.Flush(); err != nil {
		return fmt.Errorf("nar: %w", err)
	}
	return nil
}

type writer struct {
	t       tree
	bw      bufWriter
	scratch [8]byte
}

// str writes s as a NAR string. Errors from the underlying writer stick in
// bw and are reported by the next Flush or ReadFrom.
func (nw *writer) str(s string) {
	nw.length(uint64(len(s)))
	nw.bw.WriteString(s)
	nw.pad(uint64(len(s)))
}

func (nw *writer) length(n uint64) {
	binary.LittleEndian.PutUint64(nw.scratch[:], n)
	nw.bw.Write(nw.scratch[:])
}

var zeros [8]byte

func (nw *writer) pad(n uint64) {
	if r := n % 8; r != 0 {
		nw.bw.Write(zeros[:8-r])
	}
}

func (nw *writer) node(name string) error {
	info, err := nw.t.lstat(name)
	if err != nil {
		return fmt.Errorf("nar: %w", err)
	}
	nw.str("(")
	nw.str("type")
	switch mode := info.Mode(); {
	case mode.IsRegular():
		nw.str("regular")
		if mode&0o100 != 0 {
			nw.str("executable")
			nw.str("")
		}
		nw.str("contents")
		if err := nw.contents(name, info.Size()); err != nil {
			return err
		}
	case mode&fs.ModeSymlink != 0:
		target, err := nw.t.readLink(name)
		if err != nil {
			return fmt.Errorf("nar: %w", err)
		}
		nw.str("symlink")
		nw.str("target")
		nw.str(target)
	case mode.IsDir():
		names, err := nw.t.readDirNames(name)
		if err != nil {
			return fmt.Errorf("nar: %w", err)
		}
		// Nix orders entries by byte-wise comparison of names.
		slices.Sort(names)
		nw.str("directory")
		for _, elem := range names {
			nw.str("entry")
			nw.str("(")
			nw.str("name")
			nw.str(elem)
			nw.str("node")
			if err := nw.node(nw.t.join(name, elem)); err != nil {
				return err
			}
			nw.str(")")
		}
	default:
		return fmt.Errorf("nar: %s: %w (%s)", name, ErrUnsupportedType, describe(mode))
	}
	nw.str(")")
	return nil
}

// contents writes the file's contents as a NAR string of the size lstat
// reported. The length comes first, so a file that changes size while it is
// read makes the archive wrong: that is an error, not a silent mismatch.
func (nw *writer) contents(name string, size int64) error {
	f, err := nw.t.open(name)
	if err != nil {
		return fmt.Errorf("nar: %w", err)
	}
	defer f.Close()
	nw.length(uint64(size))
	n, err := io.CopyN(nw.bw, f, size)
	if err == io.EOF {
		return fmt.Errorf("nar: %s: file shrank while being read (%d of %d bytes)", name, n, size)
	}
	if err != nil {
		return fmt.Errorf("nar: %s: %w", name, err)
	}
	if m, _ := f.Read(nw.scratch[:1]); m > 0 {
		return fmt.Errorf("nar: %s: file grew while being read (more than %d bytes)", name, size)
	}
	nw.pad(uint64(size))
	return nil
}

func describe(mode fs.FileMode) string {
	switch {
	case mode&fs.ModeCharDevice != 0:
		return "character device"
	case mode&fs.ModeDevice != 0:
		return "device"
	case mode&fs.ModeNamedPipe != 0:
		return "named pipe"
	case mode&fs.ModeSocket != 0:
		return "socket"
	default:
		return "irregular file " + mode.Type().String()
	}
}

type osTree struct{}

func (osTree) lstat(name string) (fs.FileInfo, error) { return os.Lstat(name) }
func (osTree) readLink(name string) (string, error)   { return os.Readlink(name) }
func (osTree) join(dir, elem string) string           { return filepath.Join(dir, elem) }

func (osTree) open(name string) (io.ReadCloser, error) { return openread.Open(name) }

func (osTree) readDirNames(name string) ([]string, error) {
	f, err := openread.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Readdirnames(-1)
}

type fsTree struct{ fsys fs.FS }

func (t fsTree) lstat(name string) (fs.FileInfo, error) {
	if rl, ok := t.fsys.(fs.ReadLinkFS); ok {
		return rl.Lstat(name)
	}
	return fs.Stat(t.fsys, name)
}

func (t fsTree) readLink(name string) (string, error) { return fs.ReadLink(t.fsys, name) }
func (fsTree) join(dir, elem string) string           { return path.Join(dir, elem) }

func (t fsTree) open(name string) (io.ReadCloser, error) { return t.fsys.Open(name) }

func (t fsTree) readDirNames(name string) ([]string, error) {
	entries, err := fs.ReadDir(t.fsys, name)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	return names, nil
}
