package goenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestGet(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "env")
	os.WriteFile(file, []byte("GOPRIVATE=first\nGOPRIVATE=corp.example/*\n GONOSUMDB=spaced\nGOINSECURE=\"quoted\"\nGOPROXY=\n"), 0o644)
	env := map[string]string{"GOENV": file, "GOSUMDB": "sum.example+1+key"}
	e := Env{LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}
	for name, want := range map[string]string{
		"GOPRIVATE":  "corp.example/*",    // the last line wins
		"GONOSUMDB":  "",                  // a name must start its line
		"GOINSECURE": `"quoted"`,          // quotes are part of the value
		"GOSUMDB":    "sum.example+1+key", // the environment wins
		"GONOPROXY":  "",
	} {
		if got := e.Get(name); got != want {
			t.Errorf("Get(%s) = %q, want %q", name, got, want)
		}
	}
	env["GOPRIVATE"] = ""
	if got := e.Get("GOPRIVATE"); got != "" {
		t.Errorf("GOPRIVATE set empty in the environment: Get = %q, want it to win over the file", got)
	}
	env["GOENV"] = "off"
	if got := e.Get("GOINSECURE"); got != "" {
		t.Errorf("GOENV=off: Get(GOINSECURE) = %q, want no file read", got)
	}
	delete(env, "GOENV")
	e.ConfigDir = func() (string, error) { return dir, nil }
	if got, want := e.File(), filepath.Join(dir, "go", "env"); got != want {
		t.Errorf("File() with GOENV unset = %q, want %q", got, want)
	}
}

// TestAgreesWithGoCommand writes settings with "go env -w" and reads them
// back with both the go command and Get.
func TestAgreesWithGoCommand(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	file := filepath.Join(t.TempDir(), "env")
	names := []string{"GOPROXY", "GOSUMDB", "GOPRIVATE", "GONOPROXY", "GONOSUMDB", "GOINSECURE"}
	base := []string{"GOENV=" + file, "HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH"), "GOTOOLCHAIN=local", "GOFLAGS="}
	w := exec.Command(goBin, "env", "-w", "GOPROXY=https://proxy.corp.example|direct", "GOPRIVATE=corp.example/*,*.internal", "GONOSUMDB=legacy.example", "GOINSECURE=git.internal")
	w.Env = base
	if out, err := w.CombinedOutput(); err != nil {
		t.Fatalf("go env -w: %v\n%s", err, out)
	}
	r := exec.Command(goBin, append([]string{"env"}, names...)...)
	// Unset in the environment, so that the file decides.
	r.Env = base
	out, err := r.Output()
	if err != nil {
		t.Fatalf("go env: %v", err)
	}
	want := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	e := Env{LookupEnv: func(k string) (string, bool) {
		if k == "GOENV" {
			return file, true
		}
		return "", false
	}}
	for i, name := range names {
		got := e.Get(name)
		// The go command fills in its own defaults where the file says
		// nothing; Get leaves those to the caller.
		if got == "" {
			continue
		}
		if got != want[i] {
			t.Errorf("%s: Get = %q, go env = %q", name, got, want[i])
		}
	}
	if e.Get("GOPRIVATE") != "corp.example/*,*.internal" || e.Get("GOPROXY") != "https://proxy.corp.example|direct" {
		t.Errorf("values written by go env -w not read back: GOPRIVATE %q, GOPROXY %q", e.Get("GOPRIVATE"), e.Get("GOPROXY"))
	}
}

// The go command itself reports telemetry off for a HOME TelemetryOff set up.
func TestTelemetryOff(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	home := t.TempDir()
	if err := TelemetryOff(home); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(goBin, "env", "GOTELEMETRY")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "GOENV=off", "GOTOOLCHAIN=local"}
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "off" {
		t.Errorf("go env GOTELEMETRY with that HOME: %q, %v; want off", out, err)
	}
}
