package tests3

import (
	"crypto/rand"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/modmirror/modmirror/internal/syncbuf"
	"github.com/modmirror/modmirror/internal/testenv"
)

// A Server is a MinIO server of one test's own, for tests that stop and
// start it: the one scripts/test.sh starts is shared by every test.
type Server struct {
	t       testing.TB
	bin     string
	dir     string
	addr    string
	user    string
	pass    string
	cmd     *exec.Cmd
	done    chan struct{}
	log     syncbuf.Buffer
	stopped bool
}

// Start starts a MinIO server of t's own on a free port of 127.0.0.1, with
// its data in a temporary directory, and stops it when t ends. The binary
// is MODMIRROR_TEST_MINIO_BIN (scripts/minio.sh install builds it); without it
// the test is skipped, or fails when MODMIRROR_TEST_REQUIRE_S3=1.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := os.Getenv("MODMIRROR_TEST_MINIO_BIN")
	if bin == "" {
		testenv.Missing(t, "S3", "MODMIRROR_TEST_MINIO_BIN is not set; run scripts/test.sh, or scripts/minio.sh install and set it to the binary")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	s := &Server{
		t:    t,
		bin:  bin,
		dir:  t.TempDir(),
		addr: addr,
		user: "test" + rand.Text()[:8],
		pass: rand.Text(),
	}
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("minio log:\n%s", s.log.String())
		}
	})
	s.Restart()
	return s
}

// Restart starts the server again after Stop, on the same port with the
// same data, and returns once it is ready.
func (s *Server) Restart() {
	s.t.Helper()
	s.cmd = exec.Command(s.bin, "server", "--quiet", "--address", s.addr, filepath.Join(s.dir, "data"))
	s.cmd.Env = []string{
		"HOME=" + s.dir,
		"MINIO_ROOT_USER=" + s.user,
		"MINIO_ROOT_PASSWORD=" + s.pass,
		"MINIO_BROWSER=off",
		"MINIO_UPDATE=off",
		"MINIO_CALLHOME_ENABLE=off",
	}
	s.cmd.Stdout = &s.log
	s.cmd.Stderr = &s.log
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("starting minio: %v", err)
	}
	s.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) {
		cmd.Wait()
		close(done)
	}(s.cmd, s.done)
	s.stopped = false
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := client.Get("http://" + s.addr + "/minio/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		select {
		case <-s.done:
			s.t.Fatalf("minio exited at start:\n%s", s.log.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("minio not ready within a minute: %v\n%s", err, s.log.String())
		}
	}
}

// Stop stops the server (SIGKILL: as an outage, not a shutdown) and waits
// for it to exit.
func (s *Server) Stop() {
	if s.stopped || s.cmd == nil {
		return
	}
	s.stopped = true
	s.cmd.Process.Kill()
	<-s.done
}

// Env returns the environment a process needs to reach the server.
func (s *Server) Env() []string {
	return []string{"AWS_ACCESS_KEY_ID=" + s.user, "AWS_SECRET_ACCESS_KEY=" + s.pass}
}

// Endpoint returns the server's host:port.
func (s *Server) Endpoint() string { return s.addr }
