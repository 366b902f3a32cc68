package snapshot_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/modmirror/modmirror"
	"github.com/modmirror/modmirror/checksum"
	"github.com/modmirror/modmirror/fsstore"
	"github.com/modmirror/modmirror/internal/testupstream"
	"github.com/modmirror/modmirror/snapshot"
	"github.com/modmirror/modmirror/upstream"
)

// fakeToolchain is a golang.org/toolchain module version whose bin/go is a
// shell script that says which toolchain it is.
func fakeToolchain(goVersion, goos, goarch string) testupstream.Module {
	return testupstream.Module{
		Path:    snapshot.ToolchainModule,
		Version: "v0.0.1-" + goVersion + "." + goos + "-" + goarch,
		Files: map[string]string{
			"go.mod":  "module golang.org/toolchain\n",
			"bin/go":  "#!/bin/sh\necho fake " + goVersion + " " + goos + "/" + goarch + "\n",
			"VERSION": goVersion + "\n",
			// The go command sets the execute bits in bin/, pkg/tool/ and lib/.
			"pkg/tool/README": "no tools in a fake toolchain\n",
			"lib/README":      "no libraries in a fake toolchain\n",
			"bin/gofmt":       "#!/bin/sh\n",
		},
	}
}

// newVerifier returns a checksum database client for the fixture
// upstream's database.
func newVerifier(t *testing.T, srv *testupstream.Server, up *upstream.Chain) *checksum.Verifier {
	t.Helper()
	store, err := fsstore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	v, err := checksum.NewVerifier(checksum.Config{Key: srv.VerifierKey(), Remote: up, Store: store, StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

// TestToolchain checks that --toolchain adds the golang.org/toolchain zip
// that go.mod's toolchain line switches to, for each platform, verified
// against the checksum database, and that the go command then switches to
// it offline, from the snapshot alone.
func TestToolchain(t *testing.T) {
	t.Parallel()
	// Two platforms, and the host's, for the go command to switch to.
	list := []string{"linux/amd64", "darwin/arm64"}
	if host := runtime.GOOS + "/" + runtime.GOARCH; !slices.Contains(list, host) {
		list = append(list, host)
	}
	var mods []testupstream.Module
	for _, pl := range list {
		goos, goarch, _ := strings.Cut(pl, "/")
		mods = append(mods, fakeToolchain("go1.99.1", goos, goarch))
	}
	srv := testupstream.New(t, mods...)
	up, err := upstream.Parse(srv.URL, upstream.Options{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeProject(t, dir, map[string]string{
		"go.mod":  "module example.com/tc\n\ngo 1.21\n\ntoolchain go1.99.1\n",
		"go.sum":  "",
		"main.go": "package main\n\nfunc main() {}\n",
	})
	platforms, err := snapshot.ParsePlatforms(strings.Join(list, ", "))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "deps")
	res, err := snapshot.Run(t.Context(), snapshot.Options{
		Dirs: []string{dir}, Out: out, Upstream: up, Manifest: snapshot.ManifestFile(out),
		Toolchains: platforms, Checker: newVerifier(t, srv, up),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Skew) != 0 {
		t.Errorf("toolchains for several platforms reported as skew: %+v", res.Skew)
	}
	files := tree(t, out)
	for _, pl := range []string{"linux-amd64", "darwin-arm64"} {
		version := "v0.0.1-go1.99.1." + pl
		base := "golang.org/toolchain/@v/" + version
		for _, ext := range []string{".zip", ".mod", ".info"} {
			if _, ok := files[base+ext]; !ok {
				t.Errorf("snapshot lacks %s%s", base, ext)
			}
		}
		if got, want := files[base+".zip"], get(t, srv.URL+"/"+base+".zip"); got != want {
			t.Errorf("%s.zip differs from the upstream's", base)
		}
		for _, l := range srv.GoSumLines(snapshot.ToolchainModule, version) {
			if !slices.Contains(res.Manifest.Lines, l) {
				t.Errorf("manifest lacks %q:\n%s", l, strings.Join(res.Manifest.Lines, "\n"))
			}
		}
	}
	if files["golang.org/toolchain/@v/list"] == "" {
		t.Errorf("no list file for golang.org/toolchain")
	}

	// A second run keeps what is there, and the hash.
	again, err := snapshot.Run(t.Context(), snapshot.Options{
		Dirs: []string{dir}, Out: out, Upstream: up, Toolchains: platforms, Checker: newVerifier(t, srv, up),
	})
	if err != nil {
		t.Fatal(err)
	}
	if again.Hash != res.Hash || again.Fetched != 0 {
		t.Errorf("second run: hash %s (want %s), %d fetched (want 0)", again.Hash, res.Hash, again.Fetched)
	}
	srv.Close()

	// The go command, offline, switches to the toolchain from the snapshot.
	goBin := goCommand(t)
	cmd := offlineGo(t, goBin, out, dir, "version")
	cmd.Env = append(cmd.Env, "GOTOOLCHAIN=auto")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	output, err := cmd.Output()
	if err != nil {
		t.Fatalf("GOTOOLCHAIN=auto go version, offline: %v\n%s", err, stderr.String())
	}
	if want := "fake go1.99.1 " + runtime.GOOS + "/" + runtime.GOARCH; strings.TrimSpace(string(output)) != want {
		t.Errorf("GOTOOLCHAIN=auto go version printed %q, want %q", output, want)
	}
}

// TestToolchainTampered checks that a toolchain zip that the checksum
// database does not vouch for is an ErrSecurity and is not kept.
func TestToolchainTampered(t *testing.T) {
	t.Parallel()
	tc := fakeToolchain("go1.99.1", "linux", "amd64")
	srv := testupstream.New(t, tc)
	srv.SetFault("/golang.org/toolchain/@v/"+tc.Version+".zip", testupstream.TamperZip)
	up, err := upstream.Parse(srv.URL, upstream.Options{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeProject(t, dir, map[string]string{"go.mod": "module example.com/tc\n\ngo 1.21\n\ntoolchain go1.99.1\n"})
	out := filepath.Join(t.TempDir(), "deps")
	_, err = snapshot.Run(t.Context(), snapshot.Options{
		Dirs: []string{dir}, Out: out, Upstream: up,
		Toolchains: []snapshot.Platform{{GOOS: "linux", GOARCH: "amd64"}}, Checker: newVerifier(t, srv, up),
	})
	if !errors.Is(err, modmirror.ErrSecurity) {
		t.Fatalf("tampered toolchain zip: %v, want ErrSecurity", err)
	}
	if _, err := os.Stat(filepath.Join(out, "golang.org/toolchain/@v", tc.Version+".zip")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("tampered zip left in the snapshot: %v", err)
	}
}

// TestToolchainNone checks which go.mod files ask for no toolchain module,
// and that without --toolchain none is fetched.
func TestToolchainNone(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dir := e.mainProject(t)
	res, err := e.run(t, snapshot.Options{Dirs: []string{dir}, Out: filepath.Join(t.TempDir(), "deps")})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range res.Manifest.Lines {
		if strings.HasPrefix(l, snapshot.ToolchainModule) {
			t.Errorf("toolchain without --toolchain: %s", l)
		}
	}
}
