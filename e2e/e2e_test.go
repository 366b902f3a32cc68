package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modmirror/modmirror/internal/testupstream"
)

// downloaded is what "go mod download -json" prints for one module.
type downloaded struct {
	Path, Version, Error string
	Zip                  string // the file in the module cache
	Sum, GoModSum        string // the go.sum hashes
}

// decodeDownloads parses the JSON stream "go mod download -json" prints.
func decodeDownloads(t *testing.T, out string) []downloaded {
	t.Helper()
	var mods []downloaded
	dec := json.NewDecoder(strings.NewReader(out))
	for {
		var d downloaded
		if err := dec.Decode(&d); err == io.EOF {
			return mods
		} else if err != nil {
			t.Fatalf("go mod download -json: %v\n%s", err, out)
		}
		mods = append(mods, d)
	}
}

// TestDownloadJSON downloads fixture modules through the mirror with
// "go mod download -json": the go.sum hashes it prints are the fixture's,
// verified by the go command against the fixture's checksum database
// through the mirror, and the zips it saved are the mirror's stored bytes.
func TestDownloadJSON(t *testing.T) {
	t.Parallel()
	up := newFixture(t)
	m := startMirror(t, up, "")
	g := newGo(t, m.URL, up.VerifierKey())

	queries := []string{libPath + "@v1.0.0", libPath + "@v1.3.0-RC1", azurePath + "@v1.0.0", legacyPath + "@" + legacyV2}
	out := g.OK(t.TempDir(), append([]string{"mod", "download", "-json"}, queries...)...)
	mods := decodeDownloads(t, out)
	if len(mods) != len(queries) {
		t.Fatalf("go mod download printed %d modules, want %d:\n%s", len(mods), len(queries), out)
	}
	for _, d := range mods {
		want := up.GoSumLines(d.Path, d.Version)
		got := []string{d.Path + " " + d.Version + " " + d.Sum, d.Path + " " + d.Version + "/go.mod " + d.GoModSum}
		if d.Error != "" || got[0] != want[0] || got[1] != want[1] {
			t.Errorf("%s@%s: error %q, go.sum lines\n\t%q\nwant\n\t%q", d.Path, d.Version, d.Error, got, want)
			continue
		}
		// The zip the go command saved is the one the mirror stored.
		zipName := strings.TrimPrefix(filepath.ToSlash(d.Zip), filepath.ToSlash(g.ModCache())+"/cache/download/")
		clientZip, err := os.ReadFile(d.Zip)
		if err != nil {
			t.Fatal(err)
		}
		storedZip, err := os.ReadFile(m.StorePath(zipName))
		if err != nil {
			t.Errorf("%s@%s: the mirror did not store %s: %v", d.Path, d.Version, zipName, err)
		} else if !bytes.Equal(clientZip, storedZip) {
			t.Errorf("%s@%s: the go command's zip differs from the mirror's stored one", d.Path, d.Version)
		}
	}
}

// buildHello writes helloModule into dir, adds example.com/lib@latest to it
// with go get, tidies it, builds it and returns what the program prints.
func buildHello(t *testing.T, g *goCommand, dir string) string {
	t.Helper()
	writeModule(t, dir, helloModule)
	g.OK(dir, "get", libPath+"@latest")
	g.OK(dir, "mod", "tidy")
	exe := filepath.Join(dir, "hello")
	g.OK(dir, "build", "-o", exe, ".")
	return runProgram(t, exe)
}

// TestGetTidyBuild is a developer's day: go get, go mod tidy and go build
// of a main module whose dependency comes through the mirror.
func TestGetTidyBuild(t *testing.T) {
	t.Parallel()
	up := newFixture(t)
	m := startMirror(t, up, "")
	g := newGo(t, m.URL, up.VerifierKey())
	dir := t.TempDir()

	if got, want := buildHello(t, g, dir), "hello from lib v1.1.0\n"; got != want {
		t.Errorf("program printed %q, want %q", got, want)
	}
	gosum, err := os.ReadFile(filepath.Join(dir, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range up.GoSumLines(libPath, "v1.1.0") {
		if !strings.Contains(string(gosum), line+"\n") {
			t.Errorf("go.sum lacks %q:\n%s", line, gosum)
		}
	}
	if out := g.OK(dir, "list", "-m", libPath); out != libPath+" v1.1.0\n" {
		t.Errorf("go list -m %s = %q, want v1.1.0", libPath, out)
	}
}

// TestUpstreamFallThrough runs mirrors whose --upstream lists put a broken
// proxy before the fixture: after "," the next entry is tried only when the
// first says not found, after "|" after any error. When the mirror cannot
// fill a miss, the go command prints its 502 and the reason, which names
// the upstream's own failure.
func TestUpstreamFallThrough(t *testing.T) {
	t.Parallel()
	up := newFixture(t)
	var notFoundHits, brokenHits atomic.Int64
	notFound := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		notFoundHits.Add(1)
		http.Error(w, "not found: "+r.URL.Path+": nothing here", http.StatusNotFound)
	}))
	t.Cleanup(notFound.Close)
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		brokenHits.Add(1)
		http.Error(w, "broken upstream: disk on fire", http.StatusInternalServerError)
	}))
	t.Cleanup(broken.Close)

	t.Run("notfound-comma", func(t *testing.T) {
		before := notFoundHits.Load()
		m := startMirror(t, up, "", "--upstream", notFound.URL+","+up.URL)
		downloadLib(t, newGo(t, m.URL, up.VerifierKey()), up, m)
		if notFoundHits.Load() == before {
			t.Errorf("the mirror never asked its first upstream")
		}
	})
	t.Run("error-pipe", func(t *testing.T) {
		before := brokenHits.Load()
		m := startMirror(t, up, "", "--upstream", broken.URL+"|"+up.URL)
		downloadLib(t, newGo(t, m.URL, up.VerifierKey()), up, m)
		if brokenHits.Load() == before {
			t.Errorf("the mirror never asked its first upstream")
		}
	})
	t.Run("error-comma", func(t *testing.T) {
		before := up.Requests("/example.com/lib/@v/v1.0.0.info")
		m := startMirror(t, up, "", "--upstream", broken.URL+","+up.URL)
		stderr := newGo(t, m.URL, up.VerifierKey()).Fail(t.TempDir(), "mod", "download", libPath+"@v1.0.0")
		for _, want := range []string{
			libPath + "@v1.0.0",
			m.URL,                       // the go command names the URL it read,
			"502 Bad Gateway",           // the mirror's status,
			broken.URL,                  // and the mirror's reason: the upstream,
			"500 Internal Server Error", // its status
			"disk on fire",              // and its own reason.
		} {
			if !strings.Contains(stderr, want) {
				t.Errorf("go mod download stderr lacks %q:\n%s", want, stderr)
			}
		}
		if up.Requests("/example.com/lib/@v/v1.0.0.info") != before {
			t.Errorf(`the mirror fell through to the fixture after a 500 and ","`)
		}
	})
}

// downloadLib downloads example.com/lib@v1.0.0 through m and checks what the
// go command printed and what m stored.
func downloadLib(t *testing.T, g *goCommand, up *testupstream.Server, m *mirror) {
	t.Helper()
	mods := decodeDownloads(t, g.OK(t.TempDir(), "mod", "download", "-json", libPath+"@v1.0.0"))
	want := up.GoSumLines(libPath, "v1.0.0")
	if len(mods) != 1 || mods[0].Error != "" || libPath+" v1.0.0 "+mods[0].Sum != want[0] || libPath+" v1.0.0/go.mod "+mods[0].GoModSum != want[1] {
		t.Errorf("go mod download -json printed %+v, want the sums %q", mods, want)
	}
	if !exists(m.StorePath(libV100Name)) {
		t.Errorf("the mirror did not store %s", libV100Name)
	}
}

// TestTamperedZipIsRefused serves a zip that does not match the checksum
// database: the mirror refuses it, the go command prints the mirror's
// SECURITY ERROR, nothing is stored, and once the upstream serves the right
// zip again the download works (the refusal was not cached).
func TestTamperedZipIsRefused(t *testing.T) {
	t.Parallel()
	up := newFixture(t)
	up.SetFault(libV100Zip, testupstream.TamperZip)
	m := startMirror(t, up, "")
	g := newGo(t, m.URL, up.VerifierKey())

	stderr := g.Fail(t.TempDir(), "mod", "download", libPath+"@v1.0.0")
	for _, want := range []string{"SECURITY ERROR", libPath + "@v1.0.0", "checksum mismatch", "502 Bad Gateway"} {
		if !strings.Contains(stderr, want) {
			// The go command prints at most 8 lines of a server's
			// error text, and none after the first blank line.
			t.Errorf("go mod download stderr lacks %q:\n%s", want, stderr)
		}
	}
	if up.Requests(libV100Zip) == 0 {
		t.Fatalf("the mirror never asked for the zip")
	}
	if exists(m.StorePath(libV100Name)) {
		t.Errorf("the mirror stored the tampered zip %s", libV100Name)
	}
	for _, dir := range []string{filepath.Join(m.Data, "tmp"), m.StorePath(".tmp")} {
		if left, _ := os.ReadDir(dir); len(left) > 0 {
			t.Errorf("temporary files left in %s: %v", dir, left)
		}
	}
	if !strings.Contains(m.Log(), `"level":"ERROR"`) {
		t.Errorf("the mirror logged no error about the tampered zip")
	}

	up.SetFault(libV100Zip, testupstream.FaultNone)
	downloadLib(t, newGo(t, m.URL, up.VerifierKey()), up, m)
}

// TestStoreIsFileProxy builds a main module through the mirror, stops the
// mirror and the fixture, and builds the module again with a fresh module
// cache and the mirror's store as GOPROXY=file://: the store is a complete
// GOPROXY, and go.sum spares the go command the checksum database.
func TestStoreIsFileProxy(t *testing.T) {
	t.Parallel()
	up := newFixture(t)
	m := startMirror(t, up, "")
	dir := t.TempDir()
	want := buildHello(t, newGo(t, m.URL, up.VerifierKey()), dir)
	m.Stop(t)
	up.Close()

	exe := filepath.Join(dir, "hello")
	if err := os.Remove(exe); err != nil {
		t.Fatal(err)
	}
	g := newGo(t, m.FileProxy(), up.VerifierKey())
	g.OK(dir, "build", "-o", exe, ".")
	if got := runProgram(t, exe); got != want {
		t.Errorf("program built offline printed %q, want %q", got, want)
	}
	if !exists(filepath.Join(g.ModCache(), "example.com", "lib@v1.1.0", "lib.go")) {
		t.Errorf("the offline build did not extract example.com/lib@v1.1.0 into its module cache")
	}
	g.OK(dir, "mod", "verify")
}

// fillAndStopUpstream starts a fixture and a mirror on data, builds the
// hello module through it in dir (which stores example.com/lib@v1.1.0 and
// nothing else of example.com/lib), and closes the fixture.
func fillAndStopUpstream(t *testing.T, data, dir string) (*testupstream.Server, *mirror) {
	t.Helper()
	up := newFixture(t)
	m := startMirror(t, up, data, "--list-ttl", "1ms")
	if got, want := buildHello(t, newGo(t, m.URL, up.VerifierKey()), dir), "hello from lib v1.1.0\n"; got != want {
		t.Fatalf("program printed %q, want %q", got, want)
	}
	up.Close()
	return up, m
}

// checkServesStored checks, with a fresh module cache, that m serves what
// fillAndStopUpstream stored: the hello module in dir builds, and the
// version list and latest version are the stored ones (the fixture also
// has v1.0.0, which was never stored). The go commands run in dir, whose
// go.sum spares them the checksum database (see TestChecksumDatabaseFromStore).
func checkServesStored(t *testing.T, g *goCommand, dir string) {
	t.Helper()
	exe := filepath.Join(dir, "hello")
	os.Remove(exe)
	g.OK(dir, "build", "-o", exe, ".")
	if got, want := runProgram(t, exe), "hello from lib v1.1.0\n"; got != want {
		t.Errorf("program printed %q, want %q", got, want)
	}
	mods := decodeDownloads(t, g.OK(dir, "mod", "download", "-json", libPath))
	if len(mods) != 1 || mods[0].Version != "v1.1.0" || mods[0].Error != "" || !exists(mods[0].Zip) {
		t.Errorf("go mod download -json %s printed %+v, want v1.1.0 downloaded", libPath, mods)
	}
	if got, want := g.OK(dir, "list", "-m", "-versions", libPath), libPath+" v1.1.0\n"; got != want {
		t.Errorf("go list -m -versions = %q, want the stored versions %q", got, want)
	}
	if got, want := g.OK(dir, "list", "-m", libPath+"@latest"), libPath+" v1.1.0\n"; got != want {
		t.Errorf("go list -m @latest = %q, want the stored %q", got, want)
	}
}

// TestOffline fills a mirror, stops it and its upstream, and restarts it
// with --offline on the same data directory: what was stored is served,
// and what was not is "not found", with the mirror's reason.
func TestOffline(t *testing.T) {
	t.Parallel()
	data, dir := t.TempDir(), t.TempDir()
	up, m := fillAndStopUpstream(t, data, dir)
	m.Stop(t)

	m = startMirror(t, up, data, "--offline")
	g := newGo(t, m.URL, up.VerifierKey())
	checkServesStored(t, g, dir)

	stderr := g.Fail(t.TempDir(), "mod", "download", libPath+"@v1.0.0")
	for _, want := range []string{libPath + "@v1.0.0", "404 Not Found", "not stored, and the mirror is offline"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("go mod download of a version not stored: stderr lacks %q:\n%s", want, stderr)
		}
	}
}

// TestUpstreamDown stops the upstream of a running mirror: what was stored
// is still served, lists and @latest come from the store, and what was not
// stored fails as an upstream failure (502), not as "not found".
func TestUpstreamDown(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	up, m := fillAndStopUpstream(t, "", dir)
	g := newGo(t, m.URL, up.VerifierKey())
	checkServesStored(t, g, dir)

	stderr := g.Fail(t.TempDir(), "mod", "download", libPath+"@v1.0.0")
	for _, want := range []string{libPath + "@v1.0.0", "502 Bad Gateway", up.URL} {
		if !strings.Contains(stderr, want) {
			t.Errorf("go mod download of a version not stored: stderr lacks %q:\n%s", want, stderr)
		}
	}
}

// TestEscapedPathAndIncompatible builds a module that needs a module path
// with capitals (escaped as "!azure" in URLs and in the store) and a
// +incompatible version without a go.mod.
func TestEscapedPathAndIncompatible(t *testing.T) {
	t.Parallel()
	up := newFixture(t)
	m := startMirror(t, up, "")
	g := newGo(t, m.URL, up.VerifierKey())
	dir := writeModule(t, t.TempDir(), map[string]string{
		"go.mod": "module example.com/app\n\ngo 1.22\n",
		"main.go": `package main

import (
	"fmt"

	"example.com/legacy"
	"github.com/Azure/go-greeter"
)

func main() { fmt.Println(greeter.Name(), legacy.Version()) }
`,
	})
	g.OK(dir, "get", azurePath+"@v1.0.0", legacyPath+"@"+legacyV2)
	g.OK(dir, "mod", "tidy")
	exe := filepath.Join(dir, "app")
	g.OK(dir, "build", "-o", exe, ".")
	if got, want := runProgram(t, exe), "Azure legacy v2, no go.mod\n"; got != want {
		t.Errorf("program printed %q, want %q", got, want)
	}
	gomod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{azurePath + " v1.0.0", legacyPath + " " + legacyV2} {
		if !strings.Contains(string(gomod), want) {
			t.Errorf("go.mod lacks %q:\n%s", want, gomod)
		}
	}
	for _, name := range []string{
		"github.com/!azure/go-greeter/@v/v1.0.0.zip",
		"example.com/legacy/@v/v2.0.0+incompatible.zip",
	} {
		if !exists(m.StorePath(name)) {
			t.Errorf("the mirror did not store %s", name)
		}
	}
	if mod, err := os.ReadFile(m.StorePath("example.com/legacy/@v/v2.0.0+incompatible.mod")); err != nil || string(mod) != "module example.com/legacy\n" {
		t.Errorf("stored go.mod of %s@%s: %q, %v; want the synthesized one", legacyPath, legacyV2, mod, err)
	}
}

// TestBranchQuery gets example.com/lib@main, a branch the upstream resolves
// to a pseudo-version.
func TestBranchQuery(t *testing.T) {
	t.Parallel()
	up := newFixture(t)
	m := startMirror(t, up, "")
	g := newGo(t, m.URL, up.VerifierKey())
	dir := writeModule(t, t.TempDir(), helloModule)
	g.OK(dir, "get", libPath+"@main")
	if got, want := g.OK(dir, "list", "-m", libPath), libPath+" "+libPseudo+"\n"; got != want {
		t.Errorf("after go get %s@main: go list -m = %q, want %q", libPath, got, want)
	}
	exe := filepath.Join(dir, "hello")
	g.OK(dir, "build", "-o", exe, ".")
	if got, want := runProgram(t, exe), "hello from lib main\n"; got != want {
		t.Errorf("program printed %q, want %q", got, want)
	}
	if !exists(m.StorePath("example.com/lib/@v/" + libPseudo + ".info")) {
		t.Errorf("the mirror did not store the .info of %s", libPseudo)
	}
}

// TestGracefulShutdown sends SIGTERM to a mirror while it is filling a slow
// zip for the go command: the download completes and the mirror exits 0.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	up := newFixture(t)
	const delay = 2 * time.Second
	up.SetFault(libV100Zip, testupstream.Delay(delay))
	// Without fill ahead, the fixture's zip request is the client's own,
	// in flight when the signal comes; with it, the mirror would ask
	// before the go command does.
	m := startMirror(t, up, "", "--fill-ahead=false")
	g := newGo(t, m.URL, up.VerifierKey())

	cmd := g.Command(t.TempDir(), "mod", "download", "-json", libPath+"@v1.0.0")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the mirror to ask the fixture for the zip", func() bool {
		return up.Requests(libV100Zip) > 0
	})
	signalled := time.Now()
	m.Signal()

	err := cmd.Wait()
	if err != nil {
		t.Fatalf("go mod download during shutdown: %v\n%s%s", err, stdout.Bytes(), stderr.Bytes())
	}
	mods := decodeDownloads(t, stdout.String())
	if want := up.GoSumLines(libPath, "v1.0.0")[0]; len(mods) != 1 || libPath+" v1.0.0 "+mods[0].Sum != want {
		t.Errorf("go mod download -json printed %+v, want %q", mods, want)
	}
	if code := m.Wait(t); code != 0 {
		t.Errorf("modmirror exited %d after SIGTERM, want 0", code)
	}
	if d := time.Since(signalled); d > delay+10*time.Second {
		t.Errorf("shutdown took %v", d)
	}
	log := m.Log()
	if i, j := strings.Index(log, `"msg":"shutting down"`), strings.LastIndex(log, `"msg":"stored"`); i < 0 || j < i {
		t.Errorf("want the zip stored after the mirror began shutting down; log:\n%s", log)
	}
}

// TestCommandLine checks the command's own interface: version, help, and
// usage errors from flags and from MODMIRROR_* variables.
func TestCommandLine(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	for _, tc := range []struct {
		name     string
		env      []string
		args     []string
		code     int
		stdout   string   // prefix
		contains []string // in stdout+stderr
	}{
		{name: "version", args: []string{"version"}, stdout: "modmirror "},
		{name: "help", args: []string{"serve", "--help"}, contains: []string{"--upstream", "MODMIRROR_UPSTREAM", "--offline", "MODMIRROR_OFFLINE"}},
		{name: "bogus-flag", args: []string{"serve", "--bogus"}, code: 2, contains: []string{"bogus"}},
		{name: "bogus-command", args: []string{"bogus"}, code: 2, contains: []string{"bogus"}},
		{
			name: "bad-env", env: []string{"MODMIRROR_LIST_TTL=notaduration"},
			// If the variable were ignored, the mirror would serve until
			// killed: give it a port and a data directory of its own.
			args: []string{"serve", "--listen", "127.0.0.1:0", "--data", data},
			code: 2, contains: []string{"MODMIRROR_LIST_TTL", "notaduration"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, modmirrorBin, tc.args...)
			cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, tc.env...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			if _, ok := err.(*exec.ExitError); err != nil && !ok {
				t.Fatal(err)
			}
			out := stdout.String() + stderr.String()
			if code := cmd.ProcessState.ExitCode(); code != tc.code {
				t.Errorf("modmirror %s: exit status %d, want %d\n%s", strings.Join(tc.args, " "), code, tc.code, out)
			}
			if !strings.HasPrefix(stdout.String(), tc.stdout) {
				t.Errorf("modmirror %s: stdout %q, want it to start with %q", strings.Join(tc.args, " "), stdout.String(), tc.stdout)
			}
			for _, want := range tc.contains {
				if !strings.Contains(out, want) {
					t.Errorf("modmirror %s: output lacks %q:\n%s", strings.Join(tc.args, " "), want, out)
				}
			}
		})
	}
}

// TestMetricsAndHealth checks /metrics after the go command downloaded a
// module (requests served by endpoint, fetches from the upstream) and
// /healthz.
func TestMetricsAndHealth(t *testing.T) {
	t.Parallel()
	up := newFixture(t)
	m := startMirror(t, up, "")
	downloadLib(t, newGo(t, m.URL, up.VerifierKey()), up, m)

	code, metrics, err := httpGet(m.Root + "/metrics")
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET /metrics: %d %v\n%s", code, err, metrics)
	}
	for _, re := range []string{
		`(?m)^modmirror_http_requests_total\{code="200",endpoint="zip"\} 1$`,
		`(?m)^modmirror_http_requests_total\{code="200",endpoint="mod"\} [1-9]`,
		`(?m)^modmirror_http_requests_total\{code="200",endpoint="sumdb"\} [1-9]`,
		`(?m)^modmirror_upstream_fetches_total\{kind="zip",result="ok",upstream="` + regexp.QuoteMeta(up.URL) + `"\} 1$`,
	} {
		if !regexp.MustCompile(re).MatchString(metrics) {
			t.Errorf("/metrics does not match %s:\n%s", re, grepLines(metrics, "modmirror_"))
		}
	}

	code, body, err := httpGet(m.Root + "/healthz")
	if err != nil || code != http.StatusOK || body != "ok\n" {
		t.Errorf("GET /healthz: %d %q %v; want 200 \"ok\\n\"", code, body, err)
	}
}

// grepLines returns the lines of s that start with prefix.
func grepLines(s, prefix string) string {
	var b strings.Builder
	for _, line := range strings.Split(s, "\n") {
		if strings.HasPrefix(line, prefix) {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

// TestChecksumDatabaseFromStore downloads a stored module from a mirror
// whose upstream is gone, with a go command that has no go.sum to go by and
// so asks the checksum database, through the mirror, as every fresh
// "go mod download", "go get" or "go list -m -versions" does. The mirror
// stored the verified lookup record and tiles it needs to answer (under
// sumdb/<name>/ in its store) when it verified the module; it must answer
// from them, or a mirror without its upstream serves nobody who uses the
// default GOSUMDB. The mirror is filled with plain HTTP requests, so that no
// checksum database answer is in its memory when the go command asks.
func TestChecksumDatabaseFromStore(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		offline bool
	}{
		{"offline", true},
		{"upstream-down", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			up := newFixture(t)
			data := t.TempDir()
			m := startMirror(t, up, data)
			for _, ext := range []string{".info", ".mod", ".zip"} {
				if code, body, err := httpGet(m.URL + "/example.com/lib/@v/v1.1.0" + ext); err != nil || code != http.StatusOK {
					t.Fatalf("filling the mirror: GET v1.1.0%s: %d %v\n%s", ext, code, err, body)
				}
			}
			// The verified record and tiles are stored in the background
			// (checksum's writeLater), so they may land just after the
			// answers.
			sumdbDir := "sumdb/" + up.SumDBName()
			waitFor(t, 10*time.Second, "the mirror to store the checksum database's record of "+libPath+"@v1.1.0 and a tile", func() bool {
				return exists(m.StorePath(sumdbDir+"/lookup/example.com/lib@v1.1.0")) &&
					countFiles(t, m.StorePath(sumdbDir+"/tile")) > 0
			})
			up.Close()
			if tc.offline {
				m.Stop(t)
				m = startMirror(t, up, data, "--offline")
			}

			g := newGo(t, m.URL, up.VerifierKey())
			r := g.Run(t.TempDir(), "mod", "download", "-json", libPath+"@v1.1.0")
			if r.err != nil {
				t.Fatalf("stored module, fresh go command: %v", r)
			}
			mods := decodeDownloads(t, r.stdout)
			if want := up.GoSumLines(libPath, "v1.1.0")[0]; len(mods) != 1 || libPath+" v1.1.0 "+mods[0].Sum != want {
				t.Errorf("go mod download -json printed %+v, want %q", mods, want)
			}
		})
	}
}

// TestOfflineNeverAsksUpstream restarts a filled mirror with --offline
// while its upstream still runs, and has the go command build and download
// what is stored: the upstream must get no request at all, for modules or
// for the checksum database ("serve from the store only, never asking the
// upstream", says serve --help).
func TestOfflineNeverAsksUpstream(t *testing.T) {
	t.Parallel()
	up := newFixture(t)
	data, dir := t.TempDir(), t.TempDir()
	m := startMirror(t, up, data)
	buildHello(t, newGo(t, m.URL, up.VerifierKey()), dir)
	m.Stop(t)
	up.ResetRequests()

	m = startMirror(t, up, data, "--offline")
	g := newGo(t, m.URL, up.VerifierKey())
	exe := filepath.Join(dir, "hello")
	os.Remove(exe)
	g.OK(dir, "build", "-o", exe, ".")
	g.OK(t.TempDir(), "mod", "download", "-json", libPath+"@v1.1.0")
	g.Fail(t.TempDir(), "mod", "download", libPath+"@v1.0.0")
	if log := up.RequestLog(); len(log) > 0 {
		t.Errorf("the offline mirror asked its upstream for:\n\t%s", strings.Join(log, "\n\t"))
	}
}

// TestConcurrentClientsOneFetch has several go commands download the same
// module at once while the upstream is slow: all get it, and the mirror
// fetched the zip from the upstream once.
func TestConcurrentClientsOneFetch(t *testing.T) {
	t.Parallel()
	up := newFixture(t)
	up.SetFault(libV100Zip, testupstream.Delay(time.Second))
	m := startMirror(t, up, "")

	const clients = 4
	results := make([]goResult, clients)
	var wg sync.WaitGroup
	for i := range clients {
		g := newGo(t, m.URL, up.VerifierKey())
		dir := t.TempDir()
		wg.Go(func() { results[i] = g.Run(dir, "mod", "download", "-json", libPath+"@v1.0.0") })
	}
	wg.Wait()
	want := up.GoSumLines(libPath, "v1.0.0")[0]
	for _, r := range results {
		if r.err != nil {
			t.Errorf("%v", r)
			continue
		}
		if mods := decodeDownloads(t, r.stdout); len(mods) != 1 || libPath+" v1.0.0 "+mods[0].Sum != want {
			t.Errorf("go mod download -json printed %+v, want %q", mods, want)
		}
	}
	if n := up.Requests(libV100Zip); n != 1 {
		t.Errorf("the mirror fetched the zip %d times for %d clients, want once", n, clients)
	}
}

// TestBasePath serves the GOPROXY protocol and the checksum database under
// --base-path /go.
func TestBasePath(t *testing.T) {
	t.Parallel()
	up := newFixture(t)
	m := startMirror(t, up, "", "--base-path", "/go")
	if want := m.Root + "/go"; m.URL != want {
		t.Fatalf("the mirror serves at %s, want %s", m.URL, want)
	}
	downloadLib(t, newGo(t, m.URL, up.VerifierKey()), up, m)
}

// TestPrivateNeverSentUpstream asks a mirror for a module that matches its
// --private patterns: the go command gets "not found" with the mirror's
// reason, and the upstream never hears of the module, not even from the
// checksum database. Public modules still come through.
func TestPrivateNeverSentUpstream(t *testing.T) {
	t.Parallel()
	up := newFixture(t)
	m := startMirror(t, up, "", "--private", "example.com/lib,example.com/secret/*", "--no-origin")
	g := newGo(t, m.URL, up.VerifierKey())

	stderr := g.Fail(t.TempDir(), "mod", "download", libPath+"@v1.0.0")
	for _, want := range []string{libPath + "@v1.0.0", "404 Not Found", "private"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("go mod download of a private module: stderr lacks %q:\n%s", want, stderr)
		}
	}
	dir := writeModule(t, t.TempDir(), helloModule)
	if r := g.Run(dir, "get", libPath+"@latest"); r.err == nil {
		t.Errorf("go get of a private module through the mirror succeeded: %v", r)
	}
	g.OK(t.TempDir(), "mod", "download", azurePath+"@v1.0.0")
	for _, p := range up.RequestLog() {
		if strings.Contains(p, "example.com/lib") {
			t.Errorf("the upstream was asked for the private module: %s", p)
		}
	}
	if exists(m.StorePath(libV100Name)) {
		t.Errorf("the mirror stored a private module it cannot have fetched")
	}
}

// TestNotFoundIsNotCached asks for a module the upstream does not have yet:
// the go command gets the mirror's 404, and once the module is published
// upstream, the same mirror serves it at once.
func TestNotFoundIsNotCached(t *testing.T) {
	t.Parallel()
	up := newFixture(t)
	m := startMirror(t, up, "")
	g := newGo(t, m.URL, up.VerifierKey())

	for _, query := range []string{"example.com/fresh@v1.0.0", "example.com/fresh@latest"} {
		stderr := g.Fail(t.TempDir(), "mod", "download", query)
		if !strings.Contains(stderr, "404 Not Found") {
			t.Errorf("go mod download %s of a module that does not exist: stderr lacks %q:\n%s", query, "404 Not Found", stderr)
		}
	}
	fresh := lib("v1.0.0", "fresh")
	fresh.Path = "example.com/fresh"
	fresh.Files["go.mod"] = "module example.com/fresh\n"
	up.Add(fresh)
	for _, query := range []string{"example.com/fresh@v1.0.0", "example.com/fresh@latest"} {
		g := newGo(t, m.URL, up.VerifierKey())
		mods := decodeDownloads(t, g.OK(t.TempDir(), "mod", "download", "-json", query))
		if len(mods) != 1 || mods[0].Version != "v1.0.0" || mods[0].Error != "" {
			t.Errorf("go mod download %s after it was published: %+v", query, mods)
		}
	}
}

// TestBrokenZipDownload has the upstream fail its zip once (cut short, not
// a zip, or no answer until the mirror's --fetch-timeout): the go command
// gets the mirror's 502 or 504 for the zip, which names the failure,
// nothing is stored, and the next download works.
func TestBrokenZipDownload(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		fault testupstream.Fault
		flags []string
		want  string
	}{
		{"truncated", testupstream.Truncate.Times(1), nil, "unexpected EOF"},
		{"corrupt", testupstream.CorruptZip.Times(1), nil, "zip"},
		{"hanging", testupstream.Hang.Times(1), []string{"--fetch-timeout", "2s"}, "deadline exceeded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			up := newFixture(t)
			up.SetFault(libV100Zip, tc.fault)
			data := t.TempDir()
			if tc.flags != nil {
				// --fetch-timeout gives files other than zips a tenth
				// of it, too little on a loaded machine: store them
				// first, with the default limits (and no zip filled
				// ahead once both are asked for).
				m := startMirror(t, up, data, "--fill-ahead=false")
				for _, ext := range []string{".info", ".mod"} {
					if code, body, err := httpGet(m.URL + "/example.com/lib/@v/v1.0.0" + ext); err != nil || code != http.StatusOK {
						t.Fatalf("filling the mirror: GET v1.0.0%s: %d %v\n%s", ext, code, err, body)
					}
				}
				m.Stop(t)
			}
			// The fault is the client's own request's, not a fill
			// ahead's (mirror.TestFillAhead has a broken zip filled
			// ahead).
			m := startMirror(t, up, data, append([]string{"--fill-ahead=false"}, tc.flags...)...)
			g := newGo(t, m.URL, up.VerifierKey())
			stderr := g.Fail(t.TempDir(), "mod", "download", libPath+"@v1.0.0")
			for _, want := range []string{libPath + "@v1.0.0", "/@v/v1.0.0.zip", "Gateway", tc.want} {
				if !strings.Contains(stderr, want) {
					t.Errorf("go mod download stderr lacks %q:\n%s", want, stderr)
				}
			}
			if exists(m.StorePath(libV100Name)) {
				t.Errorf("the mirror stored %s from a broken download", libV100Name)
			}
			downloadLib(t, newGo(t, m.URL, up.VerifierKey()), up, m)
		})
	}
}

// countFiles returns the number of regular files under dir.
func countFiles(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			n++
		}
		return err
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return n
}
