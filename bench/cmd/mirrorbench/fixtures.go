package main

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/modmirror/modmirror/bench/internal/benchutil"
	"github.com/modmirror/modmirror/internal/testupstream"
)

// The fixture modules of the local benchmarks.
const (
	smallPath = "example.com/bench/small" // a typical small module, with a version list
	bigPath   = "example.com/bench/big"   // one large zip of incompressible files
	version   = "v1.0.0"
)

// sizedZips are the modules, one version each, whose zips have the sizes
// of the hit benchmark's larger zips (the small module's is about 3 KB):
// one file of random bytes each, so that the zip is as large as its content.
var sizedZips = []struct {
	name string // as the tables print it
	path string
	size int // bytes of the data file
}{
	{"zip 32 KB", "example.com/bench/zip32k", 32_000},
	{"zip 300 KB", "example.com/bench/zip300k", 300_000},
	{"zip 3 MB", "example.com/bench/zip3m", 3_000_000},
}

// fixtures returns the fixture module versions: smallVersions versions of
// the small module (the list endpoint has something to list) and one version
// of the big module whose zip holds bigMiB files of 1 MiB of random bytes.
func fixtures(smallVersions, bigMiB int) []testupstream.Module {
	var mods []testupstream.Module
	for i := range smallVersions {
		mods = append(mods, testupstream.Module{
			Path:    smallPath,
			Version: fmt.Sprintf("v1.0.%d", i),
			Files: map[string]string{
				"go.mod":   "module " + smallPath + "\n\ngo 1.22\n",
				"LICENSE":  strings.Repeat("Permission is hereby granted, free of charge.\n", 20),
				"small.go": smallSource(i),
			},
		})
	}
	// A fixed seed: the same bytes on every run, so that a kept work
	// directory stays consistent with a new fixture upstream.
	rng := rand.NewChaCha8([32]byte{'m', 'o', 'd', 'm', 'i', 'r', 'r', 'o', 'r'})
	big := map[string]string{"go.mod": "module " + bigPath + "\n\ngo 1.22\n"}
	for i := range bigMiB {
		b := make([]byte, 1<<20)
		rng.Read(b)
		big[fmt.Sprintf("data/blob%03d.bin", i)] = string(b)
	}
	mods = append(mods, testupstream.Module{Path: bigPath, Version: version, Files: big})
	for _, z := range sizedZips {
		b := make([]byte, z.size)
		rng.Read(b)
		mods = append(mods, testupstream.Module{Path: z.path, Version: version, Files: map[string]string{
			"go.mod":   "module " + z.path + "\n\ngo 1.22\n",
			"data.bin": string(b),
		}})
	}
	return mods
}

// smallSource is a Go file of about 8 KiB whose zip entry compresses to
// about 4 KiB, as the source files of a small module do.
func smallSource(n int) string {
	rng := rand.New(rand.NewPCG(uint64(n), 1))
	words := []string{"ctx", "err", "buf", "path", "version", "return", "if", "nil", "for", "range",
		"string", "int", "len", "append", "make", "map", "func", "var", "const", "type"}
	var b strings.Builder
	fmt.Fprintf(&b, "// Package small is a benchmark fixture, version %d.\npackage small\n\n", n)
	for i := 0; b.Len() < 8<<10; i++ {
		fmt.Fprintf(&b, "// F%d is fixture code %x.\nfunc F%d(x int) int {\n", i, rng.Uint64(), i)
		for range 3 {
			fmt.Fprintf(&b, "\t_ = %q // %s %s %d\n", words[rng.IntN(len(words))]+words[rng.IntN(len(words))], words[rng.IntN(len(words))], words[rng.IntN(len(words))], rng.IntN(1<<20))
		}
		fmt.Fprintf(&b, "\treturn x * %d\n}\n\n", rng.IntN(1000))
	}
	return b.String()
}

// startUpstream starts the fixture upstream (GOPROXY and checksum database)
// in this process. It stops when tb's cleanups run.
func startUpstream(tb *benchutil.ProgramTB, mods []testupstream.Module) *testupstream.Server {
	return testupstream.New(tb, mods...)
}
