package e2e

import (
	"errors"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/modmirror/modmirror/internal/testupstream"
)

// bigModule is a module whose zip (random, so incompressible) is larger
// than the small file systems of these tests.
func bigModule(mib int) testupstream.Module {
	return randomModule("example.com/big", "v1.0.0", 1, mib<<20)
}

// randomModule is a module version with a file of n random bytes (so that
// its zip is incompressible), drawn from seed.
func randomModule(path, version string, seed uint64, n int) testupstream.Module {
	r := rand.New(rand.NewPCG(seed, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return testupstream.Module{
		Path:    path,
		Version: version,
		Files:   map[string]string{"go.mod": "module " + path + "\n\ngo 1.21\n", "blob.bin": string(b)},
	}
}

// inNamespace returns a wrapper for startMirrorWrapped that runs the
// mirror in a mount namespace of its own with the shell commands setup run
// first ($0 is the data directory); it skips the test where no mount
// namespace can be made.
func inNamespace(t *testing.T, data, setup string) func([]string) []string {
	t.Helper()
	if out, err := exec.Command("unshare", "--mount", "true").CombinedOutput(); err != nil {
		t.Skipf("cannot make a mount namespace (unshare --mount: %v: %s); needs root", err, out)
	}
	return func(args []string) []string {
		return append([]string{"unshare", "--mount", "sh", "-c", setup + ` && exec "$@"`, data}, args...)
	}
}

// TestFullDisk runs a mirror whose data directory is a 4 MiB file system:
// a zip larger than that, and later a zip once the disk is full, fail as
// the mirror's own storage failure (500, "storage failure"), with no
// server path in what the go command prints, never as the upstream's (502)
// and without the nosumdb hint; so does a go.mod, whose verification
// cannot record the checksum database's tree head; a public .info is
// answered but not stored, and the log says so; once space is free again,
// fills work and store.
func TestFullDisk(t *testing.T) {
	t.Parallel()
	up := newFixture(t)
	up.Add(bigModule(6))
	data := t.TempDir()
	wrap := inNamespace(t, data, `mount -t tmpfs -o size=4m modmirror-test "$0"`)
	m := startMirrorWrapped(t, up, data, nil, wrap)

	checkBody := func(what, body string, code, want int, wantText string) {
		t.Helper()
		if code != want || !strings.Contains(body, wantText) || strings.Contains(body, data) || strings.Contains(body, "/tmp") {
			t.Errorf("%s: %d %q; want %d with %q and no server path", what, code, body, want, wantText)
		}
		if strings.Contains(body, "nosumdb") {
			t.Errorf("%s: the nosumdb hint for a full disk: %q", what, body)
		}
	}
	g := newGo(t, m.URL, up.VerifierKey())
	stderr := g.Fail(t.TempDir(), "mod", "download", "example.com/big@v1.0.0")
	for _, want := range []string{"500 Internal Server Error", "storage failure: writing a temporary file for example.com/big/@v/v1.0.0.zip: no space left on device"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("go mod download of a zip larger than the disk: stderr lacks %q:\n%s", want, stderr)
		}
	}
	if strings.Contains(stderr, data) || strings.Contains(stderr, "502") {
		t.Errorf("go mod download printed a server path or a 502:\n%s", stderr)
	}

	// Fill the disk from outside: the mirror's mounts are visible under
	// /proc/<pid>/root.
	filler := filepath.Join("/proc", strconv.Itoa(m.cmd.Process.Pid), "root", data, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatalf("creating a file on the mirror's file system: %v", err)
	}
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	f.Close()
	code, body, err := httpGet(m.URL + "/example.com/lib/@v/v1.1.0.zip")
	if err != nil {
		t.Fatal(err)
	}
	checkBody(".zip with the disk full", body, code, http.StatusInternalServerError, "storage failure")
	// The go.mod's verification records the checksum database's newer
	// tree head (the fixture's log grows with each new lookup), which
	// the full disk refuses: nothing verified, nothing answered.
	code, body, err = httpGet(m.URL + "/example.com/lib/@v/v1.0.0.mod")
	if err != nil {
		t.Fatal(err)
	}
	checkBody(".mod with the disk full", body, code, http.StatusInternalServerError, "storage failure")
	// A public module's .info is answered before it is stored (the
	// mirror fetches it again later if need be), and the failure to
	// store it is the operator's to see.
	stored := func(name string) bool {
		_, err := os.Stat(filepath.Join("/proc", strconv.Itoa(m.cmd.Process.Pid), "root", data, "cache", "download", name))
		return err == nil
	}
	const info = "example.com/lib/@v/v1.0.0.info"
	_, want, err := httpGet(up.URL + "/" + info)
	if err != nil {
		t.Fatal(err)
	}
	if code, body, err := httpGet(m.URL + "/" + info); err != nil || code != http.StatusOK || body != want {
		t.Errorf("GET %s with the disk full: %d %v %q; want 200 and %q", info, code, err, body, want)
	}
	waitFor(t, 10*time.Second, "the mirror to log the .info it answered and could not store", func() bool {
		log := m.Log()
		return strings.Contains(log, "answered before it was stored, then not stored") && strings.Contains(log, "no space left on device")
	})
	if stored(info) {
		t.Errorf("%s stored with the disk full", info)
	}

	os.Remove(filler)
	for _, p := range []string{"/example.com/lib/@v/v1.0.0.info", "/example.com/lib/@v/v1.0.0.mod", "/example.com/lib/@v/v1.1.0.zip"} {
		if code, body, err := httpGet(m.URL + p); err != nil || code != http.StatusOK {
			t.Errorf("GET %s with space free again: %d %v %q", p, code, err, body)
		}
	}
	waitFor(t, 10*time.Second, info+" stored once there is space", func() bool { return stored(info) })
}

// TestLongPathElement asks for a module path with an element of 300 bytes,
// which module.CheckPath accepts and no file system can store: 404 (so the
// go command falls through), never asked upstream, no server path.
func TestLongPathElement(t *testing.T) {
	t.Parallel()
	up := newFixture(t)
	m := startMirror(t, up, "")
	long := "example.com/" + strings.Repeat("a", 300)
	for _, p := range []string{"/@v/list", "/@latest", "/@v/v1.0.0.info", "/@v/v1.0.0.mod", "/@v/v1.0.0.zip", "/@v/main.info"} {
		code, body, err := httpGet(m.URL + "/" + long + p)
		if err != nil {
			t.Fatal(err)
		}
		if code != http.StatusNotFound || !strings.Contains(body, "longer than 255 bytes") || strings.Contains(body, m.Data) {
			t.Errorf("GET %s%s: %d %q; want 404 saying the element is too long, without a server path", "<long>", p, code, body)
		}
	}
	for _, r := range up.RequestLog() {
		if strings.Contains(r, "aaaa") {
			t.Errorf("the upstream was asked for %s", r)
		}
	}
}

// TestStalledUpstream stalls the upstream in the middle of a zip, and of a
// checksum database answer: the fill fails after --upstream-idle-timeout
// (not after --fetch-timeout, ten minutes here), the go command prints why,
// and once the fault is cleared the next request succeeds.
func TestStalledUpstream(t *testing.T) {
	t.Parallel()
	up := newFixture(t)
	m := startMirror(t, up, "", "--upstream-idle-timeout", "500ms")
	g := newGo(t, m.URL, up.VerifierKey())

	up.SetFault(libV100Zip, testupstream.Stall)
	stderr := g.Fail(t.TempDir(), "mod", "download", libPath+"@v1.0.0")
	for _, want := range []string{"502 Bad Gateway", "no data for 500ms: the upstream stalled"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("go mod download with the zip stalled: stderr lacks %q:\n%s", want, stderr)
		}
	}
	up.SetFault(libV100Zip, testupstream.FaultNone)
	g.OK(t.TempDir(), "mod", "download", libPath+"@v1.0.0")

	// The mirror verifies v1.1.0's go.mod against the checksum database:
	// stall its lookup.
	lookup := "/sumdb/" + up.SumDBName() + "/lookup/" + libPath + "@v1.1.0"
	up.SetFault(lookup, testupstream.Stall)
	code, body, err := httpGet(m.URL + "/" + libPath + "/@v/v1.1.0.mod")
	if err != nil || code != http.StatusBadGateway || !strings.Contains(body, "stalled") {
		t.Errorf("go.mod with the checksum database stalled: %d %v %q; want 502 saying it stalled", code, err, body)
	}
	up.SetFault(lookup, testupstream.FaultNone)
	if code, body, err := httpGet(m.URL + "/" + libPath + "/@v/v1.1.0.mod"); err != nil || code != http.StatusOK {
		t.Errorf("go.mod once the checksum database answers again: %d %v %q", code, err, body)
	}
}

// TestShortFetchTimeout checks that --fetch-timeout bounds verification
// too: with a checksum database that answers a lookup only after a minute,
// a .mod fill fails after a tenth of it (the default would wait a minute),
// and works again once the database answers.
func TestShortFetchTimeout(t *testing.T) {
	t.Parallel()
	up := newFixture(t)
	m := startMirror(t, up, "", "--fetch-timeout", "5s")
	lookup := "/sumdb/" + up.SumDBName() + "/lookup/" + libPath + "@v1.1.0"
	up.SetFault(lookup, testupstream.Delay(time.Minute))
	code, body, err := httpGet(m.URL + "/" + libPath + "/@v/v1.1.0.mod")
	if err != nil || code < 500 || !strings.Contains(body, "example.com/lib") {
		t.Errorf("go.mod with the checksum database slow: %d %v %q; want a 5xx naming the module", code, err, body)
	}
	up.SetFault(lookup, testupstream.FaultNone)
	if code, body, err := httpGet(m.URL + "/" + libPath + "/@v/v1.1.0.mod"); err != nil || code != http.StatusOK {
		t.Errorf("go.mod once the checksum database answers again: %d %v %q", code, err, body)
	}
}
