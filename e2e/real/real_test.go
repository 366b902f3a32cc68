// Package real holds end-to-end checks against the real upstream
// (proxy.golang.org, and sum.golang.org through it). They need the network,
// so they are off by default: run them with scripts/e2e-real.sh, or with
// MODMIRROR_TEST_E2E_REAL=1 go test ./e2e/real/. When the upstream is unreachable
// they fail and say so; they never skip silently once asked for.
package real

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/modmirror/modmirror/internal/goenv"
)

const upstreamURL = "https://proxy.golang.org"

var binary string

func TestMain(m *testing.M) {
	if os.Getenv("MODMIRROR_TEST_E2E_REAL") != "1" {
		fmt.Println("e2e/real: skipped; set MODMIRROR_TEST_E2E_REAL=1 (or run scripts/e2e-real.sh) to run the checks against the real upstream")
		os.Exit(0)
	}
	if err := reachable(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e/real: the real upstream is unreachable, so these checks cannot run: %v\n", err)
		os.Exit(1)
	}
	dir, err := os.MkdirTemp("", "modmirror-real-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "modmirror")
	build := exec.Command("go", "build", "-o", binary, "github.com/modmirror/modmirror/cmd/modmirror")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e/real: building modmirror: %v\n", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// reachable checks that the upstream answers, with a short timeout.
func reachable() error {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", upstreamURL+"/sumdb/sum.golang.org/supported", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("%s/sumdb/sum.golang.org/supported: %s", upstreamURL, resp.Status)
	}
	return nil
}

// startMirror runs modmirror serve against the real upstream and returns
// its URL and data directory.
func startMirror(t *testing.T, extra ...string) (string, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	data := t.TempDir()
	var logs bytes.Buffer
	cmd := exec.Command(binary, append([]string{"serve", "--listen", addr, "--data", data, "--upstream", upstreamURL, "--sumdb", "sum.golang.org"}, extra...)...)
	cmd.Env = append(os.Environ(), "GOPRIVATE=", "GONOPROXY=", "GONOSUMDB=", "GOSUMDB=")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
		if t.Failed() {
			t.Logf("mirror log:\n%s", logs.String())
		}
	})
	url := "http://" + addr
	for i := 0; ; i++ {
		resp, err := http.Get(url + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		if i == 100 {
			t.Fatalf("mirror did not start: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return url, data
}

func goCmd(t *testing.T, dir, proxy string, env []string, args ...string) (string, error) {
	t.Helper()
	home := t.TempDir()
	if err := goenv.TelemetryOff(home); err != nil { // nothing writes into home once go exits
		t.Fatal(err)
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Env = append([]string{
		"GOSUMDB=sum.golang.org", // env may set another
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"GOPATH=" + filepath.Join(home, "gopath"),
		"GOMODCACHE=" + filepath.Join(home, "modcache"),
		"GOCACHE=" + filepath.Join(home, "cache"),
		"GOFLAGS=-modcacherw",
		"GOPROXY=" + proxy,
		"GONOSUMDB=", "GONOSUMCHECK=", "GOPRIVATE=", "GONOPROXY=", "GOINSECURE=",
		"CGO_ENABLED=0",
	}, env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// TestRealModule downloads a public module through the mirror, which
// verifies it against sum.golang.org; the go command checks it again.
func TestRealModule(t *testing.T) {
	url, data := startMirror(t)
	out, err := goCmd(t, t.TempDir(), url, []string{"GOTOOLCHAIN=local"}, "mod", "download", "-json", "golang.org/x/mod@v0.20.0")
	if err != nil {
		t.Fatalf("go mod download: %v\n%s", err, out)
	}
	if !strings.Contains(out, `"Sum": "h1:utOm6MM3R3dnawAiJgn0y+xvuYRsm1RKM/4giyfDgV0="`) {
		t.Errorf("unexpected output:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(data, "cache/download/golang.org/x/mod/@v/v0.20.0.zip")); err != nil {
		t.Errorf("the zip is not in the store: %v", err)
	}
}

// TestToolchain switches toolchains through the mirror: the go command
// downloads golang.org/toolchain (a ~70 MB zip with no .mod or .info
// requested) and checks it against sum.golang.org through the mirror.
func TestToolchain(t *testing.T) {
	if runtime.GOOS != "linux" && runtime.GOOS != "darwin" {
		t.Skip("toolchain zips are checked on linux and darwin only")
	}
	url, data := startMirror(t)
	out, err := goCmd(t, t.TempDir(), url, []string{"GOTOOLCHAIN=go1.21.13"}, "version")
	if err != nil {
		t.Fatalf("GOTOOLCHAIN=go1.21.13 go version: %v\n%s", err, out)
	}
	if !strings.Contains(out, "go version go1.21.13 ") {
		t.Errorf("unexpected output:\n%s", out)
	}
	zip := filepath.Join(data, "cache/download/golang.org/toolchain/@v", "v0.0.1-go1.21.13."+runtime.GOOS+"-"+runtime.GOARCH+".zip")
	f, err := os.Open(zip)
	if err != nil {
		t.Fatalf("the toolchain zip is not in the store: %v", err)
	}
	defer f.Close()
	n, _ := io.Copy(io.Discard, f)
	if n < 30<<20 {
		t.Errorf("stored toolchain zip has only %d bytes", n)
	}
}

// TestOwnChecksumDatabase makes the mirror's own log the go command's only
// GOSUMDB against the real upstream: a module and a toolchain switch
// resolve through it, and its records are sum.golang.org's lines, verbatim.
func TestOwnChecksumDatabase(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "key")
	out, err := exec.Command(binary, "sumdb", "keygen", "--name", "sum.modmirror.test", "--out", keyFile).Output()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	vkey := lines[len(lines)-1]
	url, _ := startMirror(t, "--sumdb-key", keyFile)
	env := []string{"GOSUMDB=" + vkey}
	if out, err := goCmd(t, t.TempDir(), url, append(env, "GOTOOLCHAIN=local"), "mod", "download", "golang.org/x/mod@v0.20.0"); err != nil {
		t.Fatalf("go mod download with GOSUMDB=<own log>: %v\n%s", err, out)
	}
	if out, err := goCmd(t, t.TempDir(), url, append(env, "GOTOOLCHAIN=go1.21.13"), "version"); err != nil || !strings.Contains(out, "go version go1.21.13 ") {
		t.Fatalf("GOTOOLCHAIN=go1.21.13 go version with GOSUMDB=<own log>: %v\n%s", err, out)
	}
	for _, mv := range []string{"golang.org/x/mod@v0.20.0", "golang.org/toolchain@v0.0.1-go1.21.13." + runtime.GOOS + "-" + runtime.GOARCH} {
		own := get(t, url+"/sumdb/sum.modmirror.test/lookup/"+mv)
		public := get(t, url+"/sumdb/sum.golang.org/lookup/"+mv)
		// A lookup is "<id>\n<record>\n<signed head>": the records match.
		ownRec := strings.SplitN(own, "\n\n", 2)[0]
		publicRec := strings.SplitN(public, "\n\n", 2)[0]
		_, ownRec, _ = strings.Cut(ownRec, "\n")
		_, publicRec, _ = strings.Cut(publicRec, "\n")
		if ownRec == "" || ownRec != publicRec {
			t.Errorf("%s: own record %q, sum.golang.org's %q", mv, ownRec, publicRec)
		}
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %v\n%s", url, resp.StatusCode, err, body)
	}
	return string(body)
}

// TestRealVulnDB fills the real vulnerability database module
// (golang.org/x/vulndb) through the mirror, verified against
// sum.golang.org, and checks that /vuln/ serves it well formed: the
// indexes as govulncheck reads them, and every entry they name.
//
// It keeps to one version of the module (--vulndb path@version): the
// module proxy this suite runs against answers 404 for @latest of a module
// with no tagged versions, as golang.org/x/vulndb is, while it serves the
// versions it holds. MODMIRROR_TEST_VULNDB_VERSION names another.
func TestRealVulnDB(t *testing.T) {
	version := cmp.Or(os.Getenv("MODMIRROR_TEST_VULNDB_VERSION"), "v0.0.0-20261105234957-e22db6528018")
	url, _ := startMirror(t, "--vulndb", "golang.org/x/vulndb@"+version)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		resp, err := http.Get(url + "/vuln/index/db.json.gz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the vulnerability database did not load in 2 minutes (see the log above): %v", err)
		}
		time.Sleep(time.Second)
	}
	var db struct{ Modified time.Time }
	getJSONGz(t, url+"/vuln/index/db.json.gz", &db)
	if db.Modified.Before(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("index/db.json: modified %v, want a recent time", db.Modified)
	}
	var modules []struct {
		Path  string
		Vulns []struct {
			ID       string
			Modified time.Time
			Fixed    string
		}
	}
	getJSONGz(t, url+"/vuln/index/modules.json.gz", &modules)
	ids := map[string]bool{}
	for _, m := range modules {
		for _, v := range m.Vulns {
			ids[v.ID] = true
			if v.Modified.IsZero() || v.Modified.After(db.Modified) {
				t.Errorf("%s %s: modified %v (the database's: %v)", m.Path, v.ID, v.Modified, db.Modified)
			}
		}
	}
	if len(modules) < 1000 || len(ids) < 3000 {
		t.Errorf("index/modules.json lists %d modules and %d entries, fewer than the real database has", len(modules), len(ids))
	}
	// Every entry, as govulncheck fetches them, parses and is the one
	// named.
	n := 0
	for id := range ids {
		var e struct {
			ID       string
			Modified time.Time
			Affected []struct {
				Package struct{ Name string }
			}
		}
		getJSONGz(t, url+"/vuln/ID/"+id+".json.gz", &e)
		if e.ID != id || e.Modified.IsZero() || len(e.Affected) == 0 {
			t.Errorf("ID/%s.json.gz: id %q, modified %v, %d affected", id, e.ID, e.Modified, len(e.Affected))
		}
		if n++; t.Failed() && n > 20 {
			break
		}
	}
}

func getJSONGz(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("%s: %s", url, resp.Status)
	}
	zr, err := gzip.NewReader(resp.Body)
	if err != nil {
		t.Fatalf("%s: %v", url, err)
	}
	if err := json.NewDecoder(zr).Decode(v); err != nil {
		t.Fatalf("%s: %v", url, err)
	}
}
