package testupstream

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// goEnv returns an environment in which the go command uses only s, as its
// proxy and its checksum database, with a fresh module cache.
func goEnv(t *testing.T, s *Server) []string {
	gopath := t.TempDir()
	return append(os.Environ(),
		"GOPROXY="+s.URL,
		"GOSUMDB="+s.VerifierKey(),
		"GOPATH="+gopath,
		"GOMODCACHE="+filepath.Join(gopath, "pkg", "mod"),
		"GOFLAGS=-modcacherw", // so that t.TempDir can remove the cache
		"GOTOOLCHAIN=local",
		"GONOSUMDB=", "GONOSUMCHECK=", "GOPRIVATE=", "GONOPROXY=",
	)
}

// TestGoCommand checks that the real go command accepts what the server
// serves: it downloads through the proxy, verifies against the checksum
// database reached through the proxy, and rejects a tampered zip.
func TestGoCommand(t *testing.T) {
	t.Parallel()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not found on PATH")
	}

	t.Run("download", func(t *testing.T) {
		t.Parallel()
		s := New(t, fixtures(t)...)
		cmd := exec.Command(goBin, "mod", "download", "-json",
			"example.com/fixture@v1.0.0", "example.com/Upper@v1.0.0-RC1", "example.com/incompat@v2.0.0+incompatible")
		cmd.Dir = t.TempDir() // outside any module
		cmd.Env = goEnv(t, s)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go mod download: %v\n%s%s", err, out, stderr.Bytes())
		}
		dec := json.NewDecoder(bytes.NewReader(out))
		n := 0
		for {
			var m struct{ Path, Version, Sum, GoModSum, Error string }
			if err := dec.Decode(&m); err == io.EOF {
				break
			} else if err != nil {
				t.Fatal(err)
			}
			n++
			want := s.GoSumLines(m.Path, m.Version)
			got := []string{m.Path + " " + m.Version + " " + m.Sum, m.Path + " " + m.Version + "/go.mod " + m.GoModSum}
			if m.Error != "" || got[0] != want[0] || got[1] != want[1] {
				t.Errorf("go mod download %s@%s: error %q, sums\n%q\nwant\n%q", m.Path, m.Version, m.Error, got, want)
			}
		}
		if n != 3 {
			t.Errorf("go mod download printed %d modules, want 3:\n%s", n, out)
		}
		if s.Requests("/sumdb/"+s.SumDBName()+"/supported") == 0 {
			t.Error("the go command did not reach the checksum database through the proxy")
		}
	})

	t.Run("tampered", func(t *testing.T) {
		t.Parallel()
		s := New(t, fixtures(t)...)
		s.SetFault("/example.com/!upper/@v/v1.0.0-!r!c1.zip", TamperZip)
		cmd := exec.Command(goBin, "mod", "download", "-json", "example.com/Upper@v1.0.0-RC1")
		cmd.Dir = t.TempDir()
		cmd.Env = goEnv(t, s)
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Fatalf("go mod download of a tampered zip succeeded:\n%s", out)
		}
		if !strings.Contains(string(out), "checksum mismatch") || !strings.Contains(string(out), "SECURITY ERROR") {
			t.Errorf("go mod download of a tampered zip: want a checksum mismatch, got:\n%s", out)
		}
	})
}
