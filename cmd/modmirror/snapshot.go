package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/modmirror/modmirror/checksum"
	"github.com/modmirror/modmirror/fsstore"
	"github.com/modmirror/modmirror/internal/goenv"
	"github.com/modmirror/modmirror/snapshot"
	"github.com/modmirror/modmirror/upstream"
	"golang.org/x/mod/module"
)

type snapshotCommand struct {
	out      string
	manifest string
	upstream string
	jobs     int
	expect   string
	printEnv bool
	quiet    bool
	// toolchain is the --toolchain platform list, sumdb the database that
	// verifies toolchain modules, which no go.sum line names.
	toolchain string
	sumdb     string

	// One version per module: oneVersion turns it on; pins, nosumdb,
	// check and checkTest refine it.
	oneVersion bool
	pins       pinList
	nosumdb    string
	check      bool
	checkVet   bool
	checkTest  bool
	reportFile string

	// stdout and stderr default to os.Stdout and os.Stderr; tests set them.
	stdout, stderr io.Writer
}

func (c *snapshotCommand) flags() *commandFlags {
	fs := newFlags("snapshot", "modmirror snapshot [flags] [dir ...] -o OUT\n       modmirror snapshot --one-version [--pin module@version ...] [--check] [dir | module@version ...] -o OUT\n       modmirror snapshot hash OUT", `
Makes OUT a deterministic offline copy of the dependencies of the Go projects
in the directories (default "."): for every go.sum line, the module zip or
go.mod file, verified against the line, plus an .info file per version and a
list file per module, in the module cache layout that GOPROXY=file://OUT
serves. A directory with a go.work file is a workspace: the go.sum files of
all its modules and its go.work.sum are read. Files already in OUT that match
go.sum are kept; files go.sum does not name are removed.

The last line printed is the content hash of OUT (a Nix SRI sha256 hash of
its NAR serialisation), unless --print-env adds the build environment after
it. "modmirror snapshot hash OUT" prints the hash of an existing snapshot.

With --toolchain, the snapshot also holds the Go toolchain that go.mod's
toolchain line (else its go line) selects, for each platform given; go.sum has
no line for it, so it is checked against the checksum database (--sumdb)
instead, and --print-env prints GOTOOLCHAIN=auto rather than local.

With --one-version, the projects (directories, or applications named as
module@version and fetched through the upstream) get one version of each
module together: what the go command selects for a module that requires
everything they require, unless --pin says otherwise. OUT holds those
versions, and OUT/modfiles/<project>.mod and .sum: each project's go.mod
and go.sum under the chosen versions, its own files untouched. Build with
them from OUT with every hash check on:

	GOPROXY=file://OUT GOFLAGS=-mod=mod GOSUMDB=off go build -modfile=OUT/modfiles/<project>.mod ./...

The hashes come from the checksum database (--sumdb), or, for paths it
must not see (--nosumdb) or versions it does not know, from the projects'
go.sum files; never from a download alone. --check then builds (and vets)
every project that way, without network where it can, and exits 1 if any
fails, naming the modules whose version changed for it.`)
	fs.StringVar(&c.out, "out", "", "output `directory` (required)")
	fs.StringVar(&c.manifest, "manifest", "", "manifest `file` describing the snapshot, read to explain an --expect mismatch and then rewritten; default <output directory>.manifest, off for none")
	fs.StringVar(&c.upstream, "upstream", defaultUpstream(), "upstream proxies in GOPROXY `syntax`, or off to only reuse what the output directory holds; default $GOPROXY")
	fs.IntVar(&c.jobs, "jobs", snapshot.DefaultJobs, "module versions fetched at once")
	fs.StringVar(&c.expect, "expect", "", "fail unless the snapshot's hash is this `hash` (sha256-...), and say which modules differ when the manifest of the expected snapshot is at hand")
	fs.BoolVar(&c.printEnv, "print-env", false, "after the hash, print the environment for building offline from the snapshot, one VAR=value a line")
	fs.BoolVar(&c.quiet, "quiet", false, "print no progress")
	fs.StringVar(&c.toolchain, "toolchain", "", "also fetch the golang.org/toolchain module that each project's go.mod (or go.work) switches to, for these comma-separated `platforms` (GOOS/GOARCH, such as linux/amd64,darwin/arm64), so that GOTOOLCHAIN switching works offline")
	fs.StringVar(&c.sumdb, "sumdb", defaultSumDB(), "checksum database that verifies --toolchain modules, as GOSUMDB (`name[+key]`), reached through the upstream's /sumdb/; off to not verify them; default $GOSUMDB")
	fs.BoolVar(&c.oneVersion, "one-version", false, "choose one version of each module for all the projects together, and write each project's module and sum files for it in OUT/modfiles")
	fs.Var(&c.pins, "pin", "with --one-version, use this `module@version` whatever selection says (repeat the flag for more)")
	fs.StringVar(&c.nosumdb, "nosumdb", joinPatterns(goenv.Get("GONOSUMDB"), goenv.Get("GOPRIVATE")), "with --one-version, module path `patterns` (GOPRIVATE syntax) never sent to the checksum database: their hashes come from the projects' go.sum files; default $GONOSUMDB,$GOPRIVATE")
	fs.BoolVar(&c.check, "check", false, "with --one-version, build and vet every project from OUT alone with its module file, and exit 1 if any fails")
	fs.BoolVar(&c.checkVet, "check-vet", true, "with --check, also run go vet (its findings in a project's own code fail the check too; --check-vet=false for the build alone)")
	fs.BoolVar(&c.checkTest, "check-test", false, "with --check, also run each project's tests")
	fs.StringVar(&c.reportFile, "report", "", "with --one-version, the JSON `file` to write the report to (versions chosen, skew before, pins, changes per project, NAR hash and licenses per module); default <output directory>.report.json, off for none")
	fs.shortName("out", "o")
	fs.shortName("quiet", "q")
	return fs
}

// pinList is the value of --pin: module@version, repeated.
type pinList map[string]string

func (p *pinList) String() string {
	var s []string
	for path, v := range *p {
		s = append(s, path+"@"+v)
	}
	slices.Sort(s)
	return strings.Join(s, ",")
}

func (p *pinList) Set(v string) error {
	path, version, ok := strings.Cut(v, "@")
	if !ok {
		return fmt.Errorf("want module@version")
	}
	if err := module.Check(path, version); err != nil {
		return err
	}
	if version != module.CanonicalVersion(version) {
		return fmt.Errorf("%s is not a canonical version (such as v1.2.3)", version)
	}
	if *p == nil {
		*p = make(pinList)
	}
	if old, ok := (*p)[path]; ok && old != version {
		return fmt.Errorf("%s is pinned twice (%s, %s)", path, old, version)
	}
	(*p)[path] = version
	return nil
}

// Run makes a snapshot, or with "hash" prints the hash of one.
func (c *snapshotCommand) Run(ctx context.Context, args []string) error {
	if c.stdout == nil {
		c.stdout = os.Stdout
	}
	if c.stderr == nil {
		c.stderr = os.Stderr
	}
	if len(args) > 0 && args[0] == "hash" {
		return c.runHash(args[1:])
	}
	dirs, err := c.flags().parse(args, anyArgs)
	if err != nil {
		return err
	}
	if c.out == "" {
		return usageError{err: errors.New("no output directory: use -o OUT")}
	}
	if c.jobs < 1 {
		return usageError{err: fmt.Errorf("--jobs %d: must be at least 1", c.jobs)}
	}
	if c.oneVersion {
		return c.runOneVersion(ctx, dirs)
	}
	if len(c.pins) > 0 || c.check || c.checkTest || c.reportFile != "" {
		return usageError{err: errors.New("--pin, --check, --check-test and --report need --one-version")}
	}
	for _, d := range dirs {
		if strings.Contains(d, "@") {
			return usageError{err: fmt.Errorf("%s: applications named as module@version need --one-version", d)}
		}
	}
	platforms, err := snapshot.ParsePlatforms(c.toolchain)
	if err != nil {
		return usageError{err: err}
	}
	opts := snapshot.Options{Dirs: dirs, Out: c.out, Jobs: c.jobs, Expect: c.expect, Manifest: c.manifest, Toolchains: platforms}
	switch c.manifest {
	case "":
		opts.Manifest = snapshot.ManifestFile(c.out)
	case "off":
		opts.Manifest = ""
	}
	if strings.TrimSpace(c.upstream) != "off" {
		up, err := upstream.Parse(c.upstream, upstream.Options{UserAgent: "modmirror/" + version()})
		if err != nil {
			return usageError{err: err}
		}
		opts.Upstream = up
		if len(platforms) > 0 {
			checker, cleanup, err := c.checker(up)
			if err != nil {
				return err
			}
			defer cleanup()
			if checker != nil {
				opts.Checker = checker
			}
		}
	}
	if !c.quiet {
		opts.Progress = c.stderr
		opts.ProgressTerminal = isTerminal(c.stderr)
	}
	res, err := snapshot.Run(ctx, opts)
	if res != nil {
		c.report(res)
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(c.stdout, res.Hash)
	if c.printEnv {
		for _, kv := range buildEnv(res.Out, len(platforms) > 0) {
			fmt.Fprintln(c.stdout, kv)
		}
	}
	return nil
}

// checker returns the checksum database client that verifies toolchain
// modules (and gives --one-version its hashes), reached through up, or nil
// (with a warning) if --sumdb is off, and a function that removes its
// state. The state (the database's latest tree head and tiles) lives for
// one run only: a snapshot is made rarely, and its result is pinned by its
// hash anyway.
func (c *snapshotCommand) checker(up *upstream.Chain) (*checksum.Verifier, func(), error) {
	if strings.TrimSpace(c.sumdb) == "off" {
		fmt.Fprintln(c.stderr, "snapshot: --sumdb off: toolchain modules are not verified")
		return nil, func() {}, nil
	}
	db, err := proxiedSumDB(c.sumdb)
	if err != nil {
		return nil, nil, usagef("--sumdb: %v", err)
	}
	dir, err := os.MkdirTemp("", "modmirror-snapshot-sumdb-")
	if err != nil {
		return nil, nil, err
	}
	cleanup := func() { os.RemoveAll(dir) }
	store, err := fsstore.New(filepath.Join(dir, "store"))
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	v, err := checksum.NewVerifier(checksum.Config{Name: db.Name, Key: db.Key, Remote: up, Store: store, StateDir: filepath.Join(dir, "state")})
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	return v, func() { v.Close(); cleanup() }, nil
}

// runHash prints the hash of an existing snapshot.
func (c *snapshotCommand) runHash(args []string) error {
	fs := newFlags("snapshot hash", "modmirror snapshot hash OUT", "Prints the content hash of the snapshot in OUT, as modmirror snapshot prints it.")
	dirs, err := fs.parse(args, 1)
	if err != nil {
		return err
	}
	if len(dirs) != 1 {
		return usageError{cmd: "snapshot hash", err: errors.New("want the snapshot's directory")}
	}
	h, err := snapshot.Hash(dirs[0])
	if err != nil {
		return err
	}
	fmt.Fprintln(c.stdout, h)
	return nil
}

// report prints what a snapshot run found worth saying, on stderr.
func (c *snapshotCommand) report(res *snapshot.Result) {
	if !c.quiet {
		fmt.Fprintf(c.stderr, "snapshot: %d module versions, %d files (%d fetched, %d reused), %d removed\n",
			res.Modules, res.Files, res.Fetched, res.Reused, len(res.Removed))
	}
	if len(res.Skew) > 0 {
		fmt.Fprintln(c.stderr, "snapshot: module paths at more than one version:")
		for _, s := range res.Skew {
			fmt.Fprintf(c.stderr, "\t%s\n", s.Path)
			for _, v := range s.Versions {
				fmt.Fprintf(c.stderr, "\t\t%s\twanted by %s\n", v.Version, strings.Join(v.Projects, ", "))
			}
		}
	}
}

// buildEnv returns the environment for building offline from the snapshot
// in out. Everything that could make the go command reach the network, or
// trust something other than go.sum, is set:
//
//   - GOPROXY names the snapshot only: no "direct", so no VCS access.
//   - GOSUMDB=off: a sandbox cannot reach a checksum database, and needs
//     none: the go command still checks every file against go.sum, the
//     lines the snapshot was made from. GONOSUMDB, GOPRIVATE and GONOPROXY
//     are emptied so that no pattern from the outside sends a module
//     elsewhere.
//   - GOFLAGS=-mod=mod: use the module cache rather than a vendor directory,
//     and allow go.mod to be read and completed from the snapshot.
//   - GOTOOLCHAIN=local: never download a toolchain; a go.mod that asks for
//     a newer one fails clearly instead. With --toolchain (toolchains set),
//     GOTOOLCHAIN=auto: the toolchain go.mod asks for is in the snapshot.
//   - GOINSECURE is emptied, as nothing is fetched over the network.
func buildEnv(out string, toolchains bool) []string {
	gotoolchain := "GOTOOLCHAIN=local"
	if toolchains {
		gotoolchain = "GOTOOLCHAIN=auto"
	}
	return []string{
		"GOPROXY=" + (&url.URL{Scheme: "file", Path: out}).String(),
		"GOFLAGS=-mod=mod",
		"GOSUMDB=off",
		"GONOSUMDB=",
		"GOPRIVATE=",
		"GONOPROXY=",
		"GOINSECURE=",
		gotoolchain,
	}
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
