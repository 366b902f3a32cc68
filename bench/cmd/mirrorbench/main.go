// Command mirrorbench measures modmirror against baselines measured in the
// same run on the same machine, and prints a table of ratios and targets:
//
//   - warm requests per second for a small zip and an .info, against nginx
//     serving the same store directory as static files (load from wrk);
//   - /@v/list requests per second within the list TTL;
//   - the transfer rate of a 100 MiB zip to one client, against nginx;
//   - the memory (RSS) of the mirror while 32 clients download that zip,
//     cold (one fill from the upstream) and warm;
//   - "go mod download all" of the module graph of k8s.io/client-go, warm
//     (against GOPROXY=file:// on the mirror's store) and cold (an empty
//     mirror filling from proxy.golang.org, against proxy.golang.org
//     itself).
//
// The local parts use a fixture upstream with its own checksum database
// (internal/testupstream) in this process; the last part needs the real
// proxy, and is skipped with a reason when it cannot be reached.
//
// Run it with bench/run.sh, which installs nginx and wrk if they are
// missing. It never asserts timings: it reports them.
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
	"strconv"
	"strings"
	"time"

	"github.com/modmirror/modmirror/bench/internal/benchutil"
	"github.com/modmirror/modmirror/internal/testcert"
)

type bench struct {
	root, work                                      string
	goBin, mirrorBin, gostaticBin, nginxBin, wrkBin string

	threads, conns int
	dur, warmup    time.Duration
	repeat         int
	pin            bool
	rssClients     int
	bigMiB         int
	k8sRuns        int
	regenGoSum     bool
	latency        time.Duration   // added per upstream request in the delayed cold runs
	graphs         map[string]bool // graphs of the network part
	clientTmpfs    string          // directory on tmpfs for the go command's module caches, or ""
	spent          []string        // data directories of finished cold runs, removed after the last
	profile        bool
	rev            string // git revision to build modmirror from; empty: the working tree
	quietWait      time.Duration
	ca             *testcert.CA // of the HTTPS servers
	certBundle     string       // the system's roots and ca's certificate, for SSL_CERT_FILE

	rows      []row
	breakdown []breakdownRow
	notes     []string
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("mirrorbench: ")
	os.Exit(run())
}

func run() int {
	b := &bench{}
	flag.IntVar(&b.threads, "t", 2, "wrk threads")
	flag.IntVar(&b.conns, "c", 64, "wrk connections")
	flag.DurationVar(&b.dur, "d", 10*time.Second, "duration of each measured load (wrk run, single-client transfer)")
	flag.DurationVar(&b.warmup, "warmup", 2*time.Second, "unmeasured wrk run before the first measured one of each kind")
	flag.IntVar(&b.repeat, "repeat", 3, "measured runs per server for the compared loads; the table shows medians")
	flag.BoolVar(&b.pin, "pin", false, "pin servers to CPU 0 and wrk to CPU 1 (run.sh pins this program to CPU 1); skips the go mod download part")
	flag.IntVar(&b.rssClients, "rss-clients", 32, "concurrent clients of the memory measurement")
	flag.IntVar(&b.bigMiB, "big-mib", 100, "size of the large zip's content in MiB")
	flag.IntVar(&b.k8sRuns, "k8s-runs", 3, "runs of each go mod download measurement")
	flag.BoolVar(&b.regenGoSum, "regen-gosum", false, "regenerate the graphs' go.sum files (bench/testdata/*/go.sum) with the real proxy")
	flag.DurationVar(&b.latency, "latency", 50*time.Millisecond, "latency added to every upstream request in the delayed cold runs (0: no such runs)")
	flag.StringVar(&b.clientTmpfs, "client-tmpfs", "/dev/shm", "tmpfs directory for the go command's module caches in the go mod download part (\"\": the work directory)")
	graphList := flag.String("graphs", "k8s,service", "graphs of the go mod download part, from: k8s, service")
	flag.BoolVar(&b.profile, "profile", false, "record a CPU profile of the mirror with perf under the .info and small zip loads")
	flag.DurationVar(&b.quietWait, "quiet-wait", 3*time.Minute, "longest time to wait, in all, for other work to leave the CPUs idle before measurements")
	skipLocal := flag.Bool("skip-local", false, "skip the local parts: run only the go mod download part")
	skipK8s := flag.Bool("skip-k8s", false, "skip the go mod download part, which needs the real proxy")
	requireNet := flag.Bool("require-network", false, "exit 1 if the go mod download part cannot run")
	failOnMiss := flag.Bool("fail-on-miss", false, "exit 1 if a target is missed")
	flag.StringVar(&b.rev, "rev", "", "build modmirror from this git `revision` (such as HEAD) rather than from the working tree")
	workDir := flag.String("work", "", "work directory (default: a new temporary directory)")
	keep := flag.Bool("keep", false, "keep the work directory: store, logs, nginx config, profiles")
	mdOut := flag.String("o", "", "also write the table as Markdown to this file")
	flag.Parse()
	if b.clientTmpfs != "" {
		if fi, err := os.Stat(b.clientTmpfs); err != nil || !fi.IsDir() {
			fmt.Printf("-client-tmpfs %s: not a directory; the go command's module caches go in the work directory\n", b.clientTmpfs)
			b.clientTmpfs = ""
		}
	}
	b.graphs = map[string]bool{}
	for _, g := range strings.Split(*graphList, ",") {
		if !slices.ContainsFunc(graphs, func(x graph) bool { return x.name == g }) {
			log.Printf("-graphs: unknown graph %q", g)
			return 2
		}
		b.graphs[g] = true
	}

	tb := &benchutil.ProgramTB{Program: "mirrorbench"}
	defer tb.RunCleanups()
	if err := b.setup(*workDir); err != nil {
		log.Print(err)
		if b.work != "" && !*keep {
			benchutil.RemoveAll(b.work)
		}
		return 1
	}
	if !*keep {
		defer benchutil.RemoveAll(b.work)
	}
	// On an interrupt (or a closed output pipe), stop the servers started
	// so far and clean up before exiting.
	benchutil.OnInterrupt(func() {
		stopAll()
		if !*keep {
			benchutil.RemoveAll(b.work)
		}
	})
	fmt.Printf("mirrorbench: %s\n", strings.Join(os.Args[1:], " "))
	b.printMachine()
	start := time.Now()
	if !*skipLocal {
		if err := b.local(tb); err != nil {
			log.Print(err)
			return 1
		}
	}
	code := 0
	switch {
	case *skipK8s:
		b.skipped("skipped (-skip-k8s)")
	case b.pin:
		b.skipped("skipped (-pin: the go command would run on one CPU)")
	default:
		if err := b.network(); err != nil {
			fmt.Printf("SKIPPED the go mod download part: %v\n", err)
			b.skipped("skipped: " + firstLine(err.Error()))
			if *requireNet {
				code = 1
			}
		}
	}

	fmt.Printf("\n== results (%s, total %s)\n\n", time.Now().Format(time.RFC3339), time.Since(start).Round(time.Second))
	writeTable(os.Stdout, b.rows, false)
	if len(b.breakdown) > 0 {
		fmt.Println("\nbreakdown of the small-file figures (modmirror and nginx: medians from above; Go baselines: one run each):")
		writeBreakdown(os.Stdout, b.breakdown, false)
	}
	fmt.Println()
	for _, n := range b.notes {
		fmt.Println("note:", n)
	}
	fmt.Printf("load average at the end: %s\n", loadAvg())
	if *mdOut != "" {
		var buf bytes.Buffer
		writeTable(&buf, b.rows, true)
		fmt.Fprintln(&buf)
		writeBreakdown(&buf, b.breakdown, true)
		for _, n := range b.notes {
			fmt.Fprintln(&buf, "\nNote:", n)
		}
		if err := os.WriteFile(*mdOut, buf.Bytes(), 0o644); err != nil {
			log.Print(err)
			return 1
		}
	}
	if *keep {
		fmt.Println("work directory kept:", b.work)
	}
	if *failOnMiss {
		for _, r := range b.rows {
			if r.verdict == "FAIL" {
				code = 1
			}
		}
	}
	return code
}

func (b *bench) skipped(why string) {
	for _, g := range graphs {
		if b.graphs[g.name] {
			b.rows = append(b.rows, row{metric: "go mod download all (cold, warm), " + g.title,
				mirror: "—", baseline: "—", ratio: "—", target: "<= 1.10x", verdict: "skipped", detail: why})
		}
	}
	b.rows = append(b.rows, row{metric: "modmirror snapshot hash OUT", mirror: "—", baseline: "—", ratio: "—",
		target: ">= 1000 MB/s", verdict: "skipped", detail: why})
}

// setup finds the module root and the tools, creates the work directory and
// builds modmirror.
func (b *bench) setup(workDir string) error {
	var err error
	if b.goBin, err = exec.LookPath("go"); err != nil {
		return err
	}
	out, err := exec.Command(b.goBin, "env", "GOMOD").Output()
	if err != nil || !strings.HasSuffix(strings.TrimSpace(string(out)), "go.mod") {
		return fmt.Errorf("run from inside the modmirror module (go env GOMOD: %q, %v)", out, err)
	}
	b.root = filepath.Dir(strings.TrimSpace(string(out)))
	if b.nginxBin, err = lookPath("nginx", "/usr/sbin/nginx"); err != nil {
		return fmt.Errorf("%v: run bench/run.sh, which installs nginx-light and wrk", err)
	}
	if b.wrkBin, err = lookPath("wrk", "/usr/bin/wrk"); err != nil {
		return fmt.Errorf("%v: run bench/run.sh, which installs nginx-light and wrk", err)
	}
	if workDir == "" {
		if workDir, err = os.MkdirTemp("", "mirrorbench-"); err != nil {
			return err
		}
	} else {
		// A store left by an earlier run would make the cold measurements warm.
		if entries, _ := os.ReadDir(workDir); len(entries) > 0 {
			return fmt.Errorf("-work %s: not empty", workDir)
		}
		if err := os.MkdirAll(workDir, 0o755); err != nil {
			return err
		}
	}
	if b.work, err = filepath.Abs(workDir); err != nil {
		return err
	}
	// nginx's workers run as an unprivileged user and must reach the store.
	if err := os.Chmod(b.work, 0o755); err != nil {
		return err
	}
	if err := b.makeCA(); err != nil {
		return err
	}
	b.mirrorBin = filepath.Join(b.work, "modmirror")
	b.gostaticBin = filepath.Join(b.work, "gostatic")
	mirrorSrc := b.root
	if b.rev != "" {
		// A clean copy of the revision: the working tree may hold
		// others' unfinished edits.
		mirrorSrc = filepath.Join(b.work, "src")
		if err := os.MkdirAll(mirrorSrc, 0o755); err != nil {
			return err
		}
		archive := exec.Command("sh", "-c", `git -C "$1" archive --format=tar "$2" | tar -x -C "$3"`, "sh", b.root, b.rev, mirrorSrc)
		if out, err := archive.CombinedOutput(); err != nil {
			return fmt.Errorf("extracting %s: %v\n%s", b.rev, err, out)
		}
	}
	// Both are built as the Dockerfile builds the binary a deployment runs:
	// static (no cgo: no dynamic loader at each start, which the snapshot
	// hash's wall time includes) and with -trimpath. Not stripped, so that
	// -profile still names functions.
	for _, x := range []struct{ bin, dir, pkg string }{
		{b.mirrorBin, mirrorSrc, "./cmd/modmirror"},
		{b.gostaticBin, b.root, "./bench/cmd/gostatic"},
	} {
		build := exec.Command(b.goBin, "build", "-trimpath", "-o", x.bin, x.pkg)
		build.Dir, build.Env = x.dir, cleanEnv("GOTOOLCHAIN=local", "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			return fmt.Errorf("building %s in %s: %v\n%s", x.pkg, x.dir, err, out)
		}
	}
	return nil
}

func lookPath(name, fallback string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	if _, err := os.Stat(fallback); err == nil {
		return fallback, nil
	}
	return "", fmt.Errorf("%s not found", name)
}

// perf records a CPU profile of process pid while wrk loads url, and
// prints where the time went.
func (b *bench) perf(pid int, url, name string) {
	perfBin, err := exec.LookPath("perf")
	if err != nil {
		b.notes = append(b.notes, "-profile: perf is not installed (apt-get install linux-perf)")
		return
	}
	data := filepath.Join(b.work, "perf-"+name+".data")
	rec := exec.Command(perfBin, "record", "-F", "999", "-g", "-p", strconv.Itoa(pid), "-o", data,
		"--", "sleep", strconv.Itoa(int(b.dur.Seconds())))
	var recOut bytes.Buffer
	rec.Stdout, rec.Stderr = &recOut, &recOut
	if err := rec.Start(); err != nil {
		b.notes = append(b.notes, "-profile: "+err.Error())
		return
	}
	l, err := b.wrk(url, b.dur, "")
	rec.Wait()
	if err != nil {
		b.notes = append(b.notes, "-profile: "+err.Error())
		return
	}
	fmt.Printf("\n-- perf profile of modmirror under wrk on %s (%.0f req/s while profiled)\n", url, l.perSecond())
	for _, args := range [][]string{
		{"--no-children", "--percent-limit", "0.7"},
		{"--children", "--percent-limit", "4"},
	} {
		report := exec.Command(perfBin, append([]string{"report", "-i", data, "--stdio", "--sort", "dso,symbol", "-g", "none"}, args...)...)
		out, err := report.CombinedOutput()
		if err != nil {
			b.notes = append(b.notes, fmt.Sprintf("-profile: perf report: %v", err))
			return
		}
		txt := filepath.Join(b.work, fmt.Sprintf("perf-%s-%s.txt", name, strings.TrimPrefix(args[0], "--")))
		os.WriteFile(txt, out, 0o644)
		fmt.Printf("(%s, saved in %s)\n", args[0], txt)
		lines := 0
		for _, line := range strings.Split(string(out), "\n") {
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			fmt.Println(line)
			if lines++; lines == 40 {
				break
			}
		}
	}
}

// printMachine prints what the figures depend on.
func (b *bench) printMachine() {
	model := "unknown CPU"
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	mem := "?"
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		mem = strings.Join(strings.Fields(firstLine(string(data)))[1:], " ")
	}
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	debian, _ := os.ReadFile("/etc/debian_version")
	goVersion, _ := exec.Command(b.goBin, "version").Output()
	nginxVersion, _ := exec.Command(b.nginxBin, "-v").CombinedOutput()
	fmt.Printf("machine: %s, %d CPUs, MemTotal %s, Linux %s, Debian %s\n", model, runtime.NumCPU(), mem,
		strings.TrimSpace(string(kernel)), strings.TrimSpace(string(debian)))
	fmt.Printf("tools: %s; %s; %s\n", strings.TrimSpace(string(goVersion)), strings.TrimSpace(string(nginxVersion)), wrkVersion(b.wrkBin))
	commit, err := exec.Command("git", "-C", b.root, "describe", "--always", "--dirty", "--exclude", "*").Output()
	if b.rev != "" {
		commit, err = exec.Command("git", "-C", b.root, "rev-parse", "--short", b.rev).Output()
	}
	if err != nil {
		commit = []byte("unknown (not a git checkout)")
	}
	from := "the working tree"
	if b.rev != "" {
		from = "-rev " + b.rev
	}
	fmt.Printf("modmirror: commit %s, built from %s\n", strings.TrimSpace(string(commit)), from)
	fmt.Printf("load average: %s; CPU busy over the last second: %.0f%%\n", loadAvg(), cpuBusy(time.Second)*100)
	fmt.Printf("work directory: %s\n", b.work)
}

func loadAvg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Join(strings.Fields(string(data))[:3], " ")
}

// cpuBusy returns the share of all CPUs' time spent not idle over d, to
// show whether something else is running during the benchmark.
func cpuBusy(d time.Duration) float64 {
	read := func() (idle, total float64) {
		data, err := os.ReadFile("/proc/stat")
		if err != nil {
			return 0, 0
		}
		f := strings.Fields(firstLine(string(data)))
		for i, v := range f[1:] {
			x, _ := strconv.ParseFloat(v, 64)
			total += x
			if i == 3 || i == 4 { // idle, iowait
				idle += x
			}
		}
		return idle, total
	}
	i0, t0 := read()
	time.Sleep(d)
	i1, t1 := read()
	if t1 == t0 {
		return 0
	}
	return 1 - (i1-i0)/(t1-t0)
}
