package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modmirror/modmirror/internal/testgit"
)

// corpRepos makes the company's repositories on a git server: a library
// with a tag, untagged commits and a branch, a module in a subdirectory
// with prefixed tags, a /v2 module in a major version subdirectory, and a
// repository without go.mod whose v2 tag is +incompatible. It returns the
// hash of an untagged commit.
func corpRepos(t *testing.T, gs *testgit.Server) (untagged string) {
	t.Helper()
	hello := func(s string) string {
		return "// Package lib greets.\npackage lib\n\n// Hello greets.\nfunc Hello() string { return \"" + s + "\" }\n"
	}
	lib := gs.Repo("lib.git")
	lib.Commit("v1.2.0", map[string]string{"go.mod": "module corp.example/lib\n\ngo 1.21\n", "lib.go": hello("corp lib v1.2.0"), "LICENSE": "Corp licence.\n"})
	lib.Tag("v1.2.0", "HEAD")
	untagged = lib.Commit("untagged", map[string]string{"lib.go": hello("corp lib untagged")})
	lib.Commit("sub and v2", map[string]string{
		"lib.go":     hello("corp lib main"),
		"sub/go.mod": "module corp.example/lib/sub\n\ngo 1.21\n",
		"sub/sub.go": "// Package sub is in a subdirectory.\npackage sub\n\n// Name names it.\nfunc Name() string { return \"sub\" }\n",
		"v2/go.mod":  "module corp.example/lib/v2\n\ngo 1.21\n",
		"v2/lib.go":  hello("corp lib v2"),
		"v2/README":  "The second major version.\n",
	})
	lib.Tag("sub/v0.1.0", "HEAD")
	lib.Tag("v2.0.0", "HEAD")

	legacy := gs.Repo("legacy.git")
	legacy.Commit("old", map[string]string{"legacy.go": "// Package legacy predates modules.\npackage legacy\n"})
	legacy.Tag("v1.0.0", "HEAD")
	legacy.Commit("v2", map[string]string{"legacy.go": "// Package legacy predates modules.\npackage legacy\n\n// V is 2.\nconst V = 2\n"})
	legacy.Tag("v2.1.0", "HEAD")

	// For the go command's own GOPROXY=direct, which finds repositories
	// by go-import discovery.
	gs.GoImport("corp.example/lib", "git", gs.RepoURL("lib.git"))
	gs.GoImport("corp.example/legacy", "git", gs.RepoURL("legacy.git"))
	return untagged
}

// TestPrivateModulesFromGit is the whole private-module story: the mirror
// fills corp.example modules from the company's git server (an origin
// rule), serves them over HTTPS to a go command with a token in its .netrc,
// records them in its own checksum database, which the client uses as its
// only GOSUMDB, and never asks the public upstream about them. Every h1:
// hash equals what GOPROXY=direct computes from the same repositories.
func TestPrivateModulesFromGit(t *testing.T) {
	t.Parallel()
	gs := testgit.NewServer(t)
	untagged := corpRepos(t, gs)
	up := newFixture(t)
	data := t.TempDir()
	keyFile, vkey := keygen(t)
	_, secret := createToken(t, data, "ci", "corp.example/*")
	_, otherSecret := createToken(t, data, "other", "other.example/*")
	m, ca := startTLSMirror(t, up, data, "--private", "corp.example", "--sumdb-key", keyFile,
		"--origin-rule", "corp.example/*="+gs.URL+"/{path}.git", "--origin-insecure", "127.0.0.1",
		"--origin-fetch-interval", "-1s", "--list-ttl", "1ms")

	g := tlsGo(t, m, ca, vkey, secret)
	g.env["GONOSUMDB"] = "" // private modules too are checked, against the mirror's own log
	queries := []string{
		"corp.example/lib@v1.2.0",
		"corp.example/lib@main",
		"corp.example/lib@" + untagged[:12],
		"corp.example/lib/sub@v0.1.0",
		"corp.example/lib/v2@v2.0.0",
		"corp.example/legacy@v2.1.0+incompatible",
		"corp.example/legacy@latest",
	}
	mirrored := decodeDownloads(t, g.OK(t.TempDir(), append([]string{"mod", "download", "-json"}, queries...)...))

	// The reference: the go command itself, straight from git.
	direct := exec.Command(goBin, append([]string{"mod", "download", "-json"}, queries...)...)
	direct.Dir = t.TempDir()
	direct.Env = gs.GoEnv(t, "corp.example")
	out, err := direct.Output()
	if err != nil {
		t.Fatalf("GOPROXY=direct go mod download: %v\n%s", err, out)
	}
	want := decodeDownloads(t, string(out))
	if len(mirrored) != len(queries) || len(want) != len(queries) {
		t.Fatalf("downloaded %d modules through the mirror and %d directly, want %d", len(mirrored), len(want), len(queries))
	}
	for i, got := range mirrored {
		w := want[i]
		if got.Error != "" || got.Path != w.Path || got.Version != w.Version || got.Sum != w.Sum || got.GoModSum != w.GoModSum {
			t.Errorf("%s: through the mirror %s@%s %s %s (error %q); directly %s@%s %s %s",
				queries[i], got.Path, got.Version, got.Sum, got.GoModSum, got.Error, w.Path, w.Version, w.Sum, w.GoModSum)
		}
	}
	if last := mirrored[len(mirrored)-1]; last.Version != "v2.1.0+incompatible" {
		t.Errorf("corp.example/legacy@latest resolved to %s, want v2.1.0+incompatible", last.Version)
	}

	// go get at a tag, a branch and a commit, then tidy and build.
	app := writeModule(t, t.TempDir(), map[string]string{
		"go.mod": "module example.com/app\n\ngo 1.21\n",
		"main.go": `package main

import (
	"fmt"

	"corp.example/lib"
	publiclib "example.com/lib"
)

func main() { fmt.Println(lib.Hello(), "/", publiclib.Hello()) }
`,
	})
	g.OK(app, "get", "corp.example/lib@main")
	g.OK(app, "get", "corp.example/lib@"+untagged)
	g.OK(app, "get", "corp.example/lib@v1.2.0", "example.com/lib@v1.0.0")
	g.OK(app, "mod", "tidy")
	g.OK(app, "build", "-o", filepath.Join(app, "app"), ".")
	if got := runProgram(t, filepath.Join(app, "app")); got != "corp lib v1.2.0 / hello from lib v1.0.0\n" {
		t.Errorf("app printed %q", got)
	}

	// A reviewer checks the go.sum against the same log with
	// modmirror verify, with the token from the same .netrc; without it the
	// private lines are not found.
	verify := func(netrcFile string) (string, error) {
		cmd := exec.Command(modmirrorBin, "verify", "--sumdb", vkey, "--proxy", m.URL, "--cache", t.TempDir(), "--netrc", netrcFile, filepath.Join(app, "go.sum"))
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "SSL_CERT_FILE=" + ca.CAFile}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := verify(filepath.Join(g.env["HOME"], ".netrc")); err != nil || !strings.Contains(out, "4 lines checked, 0 mismatches, 0 missing") {
		t.Errorf("modmirror verify with the token: %v\n%s", err, out)
	}
	if out, err := verify(os.DevNull); err == nil || !strings.Contains(out, "corp.example/lib v1.2.0: not in checksum database") {
		t.Errorf("modmirror verify without a token: %v, want the private lines missing\n%s", err, out)
	}

	// The own log recorded the private version with the hashes above.
	code, body, err := clientGet(ca.Client(), m.URL+"/sumdb/"+sumdbName+"/lookup/corp.example/lib@v1.2.0", "Bearer "+secret)
	if err != nil || code != 200 || !strings.Contains(body, "corp.example/lib v1.2.0 "+want[0].Sum+"\n") {
		t.Errorf("own log lookup of corp.example/lib@v1.2.0: %d %v\n%s\nwant the hash %s", code, err, body, want[0].Sum)
	}

	// No token, or a token for other modules: the module does not exist,
	// as far as the client can tell, and the mirror logs the refusal.
	for _, s := range []string{"", otherSecret} {
		stderr := tlsGo(t, m, ca, vkey, s).Fail(t.TempDir(), "mod", "download", "corp.example/lib@v1.2.0")
		if !strings.Contains(stderr, "404 Not Found") {
			t.Errorf("go mod download without a token for it: want 404 Not Found:\n%s", stderr)
		}
	}
	checkRefused(t, m, "corp.example/lib/@v/v1.2.0.info", "", "no_token")

	// Not even a client with a token that asks the proxied public
	// database about a private path, as a client without GOPRIVATE would.
	if code, body, _ := clientGet(ca.Client(), m.URL+"/sumdb/"+up.SumDBName()+"/lookup/corp.example/lib@v1.2.0", "Bearer "+secret); code != 404 {
		t.Errorf("a private lookup in the proxied public database: %d %s, want 404", code, body)
	}

	// Private paths never reach the public upstream or its database.
	for _, p := range up.RequestLog() {
		if strings.Contains(p, "corp.example") {
			t.Errorf("the public upstream was asked about a private module: %s", p)
		}
	}

	// The tag is moved at the origin: the mirror keeps and serves its first
	// copy, and reports the change once it sees it (it asks the origin
	// again about stored private versions that clients use).
	moveTag(t, gs, "lib.git", "v1.2.0", untagged)
	again := decodeDownloads(t, tlsGo(t, m, ca, vkey, secret).OK(t.TempDir(), "mod", "download", "-json", "corp.example/lib@v1.2.0"))
	if len(again) != 1 || again[0].Sum != want[0].Sum {
		t.Errorf("after the tag moved, the mirror serves %+v, want the first copy's %s", again, want[0].Sum)
	}
	waitFor(t, 10*time.Second, "the mirror's report of the moved tag", func() bool {
		return strings.Contains(m.Log(), "moved at its origin")
	})
}

// moveTag points a tag of a served repository at rev.
func moveTag(t *testing.T, gs *testgit.Server, repo, tag, rev string) {
	t.Helper()
	cmd := exec.Command("git", "tag", "-f", tag, rev)
	cmd.Dir = filepath.Join(gs.Root, repo)
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL="+os.DevNull)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git tag -f %s %s: %v\n%s", tag, rev, err, out)
	}
}
