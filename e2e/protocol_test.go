package e2e

import (
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modmirror/modmirror/internal/testupstream"
)

// chiModules are a module that moved to modules at v1.5 after releases up
// to v4 without a go.mod, as github.com/go-chi/chi did: "go get
// example.com/chi@v4.1.2" resolves to v4.1.2+incompatible.
var chiModules = []testupstream.Module{
	{Path: "example.com/chi", Version: "v1.5.1", Files: map[string]string{
		"go.mod": "module example.com/chi\n\ngo 1.16\n",
		"chi.go": "package chi\n\nconst Version = \"v1.5.1\"\n",
	}},
	{Path: "example.com/chi", Version: "v4.1.2+incompatible", Aliases: []string{"v4.1.2"}, Files: map[string]string{
		"chi.go": "package chi\n\nconst Version = \"v4.1.2\"\n",
	}},
}

// TestIncompatibleQuery does what "go get github.com/go-chi/chi@v4.1.2"
// does: the go command asks for v4.1.2.info, a canonical version that is
// not valid for the path, which the mirror must resolve as a query (to
// v4.1.2+incompatible) rather than refuse as malformed; offline, it
// resolves to the stored +incompatible version.
func TestIncompatibleQuery(t *testing.T) {
	t.Parallel()
	up := newFixture(t)
	up.Add(chiModules...)
	data := t.TempDir()
	m := startMirror(t, up, data)
	app := writeModule(t, t.TempDir(), map[string]string{
		"go.mod":  "module example.com/app\n\ngo 1.21\n",
		"main.go": "package main\n\nimport (\n\t\"fmt\"\n\n\t\"example.com/chi\"\n)\n\nfunc main() { fmt.Println(chi.Version) }\n",
	})
	g := newGo(t, m.URL, up.VerifierKey())
	g.OK(app, "get", "example.com/chi@v4.1.2")
	if got := g.OK(app, "list", "-m", "example.com/chi"); got != "example.com/chi v4.1.2+incompatible\n" {
		t.Errorf("go list -m after go get @v4.1.2: %q", got)
	}
	g.OK(app, "build", "-o", filepath.Join(app, "app"), ".")
	if got := runProgram(t, filepath.Join(app, "app")); got != "v4.1.2\n" {
		t.Errorf("app printed %q", got)
	}
	// The list holds both lines, in order; nothing a v1 path cannot use.
	if code, body, _ := httpGet(m.URL + "/example.com/chi/@v/list"); code != 200 || body != "v1.5.1\nv4.1.2+incompatible\n" {
		t.Errorf("list: %d %q", code, body)
	}
	// A version that resolves to nothing is not found, so that clients
	// fall through; a .mod for a version that is not the module's is not
	// found either (400 is for requests malformed in every reading).
	for _, p := range []string{"/example.com/chi/@v/v9.9.9.info", "/example.com/chi/@v/v4.1.2.mod", "/example.com/chi/@v/v4.1.2.zip"} {
		if code, body, _ := httpGet(m.URL + p); code != http.StatusNotFound {
			t.Errorf("GET %s: %d %q, want 404", p, code, body)
		}
	}
	m.Stop(t)

	m = startMirror(t, up, data, "--offline")
	g = newGo(t, m.URL, up.VerifierKey())
	app2 := writeModule(t, t.TempDir(), map[string]string{"go.mod": "module example.com/app\n\ngo 1.21\n"})
	g.OK(app2, "get", "example.com/chi@v4.1.2")
	if got := g.OK(app2, "list", "-m", "example.com/chi"); got != "example.com/chi v4.1.2+incompatible\n" {
		t.Errorf("offline: go list -m after go get @v4.1.2: %q", got)
	}
}

// TestChecksumDatabaseNameWithPath uses a checksum database whose name has
// a path (GOSUMDB="<host>/<path>+<key>") through the mirror, both as the
// database the mirror verifies against and proxies, and as the mirror's
// own database.
func TestChecksumDatabaseNameWithPath(t *testing.T) {
	t.Parallel()
	up := testupstream.NewWithSumDBPath(t, "sumdb/v1", fixtureModules...)
	if !strings.Contains(up.SumDBName(), "/") {
		t.Fatalf("fixture database name %q has no path", up.SumDBName())
	}
	m := startMirror(t, up, "")
	code, _, err := httpGet(m.URL + "/sumdb/" + up.SumDBName() + "/supported")
	if err != nil || code != 200 {
		t.Errorf("/sumdb/%s/supported: %d %v", up.SumDBName(), code, err)
	}
	g := newGo(t, m.URL, up.VerifierKey())
	g.OK(t.TempDir(), "mod", "download", libPath+"@v1.0.0", libPath+"@v1.1.0")
	lookups := 0
	for _, r := range up.RequestLog() {
		if strings.HasPrefix(r, "/sumdb/"+up.SumDBName()+"/lookup/") {
			lookups++
		}
	}
	if lookups == 0 {
		t.Errorf("the upstream's database was never asked: %q", up.RequestLog())
	}

	// The mirror's own log, named with a path.
	name := "sum.corp.example/modules"
	keyFile := filepath.Join(t.TempDir(), "sumdb.key")
	out, err := exec.Command(modmirrorBin, "sumdb", "keygen", "--name", name, "--out", keyFile).CombinedOutput()
	if err != nil {
		t.Fatalf("modmirror sumdb keygen --name %s: %v\n%s", name, err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	vkey := lines[len(lines)-1]
	data := t.TempDir()
	seedPrivate(t, data, privateModules...)
	own := startLogMirror(t, up, data, keyFile)
	g = newGo(t, own.URL, vkey)
	g.OK(t.TempDir(), "mod", "download", libPath+"@v1.0.0", secretPath+"@v1.0.0")
	if code, body, err := httpGet(own.URL + "/sumdb/" + name + "/latest"); err != nil || code != 200 || !strings.Contains(body, "\n— "+name+" ") {
		t.Errorf("/sumdb/%s/latest: %d %v %q", name, code, err, body)
	}
}
