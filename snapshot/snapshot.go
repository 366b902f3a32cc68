package snapshot

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/modmirror/modmirror"
	"github.com/modmirror/modmirror/nar"
)

// DefaultJobs is the number of module versions fetched at once when
// Options.Jobs is 0. Fetching waits on the network, not the CPU, so it is
// well above GOMAXPROCS.
const DefaultJobs = 32

// Options configure a Run.
type Options struct {
	// Dirs are the project directories: each has a go.mod and go.sum, or a
	// go.work (and then go.work.sum and every workspace module's go.sum are
	// read). If empty, it is the current directory.
	Dirs []string

	// Out is the output directory. It is created if needed; if it exists,
	// it must look like a snapshot (see the package documentation).
	Out string

	// Upstream is where missing files are fetched from. If nil, nothing is
	// fetched: the snapshot can only be made from files already in Out.
	Upstream modmirror.Upstream

	// Toolchains, if not empty, adds to the snapshot the golang.org/toolchain
	// module versions (.zip, .mod and .info) of the Go toolchain that each
	// project's go.mod (or go.work) switches to, for each of these
	// platforms, so that GOTOOLCHAIN switching works offline too. See the
	// package documentation.
	Toolchains []Platform

	// Checker, if not nil, checks the toolchain modules, which no go.sum
	// line names, against a checksum database (normally sum.golang.org).
	// If nil, they are not verified here.
	Checker modmirror.Checker

	// Jobs is how many module versions are fetched at once; 0 means
	// DefaultJobs.
	Jobs int

	// Expect, if not empty, is the hash the snapshot must have. If it has
	// another, Run returns the Result and a *HashMismatchError.
	Expect string

	// Manifest, if not empty, is the file that the Manifest of the snapshot
	// is written to, normally ManifestFile(Out), unless the hash is not
	// Expect: the manifest found there from an earlier run then explains
	// the difference, and is left as it is for the next run.
	Manifest string

	// Progress, if not nil, receives a progress line every
	// ProgressInterval (default one second) and one at the end.
	// ProgressTerminal makes each line overwrite the previous one.
	Progress         io.Writer
	ProgressInterval time.Duration
	ProgressTerminal bool

	// preloaded holds go.mod files already fetched and verified
	// (module.Version to []byte), which the fetch takes rather than ask
	// the upstream again; nil for none.
	preloaded *sync.Map
}

// A Result describes a snapshot that Run made.
type Result struct {
	Out      string // the output directory, absolute
	Hash     string // nar.Hash of Out, "sha256-..."
	Modules  int    // module versions in the snapshot
	Files    int    // .info, .mod and .zip files in the snapshot
	Fetched  int    // files fetched from the upstream (or written, for .info)
	Reused   int    // files already in Out that were kept
	Bytes    int64  // bytes downloaded
	Removed  []string
	Skew     []Skew    // module paths at more than one version, sorted by path
	Manifest *Manifest // also written to Options.Manifest
}

// A Skew is a module path whose zip is in the snapshot at more than one
// version: projects that share a snapshot (or one project's go.sum) want
// different versions of it.
type Skew struct {
	Path     string
	Versions []SkewVersion // sorted by version
}

// A SkewVersion is one version of a Skew and the project directories whose
// go.sum lines name its zip, in the order of Options.Dirs.
type SkewVersion struct {
	Version  string
	Projects []string
}

// ManifestFile returns the name of the manifest of the snapshot in out:
// beside it, not in it.
func ManifestFile(out string) string {
	return filepath.Clean(out) + ".manifest"
}

// Hash returns the content hash of a snapshot tree: the Nix SRI hash of its
// NAR serialisation, "sha256-...".
func Hash(dir string) (string, error) {
	h, err := nar.Hash(dir)
	if err != nil {
		return "", fmt.Errorf("snapshot: hashing %s: %w", dir, err)
	}
	return h, nil
}

// stagingPrefix starts the name of a staging directory inside an output
// directory; no name in a snapshot starts with a dot.
const stagingPrefix = ".snapshot-staging-"

// makeStaging creates the directory for temporary files, which must be on
// out's filesystem so that they can be renamed into it: beside out if its
// parent is writable, else (as for a Nix build's $out, whose parent is the
// store) inside out, under a name that no snapshot file has, and that is
// removed before out is hashed.
func makeStaging(out string) (string, error) {
	staging, err := os.MkdirTemp(filepath.Dir(out), "."+filepath.Base(out)+".tmp-")
	if err == nil {
		return staging, nil
	}
	staging, err2 := os.MkdirTemp(out, stagingPrefix)
	if err2 != nil {
		return "", fmt.Errorf("snapshot: no staging directory: %w", errors.Join(err, err2))
	}
	return staging, nil
}

// maxErrors is how many fetch errors Run reports.
const maxErrors = 10

// Run makes Out the snapshot of the go.sum lines of the projects in Dirs,
// fetching what is missing, and returns its hash.
func Run(ctx context.Context, opts Options) (*Result, error) {
	if opts.Out == "" {
		return nil, errors.New("snapshot: no output directory")
	}
	out, err := filepath.Abs(opts.Out)
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	dirs := opts.Dirs
	if len(dirs) == 0 {
		dirs = []string{"."}
	}
	if err := checkOutside(out, dirs); err != nil {
		return nil, err
	}
	projects := make([]*project, len(dirs))
	all := newSumSet()
	for i, dir := range dirs {
		if projects[i], err = loadProject(dir); err != nil {
			return nil, err
		}
		if err := all.addAll(projects[i].sums); err != nil {
			return nil, err
		}
	}
	return run(ctx, opts, out, projects, all, nil)
}

// checkOutside fails if the output directory out contains a project
// directory.
func checkOutside(out string, dirs []string) error {
	for _, dir := range dirs {
		if pout, err := filepath.Abs(dir); err == nil && (pout == out || strings.HasPrefix(pout, out+string(filepath.Separator))) {
			return fmt.Errorf("snapshot: output directory %s contains the project %s", out, dir)
		}
	}
	return nil
}

// run makes out the snapshot of the go.sum lines all, which projects
// named, plus the files extra (slash-separated names relative to out,
// outside the module layout: the alternate module files of OneVersion).
func run(ctx context.Context, opts Options, out string, projects []*project, all *sumSet, extra map[string][]byte) (*Result, error) {
	versions := collectVersions(all)
	tvs, err := toolchainVersions(projects, opts.Toolchains, all)
	if err != nil {
		return nil, err
	}
	if len(tvs) > 0 {
		versions = append(versions, tvs...)
		slices.SortFunc(versions, func(a, b modVersion) int {
			return compareKeys(sumKey{Path: a.Path, Version: a.Version}, sumKey{Path: b.Path, Version: b.Version})
		})
	}

	if err := checkLayout(out); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(out, dirMode); err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	staging, err := makeStaging(out)
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(staging)

	f := &fetcher{
		up:      opts.Upstream,
		out:     out,
		staging: staging,
		prog:    &progress{total: int64(len(versions)), start: time.Now()},
		check:   opts.Checker,
		known:   opts.preloaded,
	}
	times, err := fetchAll(ctx, f, versions, cmp.Or(opts.Jobs, DefaultJobs), opts)
	if err != nil {
		return nil, err
	}

	removed, err := finish(out, staging, versions, extra, f.fetched.Load() > 0)
	if err != nil {
		return nil, err
	}
	// The staging directory may be inside out; it must be gone before out
	// is hashed.
	if err := os.RemoveAll(staging); err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	if err := setModeTime(out, dirMode); err != nil {
		return nil, err
	}
	hash, err := Hash(out)
	if err != nil {
		return nil, err
	}
	res := &Result{
		Out:      out,
		Hash:     hash,
		Modules:  len(versions),
		Fetched:  int(f.fetched.Load()),
		Reused:   int(f.reused.Load()),
		Bytes:    f.prog.bytes.Load(),
		Removed:  removed,
		Skew:     findSkew(versions, projects),
		Manifest: &Manifest{Hash: hash, Lines: manifestLines(versions, times)},
	}
	for _, v := range versions {
		res.Files++ // .info
		if v.ZipSum != "" {
			res.Files++
		}
		if v.ModSum != "" {
			res.Files++
		}
	}

	var prev *Manifest
	if opts.Manifest != "" {
		prev = readPreviousManifest(opts.Manifest)
	}
	mismatch := opts.Expect != "" && opts.Expect != hash
	if opts.Manifest != "" && !mismatch {
		// On a mismatch the manifest stays the expected snapshot's, so
		// that the next failing run can still say what changed.
		if err := writeManifest(opts.Manifest, res.Manifest); err != nil {
			return nil, err
		}
	}
	if mismatch {
		merr := &HashMismatchError{Expected: opts.Expect, Got: hash}
		if prev != nil {
			merr.Previous = prev.Hash
			if prev.Hash == opts.Expect {
				merr.Diff = DiffManifests(prev, res.Manifest)
				if merr.Diff == nil {
					merr.Diff = []string{}
				}
			}
		}
		return res, merr
	}
	return res, nil
}

// fetchAll runs f.fetch for every version with jobs workers, reporting
// progress as opts say, and returns the times of the .info files.
func fetchAll(ctx context.Context, f *fetcher, versions []modVersion, jobs int, opts Options) ([]time.Time, error) {
	if opts.Progress != nil {
		stop := make(chan struct{})
		reported := make(chan struct{})
		go func() {
			f.prog.report(opts.Progress, cmp.Or(opts.ProgressInterval, time.Second), opts.ProgressTerminal, stop)
			close(reported)
		}()
		defer func() { close(stop); <-reported }()
	}
	times := make([]time.Time, len(versions))
	errs := make([]error, len(versions))
	var g errgroup.Group
	g.SetLimit(jobs)
	for i := range versions {
		g.Go(func() error {
			if err := ctx.Err(); err != nil {
				errs[i] = err
				return nil
			}
			times[i], errs[i] = f.fetch(ctx, &versions[i])
			return nil
		})
	}
	g.Wait()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	var failed []error
	for _, err := range errs {
		if err != nil {
			failed = append(failed, err)
		}
	}
	if len(failed) > maxErrors {
		n := len(failed) - maxErrors
		failed = append(failed[:maxErrors], fmt.Errorf("snapshot: and %d more errors", n))
	}
	return times, errors.Join(failed...)
}

// collectVersions returns the module versions named by the lines of s,
// sorted by path and version.
func collectVersions(s *sumSet) []modVersion {
	var versions []modVersion
	for _, k := range sortedKeys(s.hash) {
		if n := len(versions); n == 0 || versions[n-1].Path != k.Path || versions[n-1].Version != k.Version {
			versions = append(versions, modVersion{Path: k.Path, Version: k.Version})
		}
		v := &versions[len(versions)-1]
		if k.GoMod {
			v.ModSum = s.hash[k]
		} else {
			v.ZipSum = s.hash[k]
		}
	}
	return versions
}

// findSkew returns the module paths whose zip is in the snapshot at more
// than one version, with the projects that want each.
func findSkew(versions []modVersion, projects []*project) []Skew {
	var skews []Skew
	for i := 0; i < len(versions); {
		j := i
		var s Skew
		for ; j < len(versions) && versions[j].Path == versions[i].Path; j++ {
			v := versions[j]
			if v.ZipSum == "" || v.unpinned {
				continue
			}
			sv := SkewVersion{Version: v.Version}
			for _, p := range projects {
				if _, ok := p.sums.hash[sumKey{Path: v.Path, Version: v.Version}]; ok {
					sv.Projects = append(sv.Projects, p.dir)
				}
			}
			s.Versions = append(s.Versions, sv)
		}
		if len(s.Versions) > 1 {
			s.Path = versions[i].Path
			skews = append(skews, s)
		}
		i = j
	}
	return slices.Clip(skews)
}
