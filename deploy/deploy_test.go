// Package deploy_test checks the files that install modmirror: the systemd
// unit and its settings file, and the Dockerfile at the module's root.
package deploy_test

import (
	"bufio"
	"crypto/rand"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/modmirror/modmirror/internal/testenv"
)

// build builds modmirror as the Dockerfile does (static, no cgo) into a
// temporary directory and returns its path.
func build(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "modmirror")
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, "../cmd/modmirror")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestSystemdUnit checks the unit with systemd-analyze: it must verify
// (with ExecStart pointing at a real binary), and its exposure, as
// "systemd-analyze security" scores it, must stay at 2.0 or below.
func TestSystemdUnit(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		testenv.Missing(t, "SYSTEMD", "systemd-analyze not found; scripts/test.sh installs it (apt-get install systemd)")
	}
	unit, err := os.ReadFile("systemd/modmirror.service")
	if err != nil {
		t.Fatal(err)
	}
	bin := build(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "modmirror.service")
	if err := os.WriteFile(file, []byte(strings.ReplaceAll(string(unit), "/usr/local/bin/modmirror", bin)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("systemd-analyze", "verify", file).CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	out, err := exec.Command("systemd-analyze", "security", "--offline=true", "--threshold=20", file).CombinedOutput()
	if err != nil {
		t.Errorf("systemd-analyze security --threshold=20 (exposure 2.0): %v\n%s", err, out)
	}
	if m := regexp.MustCompile(`Overall exposure level for modmirror.service: ([0-9.]+)`).FindSubmatch(out); m != nil {
		t.Logf("exposure %s", m[1])
	}
}

// TestEnvFile checks that every variable the example settings file sets
// or shows (commented out) is one that "modmirror serve" reads, or a
// credential variable of the S3 client: serve refuses any other
// MODMIRROR_* variable, so a typo there stops the service at start.
func TestEnvFile(t *testing.T) {
	help, err := exec.Command(build(t), "serve", "--help").Output()
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("systemd/modmirror.env")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	assign := regexp.MustCompile(`^#?([A-Z][A-Z0-9_]*)=`)
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m := assign.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		n++
		switch name := m[1]; {
		case name == "AWS_ACCESS_KEY_ID", name == "AWS_SECRET_ACCESS_KEY":
		case !strings.Contains(string(help), "environment "+name+")") && !strings.Contains(string(help), "environment "+name+"\n"):
			t.Errorf("modmirror.env sets %s, which serve does not read", name)
		}
	}
	if n < 5 {
		t.Errorf("found %d settings in modmirror.env; the pattern no longer matches its lines", n)
	}
}

// TestDockerfile checks what a container runtime relies on: the image's
// last stage runs modmirror as a user other than root, listening on every
// interface, and the build makes a static binary (the image has no Go).
func TestDockerfile(t *testing.T) {
	data, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	stages := strings.Split(string(data), "\nFROM ")
	last := stages[len(stages)-1]
	user := regexp.MustCompile(`(?m)^USER (\S+)`).FindStringSubmatch(last)
	if user == nil || strings.HasPrefix(user[1], "root") || strings.HasPrefix(user[1], "0") {
		t.Errorf("the image's last stage runs as %v, want a user other than root", user)
	}
	for _, want := range []string{"MODMIRROR_LISTEN=0.0.0.0:3000", `ENTRYPOINT ["/usr/local/bin/modmirror"]`, "git"} {
		if !strings.Contains(last, want) {
			t.Errorf("the image's last stage lacks %q", want)
		}
	}
	if !strings.Contains(string(data), "CGO_ENABLED=0 go build") {
		t.Errorf("the Dockerfile does not build with CGO_ENABLED=0")
	}
	ef, err := elf.Open(build(t))
	if err != nil {
		t.Fatal(err)
	}
	defer ef.Close()
	for _, p := range ef.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("built with CGO_ENABLED=0, modmirror still needs a dynamic loader")
		}
	}
}

// TestDockerImage builds the image and runs it, where a container engine
// runs and can fetch the base images; elsewhere it says why it cannot.
func TestDockerImage(t *testing.T) {
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("no docker command: the image is not built here (TestDockerfile checks what it can)")
	}
	if out, err := exec.Command("docker", "info").CombinedOutput(); err != nil {
		t.Skipf("docker cannot reach a container engine, so the image is not built here: %s", lastLine(string(out)))
	}
	tag := "modmirror-test:" + strings.ToLower(rand.Text()[:8])
	build := exec.Command("docker", "build", "-t", tag, "..")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("docker build: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command("docker", "rmi", "-f", tag).Run() })
	out, err := exec.Command("docker", "run", "--rm", tag, "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "modmirror ") {
		t.Errorf("docker run %s version: %v\n%s", tag, err, out)
	}
	out, err = exec.Command("docker", "run", "--rm", "--entrypoint", "id", tag, "-u").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) == "0" {
		t.Errorf("the image runs as uid %q (%v), want a user other than root", out, err)
	}
}

// lastLine returns the last line of s that is not blank: docker info says
// what is wrong after what it could find out.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
