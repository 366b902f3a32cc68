package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modmirror/modmirror/internal/testupstream"
)

// TestGC collects a version no client asked for lately, keeps one a
// --keep go.sum names, refuses to run beside serve, and shows that a
// collected version asked for again is checked against the mirror's own
// checksum database: the upstream's changed copy is refused as a security
// error, the same copy is served.
func TestGC(t *testing.T) {
	t.Parallel()
	up := newFixture(t)
	keyFile, vkey := keygen(t)
	data := t.TempDir()
	// lib is fetched without the public checksum database, so only the
	// mirror's own log vouches for it.
	args := []string{"--sumdb-key", keyFile, "--nosumdb", libPath}
	m := startMirror(t, up, data, args...)
	g := newGo(t, m.URL, vkey)
	g.OK(t.TempDir(), "mod", "download", libPath+"@v1.0.0", azurePath+"@v1.0.0")
	_, zipBefore, _ := httpGet(m.URL + libV100Zip)

	out, code := runModmirror(t, "gc", "--data", data, "--unused-for", "1ms")
	if code == 0 || !strings.Contains(out, "stop serve first") {
		t.Errorf("gc beside serve (exit %d): %s", code, out)
	}
	m.Stop(t)

	keep := writeModule(t, t.TempDir(), map[string]string{"go.sum": strings.Join(up.GoSumLines(azurePath, "v1.0.0"), "\n") + "\n"})
	gcArgs := []string{"gc", "--data", data, "--unused-for", "1ms", "--keep", filepath.Join(keep, "go.sum")}
	out, code = runModmirror(t, append(gcArgs, "--dry-run")...)
	if code != 0 || !strings.Contains(out, "would delete "+libPath+"@v1.0.0") || strings.Contains(out, azurePath) ||
		!strings.Contains(out, "would delete 1 versions of 1 modules") || !strings.Contains(out, "kept 1 that a --keep go.sum names") {
		t.Errorf("gc --dry-run (exit %d):\n%s", code, out)
	}
	if !exists(m.StorePath(libV100Name)) {
		t.Fatalf("--dry-run deleted %s", libV100Name)
	}
	out, code = runModmirror(t, gcArgs...)
	if code != 0 || !strings.Contains(out, "deleted "+libPath+"@v1.0.0") {
		t.Fatalf("gc (exit %d):\n%s", code, out)
	}
	for _, name := range []string{libV100Name, "example.com/lib/@v/v1.0.0.mod", "example.com/lib/@v/v1.0.0.info"} {
		if exists(m.StorePath(name)) {
			t.Errorf("%s is still stored after gc", name)
		}
	}
	if !exists(m.StorePath("github.com/!azure/go-greeter/@v/v1.0.0.zip")) {
		t.Errorf("gc deleted the version a --keep go.sum names")
	}
	if list, _ := os.ReadFile(m.StorePath("example.com/lib/@v/list")); strings.Contains(string(list), "v1.0.0") {
		t.Errorf("the stored list still names v1.0.0:\n%s", list)
	}

	// Asked for again: the upstream now serves another zip for v1.0.0.
	up.SetFault(libV100Zip, testupstream.TamperZip)
	m = startMirror(t, up, data, args...)
	code, body, _ := httpGet(m.URL + libV100Zip)
	if code != 502 || !strings.Contains(body, "SECURITY ERROR") || !strings.Contains(body, "own checksum database") {
		t.Errorf("a collected version filled again with other content: %d\n%s", code, body)
	}
	if exists(m.StorePath(libV100Name)) {
		t.Errorf("the changed zip was stored")
	}
	up.SetFault(libV100Zip, testupstream.Fault{})
	code, body, _ = httpGet(m.URL + libV100Zip)
	if code != 200 || body != zipBefore {
		t.Errorf("the same version filled again: %d, %d bytes; want 200 and the bytes served before", code, len(body))
	}

	// The catalog, rebuilt from the store while the mirror serves: the
	// versions it stores now (lib filled again, and azure).
	out, code = runModmirror(t, "catalog", "rebuild", "--data", data)
	if code != 0 || !strings.Contains(out, "2 versions") {
		t.Errorf("catalog rebuild (exit %d): %s", code, out)
	}
}
