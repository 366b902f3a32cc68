package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/modmirror/modmirror/bench/internal/benchutil"
	"golang.org/x/mod/module"
)

// An endpoint is one server's URL for one file.
type endpoint struct {
	name string
	url  string
	srv  *server
}

// local runs the measurements that need nothing but this machine: memory,
// warm requests per second, the list, and the large zip's transfer rate,
// then breaks the small-file figures down with Go baselines.
func (b *bench) local(tb *benchutil.ProgramTB) error {
	fmt.Printf("\n== fixtures: %d MiB zip of random files, small module with 20 versions\n", b.bigMiB)
	t0 := time.Now()
	up := startUpstream(tb, fixtures(20, b.bigMiB))
	fmt.Printf("fixture upstream %s (checksum database %s), built in %s\n", up.URL, up.SumDBName(), time.Since(t0).Round(time.Millisecond))

	bigZip := urlPath(bigPath, version+".zip")
	smallZip := urlPath(smallPath, version+".zip")
	smallInfo := urlPath(smallPath, version+".info")
	smallMod := urlPath(smallPath, version+".mod")
	smallList := urlPath(smallPath, "list")

	ctx := context.Background()
	bigData, err := get(ctx, up.URL+bigZip)
	if err != nil {
		return err
	}
	bigSize := int64(len(bigData))
	bigSum := sha256.Sum256(bigData)
	bigData = nil
	mb := func(n int64) float64 { return float64(n) / 1e6 }

	data := filepath.Join(b.work, "data")
	store := filepath.Join(data, "cache", "download")
	opts := mirrorOptions{data: data, upstream: up.URL, sumdb: up.VerifierKey()}

	// 4. Memory while many clients download a large zip: first cold (one
	// fill, everyone waits for it), then warm in a new process, so that
	// each has its own high-water mark.
	fmt.Printf("\n== memory: %d clients download a %.1f MB zip\n", b.rssClients, mb(bigSize))
	m, err := b.startMirror("mirror-cold", opts)
	if err != nil {
		return err
	}
	cold, err := concurrentDownloads(m.url+bigZip, bigSize, b.rssClients, m.pid())
	m.stop()
	if err != nil {
		return err
	}
	if err := sameFile(filepath.Join(store, filepath.FromSlash(bigZip[1:])), bigSum); err != nil {
		return err
	}
	m, err = b.startMirror("mirror", opts)
	if err != nil {
		return err
	}
	defer m.stop()
	warm, err := concurrentDownloads(m.url+bigZip, bigSize, b.rssClients, m.pid())
	if err != nil {
		return err
	}
	for _, x := range []struct {
		name string
		mem  memory
	}{{"cold fill", cold}, {"warm", warm}} {
		fmt.Printf("%s: VmHWM %.1f MB, sampled VmRSS max %.1f MB mean %.1f MB (%d samples), idle %.1f MB, %s for all clients\n",
			x.name, mb(x.mem.peak), mb(x.mem.maxSampled), mb(x.mem.meanSampled), x.mem.samples, mb(x.mem.idle), x.mem.elapsed.Round(time.Millisecond))
		b.rows = append(b.rows, row{
			metric:   fmt.Sprintf("RSS peak (VmHWM), %d clients x %.0f MB zip, %s", b.rssClients, mb(bigSize), x.name),
			mirror:   fmt.Sprintf("%.1f MB", mb(x.mem.peak)),
			baseline: fmt.Sprintf("idle %.1f MB", mb(x.mem.idle)),
			ratio:    "—",
			target:   "<= 100 MB",
			verdict:  verdict(x.mem.peak <= 100e6),
			detail: fmt.Sprintf("sampled VmRSS every 10ms: max %.1f MB, mean %.1f MB; all %d downloads took %s (%.2f GB/s together)",
				mb(x.mem.maxSampled), mb(x.mem.meanSampled), b.rssClients, x.mem.elapsed.Round(time.Millisecond),
				float64(bigSize)*float64(b.rssClients)/x.mem.elapsed.Seconds()/1e9),
		})
	}

	// Fill the small module's files and the list cache, checking that the
	// mirror serves what the upstream serves; then start the baselines on
	// the same store and check that they serve the same bytes.
	for _, p := range []string{smallInfo, smallMod, smallZip} {
		want, err := get(ctx, up.URL+p)
		if err != nil {
			return err
		}
		if err := sameBody(m.url+p, want); err != nil {
			return err
		}
	}
	kinds := []hitKind{{name: ".info", path: smallInfo}, {name: ".mod", path: smallMod}, {name: "/@v/list", path: smallList},
		{name: "zip 3 KB", path: smallZip}}
	for _, z := range sizedZips {
		p := urlPath(z.path, version+".zip")
		want, err := get(ctx, up.URL+p)
		if err != nil {
			return err
		}
		if err := sameBody(m.url+p, want); err != nil {
			return err
		}
		kinds = append(kinds, hitKind{name: z.name, path: p})
	}
	list, err := get(ctx, m.url+smallList)
	if err != nil {
		return err
	}
	n, err := b.startNginx(filepath.Join(b.work, "nginx"), store, smallZip[1:])
	if err != nil {
		return err
	}
	defer n.stop()
	g, err := b.startGostatic(store, false)
	if err != nil {
		return err
	}
	defer g.stop()
	// The same mirror without its in-memory cache of small files, where
	// the binary has one, shows what the cache is worth.
	var nocache *server
	if b.mirrorHasFlag("memory-cache-mb") {
		o := opts
		o.extra = []string{"--memory-cache-mb=0"}
		if o.data, err = b.copyData(data, "data-nocache"); err != nil {
			return err
		}
		if nocache, err = b.startMirror("mirror-nocache", o); err != nil {
			return err
		}
		defer nocache.stop()
	}
	// Every server must serve the same bytes (the list: the mirror's from
	// its TTL cache, the others the stored file, which may differ).
	for i, k := range kinds {
		want, err := get(ctx, m.url+k.path)
		if err != nil {
			return err
		}
		kinds[i].size = len(want)
		urls := []string{n.url + k.path, g.url + "/open" + k.path, g.url + "/corked" + k.path}
		if k.path == smallInfo || k.path == smallZip {
			urls = append(urls, g.url+"/newfile"+k.path, g.url+"/lean"+k.path, g.url+"/memsc"+k.path, g.url+"/mem"+k.path)
			if nocache != nil {
				urls = append(urls, nocache.url+k.path)
			}
		}
		for _, u := range urls {
			if err := sameAnswer(k, u, want); err != nil {
				return err
			}
		}
	}
	storedList, err := get(ctx, n.url+smallList)
	if err != nil {
		return err
	}
	fmt.Printf("\nmodmirror %s (pid %d), nginx %s (pid %d), gostatic %s (pid %d)\nstore %s\n", m.url, m.pid(), n.url, n.pid(), g.url, g.pid(), store)
	fmt.Printf("wrk -t%d -c%d -d%s, %d runs per server; wrk, the server and this program share %d CPUs\n",
		b.threads, b.conns, b.dur, b.repeat, runtime.NumCPU())

	at := func(s *server, p string) endpoint { return endpoint{name: s.name, url: s.url + p, srv: s} }
	latency := func(ls []load) string {
		return fmt.Sprintf("p50 %s p99 %s, %.0f B/response incl. headers", ls[0].p50, ls[0].p99, float64(ls[0].bytes)/float64(ls[0].requests))
	}

	// 1. Hits of every kind and size: modmirror against the bare Go
	// server on the same store, nginx beside them.
	fmt.Println("\n== hits: requests/s of every kind and size, modmirror, bare Go (gostatic /open/), nginx")
	hits, err := b.hitMatrix("HTTP", kinds, m, g, n)
	if err != nil {
		return err
	}
	infoMirror, infoNginx := hits[".info"][0], hits[".info"][2]
	zipMirror, zipNginx := hits["zip 3 KB"][0], hits["zip 3 KB"][2]
	res, err := b.compare(".info gzip", "Accept-Encoding: gzip", 1, at(m, smallInfo), at(n, smallInfo))
	if err != nil {
		return err
	}
	b.rowRate("  (info) .info with Accept-Encoding: gzip, as the go command sends, vs nginx", rps(res[0]), rps(res[1]), "%.0f", 0,
		"one run each; modmirror "+latency(res[0])+"; nginx "+latency(res[1]))
	// modmirror corks the connection while it writes a zip (proxy/cork.go);
	// the bare Go server can do that too, and here does, for comparison.
	for _, k := range kinds {
		if !strings.HasPrefix(k.name, "zip ") || k.size < 10<<10 {
			continue
		}
		res, err := b.compare(k.name+" corked", "", 1, at(m, k.path), at(g, "/corked"+k.path))
		if err != nil {
			return err
		}
		b.rowRate(fmt.Sprintf("  (info) %s over HTTP, vs bare Go corked as modmirror corks", k.name), rps(res[0]), rps(res[1]), "%.0f", 0, "one run each")
	}

	// 2. The version list, from the mirror's TTL cache: also an absolute
	// target.
	listRPS := benchutil.Median(rps(hits["/@v/list"][0]))
	b.rows = append(b.rows, row{
		metric:   fmt.Sprintf("/@v/list req/s within the list TTL (%d versions, %d B)", strings.Count(string(list), "\n"), len(list)),
		mirror:   fmt.Sprintf("%.0f", listRPS),
		baseline: "—",
		ratio:    "—",
		target:   ">= 20000 req/s",
		verdict:  verdict(listRPS >= 20000),
		detail:   fmt.Sprintf("the /@v/list runs above; nginx and the bare Go server serve the stored list file (%d B)", len(storedList)),
	})
	// 1b. The same hits over HTTPS, as private modules are served:
	// modmirror with --tls-cert against the bare Go server with the same
	// certificate (net/http cannot use sendfile through TLS).
	fmt.Println("\n== hits over HTTPS: modmirror --tls-cert, bare Go with ListenAndServeTLS")
	tlsData, err := b.copyData(data, "data-tls")
	if err != nil {
		return err
	}
	mtls, err := b.startMirror("mirror-tls", mirrorOptions{data: tlsData, upstream: up.URL, sumdb: up.VerifierKey(), tls: true})
	if err != nil {
		return err
	}
	defer mtls.stop()
	gt, err := b.startGostatic(store, true)
	if err != nil {
		return err
	}
	defer gt.stop()
	for _, k := range kinds {
		want, err := get(ctx, m.url+k.path)
		if err != nil {
			return err
		}
		for _, u := range []string{mtls.url + k.path, gt.url + "/open" + k.path} {
			if err := sameAnswer(k, u, want); err != nil {
				return err
			}
		}
	}
	if _, err := b.hitMatrix("HTTPS", kinds, mtls, gt, nil); err != nil {
		return err
	}
	mtls.stop()
	gt.stop()

	offData, err := b.copyData(data, "data-offline")
	if err != nil {
		return err
	}
	off, err := b.startMirror("mirror-offline", mirrorOptions{data: offData, upstream: up.URL, sumdb: up.VerifierKey(), offline: true})
	if err != nil {
		return err
	}
	res, err = b.compare("list", "", 1, at(off, smallList), at(n, smallList))
	off.stop()
	if err != nil {
		return err
	}
	b.rowRate("  (info) /@v/list req/s with --offline (read from the store), vs nginx", rps(res[0]), rps(res[1]), "%.0f", 0, "one run each")

	// 3. One client downloading the large zip.
	fmt.Printf("\n== one client downloads the %.1f MB zip for %s\n", mb(bigSize), b.dur)
	var mt, nt []float64
	for rep := range b.repeat {
		servers := []*server{m, n}
		if rep%2 == 1 {
			servers[0], servers[1] = servers[1], servers[0]
		}
		for _, s := range servers {
			var count int
			l, err := b.measure("large zip "+s.name, s, func() (load, time.Duration, error) {
				bps, n, err := throughput(s.url+bigZip, bigSize, b.dur)
				count = n
				// As a load of one second: perSecond is bytes per second.
				return load{requests: int64(bps), duration: time.Second}, 0, err
			})
			if err != nil {
				return err
			}
			bps := l.perSecond()
			if s == m {
				mt = append(mt, bps/1e9)
			} else {
				nt = append(nt, bps/1e9)
			}
			fmt.Printf("  %-14s run %d: %.2f GB/s (%d downloads)  other work %2.0f%%\n", s.name, rep+1, bps/1e9, count, l.foreign*100)
		}
	}
	b.rowRate(fmt.Sprintf("large zip (%.0f MB), one client, GB/s, vs nginx", mb(bigSize)), mt, nt, "%.2f", 0,
		"GB = 10^9 bytes; client: Go net/http reading with a 1 MiB buffer")

	// Where the small-file gap comes from: Go baselines on the same
	// store, and system calls per request.
	fmt.Println("\n== breakdown: Go baselines and system calls per request")
	for _, f := range []struct {
		name, path      string
		mirror, nginx   []load
		breakdownColumn int
	}{{".info", smallInfo, infoMirror, infoNginx, 0}, {"small zip", smallZip, zipMirror, zipNginx, 1}} {
		eps := []endpoint{at(n, f.path), at(m, f.path)}
		if nocache != nil {
			eps = append(eps, at(nocache, f.path))
		}
		eps = append(eps,
			endpoint{name: "go-open", url: g.url + "/open" + f.path, srv: g},
			endpoint{name: "go-newfile", url: g.url + "/newfile" + f.path, srv: g},
			endpoint{name: "go-lean", url: g.url + "/lean" + f.path, srv: g},
			endpoint{name: "go-memsc", url: g.url + "/memsc" + f.path, srv: g},
			endpoint{name: "go-mem", url: g.url + "/mem" + f.path, srv: g})
		// nginx and modmirror were measured above; the rest once each.
		res, err := b.compare(f.name, "", 1, eps[2:]...)
		if err != nil {
			return err
		}
		perSecond := [][]float64{rps(f.nginx), rps(f.mirror)}
		for _, r := range res {
			perSecond = append(perSecond, rps(r))
		}
		for i, ep := range eps {
			calls, err := b.syscallsPerRequest(ep)
			if err != nil {
				b.notes = append(b.notes, "system calls not counted: "+err.Error())
				calls = -1
			}
			b.addBreakdown(ep.name, f.breakdownColumn, benchutil.Median(perSecond[i]), calls)
		}
	}

	if b.profile {
		b.perf(m.pid(), m.url+smallZip, "zip")
		b.perf(m.pid(), m.url+smallInfo, "info")
	}
	return nil
}

// compare loads each endpoint reps times for b.dur, after one warm-up run
// each, alternating the order between repetitions. It returns the loads by
// endpoint.
func (b *bench) compare(what, header string, reps int, eps ...endpoint) ([][]load, error) {
	out := make([][]load, len(eps))
	for _, ep := range eps {
		if _, err := b.wrk(ep.url, b.warmup, header); err != nil {
			return nil, err
		}
	}
	for rep := range reps {
		for i := range eps {
			j := i
			if rep%2 == 1 {
				j = len(eps) - 1 - i
			}
			ep := eps[j]
			l, err := b.measure(ep.name+" "+what, ep.srv, func() (load, time.Duration, error) {
				return b.wrkCPU(ep.url, b.dur, header)
			})
			if err != nil {
				return nil, err
			}
			out[j] = append(out[j], l)
			fmt.Printf("  %-14s %-12s run %d: %9.0f req/s  %7.2f MB/s  p50 %-8s p99 %-9s %5.0f B/response  other work %2.0f%%\n",
				ep.name, what, rep+1, l.perSecond(), l.bytesPerSecond()/1e6, l.p50, l.p99, float64(l.bytes)/float64(l.requests), l.foreign*100)
		}
	}
	return out, nil
}

func rps(ls []load) []float64 {
	var out []float64
	for _, l := range ls {
		out = append(out, l.perSecond())
	}
	return out
}

// syscallsPerRequest counts the system calls of an endpoint's server
// processes (nginx: master and workers) during a 3-second wrk run, with
// perf's raw_syscalls:sys_enter tracepoint, and divides by the requests.
func (b *bench) syscallsPerRequest(ep endpoint) (float64, error) {
	perfBin, err := exec.LookPath("perf")
	if err != nil {
		return 0, fmt.Errorf("perf is not installed")
	}
	pids := []string{strconv.Itoa(ep.srv.pid())}
	if kids, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", ep.srv.pid(), ep.srv.pid())); err == nil {
		pids = append(pids, strings.Fields(string(kids))...)
	}
	const secs = 3
	b.checkQuiet("counting system calls of " + ep.name)
	stat := exec.Command(perfBin, "stat", "-x", ",", "-e", "raw_syscalls:sys_enter", "-p", strings.Join(pids, ","), "--", "sleep", strconv.Itoa(secs))
	var out bytes.Buffer
	stat.Stdout, stat.Stderr = &out, &out
	if err := stat.Start(); err != nil {
		return 0, err
	}
	l, err := b.wrk(ep.url, secs*time.Second, "")
	if werr := stat.Wait(); err == nil && werr != nil {
		err = fmt.Errorf("perf stat: %v: %s", werr, out.Bytes())
	}
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(out.String(), "\n") {
		f := strings.Split(line, ",")
		if len(f) > 2 && f[2] == "raw_syscalls:sys_enter" {
			n, err := strconv.ParseFloat(f[0], 64)
			if err != nil {
				return 0, fmt.Errorf("perf stat: %q", line)
			}
			calls := n / float64(l.requests)
			fmt.Printf("  %-14s %.1f system calls per request (%.0f req/s under perf)\n", ep.name, calls, l.perSecond())
			return calls, nil
		}
	}
	return 0, fmt.Errorf("perf stat printed no count: %s", out.Bytes())
}

// checkQuiet waits until other work leaves the CPUs nearly idle, so that a
// measurement has the machine to itself; if they stay busy it goes ahead
// and notes that the figure may be low. All the waits of a run together are
// limited by -quiet-wait.
func (b *bench) checkQuiet(phase string) {
	start := time.Now()
	deadline := start.Add(b.quietWait)
	defer func() { b.quietWait = max(0, b.quietWait-time.Since(start)) }()
	waited := false
	for {
		busy := cpuBusy(300 * time.Millisecond)
		if busy <= 0.15 {
			if waited {
				fmt.Printf("  (the CPUs are quiet again)\n")
			}
			return
		}
		if time.Now().After(deadline) {
			msg := fmt.Sprintf("CPUs %.0f%% busy with other work before %s: that figure may be low", busy*100, phase)
			fmt.Println("  WARNING:", msg)
			b.notes = append(b.notes, msg)
			return
		}
		if !waited {
			fmt.Printf("  (waiting: CPUs %.0f%% busy with other work before %s)\n", busy*100, phase)
			waited = true
		}
		time.Sleep(2 * time.Second)
	}
}

// startGostatic runs the Go baseline server on store, serving HTTPS with
// the run's certificate if tls is set.
func (b *bench) startGostatic(store string, tls bool) (*server, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	name, url, args := "gostatic", "http://"+addr, []string{"-listen", addr, "-root", store}
	if tls {
		name, url = "gostatic-tls", "https://"+addr
		args = append(args, "-tls-cert", b.ca.CertFile, "-tls-key", b.ca.KeyFile)
	}
	cmd := b.serverCommand(b.gostaticBin, args...)
	cmd.Env = cleanEnv()
	return start(name, url, filepath.Join(b.work, name+".log"), cmd, func() error { return getOK(url + "/") })
}

// urlPath returns the URL path of a file of a module's @v directory.
func urlPath(modPath, file string) string {
	ep, err := module.EscapePath(modPath)
	if err != nil {
		panic(err)
	}
	return "/" + ep + "/@v/" + file
}

// sameAnswer checks that url serves the file of kind k as want. A list
// need only be served: the mirror answers it from its TTL cache, the other
// servers with the stored file, which may differ.
func sameAnswer(k hitKind, url string, want []byte) error {
	if k.name == "/@v/list" {
		_, err := get(context.Background(), url)
		return err
	}
	return sameBody(url, want)
}

// sameBody checks that url serves want.
func sameBody(url string, want []byte) error {
	got, err := get(context.Background(), url)
	if err != nil {
		return err
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("%s serves %d bytes that differ from the %d expected", url, len(got), len(want))
	}
	return nil
}

// sameFile checks that a stored file has the SHA-256 sum want.
func sameFile(name string, want [32]byte) error {
	f, err := os.Open(name)
	if err != nil {
		return fmt.Errorf("the cold fill stored no zip: %v", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return err
	}
	if [32]byte(h.Sum(nil)) != want {
		return fmt.Errorf("the stored zip %s differs from the upstream's", name)
	}
	return nil
}
