package e2e

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestDataDirectoryLock starts a second mirror on the data directory of a
// running one: it must stop at once, saying which process has it.
func TestDataDirectoryLock(t *testing.T) {
	t.Parallel()
	up := newFixture(t)
	m := startMirror(t, up, "")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, modmirrorBin, "serve", "--listen", "127.0.0.1:0", "--data", m.Data, "--upstream", up.URL, "--sumdb", up.VerifierKey())
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	out, err := cmd.CombinedOutput()
	if cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != 1 {
		t.Fatalf("second mirror on one data directory: %v, want exit status 1\n%s", err, out)
	}
	want := "modmirror serve: data directory in use by another process: process " + strconv.Itoa(m.cmd.Process.Pid) + " is serving from " + m.Data
	if !strings.HasPrefix(string(out), want) {
		t.Errorf("second mirror printed %q, want it to begin %q", out, want)
	}
}

// TestDataDirectoryLeftovers puts what a crash leaves (a half-downloaded
// zip, a staged store file) in a data directory: the mirror removes them at
// start and still serves what was stored.
func TestDataDirectoryLeftovers(t *testing.T) {
	t.Parallel()
	data, dir := t.TempDir(), t.TempDir()
	up, m := fillAndStopUpstream(t, data, dir)
	m.Stop(t)
	leftovers := []string{
		filepath.Join(data, "tmp", "zip-1234"),
		filepath.Join(data, "cache", "download", ".tmp", "copy-99"),
	}
	for _, f := range leftovers {
		os.MkdirAll(filepath.Dir(f), 0o700)
		if err := os.WriteFile(f, bytes.Repeat([]byte("partial"), 1<<16), 0o600); err != nil {
			t.Fatal(err)
		}
		old := time.Now() // younger than any age rule: the lock, not the age, decides
		os.Chtimes(f, old, old)
	}
	m = startMirror(t, up, data, "--offline")
	for _, f := range leftovers {
		if exists(f) {
			t.Errorf("%s: still there after start", f)
		}
	}
	checkServesStored(t, newGo(t, m.URL, up.VerifierKey()), dir)
}

// TestDataDirectoryPermissions checks that a mirror's data directory is
// its user's alone (private names and code are in it), including one made
// by an earlier version with open permissions, and that --data-perm world
// opens it to a web server.
func TestDataDirectoryPermissions(t *testing.T) {
	t.Parallel()
	data, dir := t.TempDir(), t.TempDir()
	os.Chmod(data, 0o755)
	// What an earlier version left: world-readable files.
	old := filepath.Join(data, "sumdb.db")
	os.WriteFile(old, []byte("x"), 0o644)
	up, m := fillAndStopUpstream(t, data, dir)
	m.Stop(t)
	checkModes := func(dirMode, fileMode fs.FileMode) {
		t.Helper()
		n := 0
		filepath.WalkDir(data, func(name string, e fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			fi, _ := e.Info()
			want := fileMode
			if e.IsDir() {
				want = dirMode
			}
			if fi.Mode().Perm() != want {
				t.Errorf("%s: mode %04o, want %04o", name, fi.Mode().Perm(), want)
			}
			n++
			return nil
		})
		if n < 10 {
			t.Errorf("only %d files and directories in %s; the fill stored nothing?", n, data)
		}
	}
	checkModes(0o700, 0o600)
	if !strings.Contains(m.Log(), `"msg":"changed the permissions of the data directory"`) {
		t.Errorf("the mirror did not log that it tightened the permissions")
	}

	m = startMirror(t, up, data, "--offline", "--data-perm", "world")
	checkServesStored(t, newGo(t, m.URL, up.VerifierKey()), dir)
	m.Stop(t)
	checkModes(0o755, 0o644)
}

// TestOfflineReadOnlyStore serves a filled data directory mounted
// read-only, as a copied snapshot or a shared volume would be: --offline
// needs to write nothing.
func TestOfflineReadOnlyStore(t *testing.T) {
	t.Parallel()
	if out, err := exec.Command("unshare", "--mount", "true").CombinedOutput(); err != nil {
		t.Skipf("cannot make a mount namespace (unshare --mount: %v: %s); needs root", err, out)
	}
	data, dir := t.TempDir(), t.TempDir()
	up, m := fillAndStopUpstream(t, data, dir)
	m.Stop(t)
	readOnly := func(args []string) []string {
		// A private mount namespace, the data directory bind-mounted
		// read-only onto itself, then the mirror in the same process.
		return append([]string{"unshare", "--mount", "sh", "-c", `mount --bind -o ro "$0" "$0" && exec "$@"`, data}, args...)
	}
	m = startMirrorWrapped(t, up, data, nil, readOnly, "--offline")
	checkServesStored(t, newGo(t, m.URL, up.VerifierKey()), dir)
	if !strings.Contains(m.Log(), "cannot be written: serving it as it is") {
		t.Errorf("the mirror did not log that it serves a read-only directory:\n%s", m.Log())
	}
	m.Stop(t)

	// Without --offline, a read-only directory is an error at start.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	args := readOnly([]string{modmirrorBin, "serve", "--listen", "127.0.0.1:0", "--data", data, "--upstream", up.URL})
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	out, _ := cmd.CombinedOutput()
	if !strings.Contains(string(out), "cannot be locked (a read-only store can be served with --offline)") || !strings.Contains(string(out), "read-only file system") {
		t.Errorf("serve on a read-only data directory printed %q", out)
	}
}
