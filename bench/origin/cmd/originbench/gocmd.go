package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/modmirror/modmirror/bench/internal/benchutil"
)

// cleanEnv returns the environment without the variables that would change
// how modmirror, git or the go command behave behind the benchmark's back.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "GO") && k != "GOROOT",
			strings.HasPrefix(k, "GIT_"),
			strings.HasPrefix(k, "MODMIRROR_"),
			strings.HasSuffix(strings.ToUpper(k), "_PROXY"):
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// A goRun is one timed "go mod download".
type goRun struct {
	elapsed  time.Duration
	version  string // what the query resolved to
	sum      string // h1: of the zip
	zipSize  int64
	gitStart int64   // the git server's byte count when it started
	gitBytes int64   // what the git server sent meanwhile (for a mirror, until its background work ended)
	other    float64 // share of the CPUs other work took meanwhile
	mirror   *breakdown
	output   string // with -x: the go command's standard error
}

// goEnv is the environment of one go command with a fresh HOME, GOPATH
// and module cache under dir. proxy is the mirror's URL, or "direct" for
// the go command's own git fetch from the git server gs.
func goEnv(dir, proxy string, gs *gitServer, goCache string) []string {
	env := cleanEnv(
		"HOME="+filepath.Join(dir, "home"),
		"GOPATH="+filepath.Join(dir, "gopath"),
		"GOMODCACHE="+filepath.Join(dir, "modcache"),
		"GOCACHE="+goCache,
		"GOENV=off",
		"GOWORK=off",
		"GOFLAGS=-modcacherw",
		"GOTOOLCHAIN=local",
		"GOPROXY="+proxy,
		"GOSUMDB=off",
		"GONOSUMDB="+modPath[:strings.IndexByte(modPath, '/')],
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_TERMINAL_PROMPT=0",
	)
	if proxy == "direct" {
		// As a CI job fetching a private module straight from git:
		// GOPRIVATE, and the git server as the HTTP proxy that answers
		// the go-import page (see gitServer).
		host := modPath[:strings.IndexByte(modPath, '/')]
		env = append(env,
			"GOPRIVATE="+host,
			"GOINSECURE="+host,
			"HTTP_PROXY="+gs.url,
			"HTTPS_PROXY="+gs.url,
			"NO_PROXY=127.0.0.1,localhost",
			"no_proxy=127.0.0.1,localhost",
		)
	} else {
		// GOPRIVATE would make the go command skip the proxy.
		env = append(env, "GOPRIVATE=", "GONOPROXY=")
	}
	return env
}

// goModDownload runs "go mod download -json query" in an empty directory
// with a fresh module cache under work, and times it.
func goModDownload(goBin, work, proxy, query string, gs *gitServer, goCache string, trace bool, mirrors ...*mirror) (goRun, error) {
	dir, err := os.MkdirTemp(work, "gomod-")
	if err != nil {
		return goRun{}, err
	}
	defer benchutil.RemoveAll(dir)
	for _, d := range []string{"home", "empty"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return goRun{}, err
		}
	}
	args := []string{"mod", "download", "-json"}
	if trace {
		args = append(args, "-x")
	}
	cmd := exec.Command(goBin, append(args, modPath+"@"+query)...)
	cmd.Dir = filepath.Join(dir, "empty")
	cmd.Env = goEnv(dir, proxy, gs, goCache)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	s := sampleCPU(mirrors...)
	start := time.Now()
	err = cmd.Run()
	run := goRun{elapsed: time.Since(start), other: foreign(s, sampleCPU(mirrors...)), output: stderr.String()}
	if err != nil {
		return run, fmt.Errorf("go mod download %s@%s (GOPROXY=%s): %v\n%s%s", modPath, query, proxy, err, stderr.Bytes(), stdout.Bytes())
	}
	var m struct {
		Path, Version, Error, Sum, Zip string
	}
	if err := json.Unmarshal(stdout.Bytes(), &m); err != nil {
		return run, fmt.Errorf("go mod download -json: %v\n%s", err, stdout.Bytes())
	}
	if m.Error != "" {
		return run, fmt.Errorf("go mod download %s@%s (GOPROXY=%s): %s", modPath, query, proxy, m.Error)
	}
	run.version, run.sum = m.Version, m.Sum
	if fi, err := os.Stat(m.Zip); err == nil {
		run.zipSize = fi.Size()
	}
	return run, nil
}

// traceLine matches what "go -x" prints after each command it ran: the
// time it took, then the command.
var traceLine = regexp.MustCompile(`^(\d+\.\d+)s # (.*)$`)

// gitTimes sums the times of the git commands in the output of "go -x",
// by git subcommand, and returns them with their total.
func gitTimes(output string) (string, time.Duration) {
	sums := map[string]time.Duration{}
	counts := map[string]int{}
	var total time.Duration
	for _, line := range strings.Split(output, "\n") {
		m := traceLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		secs, _ := strconv.ParseFloat(m[1], 64)
		d := time.Duration(secs * float64(time.Second))
		name := "other"
		if _, cmdline, ok := strings.Cut(m[2], "; git "); ok {
			name = "git " + subcommand(strings.Fields(cmdline))
		}
		sums[name] += d
		counts[name]++
		total += d
	}
	var names []string
	for n := range sums {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return sums[names[i]] > sums[names[j]] })
	var parts []string
	for _, n := range names {
		parts = append(parts, fmt.Sprintf("%s %dx %s", n, counts[n], ms(sums[n])))
	}
	return strings.Join(parts, ", "), total
}

// subcommand returns the git subcommand of its arguments, after any
// "-c key=value" options.
func subcommand(args []string) string {
	for len(args) >= 2 && args[0] == "-c" {
		args = args[2:]
	}
	if len(args) == 0 {
		return "?"
	}
	return args[0]
}

// gitCommands returns the git command lines of "go -x" output, with their
// times, for the record.
func gitCommands(output string) []string {
	var lines []string
	for _, line := range strings.Split(output, "\n") {
		if m := traceLine.FindStringSubmatch(line); m != nil {
			cmdline := m[2]
			if _, c, ok := strings.Cut(cmdline, "; "); ok {
				cmdline = c
			}
			lines = append(lines, fmt.Sprintf("%6ss  %s", m[1], cmdline))
		}
	}
	return lines
}
