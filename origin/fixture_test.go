package origin

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modmirror/modmirror"
	"github.com/modmirror/modmirror/internal/testgit"
)

// fixture is a testgit server with the repositories most tests use, found
// by go-import discovery at corp.example:
//
//	corp.example/lib      lib.git: tags v1.0.0, v1.1.0 (annotated); branch feature;
//	                      files the module zip rules leave out (vendor/, a symlink,
//	                      a nested module) and an export-ignore .gitattributes
//	corp.example/lib/sub  lib.git sub/: tags sub/v0.1.0, sub/v0.2.0; no LICENSE of its own
//	corp.example/lib/v2   lib.git v2/: tag v2.0.0 (major version subdirectory)
//	corp.example/major    major.git: v1.0.0; then go.mod says /v2: v2.0.0, v2.1.0
//	corp.example/nomod    nomod.git: no go.mod; v1.0.0, v2.0.0, v3.0.0-rc.1
//	corp.example/notags   notags.git: two commits, no tags
//	corp.example/retract  retract.git: v1.0.0, v1.1.0; branch fix after v1.1.0;
//	                      v1.2.0 retracts v1.1.0
//	corp.example/tagged   tagged.git: v1.0.0, v1.1.0+build, v1.2.0-beta.1, then a
//	                      commit tagged both v1.3.0 and v1.3.1
//	corp.example/v2dir    v2dir.git: no go.mod at the root; v1.0.0, then v2/go.mod
//	                      and a tag v2.0.0 (for corp.example/v2dir/v2, not +incompatible)
//	corp.example/mono     mono.git, in its subdirectory go/ (a go-import subdirectory):
//	                      go/v1.0.0; corp.example/mono/sub in sub/go (as the go
//	                      command looks for it): sub/go/v0.1.0
//
// Every main branch ends with an untagged commit.
type fixture struct {
	srv  *testgit.Server
	repo map[string]*testgit.Repo
	hash map[string]string // named commits
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	fx := &fixture{srv: testgit.NewServer(t), repo: map[string]*testgit.Repo{}, hash: map[string]string{}}
	fx.lib()
	fx.major()
	fx.nomod()
	fx.notags()
	fx.retract()
	fx.tagged()
	fx.v2dir()
	fx.mono()
	return fx
}

func (fx *fixture) add(name, modPrefix string) *testgit.Repo {
	r := fx.srv.Repo(name + ".git")
	fx.repo[name] = r
	fx.srv.GoImport(modPrefix, "git", fx.srv.RepoURL(name+".git"))
	return r
}

func (fx *fixture) lib() {
	r := fx.add("lib", "corp.example/lib")
	c1 := r.Commit("v1.0.0", map[string]string{
		"go.mod":              "module corp.example/lib\n\ngo 1.21\n",
		"lib.go":              "package lib\n\nconst V = 1\n",
		"LICENSE":             "root license\n",
		"README.md":           "# lib\n",
		".gitattributes":      "ignored.txt export-ignore\nsubst.txt export-subst\n",
		"ignored.txt":         "export-ignore must not hide this file\n",
		"subst.txt":           "$Format:%H$\n",
		"vendor/x/x.go":       "package x\n",
		"testdata/data.txt":   "data\n",
		"internal/in/in.go":   "package in\n",
		"nested/go.mod":       "module corp.example/lib/nested\n",
		"nested/nested.go":    "package nested\n",
		"crlf.txt":            "line one\r\nline two\r\n",
		"dir with space/a.go": "package a\n",
	})
	r.WriteExecutable("tool.sh", "#!/bin/sh\necho tool\n")
	r.Symlink("link.go", "lib.go")
	c1 = r.Commit("v1.0.0 with a tool and a link", nil)
	r.Tag("v1.0.0", c1)
	c2 := r.Commit("v1.1.0", map[string]string{"lib.go": "package lib\n\nconst V = 2\n"})
	r.AnnotatedTag("v1.1.0", c2, "release v1.1.0")
	c3 := r.Commit("sub v0.1.0", map[string]string{
		"sub/go.mod": "module corp.example/lib/sub\n\ngo 1.21\n",
		"sub/sub.go": "package sub\n",
	})
	r.AnnotatedTag("sub/v0.1.0", c3, "sub release v0.1.0")
	c4 := r.Commit("sub v0.2.0", map[string]string{"sub/sub.go": "package sub\n\nconst V = 2\n"})
	r.Tag("sub/v0.2.0", c4)
	c5 := r.Commit("v2 in a major version subdirectory", map[string]string{
		"v2/go.mod": "module corp.example/lib/v2\n\ngo 1.21\n",
		"v2/lib.go": "package lib\n\nconst V = 20\n",
	})
	r.Tag("v2.0.0", c5)
	c6 := r.Commit("untagged on main", map[string]string{
		"lib.go":     "package lib\n\nconst V = 3\n",
		"sub/sub.go": "package sub\n\nconst V = 3\n",
		"v2/lib.go":  "package lib\n\nconst V = 21\n",
	})
	r.Checkout("feature")
	r.Git("reset", "-q", "--hard", c2)
	c7 := r.Commit("on the feature branch", map[string]string{"feature.go": "package lib\n"})
	r.Checkout("main")
	fx.hash["lib/v1.0.0"], fx.hash["lib/v1.1.0"], fx.hash["lib/main"], fx.hash["lib/feature"] = c1, c2, c6, c7
	fx.hash["lib/sub/v0.1.0"] = c3
}

func (fx *fixture) major() {
	r := fx.add("major", "corp.example/major")
	r.Tag("v1.0.0", r.Commit("v1", map[string]string{"go.mod": "module corp.example/major\n", "m.go": "package major\n"}))
	r.Tag("v2.0.0", r.Commit("v2", map[string]string{"go.mod": "module corp.example/major/v2\n", "m.go": "package major // v2\n"}))
	r.AnnotatedTag("v2.1.0", r.Commit("v2.1", map[string]string{"m.go": "package major // v2.1\n"}), "v2.1.0")
	fx.hash["major/main"] = r.Commit("untagged", map[string]string{"m.go": "package major // next\n"})
}

func (fx *fixture) nomod() {
	r := fx.add("nomod", "corp.example/nomod")
	r.Tag("v1.0.0", r.Commit("v1", map[string]string{"n.go": "package nomod\n", "LICENSE": "nomod license\n"}))
	r.Tag("v2.0.0", r.Commit("v2", map[string]string{"n.go": "package nomod // v2\n"}))
	r.Tag("v3.0.0-rc.1", r.Commit("v3 rc", map[string]string{"n.go": "package nomod // v3\n"}))
	fx.hash["nomod/main"] = r.Commit("untagged", map[string]string{"n.go": "package nomod // next\n"})
}

func (fx *fixture) notags() {
	r := fx.add("notags", "corp.example/notags")
	fx.hash["notags/first"] = r.Commit("first", map[string]string{"go.mod": "module corp.example/notags\n", "t.go": "package notags\n"})
	fx.hash["notags/main"] = r.Commit("second", map[string]string{"t.go": "package notags // 2\n"})
}

func (fx *fixture) retract() {
	r := fx.add("retract", "corp.example/retract")
	r.Tag("v1.0.0", r.Commit("v1.0.0", map[string]string{"go.mod": "module corp.example/retract\n", "r.go": "package retract\n"}))
	c2 := r.Commit("v1.1.0, broken", map[string]string{"r.go": "package retract // broken\n"})
	r.Tag("v1.1.0", c2)
	r.Checkout("fix")
	r.Git("reset", "-q", "--hard", c2)
	fx.hash["retract/fix"] = r.Commit("a fix of v1.1.0, untagged", map[string]string{"r.go": "package retract // fixed\n"})
	r.Checkout("main")
	r.Tag("v1.2.0", r.Commit("v1.2.0", map[string]string{"go.mod": "module corp.example/retract\n\nretract v1.1.0 // broken\n"}))
	fx.hash["retract/main"] = r.Commit("untagged", map[string]string{"r.go": "package retract // next\n"})
}

func (fx *fixture) tagged() {
	r := fx.add("tagged", "corp.example/tagged")
	r.Tag("v1.0.0", r.Commit("v1.0.0", map[string]string{"go.mod": "module corp.example/tagged\n", "t.go": "package tagged\n"}))
	fx.hash["tagged/build"] = r.Commit("v1.1.0+build", map[string]string{"t.go": "package tagged // 1.1\n"})
	r.Tag("v1.1.0+build", fx.hash["tagged/build"])
	fx.hash["tagged/beta"] = r.Commit("v1.2.0-beta.1", map[string]string{"t.go": "package tagged // 1.2 beta\n"})
	r.Tag("v1.2.0-beta.1", fx.hash["tagged/beta"])
	fx.hash["tagged/afterbeta"] = r.Commit("after the beta", map[string]string{"t.go": "package tagged // after beta\n"})
	fx.hash["tagged/two"] = r.Commit("two tags", map[string]string{"t.go": "package tagged // 1.3\n"})
	r.Tag("v1.3.0", fx.hash["tagged/two"])
	r.AnnotatedTag("v1.3.1", fx.hash["tagged/two"], "v1.3.1")
	fx.hash["tagged/main"] = r.Commit("untagged", map[string]string{"t.go": "package tagged // next\n"})
}

func (fx *fixture) v2dir() {
	r := fx.add("v2dir", "corp.example/v2dir")
	r.Tag("v1.0.0", r.Commit("v1.0.0", map[string]string{"d.go": "package v2dir\n"}))
	r.Tag("v2.0.0", r.Commit("v2 in its directory", map[string]string{
		"v2/go.mod": "module corp.example/v2dir/v2\n",
		"v2/d.go":   "package v2dir // v2\n",
	}))
}

func (fx *fixture) mono() {
	r := fx.srv.Repo("mono.git")
	fx.repo["mono"] = r
	fx.srv.GoImportSubdir("corp.example/mono", "git", fx.srv.RepoURL("mono.git"), "go")
	r.Commit("outside the module", map[string]string{"README": "not Go\n", "LICENSE": "mono license\n"})
	r.Tag("go/v1.0.0", r.Commit("go/v1.0.0", map[string]string{"go/go.mod": "module corp.example/mono\n", "go/m.go": "package mono\n"}))
	r.Tag("sub/go/v0.1.0", r.Commit("sub/go/v0.1.0", map[string]string{"sub/go/go.mod": "module corp.example/mono/sub\n", "sub/go/s.go": "package sub\n"}))
	fx.hash["mono/main"] = r.Commit("untagged", map[string]string{"go/m.go": "package mono // next\n"})
}

// testConfig returns a Config that reaches the fixture: discovery through
// the server as a proxy, plain http allowed for corp.example and the
// server's hosts, and git with no global or system configuration.
func (fx *fixture) config(t testing.TB) Config {
	return Config{
		CacheDir:      t.TempDir(),
		HTTPClient:    fx.srv.Client(),
		Insecure:      func(host string) bool { return host == "corp.example" || host == "127.0.0.1" || host == "localhost" },
		FetchInterval: time.Hour,
		Env:           []string{"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=" + os.DevNull},
		Logger:        testLogger(t),
	}
}

func newOrigin(t testing.TB, cfg Config) *Origin {
	t.Helper()
	o, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// testLogger logs to t.Log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// syncBuffer is a bytes.Buffer safe for concurrent writes, for logs.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// info calls o.Info and decodes the answer.
func info(t testing.TB, o *Origin, path, query string) infoJSON {
	t.Helper()
	data, err := o.Info(context.Background(), path, query)
	if err != nil {
		t.Fatalf("Info(%s, %s): %v", path, query, err)
	}
	var i infoJSON
	if err := json.Unmarshal(data, &i); err != nil {
		t.Fatalf("Info(%s, %s): %v\n%s", path, query, err, data)
	}
	return i
}

// zipHash returns the h1: hash of the zip o serves, after checking it as the
// mirror does.
func zipHash(t testing.TB, o *Origin, path, version string) string {
	t.Helper()
	rc, err := o.Zip(context.Background(), path, version)
	if err != nil {
		t.Fatalf("Zip(%s, %s): %v", path, version, err)
	}
	defer rc.Close()
	file := filepath.Join(t.TempDir(), "m.zip")
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(f, rc); err != nil {
		t.Fatalf("Zip(%s, %s): reading: %v", path, version, err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := modmirror.CheckZip(path, version, file); err != nil {
		t.Fatalf("Zip(%s, %s): invalid zip: %v", path, version, err)
	}
	h, err := modmirror.HashZip(file)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// modHash returns the h1: hash of the go.mod o serves.
func modHash(t testing.TB, o *Origin, path, version string) string {
	t.Helper()
	data, err := o.Mod(context.Background(), path, version)
	if err != nil {
		t.Fatalf("Mod(%s, %s): %v", path, version, err)
	}
	h, err := modmirror.HashGoMod(data)
	if err != nil {
		t.Fatal(err)
	}
	return h
}
