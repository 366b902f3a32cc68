// Command replicabench measures modmirror over S3 (MinIO) and PostgreSQL
// against modmirror over its file system store, in the same run, on the
// same machine:
//
//   - warm hits: requests per second and latency of stored files, from an
//     S3 store with the memory and disk caches (the defaults), with the
//     memory cache alone and with neither, as ratios to the file system
//     store;
//   - cold fills: the time to fill a file the mirror has not stored, one
//     at a time;
//   - 200 requests at once for 50 files no replica has, over two replicas
//     sharing a bucket and a database: how many upstream fetches, and the
//     latencies, against one mirror and against two replicas without the
//     shared database's fill locks;
//   - memory: the mirror's resident set while 32 clients download a
//     100 MiB zip from the S3 store.
//
// bench/replicas/run.sh starts MinIO and PostgreSQL and runs it.
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/modmirror/modmirror/bench/internal/benchutil"
	"github.com/modmirror/modmirror/internal/testpostgres"
	"github.com/modmirror/modmirror/internal/tests3"
	"github.com/modmirror/modmirror/internal/testupstream"
)

type options struct {
	bin      string
	duration time.Duration
	repeat   int
	clients  int
	bigMiB   int
	out      string
	skipRSS  bool
}

func main() {
	var o options
	flag.StringVar(&o.bin, "bin", "", "the modmirror binary (required)")
	flag.DurationVar(&o.duration, "duration", 3*time.Second, "length of each warm-hit load")
	flag.IntVar(&o.repeat, "repeat", 3, "runs of each warm-hit load; the median is shown")
	flag.IntVar(&o.clients, "clients", 32, "concurrent clients of the warm-hit and memory loads")
	flag.IntVar(&o.bigMiB, "big-mib", 100, "MiB of the zip of the memory load")
	flag.StringVar(&o.out, "o", "", "also write the tables as Markdown to this file")
	flag.BoolVar(&o.skipRSS, "skip-rss", false, "skip the memory load (it builds a large fixture)")
	flag.Parse()
	log.SetFlags(log.Ltime)
	if o.bin == "" {
		log.Fatal("replicabench: -bin is required")
	}
	for _, v := range []string{"MODMIRROR_TEST_S3_ENDPOINT", "MODMIRROR_TEST_POSTGRES_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} {
		if os.Getenv(v) == "" {
			log.Fatalf("replicabench: %s is not set; run bench/replicas/run.sh, which starts MinIO and PostgreSQL", v)
		}
	}
	tb := &benchutil.ProgramTB{Program: "replicabench"}
	defer tb.RunCleanups()
	benchutil.OnInterrupt(func() { benchutil.StopAll(); tb.RunCleanups() })
	defer benchutil.StopAll()
	if err := run(tb, o); err != nil {
		benchutil.StopAll()
		tb.RunCleanups()
		log.Fatal(err)
	}
}

// The fixture modules.
const (
	smallPath = "example.com/bench/small" // warm hits: an .info and a 32 KiB zip
	midPath   = "example.com/bench/mid"   // warm hits: a 3 MiB zip, too big for the memory cache
	coldPath  = "example.com/bench/cold"  // cold fills: a new version for every fill
	bigPath   = "example.com/bench/big"   // memory: one large zip
)

// coldVersion is the version of the cold module for fill i of set s.
func coldVersion(s, i int) string { return fmt.Sprintf("v1.%d.%d", s, i) }

const (
	seqFills   = 30 // cold fills one at a time, per store
	burstFiles = 50 // files of the burst of cold requests
	burstReqs  = 200
)

func run(tb *benchutil.ProgramTB, o options) error {
	log.Printf("building fixtures")
	mods := []testupstream.Module{
		benchutil.RandomModule(smallPath, "v1.0.0", 1, 32<<10),
		benchutil.RandomModule(midPath, "v1.0.0", 2, 3<<20),
	}
	// Sets 0-1: sequential cold fills (fs, s3); 2-4: the burst (one
	// mirror, replicas, replicas without locks).
	for s := range 5 {
		n := seqFills
		if s >= 2 {
			n = burstFiles
		}
		for i := range n {
			mods = append(mods, benchutil.RandomModule(coldPath, coldVersion(s, i), uint64(1000+s*100+i), 64<<10))
		}
	}
	if !o.skipRSS {
		mods = append(mods, benchutil.RandomModule(bigPath, "v1.0.0", 3, o.bigMiB<<20))
	}
	up := testupstream.New(tb, mods...)
	db := testpostgres.Database(tb)
	r := &runner{tb: tb, o: o, up: up, db: db}

	var md strings.Builder
	for _, part := range []func(*strings.Builder) error{r.warm, r.cold, r.burst, r.rss} {
		if err := part(&md); err != nil {
			return err
		}
	}
	if o.out != "" {
		return os.WriteFile(o.out, []byte(md.String()), 0o644)
	}
	return nil
}

type runner struct {
	tb *benchutil.ProgramTB
	o  options
	up *testupstream.Server
	db string
}

// bucket returns the --store URL of a new bucket.
func (r *runner) bucket() string {
	return tests3.Bucket(r.tb, "go").URL()
}

// start starts a mirror in front of the fixture upstream with the extra
// flags, and waits until /readyz answers 200.
func (r *runner) start(name string, extra ...string) (*benchutil.Mirror, error) {
	env := []string{"AWS_ACCESS_KEY_ID=" + os.Getenv("AWS_ACCESS_KEY_ID"), "AWS_SECRET_ACCESS_KEY=" + os.Getenv("AWS_SECRET_ACCESS_KEY")}
	args := append([]string{"--upstream", r.up.URL, "--sumdb", r.up.VerifierKey(), "--log-level", "warn"}, extra...)
	return benchutil.StartMirror(r.tb, r.o.bin, name, env, 30*time.Second, args...)
}

// warm measures hits on stored files.
func (r *runner) warm(md *strings.Builder) error {
	log.Printf("warm hits: starting mirrors")
	fs, err := r.start("fs")
	if err != nil {
		return err
	}
	s3c, err := r.start("s3, memory and disk caches", "--store", r.bucket())
	if err != nil {
		return err
	}
	s3m, err := r.start("s3, memory cache only", "--store", r.bucket(), "--disk-cache-mb", "0")
	if err != nil {
		return err
	}
	s3n, err := r.start("s3, no caches", "--store", r.bucket(), "--memory-cache-mb", "0", "--disk-cache-mb", "0")
	if err != nil {
		return err
	}
	mirrors := []*benchutil.Mirror{fs, s3c, s3m, s3n}
	files := []struct{ name, path string }{
		{".info", "/" + smallPath + "/@v/v1.0.0.info"},
		{".zip (32 KiB)", "/" + smallPath + "/@v/v1.0.0.zip"},
		{".zip (3 MiB)", "/" + midPath + "/@v/v1.0.0.zip"},
	}
	client := benchutil.NewClient(1)
	for _, m := range mirrors {
		for _, f := range files {
			if _, err := benchutil.Fetch(client, m.URL+f.path); err != nil {
				return fmt.Errorf("%s: %v", m.Name, err)
			}
		}
	}
	cells := [][]string{{"file", "store", "req/s", "p50", "p99", "req/s ÷ fs"}}
	for _, f := range files {
		var base float64
		for _, m := range mirrors {
			var runs []benchutil.Load
			for range r.o.repeat {
				benchutil.Hammer(m.URL+f.path, r.o.clients, r.o.duration/3) // warm-up
				l, err := benchutil.Hammer(m.URL+f.path, r.o.clients, r.o.duration)
				if err != nil {
					return fmt.Errorf("%s %s: %v", m.Name, f.name, err)
				}
				runs = append(runs, l)
			}
			slices.SortFunc(runs, func(a, b benchutil.Load) int { return int(a.RPS() - b.RPS()) })
			l := runs[len(runs)/2]
			if m == fs {
				base = l.RPS()
			}
			cells = append(cells, []string{f.name, m.Name, fmt.Sprintf("%.0f", l.RPS()),
				benchutil.Ms(l.Pct(0.5)), benchutil.Ms(l.Pct(0.99)), fmt.Sprintf("%.2f", l.RPS()/base)})
			log.Printf("warm %s %s: %.0f req/s", f.name, m.Name, l.RPS())
		}
	}
	for _, m := range mirrors {
		m.Stop()
	}
	return r.table(md, fmt.Sprintf("Warm hits: %d clients, keep-alive, median of %d runs of %v", r.o.clients, r.o.repeat, r.o.duration), cells)
}

// cold measures fills one at a time.
func (r *runner) cold(md *strings.Builder) error {
	log.Printf("cold fills")
	fs, err := r.start("fs")
	if err != nil {
		return err
	}
	s3, err := r.start("s3 + shared db", "--store", r.bucket(), "--shared-db", r.db)
	if err != nil {
		return err
	}
	cells := [][]string{{"store", "median", "p90", "max", "median ÷ fs"}}
	var base time.Duration
	client := benchutil.NewClient(1)
	for set, m := range []*benchutil.Mirror{fs, s3} {
		var l benchutil.Load
		for i := range seqFills {
			t := time.Now()
			if _, err := benchutil.Fetch(client, m.URL+"/"+coldPath+"/@v/"+coldVersion(set, i)+".zip"); err != nil {
				return fmt.Errorf("%s: %v", m.Name, err)
			}
			l.Lat = append(l.Lat, time.Since(t))
		}
		if m == fs {
			base = l.Pct(0.5)
		}
		cells = append(cells, []string{m.Name, benchutil.Ms(l.Pct(0.5)), benchutil.Ms(l.Pct(0.9)), benchutil.Ms(l.Pct(1)),
			fmt.Sprintf("%.2f", float64(l.Pct(0.5))/float64(base))})
		m.Stop()
	}
	return r.table(md, fmt.Sprintf("Cold fills, one at a time: %d zips of 64 KiB each, fetched, verified against the checksum database and stored", seqFills), cells)
}

// burst sends 200 requests at once for 50 files no mirror has.
func (r *runner) burst(md *strings.Builder) error {
	log.Printf("burst of cold requests")
	cells := [][]string{{"mirrors", "upstream zip fetches", "wall", "p50", "p99", "errors"}}
	type setup struct {
		name  string
		flags [][]string
	}
	bucketA, bucketB := r.bucket(), r.bucket()
	setups := []setup{
		{"one mirror, file system store", [][]string{{}}},
		{"2 replicas, S3 + PostgreSQL", [][]string{{"--store", bucketA, "--shared-db", r.db}, {"--store", bucketA, "--shared-db", r.db}}},
		{"2 replicas, S3, no shared db", [][]string{{"--store", bucketB}, {"--store", bucketB}}},
	}
	for i, s := range setups {
		set := 2 + i
		var group []*benchutil.Mirror
		for j, f := range s.flags {
			m, err := r.start(fmt.Sprintf("%s %d", s.name, j), f...)
			if err != nil {
				return err
			}
			group = append(group, m)
		}
		r.up.ResetRequests()
		client := benchutil.NewClient(burstReqs)
		var mu sync.Mutex
		var l benchutil.Load
		errs := 0
		var wg sync.WaitGroup
		gate := make(chan struct{})
		start := time.Now()
		for k := range burstReqs {
			m := group[k%len(group)]
			url := m.URL + "/" + coldPath + "/@v/" + coldVersion(set, (k/len(group))%burstFiles) + ".zip"
			wg.Go(func() {
				<-gate
				t := time.Now()
				_, err := benchutil.Fetch(client, url)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs++
					return
				}
				l.Lat = append(l.Lat, time.Since(t))
			})
		}
		close(gate)
		wg.Wait()
		wall := time.Since(start)
		fetches := 0
		for k := range burstFiles {
			fetches += r.up.Requests("/" + coldPath + "/@v/" + coldVersion(set, k) + ".zip")
		}
		cells = append(cells, []string{s.name, fmt.Sprintf("%d for %d files", fetches, burstFiles),
			benchutil.Ms(wall), benchutil.Ms(l.Pct(0.5)), benchutil.Ms(l.Pct(0.99)), fmt.Sprint(errs)})
		log.Printf("burst %s: %d fetches, %v", s.name, fetches, wall)
		for _, m := range group {
			m.Stop()
		}
	}
	return r.table(md, fmt.Sprintf("%d requests at once for %d zips (64 KiB) that no mirror has stored, spread over the mirrors", burstReqs, burstFiles), cells)
}

// rss measures the mirror's memory while clients download a big zip.
func (r *runner) rss(md *strings.Builder) error {
	if r.o.skipRSS {
		return nil
	}
	log.Printf("memory: %d clients downloading a %d MiB zip", r.o.clients, r.o.bigMiB)
	cells := [][]string{{"store", "peak RSS while serving", "RSS before", "MB/s served", "peak ÷ fs"}}
	var base int64
	for _, s := range []struct {
		name  string
		flags []string
	}{
		{"fs", nil},
		{"s3", []string{"--store", r.bucket()}},
	} {
		m, err := r.start(s.name, s.flags...)
		if err != nil {
			return err
		}
		url := m.URL + "/" + bigPath + "/@v/v1.0.0.zip"
		if _, err := benchutil.Fetch(benchutil.NewClient(1), url); err != nil { // the fill
			return err
		}
		runtimeSettle()
		before, err := benchutil.ProcStatus(m.Cmd.Process.Pid, "VmRSS")
		if err != nil {
			return err
		}
		stop := make(chan struct{})
		peak := make(chan int64)
		go func() {
			var p int64
			for {
				if v, err := benchutil.ProcStatus(m.Cmd.Process.Pid, "VmRSS"); err == nil {
					p = max(p, v)
				}
				select {
				case <-stop:
					peak <- p
					return
				case <-time.After(20 * time.Millisecond):
				}
			}
		}()
		client := benchutil.NewClient(r.o.clients)
		var wg sync.WaitGroup
		var mu sync.Mutex
		var total int64
		var ferr error
		start := time.Now()
		for range r.o.clients {
			wg.Go(func() {
				n, err := benchutil.Fetch(client, url)
				mu.Lock()
				total += n
				if ferr == nil {
					ferr = err
				}
				mu.Unlock()
			})
		}
		wg.Wait()
		wall := time.Since(start)
		close(stop)
		p := <-peak
		if ferr != nil {
			return ferr
		}
		if s.name == "fs" {
			base = p
		}
		cells = append(cells, []string{s.name, mib(p), mib(before), fmt.Sprintf("%.0f", float64(total)/wall.Seconds()/1e6), fmt.Sprintf("%.2f", float64(p)/float64(base))})
		m.Stop()
	}
	return r.table(md, fmt.Sprintf("Memory: %d clients downloading one %d MiB zip at once (VmRSS sampled every 20 ms)", r.o.clients, r.o.bigMiB), cells)
}

// runtimeSettle gives a mirror's background work after a fill (the
// checksum database record, the garbage collector) a moment.
func runtimeSettle() { time.Sleep(2 * time.Second) }

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// table prints a table, and adds it to md as Markdown.
func (r *runner) table(md *strings.Builder, title string, cells [][]string) error {
	fmt.Printf("\n%s\n\n", title)
	benchutil.WriteCells(os.Stdout, cells, false)
	fmt.Fprintf(md, "%s\n\n", title)
	benchutil.WriteCells(md, cells, true)
	md.WriteString("\n")
	return nil
}
