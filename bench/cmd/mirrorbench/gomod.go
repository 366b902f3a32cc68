package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
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

// graphDir returns the directory holding the main module, generating its
// go.sum first (with "go mod tidy" and "go mod download all" against the
// real proxy) if it is missing or regeneration was asked for.
func (b *bench) graphDir() (string, error) {
	dir := filepath.Join(b.root, "bench", "testdata", "k8s")
	if _, err := os.Stat(filepath.Join(dir, "go.sum")); err == nil && !b.regenGoSum {
		return dir, nil
	}
	fmt.Printf("generating %s/go.sum with the real proxy\n", dir)
	tmp, err := os.MkdirTemp(b.work, "gosum-")
	if err != nil {
		return "", err
	}
	defer benchutil.RemoveAll(tmp)
	env := goEnv(realProxy, tmp)
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
func goEnv(proxy, dir string) []string {
	return cleanEnv(
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
	b.checkQuiet("go mod download (GOPROXY=" + proxy + ")")

	cmd := exec.Command(b.goBin, "mod", "download", "-json", "all")
	cmd.Dir, cmd.Env = proj, goEnv(proxy, dir)
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
		return run, errors.New("go mod download changed go.sum: bench/testdata/k8s/go.sum is incomplete; rerun with -regen-gosum")
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

// k8s measures "go mod download all" of the graph of k8s.io/client-go: cold
// (an empty mirror filling from the real proxy, verifying against the real
// checksum database) against the real proxy directly, and warm (the mirror
// filled by the cold runs) against GOPROXY=file:// on the same store.
func (b *bench) k8s() error {
	if err := checkRealProxy(); err != nil {
		return fmt.Errorf("the real proxy is not reachable (%v)", err)
	}
	graph, err := b.graphDir()
	if err != nil {
		return err
	}
	var cold, direct, warm, file []time.Duration
	var lastData string
	var mods downloadRun
	for i := range b.k8sRuns {
		data := filepath.Join(b.work, fmt.Sprintf("k8s-mirror-%d", i))
		runMirror := func() error {
			m, err := b.startMirror(fmt.Sprintf("mirror-k8s-cold-%d", i), mirrorOptions{data: data, upstream: realProxy, sumdb: realSumDB})
			if err != nil {
				return err
			}
			defer m.stop()
			r, err := b.goModDownload(graph, m.url)
			if err != nil {
				return err
			}
			cold = append(cold, r.elapsed)
			mods = r
			fmt.Printf("  cold run %d: through an empty mirror  %6.2fs (%d zips, %.1f MB)\n", i+1, r.elapsed.Seconds(), r.modules, float64(r.zipSize)/1e6)
			if sum, err := mirrorTimes(m.url); err == nil {
				fmt.Print(sum)
				b.coldTimes = sum
			}
			return nil
		}
		runDirect := func() error {
			r, err := b.goModDownload(graph, realProxy)
			if err != nil {
				return err
			}
			direct = append(direct, r.elapsed)
			fmt.Printf("  cold run %d: straight to %s  %6.2fs (%d zips)\n", i+1, realProxy, r.elapsed.Seconds(), r.modules)
			return nil
		}
		// Alternate the order, so that neither side always goes first
		// while the real proxy's caches warm up.
		steps := []func() error{runDirect, runMirror}
		if i%2 == 1 {
			steps[0], steps[1] = steps[1], steps[0]
		}
		for _, step := range steps {
			if err := step(); err != nil {
				return err
			}
		}
		lastData = data
	}
	b.rowTime("go mod download all, k8s.io/client-go@v0.31.0, cold (empty mirror vs proxy.golang.org)", cold, direct, 1.1,
		fmt.Sprintf("%d zips, %.0f MB; median of %d; the last cold mirror's metrics:\n%s", mods.modules, float64(mods.zipSize)/1e6, b.k8sRuns, strings.TrimRight(b.coldTimes, "\n")))

	m, err := b.startMirror("mirror-k8s-warm", mirrorOptions{data: lastData, upstream: realProxy, sumdb: realSumDB})
	if err != nil {
		return err
	}
	defer m.stop()
	fileProxy := "file://" + filepath.Join(lastData, "cache", "download")
	for i := range b.k8sRuns {
		steps := []struct {
			proxy string
			out   *[]time.Duration
		}{{m.url, &warm}, {fileProxy, &file}}
		if i%2 == 1 {
			steps[0], steps[1] = steps[1], steps[0]
		}
		for _, s := range steps {
			r, err := b.goModDownload(graph, s.proxy)
			if err != nil {
				return err
			}
			*s.out = append(*s.out, r.elapsed)
			fmt.Printf("  warm run %d: GOPROXY=%s  %6.2fs\n", i+1, s.proxy, r.elapsed.Seconds())
		}
	}
	b.rowTime("go mod download all, k8s.io/client-go@v0.31.0, warm (filled mirror vs file:// on its store)", warm, file, 1.1,
		fmt.Sprintf("median of %d", b.k8sRuns))
	return nil
}
