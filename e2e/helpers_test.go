package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/modmirror/modmirror/internal/goenv"
	"github.com/modmirror/modmirror/internal/syncbuf"

	"github.com/modmirror/modmirror/internal/testupstream"
)

// Set by TestMain.
var (
	modmirrorBin string // the modmirror binary built for this run
	goBin        string // the go command
	goCache      string // GOCACHE of every go command the tests run
)

// Time limits, generous enough for a loaded machine with -race.
const (
	startTimeout = 20 * time.Second // until a mirror answers /healthz
	stopTimeout  = 45 * time.Second // from SIGTERM to exit (the mirror allows 30s)
	goTimeout    = 2 * time.Minute  // one go command
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	var err error
	goBin, err = exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	root, err := moduleRoot()
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		return 1
	}
	tmp, err := os.MkdirTemp("", "modmirror-e2e-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		return 1
	}
	defer os.RemoveAll(tmp)

	// The build of the binary itself uses the caller's environment: its
	// dependencies come from the caller's module cache, like the test's own.
	modmirrorBin = filepath.Join(tmp, "modmirror")
	args := []string{"build", "-o", modmirrorBin}
	if raceEnabled {
		// A data race in the server then makes it exit 66, not 0, which
		// every test checks at cleanup.
		args = append(args, "-race")
	}
	build := exec.Command(goBin, append(args, "./cmd/modmirror")...)
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: building modmirror: %v\n%s", err, out)
		return 1
	}

	goCache = userGoCache()
	if goCache == "" {
		goCache = filepath.Join(tmp, "gocache")
	}
	return m.Run()
}

// moduleRoot returns the root of the modmirror module: the parent of the
// directory of this file.
func moduleRoot() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("cannot locate the test's source file")
	}
	root := filepath.Dir(filepath.Dir(file))
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		return "", fmt.Errorf("module root: %w", err)
	}
	return root, nil
}

// userGoCache returns the caller's build cache, or "" if it has none.
func userGoCache() string {
	out, err := exec.Command(goBin, "env", "GOCACHE").Output()
	dir := strings.TrimSpace(string(out))
	if err != nil || dir == "" || dir == "off" {
		return ""
	}
	return dir
}

// A mirror is a running modmirror serve process.
type mirror struct {
	URL  string // the value for GOPROXY: http://127.0.0.1:<port>[<base path>]
	Root string // http://127.0.0.1:<port>, where /healthz and /metrics are
	Data string // its --data directory

	// Client is an HTTP client for the mirror: one that trusts its
	// certificate, if it serves HTTPS.
	Client *http.Client

	cmd  *exec.Cmd
	log  *logBuffer
	done chan struct{} // closed when the process has exited
	err  error         // from cmd.Wait, set before done is closed

	stopOnce sync.Once
}

// startMirror runs "modmirror serve" on a free port of 127.0.0.1, in front of
// the fixture up (--upstream up.URL --sumdb up.VerifierKey()), with the data
// directory data (a new temporary directory if empty), logging JSON at debug
// level. Flags in extra come last, so they can override those. It returns
// once the mirror answers HTTP requests. At cleanup it stops the mirror with
// SIGTERM, fails the test unless it exits 0, and prints the mirror's log if
// the test failed.
func startMirror(t *testing.T, up *testupstream.Server, data string, extra ...string) *mirror {
	t.Helper()
	return startMirrorClient(t, up, data, nil, extra...)
}

// startMirrorClient is startMirror for a mirror that the default HTTP
// client cannot reach, such as one serving HTTPS with a test certificate:
// client, which becomes the mirror's Client, checks that it is up.
func startMirrorClient(t *testing.T, up *testupstream.Server, data string, client *http.Client, extra ...string) *mirror {
	t.Helper()
	return startMirrorWrapped(t, up, data, client, nil, extra...)
}

// startMirrorWrapped is startMirrorClient with the command line given to
// wrap, which returns the command to run instead (such as the mirror in a
// mount namespace of its own); the process it starts must become the
// mirror (exec), so that signals reach it.
func startMirrorWrapped(t *testing.T, up *testupstream.Server, data string, client *http.Client, wrap func(args []string) []string, extra ...string) *mirror {
	t.Helper()
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	if data == "" {
		data = t.TempDir()
	}
	args := []string{"serve",
		"--listen", "127.0.0.1:0",
		"--data", data,
		"--upstream", up.URL,
		"--sumdb", up.VerifierKey(),
		"--log-format", "json",
		"--log-level", "debug",
	}
	args = append(args, extra...)

	m := &mirror{Data: data, Client: client, log: new(logBuffer), done: make(chan struct{})}
	cmdline := append([]string{modmirrorBin}, args...)
	if wrap != nil {
		cmdline = wrap(cmdline)
	}
	m.cmd = exec.Command(cmdline[0], cmdline[1:]...)
	// Nothing of the caller's: the defaults of --upstream, --sumdb,
	// --private and --nosumdb come from GOPROXY, GOSUMDB, GOPRIVATE...,
	// and every flag from a MODMIRROR_* variable.
	m.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	m.cmd.Stdout = m.log
	m.cmd.Stderr = m.log
	if err := m.cmd.Start(); err != nil {
		t.Fatalf("starting modmirror: %v", err)
	}
	go func() {
		m.err = m.cmd.Wait()
		close(m.done)
	}()
	t.Cleanup(func() {
		m.Stop(t)
		if t.Failed() {
			t.Logf("modmirror %s log:\n%s", strings.Join(args, " "), m.log.String())
		}
	})

	// With --listen 127.0.0.1:0 the kernel picks the port, so there is no
	// race with other processes; the mirror logs the URL it serves.
	deadline := time.Now().Add(startTimeout)
	for m.URL == "" {
		if time.Now().After(deadline) {
			t.Fatalf("modmirror did not log its URL within %v", startTimeout)
		}
		select {
		case <-m.done:
			t.Fatalf("modmirror exited at start: %v", m.err)
		case <-time.After(10 * time.Millisecond):
		}
		for _, rec := range m.log.Records() {
			if rec["msg"] == "serving" {
				m.URL, _ = rec["url"].(string)
			}
		}
	}
	u, err := url.Parse(m.URL)
	if err != nil || u.Host == "" {
		t.Fatalf("modmirror logged the URL %q: %v", m.URL, err)
	}
	m.Root = u.Scheme + "://" + u.Host
	// Any answer from /healthz means the server is up; whether it says
	// "ok" is TestMetricsAndHealth's business.
	for {
		_, _, err := clientGet(m.Client, m.Root+"/healthz", "")
		if err == nil {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("modmirror /healthz: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Signal sends SIGTERM to the mirror.
func (m *mirror) Signal() {
	m.cmd.Process.Signal(syscall.SIGTERM)
}

// Kill kills the mirror with SIGKILL, as a crash or the OOM killer would,
// and waits for it to exit; cleanup then asks nothing more of it.
func (m *mirror) Kill() {
	m.stopOnce.Do(func() {
		m.cmd.Process.Kill()
		<-m.done
	})
}

// withEnv returns a wrapper for startMirrorWrapped that adds the variables
// vars (NAME=value) to the mirror's environment.
func withEnv(vars ...string) func([]string) []string {
	return func(args []string) []string {
		return append(append([]string{"env"}, vars...), args...)
	}
}

// Wait waits for the mirror to exit and returns its exit code, or fails the
// test if it does not exit in time.
func (m *mirror) Wait(t *testing.T) int {
	t.Helper()
	select {
	case <-m.done:
	case <-time.After(stopTimeout):
		m.cmd.Process.Kill()
		<-m.done
		t.Errorf("modmirror did not exit within %v of SIGTERM; killed", stopTimeout)
	}
	return m.cmd.ProcessState.ExitCode()
}

// Stop stops the mirror gracefully, with SIGTERM, and fails the test unless
// it exits 0. Calls after the first do nothing.
func (m *mirror) Stop(t *testing.T) {
	t.Helper()
	m.stopOnce.Do(func() {
		m.Signal()
		if code := m.Wait(t); code != 0 {
			t.Errorf("modmirror exited with status %d after SIGTERM, want 0 (%v)", code, m.err)
		}
	})
}

// Log returns everything the mirror has written so far.
func (m *mirror) Log() string { return m.log.String() }

// StorePath returns the path in the mirror's store of a slash-separated
// store name, such as "example.com/lib/@v/v1.0.0.zip".
func (m *mirror) StorePath(name string) string {
	return filepath.Join(m.Data, "cache", "download", filepath.FromSlash(name))
}

// FileProxy returns the mirror's store as a GOPROXY file:// URL.
func (m *mirror) FileProxy() string {
	return "file://" + filepath.ToSlash(filepath.Join(m.Data, "cache", "download"))
}

// A logBuffer collects a process's output; it is safe for concurrent use.
type logBuffer struct{ syncbuf.Buffer }

// Records returns the complete lines of the log that are JSON objects.
func (b *logBuffer) Records() []map[string]any {
	var recs []map[string]any
	sc := bufio.NewScanner(strings.NewReader(b.String()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var rec map[string]any
		if json.Unmarshal(sc.Bytes(), &rec) == nil {
			recs = append(recs, rec)
		}
	}
	return recs
}

// httpGet fetches url and returns the status code and body.
func httpGet(url string) (int, string, error) {
	return clientGet(&http.Client{Timeout: 10 * time.Second}, url, "")
}

// clientGet fetches url with client, sending the Authorization header auth
// if it is not empty, and returns the status code and body.
func clientGet(client *http.Client, url, auth string) (int, string, error) {
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		return 0, "", err
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// A goCommand runs the go command in a clean environment of its own.
type goCommand struct {
	t   *testing.T
	env map[string]string
}

// newGo returns a goCommand that uses proxy as GOPROXY and sumdb as
// GOSUMDB, with a fresh GOPATH, module cache and home directory. Nothing
// comes from the caller's environment but PATH (and TMPDIR): every variable
// that changes how modules are found or checked is set here.
func newGo(t *testing.T, proxy, sumdb string) *goCommand {
	gopath := t.TempDir()
	env := map[string]string{
		"PATH":         os.Getenv("PATH"),
		"HOME":         t.TempDir(),
		"GOENV":        "off", // no go env file
		"GOPATH":       gopath,
		"GOMODCACHE":   filepath.Join(gopath, "pkg", "mod"),
		"GOCACHE":      goCache,
		"GOFLAGS":      "-modcacherw", // so that t.TempDir can remove the cache
		"GOTOOLCHAIN":  "local",
		"GOWORK":       "off",
		"GOPROXY":      proxy,
		"GOSUMDB":      sumdb,
		"GONOSUMDB":    "",
		"GONOSUMCHECK": "",
		"GOPRIVATE":    "",
		"GONOPROXY":    "",
		"GOINSECURE":   "",
		"CGO_ENABLED":  "0",
	}
	if tmp := os.Getenv("TMPDIR"); tmp != "" {
		env["TMPDIR"] = tmp
	}
	// Nothing writes into $HOME once go exits, racing t.TempDir's removal.
	if err := goenv.TelemetryOff(env["HOME"]); err != nil {
		t.Fatal(err)
	}
	return &goCommand{t: t, env: env}
}

// ModCache returns the module cache directory.
func (g *goCommand) ModCache() string { return g.env["GOMODCACHE"] }

// A goResult is what one go command did.
type goResult struct {
	args           string
	stdout, stderr string
	err            error
}

func (r goResult) String() string {
	return fmt.Sprintf("go %s: %v\nstdout:\n%s\nstderr:\n%s", r.args, r.err, r.stdout, r.stderr)
}

// Run runs "go args..." in dir.
func (g *goCommand) Run(dir string, args ...string) goResult {
	g.t.Helper()
	cmd := g.Command(dir, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return goResult{strings.Join(args, " "), stdout.String(), stderr.String(), err}
}

// Command returns the command that runs "go args..." in dir, for a test
// that needs to start it and wait later. It is killed if it runs longer
// than goTimeout.
func (g *goCommand) Command(dir string, args ...string) *exec.Cmd {
	ctx, cancel := context.WithTimeout(context.Background(), goTimeout)
	g.t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, goBin, args...)
	cmd.Dir = dir
	for k, v := range g.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	return cmd
}

// OK runs "go args..." in dir, fails the test unless it succeeds, and
// returns its standard output.
func (g *goCommand) OK(dir string, args ...string) string {
	g.t.Helper()
	r := g.Run(dir, args...)
	if r.err != nil {
		g.t.Fatalf("%v", r)
	}
	return r.stdout
}

// Fail runs "go args..." in dir, fails the test if it succeeds, and returns
// its standard error.
func (g *goCommand) Fail(dir string, args ...string) string {
	g.t.Helper()
	r := g.Run(dir, args...)
	if r.err == nil {
		g.t.Fatalf("succeeded, want failure: %v", r)
	}
	if _, ok := r.err.(*exec.ExitError); !ok {
		g.t.Fatalf("did not run to a failure: %v", r)
	}
	return r.stderr
}

// writeModule writes files (slash-separated names relative to dir, and
// their content) into dir, which it creates, and returns dir.
func writeModule(t *testing.T, dir string, files map[string]string) string {
	t.Helper()
	for name, content := range files {
		file := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(file), 0o777); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, []byte(content), 0o666); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// runProgram runs a program built by a test and returns its output.
func runProgram(t *testing.T, exe string) string {
	t.Helper()
	out, err := exec.Command(exe).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", exe, err, out)
	}
	return string(out)
}

// exists reports whether a file exists.
func exists(file string) bool {
	_, err := os.Stat(file)
	return err == nil
}

// waitFor polls cond until it is true, failing the test after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
