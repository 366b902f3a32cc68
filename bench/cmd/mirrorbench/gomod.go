package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/modmirror/modmirror/bench/internal/benchutil"
)

const (
	realProxy = "https://proxy.golang.org"
	realSumDB = "sum.golang.org"
)

// graphFiles are the files of the main module whose graph is downloaded,
// kept in bench/testdata/k8s.
var graphFiles = []string{"go.mod", "go.sum", "main.go"}

// checkRealProxy reports why the real proxy and checksum database cannot be
// used, or nil.
func checkRealProxy() error {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for _, p := range []string{"/k8s.io/client-go/@v/v0.31.0.info", "/sumdb/" + realSumDB + "/supported"} {
		if _, err := get(ctx, realProxy+p); err != nil {
			return err
		}
	}
	return nil
}

// A graph is a main module in bench/testdata whose module graph the
// network part downloads.
type graph struct {
	name  string // its directory in bench/testdata
	title string // as the table prints it
}

var graphs = []graph{
	{"k8s", "k8s.io/client-go@v0.31.0"},
	{"service", "a service's graph (gin, pgx, S3, MinIO, OpenTelemetry, client-go)"},
}

// graphDir returns the directory holding a graph's main module, generating
// its go.sum first (with "go mod tidy" and "go mod download all" against the
// real proxy) if it is missing or regeneration was asked for.
func (b *bench) graphDir(name string) (string, error) {
	dir := filepath.Join(b.root, "bench", "testdata", name)
	if _, err := os.Stat(filepath.Join(dir, "go.sum")); err == nil && !b.regenGoSum {
		return dir, nil
	}
	fmt.Printf("generating %s/go.sum with the real proxy\n", dir)
	tmp, err := os.MkdirTemp(b.work, "gosum-")
	if err != nil {
		return "", err
	}
	defer benchutil.RemoveAll(tmp)
	env := b.goEnv(realProxy, tmp)
	for _, args := range [][]string{{"mod", "tidy"}, {"mod", "download", "all"}} {
		cmd := exec.Command(b.goBin, args...)
		cmd.Dir, cmd.Env = dir, env
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("go %v: %v\n%s", args, err, out)
		}
	}
	return dir, nil
}

// goEnv is the environment of a go command that downloads through proxy
// into a fresh module cache and GOPATH under dir.
func (b *bench) goEnv(proxy, dir string) []string {
	return cleanEnv(
		"SSL_CERT_FILE="+b.certBundle, // the mirror and the delaying proxy over HTTPS
		"GOPROXY="+proxy,
		"GOSUMDB="+realSumDB,
		"GOFLAGS=-modcacherw",
		"GOTOOLCHAIN=local",
		"GOENV=off",
		"GOWORK=off",
		"GOMODCACHE="+filepath.Join(dir, "modcache"),
		"GOPATH="+filepath.Join(dir, "gopath"),
	)
}

// downloadRun is one "go mod download all".
type downloadRun struct {
	elapsed time.Duration
	modules int   // module versions whose zip was downloaded
	zipSize int64 // their total size
}

// goModDownload runs "go mod download -json all" for the graph in a copy of
// graphDir, with a fresh module cache, through proxy, and times it. go.sum
// holds every hash needed, so the go command never asks the checksum
// database: what is timed is the proxy alone.
func (b *bench) goModDownload(graphDir, proxy string) (downloadRun, error) {
	dir, err := os.MkdirTemp(b.work, "gomod-")
	if err != nil {
		return downloadRun{}, err
	}
	defer benchutil.RemoveAll(dir)
	proj := filepath.Join(dir, "proj")
	if err := os.MkdirAll(proj, 0o755); err != nil {
		return downloadRun{}, err
	}
	for _, f := range graphFiles {
		data, err := os.ReadFile(filepath.Join(graphDir, f))
		if err != nil {
			return downloadRun{}, err
		}
		if err := os.WriteFile(filepath.Join(proj, f), data, 0o644); err != nil {
			return downloadRun{}, err
		}
	}
	sum, _ := os.ReadFile(filepath.Join(proj, "go.sum"))
	// The go command's module cache goes on tmpfs where there is one:
	// extracting hundreds of MB on a disk leaves dirty pages whose
	// writeback slows whichever run comes next, and what is measured is
	// the proxy, not the client's disk.
	cacheDir := dir
	if b.clientTmpfs != "" {
		if cacheDir, err = os.MkdirTemp(b.clientTmpfs, "mirrorbench-gomodcache-"); err != nil {
			return downloadRun{}, err
		}
		defer benchutil.RemoveAll(cacheDir)
	}
	b.checkQuiet("go mod download (GOPROXY=" + proxy + ")")

	cmd := exec.Command(b.goBin, "mod", "download", "-json", "all")
	cmd.Dir, cmd.Env = proj, b.goEnv(proxy, cacheDir)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err = cmd.Run()
	run := downloadRun{elapsed: time.Since(start)}
	if err != nil {
		return run, fmt.Errorf("go mod download all (GOPROXY=%s): %v\n%s%s", proxy, err, stderr.Bytes(), tailBytes(stdout.Bytes(), 2000))
	}
	dec := json.NewDecoder(&stdout)
	for {
		var m struct {
			Path, Version, Error, Zip string
		}
		if err := dec.Decode(&m); err == io.EOF {
			break
		} else if err != nil {
			return run, fmt.Errorf("go mod download -json: %v", err)
		}
		if m.Error != "" {
			return run, fmt.Errorf("go mod download (GOPROXY=%s): %s@%s: %s", proxy, m.Path, m.Version, m.Error)
		}
		if m.Zip != "" {
			run.modules++
			if fi, err := os.Stat(m.Zip); err == nil {
				run.zipSize += fi.Size()
			}
		}
	}
	if after, _ := os.ReadFile(filepath.Join(proj, "go.sum")); !bytes.Equal(sum, after) {
		return run, fmt.Errorf("go mod download changed go.sum: %s/go.sum is incomplete; rerun with -regen-gosum", graphDir)
	}
	return run, nil
}

// mirrorTimes summarises the mirror's own metrics after a cold run: how
// many requests of each kind it answered and in how long on average, and
// how many upstream fetches (including checksum database lookups and tiles)
// that took. It shows where a cold request's time goes.
func mirrorTimes(url string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	data, err := get(ctx, url+"/metrics")
	if err != nil {
		return "", err
	}
	type agg struct{ sum, count float64 }
	served, fetched := map[string]*agg{}, map[string]*agg{}
	for _, line := range strings.Split(string(data), "\n") {
		var m map[string]*agg
		var name string
		switch {
		case strings.HasPrefix(line, "modmirror_http_request_duration_seconds_"):
			m, name = served, strings.TrimPrefix(line, "modmirror_http_request_duration_seconds_")
		case strings.HasPrefix(line, "modmirror_upstream_fetch_duration_seconds_"):
			m, name = fetched, strings.TrimPrefix(line, "modmirror_upstream_fetch_duration_seconds_")
		default:
			continue
		}
		field, rest, _ := strings.Cut(name, "{")
		labels, value, _ := strings.Cut(rest, "} ")
		kind := ""
		for _, l := range strings.Split(labels, ",") {
			if k, v, ok := strings.Cut(l, "="); ok && (k == "endpoint" || k == "kind") {
				kind = strings.Trim(v, `"`)
			}
		}
		x, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil || kind == "" {
			continue
		}
		if m[kind] == nil {
			m[kind] = new(agg)
		}
		switch field {
		case "sum":
			m[kind].sum += x
		case "count":
			m[kind].count += x
		}
	}
	var b strings.Builder
	for _, x := range []struct {
		what string
		m    map[string]*agg
	}{{"answered", served}, {"fetched upstream", fetched}} {
		var kinds []string
		for k := range x.m {
			kinds = append(kinds, k)
		}
		sort.Strings(kinds)
		fmt.Fprintf(&b, "    %s:", x.what)
		for _, k := range kinds {
			a := x.m[k]
			if a.count > 0 {
				fmt.Fprintf(&b, " %s %.0f x %.0f ms (%.1f s);", k, a.count, a.sum/a.count*1000, a.sum)
			}
		}
		b.WriteString("\n")
	}
	return b.String(), nil
}

func tailBytes(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// A coldVariant is one way of running the mirror in the cold measurement.
type coldVariant struct {
	tls   bool // the go command reaches the mirror over HTTPS
	delay bool // both reach the upstream through the delaying proxy
}

func (v coldVariant) String() string {
	s := "mirror over HTTP"
	if v.tls {
		s = "mirror over HTTPS"
	}
	if v.delay {
		s += ", upstream +latency"
	}
	return s
}

// network measures "go mod download all" of each graph: cold (an empty
// mirror filling from the real proxy, verifying against the real checksum
// database) against the same command straight to the upstream, with the
// mirror served over HTTP and over HTTPS, and again with b.latency added
// to every upstream request of both sides; then warm (the mirror filled by
// the cold runs) against GOPROXY=file:// on the same store; then the
// snapshot hash of the first graph.
func (b *bench) network() error {
	if err := checkRealProxy(); err != nil {
		return fmt.Errorf("the real proxy is not reachable (%v)", err)
	}
	upstreams := map[bool]string{false: realProxy}
	variants := []coldVariant{{}, {tls: true}}
	if b.latency > 0 {
		// The latency of a distant upstream, the same for the go command
		// and the mirror, over HTTPS with the run's certificate.
		delayed, err := benchutil.StartProxy(realProxy, b.latency, b.ca.CertFile, b.ca.KeyFile)
		if err != nil {
			return err
		}
		defer delayed.Close()
		upstreams[true] = delayed.URL
		variants = append(variants, coldVariant{delay: true}, coldVariant{tls: true, delay: true})
	}
	// The stores of the cold runs are removed at the end, not between
	// runs: on ext4 without a journal (this project's benchmark machine)
	// a new inode is not given a number freed in the last minute or more,
	// and the allocator scans past each one, so a mirror filling its store
	// seconds after the last run's thousands of files were removed spent
	// a tenth of its CPU in find_inode_bit. That is the benchmark's own
	// doing, not a mirror's: see docs/BENCHMARKS.md.
	defer func() {
		for _, d := range b.spent {
			benchutil.RemoveAll(d)
		}
		b.spent = nil
	}()
	for gi, gr := range graphs {
		if !b.graphs[gr.name] {
			continue
		}
		fmt.Printf("\n== go mod download all, %s (bench/testdata/%s)\n", gr.title, gr.name)
		dir, err := b.graphDir(gr.name)
		if err != nil {
			return err
		}
		filled, err := b.cold(gr, dir, upstreams, variants)
		if err != nil {
			return err
		}
		if err := b.warm(gr, dir, filled); err != nil {
			return err
		}
		if gi == 0 {
			if err := b.snapshotHash(gr, dir, filled); err != nil {
				return err
			}
		}
	}
	return nil
}

// cold runs the cold measurements of a graph and returns the data
// directory of a mirror that the last plain run filled.
func (b *bench) cold(gr graph, dir string, upstreams map[bool]string, variants []coldVariant) (string, error) {
	direct := map[bool][]time.Duration{}
	cold := make([][]time.Duration, len(variants))
	metrics := make([]string, len(variants))
	var filled string
	var mods downloadRun
	for i := range b.k8sRuns {
		var steps []func() error
		for _, delay := range []bool{false, true} {
			if upstreams[delay] == "" {
				continue
			}
			steps = append(steps, func() error {
				r, err := b.goModDownload(dir, upstreams[delay])
				if err != nil {
					return err
				}
				direct[delay] = append(direct[delay], r.elapsed)
				mods = r
				fmt.Printf("  run %d: straight to the upstream%s  %6.2fs (%d zips, %.1f MB)\n", i+1, latencyNote(delay, b.latency), r.elapsed.Seconds(), r.modules, float64(r.zipSize)/1e6)
				return nil
			})
		}
		for vi, v := range variants {
			steps = append(steps, func() error {
				data := filepath.Join(b.work, fmt.Sprintf("%s-mirror-%d-%d", gr.name, vi, i))
				m, err := b.startMirror(fmt.Sprintf("mirror-%s-cold-%d-%d", gr.name, vi, i),
					mirrorOptions{data: data, upstream: upstreams[v.delay], sumdb: realSumDB, tls: v.tls})
				if err != nil {
					return err
				}
				r, err := b.goModDownload(dir, m.url)
				if err == nil {
					cold[vi] = append(cold[vi], r.elapsed)
					fmt.Printf("  run %d: through an empty %-34s %6.2fs\n", i+1, v.String()+latencyNote(v.delay, b.latency), r.elapsed.Seconds())
					if sum, merr := mirrorTimes(m.url); merr == nil {
						metrics[vi] = sum
					}
				}
				m.stop()
				if err == nil && vi == 0 {
					if filled != "" {
						b.spent = append(b.spent, filled)
					}
					filled = data
				} else {
					b.spent = append(b.spent, data)
				}
				return err
			})
		}
		// Alternate the order, so that neither side always goes first
		// while the real proxy's caches warm up.
		if i%2 == 1 {
			slices.Reverse(steps)
		}
		for _, step := range steps {
			if err := step(); err != nil {
				return "", err
			}
		}
	}
	fmt.Printf("  metrics of the last run of each variant:\n")
	for vi, v := range variants {
		fmt.Printf("   %s%s:\n%s", v, latencyNote(v.delay, b.latency), metrics[vi])
		b.rowTime(fmt.Sprintf("cold go mod download all, %s: %s%s vs straight to the upstream", gr.title, v, latencyNote(v.delay, b.latency)),
			cold[vi], direct[v.delay], 1.1,
			fmt.Sprintf("%d zips, %.0f MB; median of %d; the go command reaches proxy.golang.org over HTTPS%s; the last cold mirror's metrics:\n%s",
				mods.modules, float64(mods.zipSize)/1e6, b.k8sRuns, throughDelay(v.delay), strings.TrimRight(metrics[vi], "\n")))
	}
	return filled, nil
}

func latencyNote(delay bool, d time.Duration) string {
	if !delay {
		return ""
	}
	return fmt.Sprintf(" (+%s per upstream request)", d)
}

func throughDelay(delay bool) string {
	if !delay {
		return ""
	}
	return " through the delaying proxy (both sides)"
}

// warm measures "go mod download all" through a mirror on a filled data
// directory against GOPROXY=file:// on its store, after one unmeasured run
// of each. Without it the first run, always the mirror's, met a mirror
// just started and had to read back any of the store's files the kernel
// dropped during the cold runs (minutes of them), which the file:// run
// after it then found in the page cache: in four full runs of the service
// graph the mirror's first run was its slowest in three, by 0.2-0.8 s of
// 6-8 s, and file://'s first, just after it, in one.
func (b *bench) warm(gr graph, dir, data string) error {
	m, err := b.startMirror("mirror-"+gr.name+"-warm", mirrorOptions{data: data, upstream: realProxy, sumdb: realSumDB})
	if err != nil {
		return err
	}
	defer m.stop()
	fileProxy := "file://" + filepath.Join(data, "cache", "download")
	for _, proxy := range []string{m.url, fileProxy} {
		r, err := b.goModDownload(dir, proxy)
		if err != nil {
			return err
		}
		fmt.Printf("  warm-up (not measured): GOPROXY=%s  %6.2fs\n", proxy, r.elapsed.Seconds())
	}
	var warm, file []time.Duration
	for i := range b.k8sRuns {
		steps := []struct {
			proxy string
			out   *[]time.Duration
		}{{m.url, &warm}, {fileProxy, &file}}
		if i%2 == 1 {
			steps[0], steps[1] = steps[1], steps[0]
		}
		for _, s := range steps {
			r, err := b.goModDownload(dir, s.proxy)
			if err != nil {
				return err
			}
			*s.out = append(*s.out, r.elapsed)
			fmt.Printf("  warm run %d: GOPROXY=%s  %6.2fs\n", i+1, s.proxy, r.elapsed.Seconds())
		}
	}
	b.rowTime(fmt.Sprintf("warm go mod download all, %s: filled mirror vs file:// on its store", gr.title), warm, file, 1.1,
		fmt.Sprintf("median of %d, after one unmeasured run of each", b.k8sRuns))
	return nil
}

// snapshotHash makes a snapshot of a graph from a filled mirror and times
// "modmirror snapshot hash" on it: wall time of the whole command, a warm
// page cache, the median of 5 after one unmeasured run.
func (b *bench) snapshotHash(gr graph, dir, data string) error {
	m, err := b.startMirror("mirror-"+gr.name+"-snapshot", mirrorOptions{data: data, upstream: realProxy, sumdb: realSumDB})
	if err != nil {
		return err
	}
	out := filepath.Join(b.work, "snapshot-"+gr.name)
	cmd := exec.Command(b.mirrorBin, "snapshot", "--upstream", m.url, "-o", out, dir)
	cmd.Env = cleanEnv()
	res, err := cmd.CombinedOutput()
	m.stop()
	if err != nil {
		return fmt.Errorf("modmirror snapshot: %v\n%s", err, res)
	}
	defer benchutil.RemoveAll(out)
	files, size, err := benchutil.TreeSize(out)
	if err != nil {
		return err
	}
	var rates []float64
	var secs []float64
	for i := range 6 {
		cmd := exec.Command(b.mirrorBin, "snapshot", "hash", out)
		cmd.Env = cleanEnv()
		start := time.Now()
		if res, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("modmirror snapshot hash: %v\n%s", err, res)
		}
		if i == 0 {
			continue
		}
		d := time.Since(start).Seconds()
		secs = append(secs, d*1000)
		rates = append(rates, float64(size)/d/1e6)
	}
	rate := benchutil.Median(rates)
	fmt.Printf("  modmirror snapshot hash: %d files, %.1f MB: %s ms; %.0f MB/s (median)\n", files, float64(size)/1e6, formatAll(secs, "%.1f"), rate)
	b.rows = append(b.rows, row{
		metric:   fmt.Sprintf("modmirror snapshot hash OUT, %s tree (%.0f MB), MB/s wall", gr.title, float64(size)/1e6),
		mirror:   fmt.Sprintf("%.0f", rate),
		baseline: "—",
		ratio:    "—",
		target:   ">= 1000 MB/s",
		verdict:  verdict(rate >= 1000),
		detail: fmt.Sprintf("%d files; wall time of the whole command, page cache warm, median of 5 after one unmeasured run: [%s] ms",
			files, formatAll(secs, "%.1f")),
	})
	return nil
}
