package main

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The benchmark's private module: one repository with a long history.
const (
	modPath  = "corp.example/big"
	repoName = "big.git" // served at <git server>/big.git, as the origin rule {path}.git says
)

// A repoSpec says how large a history to make.
type repoSpec struct {
	commits  int // on the branch main
	tags     int // semver tags, one every commits/tags commits
	goFiles  int // Go files under gen/, one or two rewritten by every commit
	dataSize int // bytes of each of the data files, one rewritten every 10th commit
}

// firstDate is the date of the first commit; each further one is an hour
// later, so that hashes are the same on every run.
var firstDate = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

// A repoInfo describes the repository made.
type repoInfo struct {
	dir      string
	tags     []string // in commit order: the last is the highest
	packSize int64    // bytes of the packed history
	objects  int
	files    int // files in the tree of the last commit
	made     time.Duration
}

// tagName is the name of the k-th tag: v1.0.0, v1.0.1, ..., v1.0.19, v1.1.0,
// and so on, in increasing semver order.
func tagName(k int) string { return fmt.Sprintf("v1.%d.%d", k/20, k%20) }

// makeRepo creates a bare repository in dir with the history of spec,
// written with one git fast-import and then packed as a code host keeps
// it (git gc: one pack, deltas, a bitmap).
func makeRepo(dir string, spec repoSpec) (repoInfo, error) {
	start := time.Now()
	info := repoInfo{dir: dir}
	if err := git("", "init", "-q", "--bare", "-b", "main", dir); err != nil {
		return info, err
	}
	imp := exec.Command("git", "fast-import", "--quiet", "--done")
	imp.Env = gitEnv("GIT_DIR=" + dir)
	in, err := imp.StdinPipe()
	if err != nil {
		return info, err
	}
	var stderr bytes.Buffer
	imp.Stderr = &stderr
	if err := imp.Start(); err != nil {
		return info, err
	}
	w := bufio.NewWriterSize(in, 1<<20)
	info.tags, info.files = writeHistory(w, spec)
	err = w.Flush()
	in.Close()
	if werr := imp.Wait(); werr != nil || err != nil {
		return info, fmt.Errorf("git fast-import: %v %v\n%s", err, werr, stderr.Bytes())
	}
	if err := git(dir, "gc", "-q"); err != nil {
		return info, err
	}
	out, err := gitOutput(dir, "count-objects", "-v")
	if err != nil {
		return info, err
	}
	for _, line := range strings.Split(out, "\n") {
		k, v, _ := strings.Cut(line, ": ")
		n, _ := strconv.ParseInt(v, 10, 64)
		switch k {
		case "size-pack":
			info.packSize = n << 10
		case "in-pack":
			info.objects = int(n)
		}
	}
	info.made = time.Since(start)
	return info, nil
}

// writeHistory writes the fast-import stream of the history: every commit
// rewrites one or two Go files (new constants in every function), every
// 10th commit also a data file of random hex, and every commits/tags-th
// commit, starting a little after the first, gets the next tag, every
// other one annotated. The last commits after the last tag are untagged,
// as on a busy main branch. It returns the tags and the number of files at
// the end.
func writeHistory(w io.Writer, spec repoSpec) (tags []string, files int) {
	rng := rand.New(rand.NewChaCha8([32]byte{'c', 'o', 'r', 'p', '.', 'e', 'x', 'a', 'm', 'p', 'l', 'e'}))
	const dataFiles = 10
	ident := func(t time.Time) string {
		return fmt.Sprintf("Corp Developer <dev@corp.example> %d +0000", t.Unix())
	}
	inline := func(name, content string) {
		fmt.Fprintf(w, "M 100644 inline %s\ndata %d\n%s\n", name, len(content), content)
	}
	every := max(1, spec.commits/max(1, spec.tags))
	offset := min(2, every-1)
	for i := range spec.commits {
		date := firstDate.Add(time.Duration(i) * time.Hour)
		msg := fmt.Sprintf("change %d\n", i+1)
		fmt.Fprintf(w, "commit refs/heads/main\nmark :%d\nauthor %s\ncommitter %s\ndata %d\n%s", i+1, ident(date), ident(date), len(msg), msg)
		if i == 0 {
			inline("go.mod", "module "+modPath+"\n\ngo 1.21\n")
			inline("LICENSE", strings.Repeat("Copyright Corp. All rights reserved. Internal use only.\n", 12))
			inline("README.md", "# big\n\nA private module with a long history, made by bench/origin/cmd/originbench.\n")
			for f := range spec.goFiles {
				inline(goFileName(f), goFile(rng, f, 0))
			}
			for f := range dataFiles {
				inline(dataFileName(f), dataFile(rng, spec.dataSize))
			}
			files = 3 + spec.goFiles + dataFiles
		} else {
			fmt.Fprintf(w, "from :%d\n", i)
			for range 1 + i%2 {
				f := rng.IntN(spec.goFiles)
				inline(goFileName(f), goFile(rng, f, i))
			}
			if i%10 == 0 {
				inline(dataFileName(rng.IntN(dataFiles)), dataFile(rng, spec.dataSize))
			}
		}
		inline("big.go", fmt.Sprintf("// Package big is a private module with a long history.\npackage big\n\n// Change is the number of the last change.\nconst Change = %d\n", i+1))
		fmt.Fprintln(w)
		if len(tags) < spec.tags && i%every == offset {
			tag := tagName(len(tags))
			if len(tags)%2 == 0 {
				tmsg := "release " + tag + "\n"
				fmt.Fprintf(w, "tag %s\nfrom :%d\ntagger %s\ndata %d\n%s\n", tag, i+1, ident(date), len(tmsg), tmsg)
			} else {
				fmt.Fprintf(w, "reset refs/tags/%s\nfrom :%d\n\n", tag, i+1)
			}
			tags = append(tags, tag)
		}
	}
	fmt.Fprintln(w, "done")
	return tags, files
}

func goFileName(f int) string   { return fmt.Sprintf("gen/f%02d.go", f) }
func dataFileName(f int) string { return fmt.Sprintf("data/table%d.txt", f) }

// goFile is a Go file of about 3 KiB: twenty functions returning constants
// drawn from rng, so that a rewrite changes most of its lines.
func goFile(rng *rand.Rand, f, change int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "// Code generated for the benchmark; change %d. DO NOT EDIT.\n\npackage gen\n\n", change)
	for j := range 20 {
		fmt.Fprintf(&b, "// F%02d_%02d returns a value of table %d.\nfunc F%02d_%02d() uint64 {\n\treturn %#016x ^ %#016x\n}\n\n",
			f, j, j%10, f, j, rng.Uint64(), rng.Uint64())
	}
	return b.String()
}

// dataFile is n bytes of random hex in lines of 64 characters: it
// compresses to about half, and never deltas against its earlier versions.
func dataFile(rng *rand.Rand, n int) string {
	raw := make([]byte, 32)
	var b strings.Builder
	for b.Len() < n {
		for k := range raw {
			raw[k] = byte(rng.Uint32())
		}
		b.WriteString(hex.EncodeToString(raw))
		b.WriteByte('\n')
	}
	return b.String()
}

// gitEnv is the environment of the benchmark's own git commands (making the
// repository, and git http-backend): no system or user configuration.
func gitEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "GIT_") {
			continue
		}
		env = append(env, kv)
	}
	return append(append(env, "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL="+os.DevNull), extra...)
}

func git(dir string, args ...string) error {
	_, err := gitOutput(dir, args...)
	return err
}

// gitOutput runs git on the bare repository dir (none if "") and returns
// its output.
func gitOutput(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Env = gitEnv()
	if dir != "" {
		cmd.Env = append(cmd.Env, "GIT_DIR="+dir)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("git %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return strings.TrimSpace(stdout.String()), nil
}

// dirSize returns the total size of the regular files under dir.
func dirSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}
