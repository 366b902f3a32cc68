// Command buildlog builds a checksum database log of N records (default a
// million) through sumlog.Log.Record from many goroutines at once, so that
// the log batches them as it does under load, and prints at 10 %, 50 % and
// 100 % of N the time taken, the rate of appends, the batches, the memory
// (the process's peak resident set, overall and within that part, and the
// Go heap) and the size of the SQLite files: if the memory of the log does
// not grow with its size, the three rows show it.
//
// Then it measures, on the log it built, lookups and full tiles over a
// loopback HTTP listener from parallel clients for a few seconds each:
// lookups of versions drawn at random from all N (mostly missing the log's
// in-memory caches), lookups of a hot set of versions asked again and again,
// and hash and data tiles drawn at random. Last, it reopens the log, which
// checks the stored hashes against the signed head, and times that.
//
// Run it with bash bench/sumlog/run.sh, or on its own:
//
//	go run ./bench/sumlog/cmd/buildlog -n 100000
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/module"

	"github.com/modmirror/modmirror/bench/internal/benchutil"
	sumlogbench "github.com/modmirror/modmirror/bench/sumlog"
	"github.com/modmirror/modmirror/sumlog"
)

// options are the command's flags.
type options struct {
	n, goroutines int
	percents      []int
	cfg           sumlog.Config
	clients, hot  int
	readTime      time.Duration
	reads         map[string]bool // the read measurements to make, by key
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("buildlog: ")
	var o options
	flag.IntVar(&o.n, "n", 1_000_000, "records to append")
	flag.IntVar(&o.goroutines, "goroutines", 1024, "goroutines calling Record at once")
	flag.IntVar(&o.cfg.MaxBatch, "max-batch", 0, "sumlog.Config.MaxBatch (0: its default)")
	flag.IntVar(&o.cfg.CacheEntries, "cache-entries", 0, "sumlog.Config.CacheEntries (0: its default, -1: off)")
	marks := flag.String("marks", "10,50,100", "percentages of -n at which to print a row")
	flag.IntVar(&o.clients, "clients", 16, "parallel HTTP clients of the read measurements")
	flag.DurationVar(&o.readTime, "read-time", 4*time.Second, "duration of each read measurement (0: none)")
	reads := flag.String("reads", "lookups_random,lookups_hot,tiles_hash,tiles_data", "the read measurements to make")
	flag.IntVar(&o.hot, "hot", 10_000, "versions in the hot set of lookups")
	dir := flag.String("dir", "", "directory for the log, kept at the end; if it holds a log of -n records made by buildlog, only the reads are measured (default: a new temporary directory, removed at the end)")
	flag.StringVar(&summaryFile, "summary", "", "also write the figures to `file`, one \"name value\" a line, for scripts")
	flag.StringVar(&buildProfile, "cpuprofile", "", "write a CPU profile of the build to `file`")
	flag.StringVar(&readProfile, "read-cpuprofile", "", "write a CPU profile of the read measurements to `file`")
	flag.Parse()

	var err error
	if o.percents, err = parseMarks(*marks); err != nil {
		log.Fatal(err)
	}
	o.reads = map[string]bool{}
	for _, r := range strings.Split(*reads, ",") {
		o.reads[strings.TrimSpace(r)] = true
	}
	if *dir == "" {
		if *dir, err = os.MkdirTemp("", "buildlog-"); err != nil {
			log.Fatal(err)
		}
		err = run(*dir, o)
		os.RemoveAll(*dir)
	} else {
		err = run(*dir, o)
	}
	if err != nil {
		log.Fatal(err)
	}
}

// The CPU profiles and the summary to write, if any.
var buildProfile, readProfile, summaryFile string

// summary collects the figures for -summary.
var summary strings.Builder

func report(name string, value float64) {
	fmt.Fprintf(&summary, "%s %g\n", name, value)
}

// startProfile starts a CPU profile into file, if file is not empty, and
// returns the function that stops it.
func startProfile(file string) (stop func(), err error) {
	if file == "" {
		return func() {}, nil
	}
	fh, err := os.Create(file)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(fh); err != nil {
		fh.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		if err := fh.Close(); err != nil {
			log.Print(err)
		}
	}, nil
}

func parseMarks(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		p, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || p <= 0 || p > 100 || (len(out) > 0 && p <= out[len(out)-1]) {
			return nil, fmt.Errorf("-marks %q: want increasing percentages up to 100", s)
		}
		out = append(out, p)
	}
	if len(out) == 0 || out[len(out)-1] != 100 {
		out = append(out, 100)
	}
	return out, nil
}

// keyFile holds the signer key of a log that buildlog made, beside it.
const keyFile = "signer.key"

func run(dir string, o options) error {
	ctx := context.Background()
	n := o.n
	cfg := o.cfg
	key, err := os.ReadFile(filepath.Join(dir, keyFile))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	cfg.SignerKey = string(key)
	f, err := sumlogbench.Open(ctx, dir, cfg)
	if err != nil {
		return err
	}
	defer func() { f.Close() }()
	if key == nil {
		if err := os.WriteFile(filepath.Join(dir, keyFile), []byte(f.Key), 0o600); err != nil {
			return err
		}
	}
	if size := f.Log.Head().Size; size != 0 && size != int64(n) {
		return fmt.Errorf("%s holds a log of %d records, not -n %d", dir, size, n)
	} else if size == 0 {
		fmt.Printf("buildlog: %d records from %d goroutines into %s; GOMAXPROCS %d, %s, load average %s\n",
			n, o.goroutines, dir, runtime.GOMAXPROCS(0), runtime.Version(), benchutil.LoadAvg())
		if err := build(ctx, f, o); err != nil {
			return err
		}
	} else {
		fmt.Printf("buildlog: the log of %d records in %s; GOMAXPROCS %d, %s, load average %s\n",
			n, dir, runtime.GOMAXPROCS(0), runtime.Version(), benchutil.LoadAvg())
		peakSoFar = procStatus("VmHWM")
	}

	if o.readTime > 0 {
		stop, err := startProfile(readProfile)
		if err != nil {
			return err
		}
		err = measureReads(f, o)
		stop()
		if err != nil {
			return err
		}
	}

	head := f.Log.Head()
	if err := f.Close(); err != nil {
		return err
	}
	t0 := time.Now()
	g, err := sumlogbench.Open(ctx, dir, sumlog.Config{SignerKey: f.Key})
	if err != nil {
		return err
	}
	f = g
	reopen := time.Since(t0)
	report("reopen_seconds", reopen.Seconds())
	fmt.Printf("\nreopen (checks the stored hashes against the signed head of %d records): %s\n", head.Size, reopen.Round(time.Microsecond))
	if got := f.Log.Head(); got.Size != head.Size || !bytes.Equal(got.Signed, head.Signed) {
		return fmt.Errorf("reopened log has head %d, want %d", got.Size, head.Size)
	}
	if summaryFile != "" {
		return os.WriteFile(summaryFile, []byte(summary.String()), 0o644)
	}
	return nil
}

// build appends o.n records to the empty log f, printing a row at each
// mark.
func build(ctx context.Context, f *sumlogbench.Fixture, o options) error {
	n := o.n
	fmt.Printf("after Open: VmHWM %s, Go heap in use %s\n\n", mb(procStatus("VmHWM")), mb(heapInuse()))

	fmt.Printf("%4s %9s %8s %10s %10s %8s %8s %10s %10s %9s %9s %10s %6s\n",
		"%", "records", "time", "appends/s", "(part)", "batches", "rec/bat", "VmHWM", "part peak", "heap", "live heap", "db files", "other")
	stop, err := startProfile(buildProfile)
	if err != nil {
		return err
	}
	peakSoFar = procStatus("VmHWM")
	clearPeak()
	start := time.Now()
	done, partStart := 0, start
	var lastBatches int64
	for _, p := range o.percents {
		m := startMeter()
		to := int(int64(n) * int64(p) / 100)
		if err := f.Record(ctx, done, to, o.goroutines); err != nil {
			return err
		}
		now := time.Now()
		st := f.Log.Stats()
		if st.Size != int64(to) {
			return fmt.Errorf("the log has %d records, not %d", st.Size, to)
		}
		partPeak := procStatus("VmHWM")
		hwm := max(partPeak, peakSoFar)
		peakSoFar = hwm
		inuse := heapInuse()
		runtime.GC()
		live := heapInuse()
		other := m.other()
		report(fmt.Sprintf("build_seconds_%d", p), now.Sub(start).Seconds())
		report(fmt.Sprintf("build_rate_%d", p), float64(to)/now.Sub(start).Seconds())
		report(fmt.Sprintf("vmhwm_%d", p), float64(hwm))
		report(fmt.Sprintf("part_peak_%d", p), float64(partPeak))
		report(fmt.Sprintf("live_heap_%d", p), float64(live))
		report(fmt.Sprintf("db_bytes_%d", p), float64(fileSize(f.File)))
		report(fmt.Sprintf("other_build_%d", p), other)
		fmt.Printf("%3d%% %9d %7.1fs %10.0f %10.0f %8d %8.0f %10s %10s %9s %9s %10s %5.0f%%\n",
			p, to, now.Sub(start).Seconds(),
			float64(to)/now.Sub(start).Seconds(), float64(to-done)/now.Sub(partStart).Seconds(),
			st.Batches, float64(to-done)/float64(st.Batches-lastBatches),
			mb(hwm), mb(partPeak), mb(inuse), mb(live), mb(fileSize(f.File)), 100*other)
		clearPeak()
		done, partStart, lastBatches = to, time.Now(), st.Batches
	}
	stop()
	fmt.Printf("\nVmHWM: the process's peak resident set so far; part peak: within this part only (reset with /proc/self/clear_refs);\n" +
		"heap: Go HeapInuse at the mark; live heap: after a GC; db files: the SQLite file with its -wal and -shm;\n" +
		"other: share of the machine's CPU time used by other processes meanwhile (from /proc/stat).\n")
	return nil
}

// peakSoFar is the largest VmHWM seen before the last clearPeak.
var peakSoFar int64

// measureReads measures lookups and tiles over loopback on the log f.
func measureReads(f *sumlogbench.Fixture, o options) error {
	n, clients, d, hot := o.n, o.clients, o.readTime, o.hot
	srv := httptest.NewServer(f.Log)
	defer srv.Close()
	c := sumlogbench.NewClient(clients)
	defer c.CloseIdleConnections()
	hot = min(hot, n)
	tiles := int64(n / 256)

	// The hot set: versions spread over the whole log, asked for once
	// before the measurement.
	hotSet := make([]module.Version, hot)
	for i := range hotSet {
		hotSet[i] = sumlogbench.Version(int(int64(i) * int64(n) / int64(hot)))
	}
	check := func(mv module.Version) error {
		var body bytes.Buffer
		if _, err := sumlogbench.Get(c, srv.URL+sumlogbench.LookupPath(mv), &body); err != nil {
			return err
		}
		if !bytes.Contains(body.Bytes(), sumlogbench.Data(mv)) {
			return fmt.Errorf("lookup of %s answered\n%s", mv, body.Bytes())
		}
		return nil
	}
	if err := sumlogbench.Parallel(hot, clients, func(i int) error { return check(hotSet[i]) }); err != nil {
		return err
	}

	fmt.Printf("\nreads over loopback, %d clients, %s each:\n", clients, d)
	fmt.Printf("%-52s %10s %9s %9s %10s %9s %6s\n", "", "per second", "p50", "p99", "VmHWM", "heap", "other")
	type load struct {
		name, key string
		url       func(r *rand.Rand) string
		skip      bool
	}
	for _, ld := range []load{
		{"lookups, random versions of all " + strconv.Itoa(n), "lookups_random", func(r *rand.Rand) string {
			return srv.URL + sumlogbench.LookupPath(sumlogbench.Version(r.IntN(n)))
		}, false},
		{"lookups, hot set of " + strconv.Itoa(hot) + " versions", "lookups_hot", func(r *rand.Rand) string {
			return srv.URL + sumlogbench.LookupPath(hotSet[r.IntN(hot)])
		}, false},
		{"hash tiles (level 0, 8 KiB), random of " + strconv.FormatInt(tiles, 10), "tiles_hash", func(r *rand.Rand) string {
			return srv.URL + sumlogbench.HashTilePath(r.Int64N(tiles))
		}, tiles == 0},
		{"data tiles (256 records), random of " + strconv.FormatInt(tiles, 10), "tiles_data", func(r *rand.Rand) string {
			return srv.URL + sumlogbench.DataTilePath(r.Int64N(tiles))
		}, tiles == 0},
	} {
		if ld.skip || !o.reads[ld.key] {
			continue
		}
		m := startMeter()
		rate, lat, err := measure(c, clients, d, ld.url)
		if err != nil {
			return fmt.Errorf("%s: %w", ld.name, err)
		}
		other := m.other()
		report(ld.key, rate)
		report("other_"+ld.key, other)
		fmt.Printf("%-52s %10.0f %9s %9s %10s %9s %5.0f%%\n", ld.name, rate,
			lat(0.50).Round(time.Microsecond), lat(0.99).Round(time.Microsecond),
			mb(max(procStatus("VmHWM"), peakSoFar)), mb(heapInuse()), 100*other)
	}
	return nil
}

// measure gets url(r) from clients goroutines for d and returns the rate of
// answers and their latency quantiles.
func measure(c *http.Client, clients int, d time.Duration, url func(r *rand.Rand) string) (float64, func(q float64) time.Duration, error) {
	var wg sync.WaitGroup
	lats := make([][]time.Duration, clients)
	errs := make([]error, clients)
	start := time.Now()
	end := start.Add(d)
	for g := range clients {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), uint64(start.UnixNano())))
			for t := time.Now(); t.Before(end); {
				if _, err := sumlogbench.Get(c, url(r), nil); err != nil {
					errs[g] = err
					return
				}
				now := time.Now()
				lats[g] = append(lats[g], now.Sub(t))
				t = now
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	for _, err := range errs {
		if err != nil {
			return 0, nil, err
		}
	}
	all := slices.Concat(lats...)
	slices.Sort(all)
	quantile := func(q float64) time.Duration {
		if len(all) == 0 {
			return 0
		}
		return all[min(len(all)-1, int(q*float64(len(all))))]
	}
	return float64(len(all)) / elapsed.Seconds(), quantile, nil
}

// A meter measures the CPU time that other processes use.
type meter struct {
	start        time.Time
	busy, itself time.Duration
}

func startMeter() meter {
	busy, itself := cpuTimes()
	return meter{time.Now(), busy, itself}
}

// other returns the share of all CPUs' time since the meter started that
// was busy but not with this process: other work that disturbed the
// measurement.
func (m meter) other() float64 {
	busy, itself := cpuTimes()
	all := time.Since(m.start).Seconds() * float64(runtime.NumCPU())
	return min(1, max(0, (busy-m.busy-(itself-m.itself)).Seconds()/all))
}

// clockTick is USER_HZ, the unit of /proc/stat and /proc/self/stat.
const clockTick = 10 * time.Millisecond

// cpuTimes returns the time all CPUs were busy since boot, and the CPU time
// this process used.
func cpuTimes() (busy, itself time.Duration) {
	if data, err := os.ReadFile("/proc/stat"); err == nil {
		line, _, _ := strings.Cut(string(data), "\n")
		// cpu user nice system idle iowait irq softirq steal ...
		for i, f := range strings.Fields(line) {
			if v, err := strconv.ParseInt(f, 10, 64); err == nil && i >= 1 && i <= 8 && i != 4 && i != 5 {
				busy += time.Duration(v) * clockTick
			}
		}
	}
	if data, err := os.ReadFile("/proc/self/stat"); err == nil {
		// After "pid (comm) ", utime and stime are fields 12 and 13.
		if _, rest, ok := strings.Cut(string(data), ") "); ok {
			f := strings.Fields(rest)
			for _, x := range f[11:13] {
				v, _ := strconv.ParseInt(x, 10, 64)
				itself += time.Duration(v) * clockTick
			}
		}
	}
	return busy, itself
}

// procStatus returns a field of /proc/self/status in bytes, or -1.
func procStatus(field string) int64 {
	fh, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != field {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		if err != nil {
			return -1
		}
		return kb << 10
	}
	return -1
}

// clearPeak resets the kernel's peak resident set of this process to its
// current resident set, so that the next VmHWM is the peak of what follows.
func clearPeak() {
	os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

func heapInuse() int64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapInuse)
}

// fileSize returns the bytes of an SQLite database file and its -wal and
// -shm files.
func fileSize(file string) int64 {
	var total int64
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if fi, err := os.Stat(file + suffix); err == nil {
			total += fi.Size()
		}
	}
	return total
}

func mb(n int64) string {
	if n < 0 {
		return "?"
	}
	return fmt.Sprintf("%.1f MB", float64(n)/1e6)
}
