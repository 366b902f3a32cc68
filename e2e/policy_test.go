package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/modmirror/modmirror/internal/testenv"
	"github.com/modmirror/modmirror/internal/testupstream"
	"github.com/modmirror/modmirror/vulndb/vulndbtest"
)

// The policy fixtures: a library with a vulnerable function, fixed in
// v1.0.1 and vulnerable again from v1.1.0; a module that requires its old
// version; a library the legal team has not cleared in some versions; and
// a vulnerability database module that says so.
const (
	vulnPath   = "example.com/vulnlib"
	oldUser    = "example.com/olduser"
	legalPath  = "example.com/legal"
	vulndbMod  = "golang.org/x/vulndb"
	vulndbVer  = "v0.0.0-20261201000000-aaaaaaaaaaaa"
	vulnID     = "GO-2026-0042"
	vulnCVE    = "CVE-2026-4242"
	vulnReason = "blocked by policy 'vulns': " + vulnID + " (" + vulnCVE + ") affects " + vulnPath + " v1.0.0; fixed in v1.0.1"
)

func vulnlib(version string) testupstream.Module {
	return testupstream.Module{Path: vulnPath, Version: version, Files: map[string]string{
		"go.mod": "module " + vulnPath + "\n\ngo 1.21\n",
		"vulnlib.go": `// Package vulnlib has a function with a known vulnerability.
package vulnlib

// Bad is the vulnerable function.
func Bad() string { return "bad from ` + version + `" }

// Good is not.
func Good() string { return "good from ` + version + `" }
`,
	}}
}

var policyModules = []testupstream.Module{
	vulnlib("v1.0.0"), vulnlib("v1.0.1"), vulnlib("v1.1.0"),
	{Path: oldUser, Version: "v1.0.0", Files: map[string]string{
		// go 1.16: an unpruned module graph, so the go command reads the
		// go.mod of vulnlib v1.0.0 even where the build selects v1.0.1.
		"go.mod":     "module " + oldUser + "\n\ngo 1.16\n\nrequire " + vulnPath + " v1.0.0\n",
		"olduser.go": "package olduser\n\nimport \"" + vulnPath + "\"\n\n// Greet uses vulnlib's safe function.\nfunc Greet() string { return vulnlib.Good() }\n",
	}},
	{Path: legalPath, Version: "v1.0.0", Files: map[string]string{"go.mod": "module " + legalPath + "\n", "l.go": "package legal\n"}},
	{Path: legalPath, Version: "v1.2.0", Files: map[string]string{"go.mod": "module " + legalPath + "\n", "l.go": "package legal\n"}},
	{Path: vulndbMod, Version: vulndbVer, Files: func() map[string]string {
		files := vulndbtest.Files(vulndbtest.Entry{
			ID: vulnID, Module: vulnPath, Aliases: []string{vulnCVE},
			Summary: "Bad is bad in example.com/vulnlib",
			Ranges:  [][]string{{"introduced:0", "fixed:1.0.1"}, {"introduced:1.1.0"}},
			Package: vulnPath, Symbols: []string{"Bad"},
		})
		files["go.mod"] = "module " + vulndbMod + "\n\ngo 1.21\n"
		return files
	}()},
}

// vulnApp calls the vulnerable function of vulnlib v1.0.0.
var vulnApp = map[string]string{
	"go.mod": "module example.com/app\n\ngo 1.22\n\nrequire " + vulnPath + " v1.0.0\n",
	"main.go": `package main

import (
	"fmt"

	"` + vulnPath + `"
)

func main() { fmt.Println(vulnlib.Bad()) }
`,
}

func policyFile(t *testing.T, file, mode string) {
	t.Helper()
	text := `
[[rule]]
name = "vulns"
kind = "vulns"
mode = "` + mode + `"

[[rule]]
name = "legal"
kind = "deny"
modules = ["` + legalPath + `"]
versions = ">= v1.2.0"
reason = "not cleared by legal (LEGAL-7)"
`
	// Written elsewhere and renamed, as editors and config managers do.
	if err := os.WriteFile(file+".tmp", []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(file+".tmp", file); err != nil {
		t.Fatal(err)
	}
}

// TestPolicyVulns runs the story of a vulnerability: govulncheck, through
// the mirror's offline copy of the database, finds the vulnerable call;
// the policy, switched from report to block, stops the version with a
// reason the go command prints and without falling through to the next
// GOPROXY entry; go get picks the newest version it allows; a build whose
// graph only mentions the old version still works; and "modmirror policy
// check" fails a project that uses it.
func TestPolicyVulns(t *testing.T) {
	t.Parallel()
	govulncheck := os.Getenv("MODMIRROR_TEST_GOVULNCHECK")
	if govulncheck == "" {
		testenv.Missing(t, "GOVULNCHECK", "MODMIRROR_TEST_GOVULNCHECK is not set; run scripts/test.sh, or set it to a govulncheck binary (scripts/govulncheck.sh builds one)")
	}
	up := testupstream.New(t, append(fixtureModules, policyModules...)...)
	pol := filepath.Join(t.TempDir(), "policy.toml")
	policyFile(t, pol, "report")
	m := startMirror(t, up, "", "--policy", pol, "--policy-reload", "20ms")
	waitFor(t, 30*time.Second, "the vulnerability database to load", func() bool {
		code, _, _ := httpGet(m.URL + "/vuln/index/db.json.gz")
		return code == 200
	})
	if code, body, _ := httpGet(m.URL + "/readyz"); code != 200 {
		t.Errorf("/readyz with the database loaded: %d %s", code, body)
	}

	// Report mode: served, and govulncheck finds the vulnerable call.
	g := newGo(t, m.URL, up.VerifierKey())
	app := writeModule(t, t.TempDir(), vulnApp)
	g.OK(app, "mod", "tidy")
	vc := exec.Command(govulncheck, "-db", m.URL+"/vuln", "./...")
	vc.Dir = app
	for k, v := range g.env {
		vc.Env = append(vc.Env, k+"="+v)
	}
	out, err := vc.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 || !strings.Contains(string(out), vulnID) || !strings.Contains(string(out), "vulnlib.Bad") {
		t.Errorf("govulncheck -db %s/vuln: %v (want exit status 3, naming %s and vulnlib.Bad):\n%s", m.URL, err, vulnID, out)
	}
	waitFor(t, 10*time.Second, "the report in the log", func() bool {
		return strings.Contains(m.Log(), `"msg":"policy: report"`) && strings.Contains(m.Log(), vulnID)
	})

	// Block mode, by editing the file: the mirror reloads it.
	policyFile(t, pol, "block")
	waitFor(t, 10*time.Second, "the edited policy", func() bool {
		code, _, _ := httpGet(m.URL + "/" + vulnPath + "/@v/v1.0.0.info")
		return code == 403
	})
	up.ResetRequests()
	g2 := newGo(t, m.URL+","+up.URL, up.VerifierKey())
	stderr := g2.Fail(t.TempDir(), "mod", "download", vulnPath+"@v1.0.0")
	if !strings.Contains(stderr, "403 Forbidden") || !strings.Contains(stderr, vulnReason) {
		t.Errorf("go mod download of the blocked version printed:\n%s\nwant 403 Forbidden and %q", stderr, vulnReason)
	}
	if n := up.Requests("/" + vulnPath + "/@v/v1.0.0.zip"); n != 0 {
		t.Errorf("the go command fell through to the next GOPROXY entry: the upstream was asked for the zip %d times", n)
	}

	// A mirror in front of this one (its upstream list "this,upstream")
	// relays the refusal, reason and all, and does not ask the next entry.
	front := startMirror(t, up, "", "--upstream", m.URL+","+up.URL)
	up.ResetRequests()
	stderr = newGo(t, front.URL, up.VerifierKey()).Fail(t.TempDir(), "mod", "download", vulnPath+"@v1.0.0")
	if !strings.Contains(stderr, "403 Forbidden") || !strings.Contains(stderr, vulnReason) {
		t.Errorf("go mod download through a mirror in front printed:\n%s\nwant 403 Forbidden and %q", stderr, vulnReason)
	}
	if n := up.Requests("/" + vulnPath + "/@v/v1.0.0.zip"); n != 0 {
		t.Errorf("the mirror in front fell through to the upstream: asked for the zip %d times", n)
	}

	// The list leaves out v1.0.0 and v1.1.0; go get -u picks v1.0.1,
	// the newest allowed, though v1.1.0 is the latest.
	empty := writeModule(t, t.TempDir(), map[string]string{"go.mod": "module example.com/empty\n"})
	if got := strings.TrimSpace(g2.OK(empty, "list", "-m", "-versions", vulnPath)); got != vulnPath+" v1.0.1" {
		t.Errorf("go list -m -versions = %q, want only v1.0.1", got)
	}
	g2.OK(app, "get", "-u", vulnPath)
	if data, _ := os.ReadFile(filepath.Join(app, "go.mod")); !strings.Contains(string(data), vulnPath+" v1.0.1") {
		t.Errorf("after go get -u, go.mod:\n%s\nwant %s v1.0.1", data, vulnPath)
	}
	if out := g2.OK(app, "run", "."); strings.TrimSpace(out) != "bad from v1.0.1" {
		t.Errorf("the app printed %q", out)
	}

	// A graph that names v1.0.0 without building it: the go.mod of the
	// blocked version is served, and the build works.
	g3 := newGo(t, m.URL, up.VerifierKey())
	graph := writeModule(t, t.TempDir(), map[string]string{
		"go.mod":  "module example.com/graph\n\ngo 1.22\n\nrequire (\n\t" + oldUser + " v1.0.0\n\t" + vulnPath + " v1.0.1\n)\n",
		"main.go": "package main\n\nimport (\n\t\"fmt\"\n\n\t\"" + oldUser + "\"\n)\n\nfunc main() { fmt.Println(olduser.Greet()) }\n",
	})
	g3.OK(graph, "mod", "tidy")
	if out := g3.OK(graph, "run", "."); strings.TrimSpace(out) != "good from v1.0.1" {
		t.Errorf("the graph's program printed %q", out)
	}
	if gosum, _ := os.ReadFile(filepath.Join(graph, "go.sum")); !strings.Contains(string(gosum), vulnPath+" v1.0.0/go.mod") {
		t.Errorf("go.sum has no go.mod line for %s v1.0.0, so the test shows nothing:\n%s", vulnPath, gosum)
	}

	// The deny rule: named, with its reason.
	stderr = g3.Fail(t.TempDir(), "mod", "download", legalPath+"@v1.2.0")
	if want := "blocked by policy 'legal': " + legalPath + " v1.2.0 is denied (versions >= v1.2.0): not cleared by legal (LEGAL-7)"; !strings.Contains(stderr, want) {
		t.Errorf("go mod download of a denied version printed:\n%s\nwant %q", stderr, want)
	}

	// An invalid edit is logged and changes nothing.
	os.WriteFile(pol, []byte("[[rule]]\nname = \"x\"\nkind = \"deny\"\nversions = \"> 1\"\n"), 0o644)
	waitFor(t, 10*time.Second, "the invalid edit in the log", func() bool {
		return strings.Contains(m.Log(), "the edited policy file is not valid")
	})
	if code, _, _ := httpGet(m.URL + "/" + vulnPath + "/@v/v1.0.0.info"); code != 403 {
		t.Errorf("after an invalid edit, the blocked version answers %d, want 403", code)
	}

	// The status page shows the rules, the database and the blocks.
	t.Run("StatusPage", func(t *testing.T) {
		ctx, consoleErrs := browser(t)
		if err := chromedp.Do(ctx, chromedp.Navigate(m.Root+"/")); err != nil {
			t.Fatalf("loading the status page: %v", err)
		}
		texts := map[string]string{}
		for _, id := range []string{"policy-blocked", "policy-reported", "policy-rules", "vulndb", "policy-events"} {
			v, err := text(ctx, id)
			if err != nil {
				t.Fatalf("the status page's #%s: %v", id, err)
			}
			texts[id] = v
		}
		if n, err := strconv.Atoi(strings.TrimSpace(texts["policy-blocked"])); err != nil || n < 3 {
			t.Errorf("blocked requests shown: %q, want at least 3", texts["policy-blocked"])
		}
		if n, err := strconv.Atoi(strings.TrimSpace(texts["policy-reported"])); err != nil || n < 1 {
			t.Errorf("reports shown: %q, want at least 1", texts["policy-reported"])
		}
		for id, want := range map[string]string{
			"policy-rules":  "vulns (vulns, block)",
			"vulndb":        vulndbMod + "@" + vulndbVer + ", 1 entries",
			"policy-events": "blocked",
		} {
			if !strings.Contains(texts[id], want) {
				t.Errorf("the status page's #%s = %q, want %q in it", id, texts[id], want)
			}
		}
		if !strings.Contains(texts["policy-events"], vulnID) || !strings.Contains(texts["policy-events"], "not cleared by legal") {
			t.Errorf("the policy's recent blocks do not name the rules' reasons:\n%s", texts["policy-events"])
		}
		if errs := consoleErrs.list(); len(errs) > 0 {
			t.Errorf("console errors: %v", errs)
		}
	})

	// modmirror policy check: the app as it was (v1.0.0) fails the check.
	writeModule(t, app, map[string]string{"go.mod": vulnApp["go.mod"]})
	gosum := strings.Join(up.GoSumLines(vulnPath, "v1.0.0"), "\n") + "\n"
	writeModule(t, app, map[string]string{"go.sum": gosum})
	cmd := exec.Command(modmirrorBin, "policy", "check", "--mirror", m.URL, app)
	cmd.Env = []string{"HOME=" + t.TempDir()}
	out, err = cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(out), vulnPath+" v1.0.0") || !strings.Contains(string(out), vulnID) {
		t.Errorf("modmirror policy check: %v, want exit status 1 naming the version and %s:\n%s", err, vulnID, out)
	}
	cmd = exec.Command(modmirrorBin, "policy", "check", "--mirror", m.URL, "--json", filepath.Join(app, "go.mod"))
	cmd.Env = []string{"HOME=" + t.TempDir()}
	out, _ = cmd.Output()
	var results []struct {
		Path, Version string
		Blocked       *struct{ Rule, Reason string }
	}
	if err := json.Unmarshal(out, &results); err != nil || len(results) != 1 || results[0].Blocked == nil || results[0].Blocked.Rule != "vulns" {
		t.Errorf("modmirror policy check --json: %v\n%s", err, out)
	}
}

// TestPolicyPrivate checks that private modules are subject to the policy
// like public ones: a denied version of a module served from the store
// (no upstream may be asked for it) is refused with the rule's reason and
// left out of the list and @latest.
func TestPolicyPrivate(t *testing.T) {
	t.Parallel()
	up := newFixture(t)
	data := t.TempDir()
	const secret = "corp.example/secret"
	var mods []testupstream.Module
	for _, v := range []string{"v1.0.0", "v1.1.0"} {
		mods = append(mods, testupstream.Module{Path: secret, Version: v, Files: map[string]string{
			"go.mod":    "module " + secret + "\n\ngo 1.21\n",
			"secret.go": "package secret\n\nconst Version = \"" + v + "\"\n",
		}})
	}
	seedPrivate(t, data, mods...)
	// The version list the mirror keeps beside them.
	writeModule(t, filepath.Join(data, "cache", "download"), map[string]string{secret + "/@v/list": "v1.0.0\nv1.1.0\n"})
	pol := filepath.Join(t.TempDir(), "policy.toml")
	if err := os.WriteFile(pol, []byte(`
[[rule]]
name = "internal"
kind = "deny"
modules = ["corp.example/*"]
versions = ">= v1.1.0"
reason = "withdrawn: leaks credentials (SEC-9)"
`), 0o644); err != nil {
		t.Fatal(err)
	}
	m := startMirror(t, up, data, "--private", "corp.example", "--private-access", "open", "--no-origin", "--offline", "--policy", pol)
	base := m.URL + "/" + secret + "/@v/"
	if code, body, _ := httpGet(base + "v1.1.0.info"); code != 403 || !strings.Contains(body, "blocked by policy 'internal': "+secret+" v1.1.0 is denied (versions >= v1.1.0): withdrawn: leaks credentials (SEC-9)") {
		t.Errorf("v1.1.0.info: %d %q, want 403 naming the rule", code, body)
	}
	if code, _, _ := httpGet(base + "v1.1.0.zip"); code != 403 {
		t.Errorf("v1.1.0.zip: %d, want 403", code)
	}
	if code, body, _ := httpGet(base + "v1.0.0.info"); code != 200 {
		t.Errorf("v1.0.0.info: %d %q, want 200", code, body)
	}
	if code, body, _ := httpGet(base + "list"); code != 200 || strings.TrimSpace(body) != "v1.0.0" {
		t.Errorf("list: %d %q, want only v1.0.0", code, body)
	}
	if code, body, _ := httpGet(m.URL + "/" + secret + "/@latest"); code != 200 || !strings.Contains(body, `"v1.0.0"`) {
		t.Errorf("@latest: %d %q, want v1.0.0", code, body)
	}
	for _, p := range up.RequestLog() {
		if strings.Contains(p, "corp.example") {
			t.Errorf("the upstream was asked for the private module: %s", p)
		}
	}
}
