// Command originbench measures how long "go mod download" of a private
// module takes through modmirror, which fills it from its git repository
// (an --origin-rule), against GOPROXY=direct "go mod download" from the same
// repository, as issue 5 asks: "Time to serve the first and the second go
// mod download of a private module with 1,000 commits and 200 tags (cold
// clone, then warm)".
//
// It makes a bare repository corp.example/big with one git fast-import
// (fixed dates, so the same hashes on every run), serves it with git
// http-backend on 127.0.0.1, builds ./cmd/modmirror, and times the real go
// command (a fresh module cache every time) in these cases:
//
//   - cold: the first download of a tag (and, separately, of @latest)
//     through a mirror with an empty data directory: it clones the
//     repository, then builds the zip;
//   - warm: the same download again, with a new module cache: the mirror
//     answers from its store;
//   - new zip: another tag, not in the store, with the clone warm;
//   - direct: GOPROXY=direct with a fresh module cache, which fetches from
//     git every time, as a CI job without a cache does.
//
// Each case runs -n times (a new mirror for every cold run); the table
// shows medians, min and max, and the ratio mirror/direct of the medians.
// Everything stays on the loopback interface.
//
// Run it with bench/origin/run.sh.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/modmirror/modmirror/bench/internal/benchutil"
)

type bench struct {
	goBin   string
	work    string
	goCache string
	gs      *gitServer
	mc      mirrorConfig
	repo    repoInfo
	n       int
	keep    bool          // keep the mirrors' data directories
	quiet   time.Duration // left of -quiet-wait

	results map[string][]goRun // case name -> runs
	sums    map[string]string  // version -> h1: seen first
}

// The cases, in the order of the table.
const (
	caseColdTag    = "cold-tag"
	caseWarmTag    = "warm-tag"
	caseNewTag     = "new-tag"
	caseColdLatest = "cold-latest"
	caseWarmLatest = "warm-latest"
	caseFileTag    = "file-tag"
	caseDirectTag  = "direct-tag"
	caseDirectLat  = "direct-latest"
	caseDirectNew  = "direct-new-tag"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("originbench: ")
	os.Exit(run())
}

func run() int {
	b := &bench{results: map[string][]goRun{}, sums: map[string]string{}}
	flag.IntVar(&b.n, "n", 5, "runs of each case")
	spec := repoSpec{}
	flag.IntVar(&spec.commits, "commits", 1000, "commits on the branch main")
	flag.IntVar(&spec.tags, "tags", 200, "semver tags, spread evenly over the commits")
	flag.IntVar(&spec.goFiles, "go-files", 40, "Go files of about 3 KiB, one or two rewritten by each commit")
	dataKiB := flag.Int("data-kib", 32, "KiB of each of the 10 data files of random hex, one rewritten every 10th commit")
	rev := flag.String("rev", "", "build modmirror from this git `revision` (such as HEAD) rather than from the working tree")
	flag.StringVar(&b.mc.listTTL, "list-ttl", "1ms", "the mirror's --list-ttl; the default makes every list and @latest ask the origin, as after a minute with the mirror's defaults")
	flag.StringVar(&b.mc.fetchInterval, "fetch-interval", "-1s", "the mirror's --origin-fetch-interval (negative: ask the origin's refs on every list)")
	flag.DurationVar(&b.quiet, "quiet-wait", 30*time.Second, "longest time to wait, in all, for other work to leave the CPUs idle before each repetition")
	explain := flag.Bool("explain", true, "after the timed runs, trace one GOPROXY=direct download with go -x and print the git commands and their times")
	workDir := flag.String("work", "", "work directory (default: a new temporary directory, removed at the end)")
	keep := flag.Bool("keep", false, "keep the work directory (repository, the mirrors' data directories and logs)")
	mdOut := flag.String("o", "", "also write the table as Markdown to this `file`")
	flag.Parse()
	b.keep = *keep
	spec.dataSize = *dataKiB << 10
	if b.n < 1 || spec.tags < 4 || spec.commits < spec.tags {
		log.Print("want -n >= 1, -tags >= 4 and -commits >= -tags")
		return 2
	}

	var err error
	if b.work, err = makeWork(*workDir); err != nil {
		log.Print(err)
		return 1
	}
	if !*keep {
		defer benchutil.RemoveAll(b.work)
	}
	benchutil.OnInterrupt(func() {
		stopAll()
		if !*keep {
			benchutil.RemoveAll(b.work)
		}
	})
	defer stopAll()

	start := time.Now()
	if err := b.setup(*rev, spec); err != nil {
		log.Print(err)
		return 1
	}
	defer b.gs.close()
	if err := b.measure(); err != nil {
		log.Print(err)
		return 1
	}
	fmt.Printf("\n== results (%d runs each; %s; total %s)\n", b.n, time.Now().Format(time.RFC3339), time.Since(start).Round(time.Second))
	if runs := b.results[caseDirectTag]; len(runs) > 0 {
		fmt.Printf("zip of %s@%s: %.0f kB; the repository: %.1f MB packed\n", modPath, b.tagQuery(), float64(runs[0].zipSize)/1e3, float64(b.repo.packSize)/1e6)
	}
	fmt.Println()
	b.writeTable(os.Stdout, false)
	fmt.Println("(git sent: bytes the git server sent during a download, for the mirror until its background work ended;")
	fmt.Println("other work: CPU time of other processes during a run, from /proc at 10 ms resolution, rough for runs under 0.2 s)")
	fmt.Println()
	b.writeBreakdown(os.Stdout)
	if *explain {
		if err := b.explain(); err != nil {
			log.Print(err)
			return 1
		}
	}
	fmt.Printf("\nload average at the end: %s; CPU probe %s\n", benchutil.LoadAvg(), probe())
	if *mdOut != "" {
		var buf bytes.Buffer
		b.writeTable(&buf, true)
		if err := os.WriteFile(*mdOut, buf.Bytes(), 0o644); err != nil {
			log.Print(err)
			return 1
		}
	}
	if *keep {
		fmt.Println("work directory kept:", b.work)
	}
	return 0
}

func makeWork(dir string) (string, error) {
	if dir == "" {
		return os.MkdirTemp("", "originbench-")
	}
	if entries, _ := os.ReadDir(dir); len(entries) > 0 {
		return "", fmt.Errorf("-work %s: not empty", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	return filepath.Abs(dir)
}

// setup builds modmirror, makes and serves the repository, and prints what
// the figures depend on.
func (b *bench) setup(rev string, spec repoSpec) error {
	var err error
	if b.goBin, err = exec.LookPath("go"); err != nil {
		return err
	}
	out, err := exec.Command(b.goBin, "env", "GOMOD").Output()
	gomod := strings.TrimSpace(string(out))
	if err != nil || !strings.HasSuffix(gomod, "go.mod") {
		return fmt.Errorf("run from inside the modmirror module (go env GOMOD: %q, %v)", gomod, err)
	}
	root := filepath.Dir(gomod)
	b.printMachine(root, rev)

	t0 := time.Now()
	if b.mc.bin, err = buildMirror(b.goBin, root, rev, b.work); err != nil {
		return err
	}
	fmt.Printf("built modmirror in %s\n", time.Since(t0).Round(time.Millisecond))

	gitRoot := filepath.Join(b.work, "git")
	if b.repo, err = makeRepo(filepath.Join(gitRoot, repoName), spec); err != nil {
		return err
	}
	fmt.Printf("repository %s: %d commits, %d tags (%s .. %s), %d files at the tip; %d objects, %.1f MB packed; made in %s\n",
		modPath, spec.commits, len(b.repo.tags), b.repo.tags[0], b.repo.tags[len(b.repo.tags)-1],
		b.repo.files, b.repo.objects, float64(b.repo.packSize)/1e6, b.repo.made.Round(time.Millisecond))
	if b.gs, err = startGitServer(gitRoot); err != nil {
		return err
	}
	b.mc.gitURL = b.gs.url
	b.goCache = filepath.Join(b.work, "gocache")
	fmt.Printf("git server %s (git http-backend); mirror flags: --origin-rule 'corp.example/*=%s/{path}.git' --list-ttl %s --origin-fetch-interval %s\n",
		b.gs.url, b.gs.url, b.mc.listTTL, b.mc.fetchInterval)
	return nil
}

func (b *bench) printMachine(root, rev string) {
	model := "unknown CPU"
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	goVersion, _ := exec.Command(b.goBin, "version").Output()
	gitVersion, _ := exec.Command("git", "--version").Output()
	fmt.Printf("originbench: %s\n", strings.Join(os.Args[1:], " "))
	fmt.Printf("machine: %s, %d CPUs, Linux %s; %s; %s\n", model, runtime.NumCPU(), strings.TrimSpace(string(kernel)),
		strings.TrimSpace(string(goVersion)), strings.TrimSpace(string(gitVersion)))
	commit, err := exec.Command("git", "-C", root, "describe", "--always", "--dirty", "--exclude", "*").Output()
	from := "the working tree"
	if rev != "" {
		commit, err = exec.Command("git", "-C", root, "rev-parse", "--short", rev).Output()
		from = "-rev " + rev
	}
	if err != nil {
		commit = []byte("unknown")
	}
	uptime, _ := exec.Command("uptime").Output()
	fmt.Printf("modmirror: commit %s, built from %s\n", strings.TrimSpace(string(commit)), from)
	fmt.Printf("uptime: %s; CPUs busy over the last second: %.0f%%\n", strings.TrimSpace(string(uptime)), busyOver(time.Second)*100)
	fmt.Printf("work directory: %s\n", b.work)
}

// The versions asked for: a tag near the end, @latest (the highest tag,
// two commits before the tip), and for the new-zip case a different tag in
// each repetition.
func (b *bench) tagQuery() string    { return b.repo.tags[len(b.repo.tags)-2] }
func (b *bench) newTag(i int) string { return b.repo.tags[len(b.repo.tags)-3-i%(len(b.repo.tags)-3)] }

// measure runs every case b.n times, alternating whether the mirror or
// direct goes first.
func (b *bench) measure() error {
	// One untimed download of each kind first: the go command, git and
	// the file system caches are then as warm for the first timed run as
	// for the others.
	fmt.Printf("\n== warm-up (untimed; CPU probe %s: SHA-256 of 16 MiB, the best of 3)\n", probe())
	if _, err := b.direct("warm-up", b.tagQuery()); err != nil {
		return err
	}
	if err := b.mirrorRuns(-1); err != nil {
		return err
	}
	for i := range b.n {
		busy := waitQuiet(&b.quiet)
		fmt.Printf("\n== run %d of %d (CPUs %.0f%% busy before it; load average %s; CPU probe %s%s)\n", i+1, b.n, busy*100, benchutil.LoadAvg(), probe(), pressure())
		steps := []func() error{
			func() error { return b.mirrorRuns(i) },
			func() error { return b.directRuns(i) },
		}
		if i%2 == 1 {
			slices.Reverse(steps)
		}
		for _, step := range steps {
			if err := step(); err != nil {
				return err
			}
		}
	}
	return nil
}

// mirrorRuns runs the mirror's cases once: a new mirror for the tag (cold,
// warm, another tag, and file:// on its store), then a new one for @latest
// (cold, warm). Repetition -1 is the untimed warm-up.
func (b *bench) mirrorRuns(i int) error {
	tag := b.tagQuery()
	prefix := fmt.Sprintf("mirror-%d", i+1)
	if i < 0 {
		prefix = "mirror-warm-up"
	}
	data := filepath.Join(b.work, prefix+"-tag")
	m, err := startMirror(b.mc, data, data+".log")
	if err != nil {
		return err
	}
	defer m.stop()
	for _, c := range []struct{ name, query string }{
		{caseColdTag, tag},
		{caseWarmTag, tag},
		{caseNewTag, b.newTag(max(i, 0))},
	} {
		if err := b.viaMirror(i, c.name, m, c.query); err != nil {
			return err
		}
	}
	store := "file://" + filepath.ToSlash(filepath.Join(data, "cache", "download"))
	r, err := b.timed(i, caseFileTag, store, tag, nil)
	if err != nil {
		return err
	}
	b.print(i, caseFileTag, r)
	m.stop()
	b.removeData(data)

	data = filepath.Join(b.work, prefix+"-latest")
	if m, err = startMirror(b.mc, data, data+".log"); err != nil {
		return err
	}
	defer m.stop()
	for _, c := range []string{caseColdLatest, caseWarmLatest} {
		if err := b.viaMirror(i, c, m, "latest"); err != nil {
			return err
		}
	}
	m.stop()
	b.removeData(data)
	return nil
}

// removeData removes a mirror's data directory, unless -keep.
func (b *bench) removeData(dir string) {
	if !b.keep {
		benchutil.RemoveAll(dir)
	}
}

// viaMirror times one download through m and reads the mirror's log of it.
func (b *bench) viaMirror(i int, name string, m *mirror, query string) error {
	off := m.logSize()
	r, err := b.timed(i, name, m.url, query, m)
	if err != nil {
		return err
	}
	b.settle()
	bd, err := m.breakdownSince(off)
	if err != nil {
		return err
	}
	r.mirror = &bd
	_, now := b.gs.counters()
	r.gitBytes = now - r.gitStart
	if i >= 0 {
		b.results[name][len(b.results[name])-1] = r
	}
	b.print(i, name, r)
	return nil
}

func (b *bench) directRuns(i int) error {
	for _, c := range []struct{ name, query string }{
		{caseDirectTag, b.tagQuery()},
		{caseDirectLat, "latest"},
		{caseDirectNew, b.newTag(i)},
	} {
		r, err := b.timed(i, c.name, "direct", c.query, nil)
		if err != nil {
			return err
		}
		b.print(i, c.name, r)
	}
	return nil
}

func (b *bench) direct(name, query string) (goRun, error) {
	r, err := b.timed(-1, name, "direct", query, nil)
	if err == nil {
		b.print(-1, name, r)
	}
	return r, err
}

// timed runs one download, checks that a version always has the same
// hash, whoever served it, and records the run unless i < 0.
func (b *bench) timed(i int, name, proxy, query string, m *mirror) (goRun, error) {
	_, bytes0 := b.gs.counters()
	r, err := goModDownload(b.goBin, b.work, proxy, query, b.gs, b.goCache, false, m)
	if err != nil {
		return r, err
	}
	_, bytes1 := b.gs.counters()
	r.gitStart, r.gitBytes = bytes0, bytes1-bytes0
	want := query
	if query == "latest" {
		want = b.repo.tags[len(b.repo.tags)-1]
	}
	if r.version != want {
		return r, fmt.Errorf("%s: %s@%s resolved to %s, want %s", name, modPath, query, r.version, want)
	}
	if sum, ok := b.sums[r.version]; !ok {
		b.sums[r.version] = r.sum
	} else if sum != r.sum {
		return r, fmt.Errorf("%s: %s@%s has hash %s, but %s earlier", name, modPath, r.version, r.sum, sum)
	}
	if i >= 0 {
		b.results[name] = append(b.results[name], r)
	}
	return r, nil
}

// settle waits until the mirror's background work after a download (a
// recheck of a stored version at its origin) has stopped reaching the git
// server, so that it does not run into the next timed download.
func (b *bench) settle() {
	deadline := time.Now().Add(5 * time.Second)
	last, _ := b.gs.counters()
	quietSince := time.Now()
	for time.Now().Before(deadline) && time.Since(quietSince) < 300*time.Millisecond {
		time.Sleep(50 * time.Millisecond)
		if n, _ := b.gs.counters(); n != last {
			last, quietSince = n, time.Now()
		}
	}
}

func (b *bench) print(i int, name string, r goRun) {
	run := "warm-up"
	if i >= 0 {
		run = fmt.Sprintf("run %d", i+1)
	}
	fmt.Printf("  %-7s %-15s %-8s %7.3fs  git sent %7.1f kB  other work %3.0f%%", run, name, r.version, r.elapsed.Seconds(), float64(r.gitBytes)/1e3, r.other*100)
	if r.mirror != nil {
		fmt.Printf("\n          mirror: %s", r.mirror)
	}
	fmt.Println()
}

// explain traces one GOPROXY=direct download with go -x, to show where
// its time goes.
func (b *bench) explain() error {
	fmt.Printf("\n== where GOPROXY=direct spends its time: go mod download -x %s@%s, one run\n", modPath, b.tagQuery())
	r, err := goModDownload(b.goBin, b.work, "direct", b.tagQuery(), b.gs, b.goCache, true)
	if err != nil {
		return err
	}
	summary, total := gitTimes(r.output)
	fmt.Printf("wall %s; git commands %s in all: %s\n", ms(r.elapsed), ms(total), summary)
	for _, line := range gitCommands(r.output) {
		fmt.Println("  " + line)
	}
	return nil
}

func probe() string { return fmt.Sprintf("%.1f ms", cpuProbe().Seconds()*1000) }
