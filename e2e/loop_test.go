package e2e

import (
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// freePort returns a port of 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestUpstreamIsSelf starts a mirror whose $GOPROXY (the default of
// --upstream) is the mirror's own address, as happens when the service
// shares the environment of its clients: it refuses to start, and says so.
func TestUpstreamIsSelf(t *testing.T) {
	t.Parallel()
	port := strconv.Itoa(freePort(t))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, modmirrorBin, "serve", "--listen", "127.0.0.1:"+port, "--data", t.TempDir())
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "GOPROXY=http://localhost:" + port}
	out, _ := cmd.CombinedOutput()
	want := "modmirror serve: --upstream http://localhost:" + port + " is this mirror's own address"
	if cmd.ProcessState.ExitCode() != 2 || !strings.HasPrefix(string(out), want) {
		t.Errorf("serve with GOPROXY set to itself: exit %d, %q; want 2 and %q", cmd.ProcessState.ExitCode(), out, want)
	}
}

// TestUpstreamLoop makes two mirrors each other's upstream, which no
// start-up check can see: a miss comes back to the first mirror, which
// refuses it at once (508), so the client gets an answer that says so
// instead of waiting for a timeout: without the refusal the request would
// go round until a timeout ended it, with no 508 in the answer.
func TestUpstreamLoop(t *testing.T) {
	t.Parallel()
	up := newFixture(t)
	portA, portB := freePort(t), freePort(t)
	urlA, urlB := "http://127.0.0.1:"+strconv.Itoa(portA), "http://127.0.0.1:"+strconv.Itoa(portB)
	startMirror(t, up, "", "--listen", "127.0.0.1:"+strconv.Itoa(portB), "--upstream", urlA)
	a := startMirror(t, up, "", "--listen", "127.0.0.1:"+strconv.Itoa(portA), "--upstream", urlB)

	code, body, err := httpGet(a.URL + "/" + libPath + "/@v/list")
	if err != nil {
		t.Fatal(err)
	}
	if code != http.StatusBadGateway || !strings.Contains(body, "508 Loop Detected") || !strings.Contains(body, "leads back to the mirror itself") {
		t.Errorf("a miss in a loop of two mirrors: %d %q; want 502 relaying the 508", code, body)
	}
}
