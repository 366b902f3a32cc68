package modmirror

import (
	"archive/zip"
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/dirhash"
)

// zipEntry is one file of a test zip.
type zipEntry struct {
	name   string
	data   []byte
	method uint16
}

// writeZip writes entries to a zip file in dir and returns its path.
func writeZip(t testing.TB, dir, name string, entries []zipEntry) string {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: e.name, Method: e.method})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(e.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, name)
	if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

// agree fails the test unless HashZip and dirhash.HashZip give the same
// hash for file, or both fail.
func agree(t *testing.T, file, what string) (failed bool) {
	t.Helper()
	want, werr := dirhash.HashZip(file, dirhash.Hash1)
	got, err := HashZip(file)
	if got != want || (err == nil) != (werr == nil) {
		t.Errorf("%s: HashZip = %q, %v; dirhash.HashZip = %q, %v", what, got, err, want, werr)
	}
	return werr != nil
}

// TestHashZipAgrees checks HashZip against dirhash.HashZip: on files inflated
// from memory and streamed (past maxInflateInMemory), stored ones, empty ones,
// a repeated name, and on one-byte corruptions of a small zip (of every
// fourth byte: headers, directory and compressed data), where both must
// fail or both give the same hash.
func TestHashZipAgrees(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	source, err := os.ReadFile(filepath.Join(runtime.GOROOT(), "src", "fmt", "print.go"))
	if err != nil {
		t.Fatal(err)
	}
	const p = "example.com/m@v1.0.0/"
	entries := []zipEntry{
		{p + "go.mod", []byte("module example.com/m\n"), zip.Deflate},
		{p + "print.go", source, zip.Deflate},
		{p + "empty.go", nil, zip.Deflate},
		{p + "stored.bin", random(5000), zip.Store},
		{p + "big.bin", random(maxInflateInMemory + 4096), zip.Deflate}, // incompressible: streamed
		{p + "big.txt", bytes.Repeat(source, 3*maxInflateInMemory/len(source)), zip.Deflate},
		{p + "a/b/c.go", []byte(strings.Repeat("package c\n", 100)), zip.Deflate},
	}
	// Twice, so the second round runs on pooled inflaters and buffers.
	for round := range 2 {
		agree(t, writeZip(t, dir, "all.zip", entries), fmt.Sprint("round ", round))
	}
	agree(t, writeZip(t, dir, "repeated.zip", append(entries[:2:2], zipEntry{p + "go.mod", []byte("module other\n"), zip.Deflate})), "a repeated name")
	agree(t, writeZip(t, dir, "none.zip", nil), "no files")

	small := writeZip(t, dir, "small.zip", entries[:3])
	data, err := os.ReadFile(small)
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.zip")
	failures, tried := 0, 0
	for i := 0; i < len(data); i += 4 {
		tried++
		damaged := bytes.Clone(data)
		damaged[i] ^= 0x5a
		if err := os.WriteFile(bad, damaged, 0o644); err != nil {
			t.Fatal(err)
		}
		if agree(t, bad, fmt.Sprint("byte ", i, " flipped")) {
			failures++
		}
	}
	for _, n := range []int{0, 10, len(data) / 2, len(data) - 1} {
		if err := os.WriteFile(bad, data[:n], 0o644); err != nil {
			t.Fatal(err)
		}
		agree(t, bad, fmt.Sprint("truncated to ", n, " bytes"))
	}
	// Most corruptions must be caught, or the loop above proved little.
	if failures < tried/2 {
		t.Errorf("only %d of %d one-byte corruptions failed to hash", failures, tried)
	}
}

// BenchmarkHashZip hashes a zip of Go source (net/http's) with HashZip and
// with dirhash.HashZip; the ratio of the two is the inflater's gain.
func BenchmarkHashZip(b *testing.B) {
	files, err := filepath.Glob(filepath.Join(runtime.GOROOT(), "src", "net", "http", "*.go"))
	if err != nil || len(files) == 0 {
		b.Fatal("no Go source to zip:", err)
	}
	var entries []zipEntry
	size := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		entries = append(entries, zipEntry{"example.com/m@v1.0.0/" + filepath.Base(f), data, zip.Deflate})
		size += len(data)
	}
	file := writeZip(b, b.TempDir(), "src.zip", entries)
	for _, bc := range []struct {
		name string
		hash func(string) (string, error)
	}{
		{"modmirror", HashZip},
		{"dirhash", func(f string) (string, error) { return dirhash.HashZip(f, dirhash.Hash1) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bc.hash(file); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
