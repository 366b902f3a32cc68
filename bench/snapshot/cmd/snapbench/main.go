// Command snapbench measures "modmirror snapshot" against "go mod download
// all" on the same project (bench/testdata/k8s, k8s.io/client-go v0.31.0),
// in the same run, and prints a table of medians and ratios:
//
//   - cold: empty output directory / empty module cache, fetching from the
//     upstream directly;
//   - cold with latency: the same through a loopback reverse proxy that
//     sleeps before forwarding each request (default 50 ms);
//   - warm: the output directory / module cache already complete, with the
//     upstream pointed at a counting loopback proxy, so that any request
//     made is seen;
//   - cold from a file:// upstream (the complete snapshot), which leaves
//     only each side's local work;
//   - hashing: "modmirror snapshot hash OUT", in MB/s of files in OUT.
//
// The go command runs with GOSUMDB=off: the snapshot verifies only against
// go.sum, so neither side asks a checksum database anything.
//
// Run it with bash bench/snapshot/run.sh, which builds modmirror first.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/modmirror/modmirror/bench/internal/benchutil"
)

type bench struct {
	modmirror string
	goBin     string
	project   string
	upstream  string
	repeat    int
	delay     time.Duration
	work      string
	jobs      int

	// lastCPU is the user+sys time of the last command timed.
	lastCPU time.Duration
}

func main() {
	var b bench
	var keep bool
	flag.StringVar(&b.modmirror, "modmirror", "", "modmirror `binary` (required)")
	flag.StringVar(&b.goBin, "go", "go", "go `command` measured as the baseline")
	flag.StringVar(&b.project, "project", "bench/testdata/k8s", "project `directory` with go.mod and go.sum")
	flag.StringVar(&b.upstream, "upstream", "https://proxy.golang.org", "upstream proxy `URL`")
	flag.IntVar(&b.repeat, "repeat", 3, "runs of each timed case; the median is reported")
	flag.DurationVar(&b.delay, "delay", 50*time.Millisecond, "latency added per upstream request in the latency case")
	flag.IntVar(&b.jobs, "jobs", 0, "modmirror snapshot --jobs (0: its default)")
	flag.BoolVar(&keep, "keep", false, "keep the work directory")
	flag.Parse()
	if b.modmirror == "" {
		fmt.Fprintln(os.Stderr, "snapbench: -modmirror is required")
		os.Exit(2)
	}
	var err error
	if b.work, err = os.MkdirTemp("", "snapbench-"); err != nil {
		fail(err)
	}
	if !keep {
		defer os.RemoveAll(b.work) // the go command runs with -modcacherw
	} else {
		fmt.Println("work directory:", b.work)
	}
	if err := b.run(); err != nil {
		if !keep {
			os.RemoveAll(b.work)
		}
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "snapbench:", err)
	os.Exit(1)
}

// row is one line of the result table.
type row struct {
	name             string
	base, snap       time.Duration
	baseNote, target string
	snapNote         string
}

func (b *bench) run() error {
	proj, err := b.copyProject()
	if err != nil {
		return err
	}
	slow, err := benchutil.StartProxy(b.upstream, b.delay, "", "")
	if err != nil {
		return err
	}
	defer slow.Close()
	counting, err := benchutil.StartProxy(b.upstream, 0, "", "")
	if err != nil {
		return err
	}
	defer counting.Close()

	var rows []row

	// Cold, direct to the upstream. Runs alternate between the two sides so
	// that a drift in the network hurts neither more.
	fmt.Printf("== cold, upstream %s\n", b.upstream)
	base, snap, err := b.cold(proj, b.upstream, nil)
	if err != nil {
		return err
	}
	rows = append(rows, row{name: "cold", base: base, snap: snap, target: "-"})

	fmt.Printf("== cold, +%v per request through %s\n", b.delay, slow.URL)
	var baseReq, snapReq [2]int64 // requests, bytes of the last run of each side
	base, snap, err = b.cold(proj, slow.URL, func(snapshot bool) {
		r, n := slow.Reset()
		if snapshot {
			snapReq = [2]int64{r, n}
		} else {
			baseReq = [2]int64{r, n}
		}
	})
	if err != nil {
		return err
	}
	rows = append(rows, row{
		name: fmt.Sprintf("cold, +%v/request", b.delay), base: base, snap: snap, target: "snapshot <= 0.5x",
		baseNote: fmt.Sprintf("%d req, %.1f MB", baseReq[0], mb(baseReq[1])),
		snapNote: fmt.Sprintf("%d req, %.1f MB", snapReq[0], mb(snapReq[1])),
	})

	// Warm: fill once more, then re-run on the complete result.
	fmt.Printf("== warm, upstream %s (counting requests)\n", counting.URL)
	out := filepath.Join(b.work, "warm-out")
	cache := filepath.Join(b.work, "warm-cache")
	if _, err := b.snapshot(proj, out, b.upstream); err != nil {
		return err
	}
	if _, err := b.goDownload(proj, cache, b.upstream); err != nil {
		return err
	}

	// Cold again, from the complete snapshot as a file:// upstream: no
	// network at all, so what is left is each side's local work.
	local := (&url.URL{Scheme: "file", Path: out}).String()
	fmt.Printf("== cold, upstream %s (no network)\n", local)
	base, snap, err = b.cold(proj, local, nil)
	if err != nil {
		return err
	}
	rows = append(rows, row{name: "cold, file:// upstream", base: base, snap: snap, target: "-", snapNote: "local work only"})

	counting.Reset()
	var baseWarm, snapWarm []time.Duration
	for i := 0; i < b.repeat; i++ {
		d, err := b.goDownload(proj, cache, counting.URL)
		if err != nil {
			return err
		}
		baseWarm = append(baseWarm, d)
		d, err = b.snapshot(proj, out, counting.URL)
		if err != nil {
			return err
		}
		snapWarm = append(snapWarm, d)
	}
	warmReq, _ := counting.Reset()
	mods, err := countModules(proj)
	if err != nil {
		return err
	}
	snapW := benchutil.Median(snapWarm)
	per100 := time.Duration(float64(snapW) * 100 / float64(mods.versions))
	rows = append(rows, row{
		name: "warm", base: benchutil.Median(baseWarm), snap: snapW,
		target:   fmt.Sprintf("100 modules <= 2s: %.2fs scaled", per100.Seconds()),
		snapNote: fmt.Sprintf("%d upstream req in all warm runs", warmReq),
	})

	// Hashing the complete snapshot.
	fmt.Println("== snapshot hash")
	files, size, err := benchutil.TreeSize(out)
	if err != nil {
		return err
	}
	// The tree is small (tens of MB), so the process's start-up matters:
	// hashing an empty directory measures it, and the CPU time (user+sys)
	// shows the throughput without the other load on the machine.
	empty := filepath.Join(b.work, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		return err
	}
	hashRuns := max(b.repeat, 5)
	var hashWall, hashCPU, emptyWall []time.Duration
	for i := 0; i < hashRuns; i++ {
		d, err := b.timed(nil, "", b.modmirror, "snapshot", "hash", out)
		if err != nil {
			return err
		}
		hashWall = append(hashWall, d)
		hashCPU = append(hashCPU, b.lastCPU)
		if d, err = b.timed(nil, "", b.modmirror, "snapshot", "hash", empty); err != nil {
			return err
		}
		emptyWall = append(emptyWall, d)
	}
	hashT, emptyT, cpuT := benchutil.Median(hashWall), benchutil.Median(emptyWall), benchutil.Median(hashCPU)

	cfiles, csize, err := benchutil.TreeSize(filepath.Join(cache, "cache", "download"))
	if err != nil {
		return err
	}
	_, xsize, err := benchutil.TreeSize(cache)
	if err != nil {
		return err
	}

	fmt.Println()
	fmt.Printf("project %s: %d go.sum lines (%d zip, %d go.mod), %d module versions, %d module paths\n",
		b.project, mods.zips+mods.mods, mods.zips, mods.mods, mods.versions, mods.paths)
	fmt.Printf("snapshot OUT: %d files, %.1f MB; go GOMODCACHE: cache/download %d files, %.1f MB; whole cache with extracted trees %.1f MB\n",
		files, mb(size), cfiles, mb(csize), mb(xsize))
	fmt.Printf("medians of %d runs; ratio = snapshot / go mod download all\n\n", b.repeat)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "case\tgo mod download all\tmodmirror snapshot\tratio\ttarget\tnotes")
	for _, r := range rows {
		notes := r.snapNote
		if r.baseNote != "" {
			notes = "go: " + r.baseNote + "; snapshot: " + r.snapNote
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.2fx\t%s\t%s\n", r.name, secs(r.base), secs(r.snap),
			r.snap.Seconds()/r.base.Seconds(), r.target, notes)
	}
	fmt.Fprintf(tw, "snapshot hash OUT\t-\t%s\t-\t>= 1000 MB/s: %.0f MB/s\t%.1f MB in %d files, median of %d\n",
		secs(hashT), mb(size)/hashT.Seconds(), mb(size), files, hashRuns)
	fmt.Fprintf(tw, "  less start-up\t-\t%s\t-\t>= 1000 MB/s: %.0f MB/s\thash of an empty directory: %s\n",
		secs(hashT-emptyT), mb(size)/(hashT-emptyT).Seconds(), secs(emptyT))
	fmt.Fprintf(tw, "  CPU time\t-\t%s\t-\t>= 1000 MB/s: %.0f MB/s\tuser+sys of the hash runs\n",
		secs(cpuT), mb(size)/cpuT.Seconds())
	return tw.Flush()
}

// cold runs both sides b.repeat times from empty, alternating, and returns
// their medians. after, if not nil, is called after each run.
func (b *bench) cold(proj, upstream string, after func(snapshot bool)) (base, snap time.Duration, err error) {
	var bs, ss []time.Duration
	for i := 0; i < b.repeat; i++ {
		cache := filepath.Join(b.work, fmt.Sprintf("cold-cache-%d", i))
		d, err := b.goDownload(proj, cache, upstream)
		if err != nil {
			return 0, 0, err
		}
		os.RemoveAll(cache)
		bs = append(bs, d)
		if after != nil {
			after(false)
		}
		out := filepath.Join(b.work, fmt.Sprintf("cold-out-%d", i))
		d, err = b.snapshot(proj, out, upstream)
		if err != nil {
			return 0, 0, err
		}
		os.RemoveAll(out)
		os.Remove(out + ".manifest")
		ss = append(ss, d)
		if after != nil {
			after(true)
		}
	}
	return benchutil.Median(bs), benchutil.Median(ss), nil
}

func (b *bench) snapshot(proj, out, upstream string) (time.Duration, error) {
	args := []string{"snapshot", proj, "-o", out, "--upstream", upstream, "-q"}
	if b.jobs > 0 {
		args = append(args, "--jobs", fmt.Sprint(b.jobs))
	}
	return b.timed(cleanEnv("GOPROXY="+upstream), "", b.modmirror, args...)
}

// goDownload runs "go mod download all" in proj with the module cache in
// cache. "all" because go.mod says go 1.22: with no arguments, the go
// command downloads only the modules go.mod requires explicitly.
func (b *bench) goDownload(proj, cache, upstream string) (time.Duration, error) {
	env := cleanEnv(
		"GOPROXY="+upstream,
		"GOSUMDB=off",
		"GOFLAGS=-modcacherw",
		"GOTOOLCHAIN=local",
		"GOENV=off",
		"GOWORK=off",
		"GOMODCACHE="+cache,
		"GOPATH="+filepath.Join(b.work, "gopath"),
	)
	return b.timed(env, proj, b.goBin, "mod", "download", "all")
}

// timed runs a command and returns its wall time.
func (b *bench) timed(env []string, dir, name string, args ...string) (time.Duration, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	if env != nil {
		cmd.Env = env
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if cmd.ProcessState != nil {
		b.lastCPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	if err != nil {
		return 0, fmt.Errorf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out.Bytes())
	}
	fmt.Printf("  %6.2fs  %s %s\n", d.Seconds(), filepath.Base(name), strings.Join(args, " "))
	return d, nil
}

// copyProject copies go.mod, go.sum and the Go files of the project into
// the work directory, so that nothing the go command writes lands in the
// repository.
func (b *bench) copyProject() (string, error) {
	dst := filepath.Join(b.work, "project")
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return "", err
	}
	ents, err := os.ReadDir(b.project)
	if err != nil {
		return "", err
	}
	for _, e := range ents {
		n := e.Name()
		if e.IsDir() || !(n == "go.mod" || n == "go.sum" || strings.HasSuffix(n, ".go")) {
			continue
		}
		data, err := os.ReadFile(filepath.Join(b.project, n))
		if err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(dst, n), data, 0o644); err != nil {
			return "", err
		}
	}
	if _, err := os.Stat(filepath.Join(dst, "go.sum")); err != nil {
		return "", fmt.Errorf("%s has no go.sum: generate it with bash bench/run.sh or go mod tidy", b.project)
	}
	return dst, nil
}

type moduleCount struct{ zips, mods, versions, paths int }

// countModules counts the go.sum lines of proj and the module versions and
// paths they name.
func countModules(proj string) (moduleCount, error) {
	data, err := os.ReadFile(filepath.Join(proj, "go.sum"))
	if err != nil {
		return moduleCount{}, err
	}
	var c moduleCount
	versions, paths := map[string]bool{}, map[string]bool{}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		v, isMod := strings.CutSuffix(f[1], "/go.mod")
		if isMod {
			c.mods++
		} else {
			c.zips++
		}
		versions[f[0]+"@"+v] = true
		paths[f[0]] = true
	}
	c.versions, c.paths = len(versions), len(paths)
	return c, nil
}

// cleanEnv returns the environment without GO* variables, plus kv.
func cleanEnv(kv ...string) []string {
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "GO") && !strings.HasPrefix(e, "MODMIRROR_") {
			env = append(env, e)
		}
	}
	return append(env, kv...)
}

func mb(n int64) float64 { return float64(n) / 1e6 }

func secs(d time.Duration) string { return fmt.Sprintf("%.2fs", d.Seconds()) }
