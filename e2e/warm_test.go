package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// runModmirror runs the modmirror binary with args and returns its
// output and exit code.
func runModmirror(t *testing.T, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(modmirrorBin, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	out, err := cmd.CombinedOutput()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("modmirror %s: %v", strings.Join(args, " "), err)
	}
	return string(out), cmd.ProcessState.ExitCode()
}

// TestWarm warms a mirror from a project directory (its go.mod's build
// list), a go.sum file and module@version: everything is asked for once
// upstream, the second run finds it all there, and a version that does
// not exist fails with the mirror's reason. A second mirror then warms
// from the first's index feed.
func TestWarm(t *testing.T) {
	t.Parallel()
	up := newFixture(t)
	m := startMirror(t, up, "")
	dir := writeModule(t, t.TempDir(), map[string]string{
		"go.mod": "module example.com/app\n\ngo 1.21\n\nrequire example.com/lib v1.1.0\n",
	})
	sum := writeModule(t, t.TempDir(), map[string]string{
		"go.sum": strings.Join(up.GoSumLines(azurePath, "v1.0.0"), "\n") + "\n",
	})
	args := []string{"warm", "--mirror", m.URL, "-q", dir, filepath.Join(sum, "go.sum"), legacyPath + "@" + legacyV2}
	out, code := runModmirror(t, args...)
	if code != 0 || !strings.Contains(out, "9 files in") || !strings.Contains(out, ": 9 new, 0 already there, 0 fetched") {
		t.Fatalf("first warm (exit %d):\n%s", code, out)
	}
	for _, f := range []string{"/example.com/lib/@v/v1.1.0.zip", "/github.com/!azure/go-greeter/@v/v1.0.0.zip", "/example.com/legacy/@v/" + legacyV2 + ".zip"} {
		if n := up.Requests(f); n != 1 {
			t.Errorf("the upstream was asked for %s %d times, want 1", f, n)
		}
	}
	out, code = runModmirror(t, args...)
	if code != 0 || !strings.Contains(out, ": 0 new, 9 already there") {
		t.Errorf("second warm (exit %d):\n%s", code, out)
	}
	out, code = runModmirror(t, "warm", "--mirror", m.URL, "-q", libPath+"@v1.9.9")
	if code != 1 || !strings.Contains(out, "example.com/lib@v1.9.9") || !strings.Contains(out, "404 Not Found") {
		t.Errorf("warming a version that does not exist (exit %d):\n%s", code, out)
	}

	// Another mirror, from the first one's index feed.
	m2 := startMirror(t, up, "")
	out, code = runModmirror(t, "warm", "--mirror", m2.URL, "-q", "--from-index", m.Root+"/index")
	if code != 0 || !strings.Contains(out, "9 files in") || !strings.Contains(out, "index read up to ") {
		t.Errorf("warm --from-index (exit %d):\n%s", code, out)
	}
	_, body, _ := httpGet(m2.Root + "/index")
	for _, want := range []string{libPath, azurePath, legacyPath} {
		if !strings.Contains(body, `"Path":"`+want+`"`) {
			t.Errorf("the second mirror's index lacks %s after warming from the first's:\n%s", want, body)
		}
	}
}
