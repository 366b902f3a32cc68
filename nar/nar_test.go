package nar

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/modmirror/modmirror/internal/testenv"
)

// file describes one entry of a test tree. Exactly one of the kinds applies:
// a symlink when link is set, a directory when dir is set, else a file.
type file struct {
	name string // slash-separated, relative to the root; "." is the root itself
	data string
	mode os.FileMode
	link string
	dir  bool
}

var cases = []struct {
	name  string
	files []file
}{
	{"empty dir", nil},
	{"root is a file", []file{{name: ".", data: "hello\n", mode: 0o644}}},
	{"root is an executable", []file{{name: ".", data: "#!/bin/sh\n", mode: 0o755}}},
	{"root is a symlink", []file{{name: ".", link: "somewhere/else"}}},
	{"one file", []file{{name: "hello.txt", data: "hello\n", mode: 0o644}}},
	{"zero-length file", []file{{name: "empty", mode: 0o644}}},
	{"executable", []file{{name: "run", data: "#!/bin/sh\necho hi\n", mode: 0o755}}},
	// Nix tests only S_IXUSR; these were checked against nix 2.8.
	{"owner x only", []file{{name: "x", data: "x", mode: 0o100}}},
	{"group x only", []file{{name: "x", data: "x", mode: 0o654}}},
	{"other x only", []file{{name: "x", data: "x", mode: 0o645}}},
	{"lengths around 8", []file{
		{name: "l1", data: "1", mode: 0o644},
		{name: "l7", data: "1234567", mode: 0o644},
		{name: "l8", data: "12345678", mode: 0o644},
		{name: "l9", data: "123456789", mode: 0o644},
		{name: "l16", data: "0123456789abcdef", mode: 0o644},
		{name: "l17", data: "0123456789abcdefg", mode: 0o644},
	}},
	{"names of length 8", []file{{name: "12345678", data: "a", mode: 0o644}, {name: "1234567", data: "b", mode: 0o644}}},
	{"byte order vs case-insensitive order", []file{
		{name: "a", data: "a", mode: 0o644},
		{name: "B", data: "B", mode: 0o644},
		{name: "_", data: "_", mode: 0o644},
		{name: "Z", data: "Z", mode: 0o644},
		{name: "a.txt", data: "a.txt", mode: 0o644},
		{name: "a-b", data: "a-b", mode: 0o644},
		{name: "aB", data: "aB", mode: 0o644},
		{name: "ab", data: "ab", mode: 0o644},
		{name: "é", data: "é", mode: 0o644},
		{name: "z", data: "z", mode: 0o644},
	}},
	{"directory sorts among files by its own name", []file{
		{name: "a", dir: true},
		{name: "a.go", data: "package a\n", mode: 0o644},
		{name: "a/b.go", data: "package b\n", mode: 0o644},
		{name: "a0", data: "0", mode: 0o644},
	}},
	{"nested dirs", []file{
		{name: "d1/d2/d3/deep.txt", data: "deep", mode: 0o644},
		{name: "d1/top.txt", data: "top", mode: 0o644},
		{name: "d1/empty", dir: true},
		{name: "other/x", data: "x", mode: 0o755},
	}},
	{"symlinks", []file{
		{name: "target.txt", data: "t", mode: 0o644},
		{name: "rel", link: "target.txt"},
		{name: "dangling", link: "/nonexistent/path"},
		{name: "to-dir", link: "sub"},
		{name: "sub/up", link: "../target.txt"},
		{name: "long", link: strings.Repeat("x/", 37) + "y"},
	}},
	{"module-like tree", []file{
		{name: "cache/download/example.com/m/@v/list", data: "v1.0.0\nv1.1.0\n", mode: 0o644},
		{name: "cache/download/example.com/m/@v/v1.0.0.info", data: `{"Version":"v1.0.0","Time":"2020-01-01T00:00:00Z"}` + "\n", mode: 0o644},
		{name: "cache/download/example.com/m/@v/v1.0.0.mod", data: "module example.com/m\n", mode: 0o644},
		{name: "cache/download/example.com/m/@v/v1.0.0.zip", data: strings.Repeat("\x00PK\x03\x04", 1000), mode: 0o644},
	}},
}

// build creates the tree in a new temporary directory and returns the path
// of its root, which is a file or symlink when the tree says so.
func build(t testing.TB, files []file) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "root")
	if len(files) == 1 && files[0].name == "." {
		create(t, root, files[0])
		return root
	}
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		p := filepath.Join(root, filepath.FromSlash(f.name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		create(t, p, f)
	}
	return root
}

func create(t testing.TB, p string, f file) {
	t.Helper()
	var err error
	switch {
	case f.link != "":
		err = os.Symlink(f.link, p)
	case f.dir:
		err = os.MkdirAll(p, 0o755)
	default:
		if err = os.WriteFile(p, []byte(f.data), 0o600); err == nil {
			err = os.Chmod(p, f.mode) // WriteFile's mode is masked by umask
		}
	}
	if err != nil {
		t.Fatal(err)
	}
}

// referenceNAR is a second NAR writer, written independently of Write: it
// builds the whole archive in memory, depth first, from os.Lstat.
func referenceNAR(t testing.TB, p string) []byte {
	t.Helper()
	var buf bytes.Buffer
	put := func(tokens ...string) {
		for _, s := range tokens {
			binary.Write(&buf, binary.LittleEndian, int64(len(s)))
			buf.WriteString(s)
			for buf.Len()%8 != 0 {
				buf.WriteByte(0)
			}
		}
	}
	var dump func(p string)
	dump = func(p string) {
		fi, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		put("(", "type")
		switch fi.Mode().Type() {
		case 0:
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			put("regular")
			if fi.Mode().Perm()&0o100 == 0o100 {
				put("executable", "")
			}
			put("contents", string(data))
		case os.ModeSymlink:
			target, err := os.Readlink(p)
			if err != nil {
				t.Fatal(err)
			}
			put("symlink", "target", target)
		case os.ModeDir:
			des, err := os.ReadDir(p)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, de := range des {
				names = append(names, de.Name())
			}
			sort.Slice(names, func(i, j int) bool { return bytes.Compare([]byte(names[i]), []byte(names[j])) < 0 })
			put("directory")
			for _, n := range names {
				put("entry", "(", "name", n, "node")
				dump(p + "/" + n)
				put(")")
			}
		default:
			t.Fatalf("reference writer: %s has type %v", p, fi.Mode().Type())
		}
		put(")")
	}
	put("nix-archive-1")
	dump(p)
	return buf.Bytes()
}

func sri(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}

// lookNix returns the path of the real nix. Without it the test is
// skipped, or fails when MODMIRROR_TEST_REQUIRE_NIX=1.
func lookNix(t *testing.T) string {
	t.Helper()
	nix, err := exec.LookPath("nix")
	if err != nil {
		testenv.Missing(t, "NIX", "nix not on PATH; install it with scripts/install-nix.sh (apt-get install nix-bin) to compare with the real nix")
	}
	return nix
}

// nixHash returns what "nix hash path p" prints.
func nixHash(t *testing.T, nix, p string) string {
	t.Helper()
	cmd := exec.Command(nix, "--extra-experimental-features", "nix-command", "hash", "path", p)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("nix hash path %s: %v\n%s", p, err, stderr.Bytes())
	}
	return strings.TrimSpace(string(out))
}

func TestMatchesReference(t *testing.T) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			root := build(t, tc.files)
			want := referenceNAR(t, root)

			var got bytes.Buffer
			if err := Write(&got, root); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Errorf("Write differs from the reference writer\ngot  %q\nwant %q", got.Bytes(), want)
			}
			h, err := Hash(root)
			if err != nil {
				t.Fatal(err)
			}
			if h != sri(want) {
				t.Errorf("Hash = %s, reference %s", h, sri(want))
			}
		})
	}
}

func TestMatchesNix(t *testing.T) {
	nix := lookNix(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			root := build(t, tc.files)
			got, err := Hash(root)
			if err != nil {
				t.Fatal(err)
			}
			if want := nixHash(t, nix, root); got != want {
				t.Errorf("Hash = %s, nix hash path = %s", got, want)
			}
		})
	}
}

// goldenTrees were hashed once by the real nix so that the hashes mean
// something without nix on PATH. Each was built with build() and hashed by
//
//	nix --extra-experimental-features nix-command hash path ROOT
//
// with nix (Nix) 2.8.0 from Debian's nix-bin.
var goldenTrees = []struct {
	name  string
	files []file
	want  string
}{
	{"empty dir", nil, "sha256-pQpattmS9VmO3ZIQUFn66az8GSmB4IvYhTTCFn6SUmo="},
	{"hello", []file{{name: "hello.txt", data: "hello\n", mode: 0o644}}, "sha256-i9jJgC+rnkiRG+QQ31i/KRlnOwbAnAZM/cvj73cukwU="},
	{"mixed", []file{
		{name: "B", data: "upper\n", mode: 0o644},
		{name: "a", data: "lower, 16 bytes\n", mode: 0o644},
		{name: "bin/run", data: "#!/bin/sh\n", mode: 0o755},
		{name: "bin/empty", mode: 0o644},
		{name: "link", link: "bin/run"},
	}, "sha256-XqVtbwz6v7l0aGjPKu7PHGnNIpG+G6p9KtqYRKu9A2o="},
}

func TestGolden(t *testing.T) {
	for _, g := range goldenTrees {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			root := build(t, g.files)
			got, err := Hash(root)
			if err != nil {
				t.Fatal(err)
			}
			if got != g.want {
				t.Errorf("Hash = %s, want %s (from nix)", got, g.want)
			}
		})
	}
}

func TestHashFS(t *testing.T) {
	t.Parallel()
	tc := cases[len(cases)-1]
	root := build(t, tc.files)
	want, err := Hash(root)
	if err != nil {
		t.Fatal(err)
	}
	got, err := HashFS(os.DirFS(root), ".")
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("HashFS(os.DirFS) = %s, Hash = %s", got, want)
	}

	// A MapFS with the same tree, symlinks included, hashes the same.
	for _, tc := range cases {
		if len(tc.files) == 1 && tc.files[0].name == "." {
			continue
		}
		m := fstest.MapFS{}
		for _, f := range tc.files {
			switch {
			case f.link != "":
				m[f.name] = &fstest.MapFile{Data: []byte(f.link), Mode: os.ModeSymlink | 0o777}
			case f.dir:
				m[f.name] = &fstest.MapFile{Mode: os.ModeDir | 0o755}
			default:
				m[f.name] = &fstest.MapFile{Data: []byte(f.data), Mode: f.mode}
			}
		}
		want, err := Hash(build(t, tc.files))
		if err != nil {
			t.Fatal(err)
		}
		got, err := HashFS(m, ".")
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got != want {
			t.Errorf("%s: HashFS(MapFS) = %s, Hash = %s", tc.name, got, want)
		}
	}
}

func TestMissingRoot(t *testing.T) {
	t.Parallel()
	_, err := Hash(filepath.Join(t.TempDir(), "missing"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Hash(missing) error = %v, want one wrapping os.ErrNotExist", err)
	}
	if err != nil && !strings.HasPrefix(err.Error(), "nar: ") {
		t.Errorf("error %q does not begin with \"nar: \"", err)
	}
}

type failingWriter struct{ err error }

func (w failingWriter) Write([]byte) (int, error) { return 0, w.err }

func TestWriteError(t *testing.T) {
	t.Parallel()
	root := build(t, []file{{name: "big", data: strings.Repeat("x", 1<<20), mode: 0o644}})
	errBroken := errors.New("broken pipe")
	if err := Write(failingWriter{errBroken}, root); !errors.Is(err, errBroken) {
		t.Errorf("Write to a failing writer = %v, want one wrapping %v", err, errBroken)
	}
}

// TestStreams checks that hashing a large file does not read it into memory.
// It is not parallel, so that other tests' allocations do not count.
func TestStreams(t *testing.T) {
	const size = 64 << 20
	root := t.TempDir()
	f, err := os.Create(filepath.Join(root, "big"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil { // sparse: cheap to create
		t.Fatal(err)
	}
	f.Close()

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if _, err := Hash(root); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	// The chunks between the reader and the hasher, their alignment, and a
	// little more.
	if alloc, limit := after.TotalAlloc-before.TotalAlloc, uint64(hashChunks*hashChunkSize+chunkPadding+1<<20); alloc > limit {
		t.Errorf("hashing a %d MiB file allocated %d KiB (limit %d KiB); contents must be streamed", size>>20, alloc>>10, limit>>10)
	}
}

// TestHandOnEarly: a file read into a chunk that then holds handOnAt bytes
// or more is passed on at once when the hasher has nothing waiting, and a
// smaller one is kept to be filled further.
func TestHandOnEarly(t *testing.T) {
	cw := newChunkWriter()
	if _, err := cw.ReadFrom(bytes.NewReader(make([]byte, handOnAt-1))); err != nil {
		t.Fatal(err)
	}
	if len(cw.full) != 0 {
		t.Fatalf("a chunk of %d bytes was passed on", handOnAt-1)
	}
	if _, err := cw.ReadFrom(bytes.NewReader(make([]byte, 1))); err != nil {
		t.Fatal(err)
	}
	if len(cw.full) != 1 || len(cw.cur) != 0 {
		t.Fatalf("after %d bytes: %d chunks passed on, %d bytes kept; want 1 and 0", handOnAt, len(cw.full), len(cw.cur))
	}
	if c := <-cw.full; len(c) != handOnAt {
		t.Errorf("the chunk passed on holds %d bytes, want %d", len(c), handOnAt)
	}
}

// BenchmarkHash hashes a 256 MiB tree of random files of random sizes.
func BenchmarkHash(b *testing.B) {
	const total = 256 << 20
	root := b.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 4<<20)
	for written, i := 0, 0; written < total; i++ {
		n := min(1+rng.IntN(len(buf)), total-written)
		for j := range buf[:n] {
			buf[j] = byte(rng.Uint32())
		}
		dir := filepath.Join(root, "d"+string(rune('a'+i%16)))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "f"+strings.Repeat("x", i%7)+string(rune('0'+i/16))), buf[:n], 0o644); err != nil {
			b.Fatal(err)
		}
		written += n
	}
	// One untimed pass, so that the timed ones read from a settled page cache.
	if _, err := Hash(root); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(total)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Hash(root); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSHA256 is the ceiling for BenchmarkHash: crypto/sha256 alone.
func BenchmarkSHA256(b *testing.B) {
	buf := make([]byte, 1<<20)
	h := sha256.New()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		h.Write(buf)
	}
}

// BenchmarkHashSmallFiles hashes a tree shaped like a snapshot of a large
// module graph (the k8s one in bench/testdata: 45 MB in about 400 files in
// 200 directories): most files are small, so opening and reading them
// weighs as much as SHA-256.
func BenchmarkHashSmallFiles(b *testing.B) {
	root := b.TempDir()
	rng := rand.New(rand.NewPCG(3, 4))
	total := 0
	for i := range 400 {
		dir := filepath.Join(root, fmt.Sprintf("m%03d", i/2), "@v")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		// Sizes from 100 B to 1 MiB, log-uniform: many go.mod and .info
		// files, a few large zips.
		n := int(math.Exp(math.Log(100) + rng.Float64()*(math.Log(1<<20)-math.Log(100))))
		data := make([]byte, n)
		for j := range data {
			data[j] = byte(rng.Uint32())
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("v1.%d.0.zip", i)), data, 0o644); err != nil {
			b.Fatal(err)
		}
		total += n
	}
	if _, err := Hash(root); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(total))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Hash(root); err != nil {
			b.Fatal(err)
		}
	}
}
