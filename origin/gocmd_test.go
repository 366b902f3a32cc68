package origin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/semver"
)

// goCommand runs the go command in the fixture's GoEnv, outside any module,
// and returns its standard output; it fails the test only if the go
// command could not run. The go command does its own go-import discovery
// (through the server as its HTTP proxy, as testgit.Server.GoEnv arranges)
// and its own git clones.
func goCommand(t *testing.T, fx *fixture, args ...string) []byte {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not found")
	}
	cmd := exec.Command(goBin, args...)
	cmd.Dir = t.TempDir()
	cmd.Env = fx.srv.GoEnv(t, "corp.example")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatalf("go %s: %v", strings.Join(args, " "), err)
		}
		t.Logf("go %s: %v (expected for the queries meant to fail)\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return stdout.Bytes()
}

// decodeAll decodes a stream of JSON values, as go mod download -json and
// go list -json print them.
func decodeAll[T any](t *testing.T, data []byte) []T {
	t.Helper()
	var list []T
	dec := json.NewDecoder(bytes.NewReader(data))
	for {
		var v T
		if err := dec.Decode(&v); err == io.EOF {
			return list
		} else if err != nil {
			t.Fatalf("decoding go command output: %v\n%s", err, data)
		}
		list = append(list, v)
	}
}

// TestGoCommandAgreement is the origin's reference test: for the same
// repositories and queries, the versions it resolves and the h1: hashes of
// the go.mod files and zips it serves are those of the go command with
// GOPROXY=direct, and so are its version lists.
func TestGoCommandAgreement(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	cfg := fx.config(t)
	o := newOrigin(t, cfg)
	defer func() {
		// lib, lib/sub and lib/v2 share a clone, as major and major/v2 do.
		if clones, _ := filepath.Glob(filepath.Join(cfg.CacheDir, "*", "objects")); len(clones) != 8 {
			t.Errorf("%d clones for 8 repositories", len(clones))
		}
	}()

	queries := []struct{ path, query string }{
		{"corp.example/lib", "v1.0.0"},
		{"corp.example/lib", "v1.1.0"},
		{"corp.example/lib", "main"},                      // pseudo-version after v1.1.0
		{"corp.example/lib", "feature"},                   // a branch
		{"corp.example/lib", fx.hash["lib/feature"][:12]}, // a commit prefix
		{"corp.example/lib", fx.hash["lib/main"]},         // a full hash
		{"corp.example/lib", fx.hash["lib/v1.1.0"]},       // the hash of a tagged commit
		{"corp.example/lib", "latest"},
		{"corp.example/lib/sub", "v0.1.0"},
		{"corp.example/lib/sub", "v0.2.0"},
		{"corp.example/lib/sub", "main"}, // pseudo-version based on the prefixed tag
		{"corp.example/lib/sub", fx.hash["lib/sub/v0.1.0"]},
		{"corp.example/lib/v2", "v2.0.0"}, // major version subdirectory
		{"corp.example/lib/v2", "main"},
		{"corp.example/major", "v1.0.0"},
		{"corp.example/major/v2", "v2.0.0"}, // go.mod with /v2 at the root
		{"corp.example/major/v2", "v2.1.0"},
		{"corp.example/major/v2", "main"},
		{"corp.example/major/v2", "latest"},
		{"corp.example/nomod", "v1.0.0"}, // no go.mod: synthesised
		{"corp.example/nomod", "v2.0.0"}, // resolves to v2.0.0+incompatible
		{"corp.example/nomod", "v2.0.0+incompatible"},
		{"corp.example/nomod", "v3.0.0-rc.1"},
		{"corp.example/nomod", "main"}, // pseudo-version +incompatible
		{"corp.example/nomod", "latest"},
		{"corp.example/notags", "latest"}, // v0.0.0- pseudo-version
		{"corp.example/notags", "main"},
		{"corp.example/notags", fx.hash["notags/first"]},
		{"corp.example/retract", "fix"},    // pseudo-version: the retracted v1.1.0 is no base
		{"corp.example/retract", "v1.1.0"}, // a retracted version asked for by name
		{"corp.example/retract", "main"},
		{"corp.example/retract", "latest"},
		{"corp.example/tagged", fx.hash["tagged/build"]},     // v1.1.0+build: a base, not a version
		{"corp.example/tagged", fx.hash["tagged/afterbeta"]}, // based on a pre-release
		{"corp.example/tagged", fx.hash["tagged/two"][:10]},  // two tags: the higher
		{"corp.example/tagged", "v1.3.0"},                    // the lower, by name
		{"corp.example/tagged", "main"},
		{"corp.example/tagged", "v1.1.0"},
		{"corp.example/v2dir", "v2.0.0"}, // v2/go.mod: not +incompatible
		{"corp.example/v2dir", "v2.0.0+incompatible"},
		{"corp.example/v2dir/v2", "v2.0.0"},
		{"corp.example/v2dir", "latest"},
		{"corp.example/mono", "v1.0.0"}, // in the go-import subdirectory
		{"corp.example/mono", "main"},
		{"corp.example/mono/sub", "v0.1.0"},
		{"corp.example/mono/sub", "latest"},

		// Queries both must refuse.
		{"corp.example/lib", "v9.9.9"},
		{"corp.example/lib", "no-such-branch"},
		{"corp.example/lib", "v2.0.0"},   // the root go.mod is not /v2
		{"corp.example/major", "main"},   // go.mod says /v2 by then
		{"corp.example/major", "v2.0.0"}, // ditto
		{"corp.example/lib/v3", "main"},
		{"corp.example/lib/nosuchdir", "v1.0.0"},
		{"corp.example/nosuchrepo", "v1.0.0"},
		{"corp.example/lib", "v1.1.1-0.20200101000000-" + fx.hash["lib/main"][:12]}, // a pseudo-version with the wrong time
		{"corp.example/tagged", "v1.0.1-0.20000101000000-" + fx.hash["tagged/main"][:12]},
	}
	var args []string
	for _, q := range queries {
		args = append(args, q.path+"@"+q.query)
	}
	type download struct{ Path, Query, Version, Sum, GoModSum, Error string }
	results := decodeAll[download](t, goCommand(t, fx, append([]string{"mod", "download", "-json"}, args...)...))
	// go mod download reports failed queries by argument, with the query in
	// Version; successful ones by resolved version, with Query set.
	// Canonical versions have no Query.
	byArg := make(map[string]download)
	for _, d := range results {
		byArg[d.Path+"@"+d.Version] = d
		if d.Query != "" {
			byArg[d.Path+"@"+d.Query] = d
		}
	}

	ctx := context.Background()
	for _, q := range queries {
		arg := q.path + "@" + q.query
		want, ok := byArg[arg]
		var data []byte
		var err error
		if q.query == "latest" {
			data, err = latestAsProxyClient(ctx, o, q.path)
		} else {
			data, err = o.Info(ctx, q.path, q.query)
		}
		if !ok || want.Error != "" {
			if err == nil {
				t.Errorf("%s: the go command fails (%s), but Info answers %s", arg, want.Error, data)
			} else if !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("%s: the go command fails (%s); Info fails with an error that is not a not-found: %v", arg, want.Error, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: Info: %v; the go command resolves it to %s", arg, err, want.Version)
			continue
		}
		var got infoJSON
		if err := json.Unmarshal(data, &got); err != nil {
			t.Fatalf("%s: %v\n%s", arg, err, data)
		}
		if got.Version != want.Version {
			t.Errorf("%s: Info version %s, the go command's %s", arg, got.Version, want.Version)
			continue
		}
		// The go command also checks the canonical version's .info.
		if canon := info(t, o, q.path, got.Version); canon.Version != want.Version {
			t.Errorf("%s: Info(%s) version %s", arg, got.Version, canon.Version)
		}
		if h := modHash(t, o, q.path, want.Version); h != want.GoModSum {
			t.Errorf("%s@%s: go.mod hash %s, the go command's %s", q.path, want.Version, h, want.GoModSum)
		}
		if h := zipHash(t, o, q.path, want.Version); h != want.Sum {
			t.Errorf("%s@%s: zip hash %s, the go command's %s", q.path, want.Version, h, want.Sum)
		}
	}

	// go list -m resolves the same queries, and prints the versions' times.
	type resolved struct {
		Path, Query, Version string
		Time                 time.Time
		Error                *struct{ Err string }
	}
	compared := 0
	for _, l := range decodeAll[resolved](t, goCommand(t, fx, append([]string{"list", "-m", "-e", "-json"}, args...)...)) {
		if l.Error != nil {
			continue // compared above
		}
		compared++
		var data []byte
		var err error
		if l.Query == "latest" {
			data, err = latestAsProxyClient(ctx, o, l.Path)
		} else {
			data, err = o.Info(ctx, l.Path, l.Version)
		}
		var got infoJSON
		if err == nil {
			err = json.Unmarshal(data, &got)
		}
		if err != nil || got.Version != l.Version || !got.Time.Equal(l.Time) {
			t.Errorf("go list -m %s@%s: %s %v; Info: %s %v, %v", l.Path, l.Query, l.Version, l.Time, got.Version, got.Time, err)
		}
	}

	if compared < 20 {
		t.Errorf("go list -m resolved only %d queries", compared)
	}

	// Version lists, as go list -m -versions prints them.
	mods := []string{"corp.example/lib", "corp.example/lib/sub", "corp.example/lib/v2",
		"corp.example/major", "corp.example/major/v2", "corp.example/nomod", "corp.example/notags",
		"corp.example/tagged", "corp.example/v2dir", "corp.example/v2dir/v2", "corp.example/mono", "corp.example/mono/sub"}
	args = nil
	for _, m := range mods {
		args = append(args, m+"@latest")
	}
	type listed struct {
		Path     string
		Versions []string
	}
	lists := decodeAll[listed](t, goCommand(t, fx, append([]string{"list", "-m", "-versions", "-json"}, args...)...))
	if len(lists) != len(mods) {
		t.Fatalf("go list -m -versions printed %d modules, want %d", len(lists), len(mods))
	}
	for _, l := range lists {
		got, err := o.List(ctx, l.Path)
		if err != nil {
			t.Errorf("List(%s): %v", l.Path, err)
			continue
		}
		if !slices.Equal(got, l.Versions) && !(len(got) == 0 && len(l.Versions) == 0) {
			t.Errorf("List(%s) = %q, the go command's %q", l.Path, got, l.Versions)
		}
	}
}

// latestAsProxyClient resolves "latest" as the go command does against a
// proxy (cmd/go/internal/modload.queryProxy): the highest release in
// /@v/list, else the highest pre-release, else /@latest.
func latestAsProxyClient(ctx context.Context, o *Origin, path string) ([]byte, error) {
	list, err := o.List(ctx, path)
	if err != nil {
		return nil, err
	}
	var release, pre string
	for _, v := range list {
		if semver.Prerelease(v) == "" {
			if semver.Compare(v, release) > 0 {
				release = v
			}
		} else if semver.Compare(v, pre) > 0 {
			pre = v
		}
	}
	switch {
	case release != "":
		return o.Info(ctx, path, release)
	case pre != "":
		return o.Info(ctx, path, pre)
	}
	return o.Latest(ctx, path)
}
