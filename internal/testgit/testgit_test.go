package testgit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestFixedDates(t *testing.T) {
	t.Parallel()
	a := Init(t, filepath.Join(t.TempDir(), "a"))
	b := Init(t, filepath.Join(t.TempDir(), "b"))
	for _, r := range []*Repo{a, b} {
		r.Commit("one", map[string]string{"go.mod": "module corp.example/a\n"})
		r.Commit("two", map[string]string{"a.go": "package a\n"})
	}
	if a.Head() != b.Head() {
		t.Errorf("same commits in two repositories have different hashes: %s, %s", a.Head(), b.Head())
	}
	second := Date.Add(time.Hour).Unix()
	if got, want := a.Git("log", "-1", "--format=%ct %at"), fmt.Sprint(second, " ", second); got != want {
		t.Errorf("second commit dated %q, want %q", got, want)
	}
}

func TestServer(t *testing.T) {
	t.Parallel()
	s := NewServer(t)
	r := s.Repo("lib.git")
	hash := r.Commit("first", map[string]string{"go.mod": "module corp.example/lib\n"})
	r.Tag("v1.0.0", hash)
	s.GoImport("corp.example/lib", "git", s.RepoURL("lib.git"))

	t.Run("clone", func(t *testing.T) {
		out, err := gitCommand(t.TempDir(), "ls-remote", s.RepoURL("lib.git")).Output()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(out), hash+"\trefs/tags/v1.0.0") {
			t.Errorf("ls-remote does not list the tag:\n%s", out)
		}
	})

	t.Run("go-import", func(t *testing.T) {
		resp, err := s.Client().Get("http://corp.example/lib/sub?go-get=1")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		want := `<meta name="go-import" content="corp.example/lib git ` + s.RepoURL("lib.git") + `">`
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
			t.Errorf("go-import page: %d\n%s\nwant %s", resp.StatusCode, body, want)
		}
		resp, err = s.Client().Get("http://corp.example/other?go-get=1")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("go-import page for an unknown path: %d, want 404", resp.StatusCode)
		}
		if _, err := s.Client().Get("https://corp.example/lib?go-get=1"); err == nil {
			t.Errorf("an HTTPS request through the proxy succeeded")
		}
	})

	t.Run("auth", func(t *testing.T) {
		s := NewServer(t)
		r := s.Repo("private.git")
		r.Commit("first", map[string]string{"go.mod": "module corp.example/private\n"})
		s.RequireAuth("alice", "s3cret")
		u := strings.Replace(s.RepoURL("private.git"), "http://", "http://alice:s3cret@", 1)
		if out, err := gitCommand(t.TempDir(), "ls-remote", u).CombinedOutput(); err != nil {
			t.Errorf("ls-remote with credentials: %v\n%s", err, out)
		}
		if out, err := gitCommand(t.TempDir(), "ls-remote", s.RepoURL("private.git")).CombinedOutput(); err == nil {
			t.Errorf("ls-remote without credentials succeeded:\n%s", out)
		}
		var sawAlice, sawAnonymous bool
		for _, req := range s.Requests() {
			sawAlice = sawAlice || req.User == "alice" && req.Status == http.StatusOK
			sawAnonymous = sawAnonymous || !req.Auth && req.Status == http.StatusUnauthorized
		}
		if !sawAlice || !sawAnonymous {
			t.Errorf("request log does not show an authenticated and a refused request:\n%v", s.Requests())
		}
	})
}

// TestGoCommand checks that the go command, in the environment GoEnv
// returns, finds a module through the go-import page and downloads it with
// git from the server.
func TestGoCommand(t *testing.T) {
	t.Parallel()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not found")
	}
	s := NewServer(t)
	r := s.Repo("lib.git")
	r.Tag("v1.0.0", r.Commit("first", map[string]string{"go.mod": "module corp.example/lib\n", "lib.go": "package lib\n"}))
	s.GoImport("corp.example/lib", "git", s.RepoURL("lib.git"))

	cmd := exec.Command(goBin, "mod", "download", "-json", "corp.example/lib@v1.0.0")
	cmd.Dir = t.TempDir()
	cmd.Env = s.GoEnv(t, "corp.example")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go mod download: %v\n%s%s", err, out, stderr.Bytes())
	}
	var m struct{ Version, Sum, GoModSum string }
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatal(err)
	}
	if m.Version != "v1.0.0" || !strings.HasPrefix(m.Sum, "h1:") || !strings.HasPrefix(m.GoModSum, "h1:") {
		t.Errorf("go mod download: %+v", m)
	}
	if s.Count(IsGoGet) == 0 || s.Count(func(r Request) bool { return IsRefs(r, "lib.git") }) == 0 {
		t.Errorf("the go command did not use the server for discovery and git:\n%v", s.Requests())
	}
}

func gitCommand(dir string, args ...string) *exec.Cmd {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = Env()
	return cmd
}
