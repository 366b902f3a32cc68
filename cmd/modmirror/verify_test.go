package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modmirror/modmirror/internal/testsumdb"
	"github.com/modmirror/modmirror/internal/testupstream"
)

// runVerify runs the verify command with args and returns what it printed.
func runVerify(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := (&verifyCommand{stdout: &out}).Run(context.Background(), args)
	return out.String(), err
}

// writeGoSum writes the lines to a go.sum file in a new directory and
// returns its name.
func writeGoSum(t *testing.T, lines ...string) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "go.sum")
	if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

// verifyFixture returns a fixture upstream serving example.com/a and
// example.com/b, and the flags that verify against it with a fresh cache.
func verifyFixture(t *testing.T) (*testupstream.Server, []string) {
	t.Helper()
	mod := func(path, version string) testupstream.Module {
		return testupstream.Module{Path: path, Version: version, Files: map[string]string{
			"go.mod": "module " + path + "\n", "x.go": "package x // " + version + "\n"}}
	}
	srv := testupstream.New(t, mod("example.com/a", "v1.0.0"), mod("example.com/b", "v1.0.0"), mod("example.com/b", "v1.1.0"))
	return srv, []string{"--proxy", srv.URL, "--sumdb", srv.VerifierKey(), "--cache", t.TempDir(), "--nosumdb", ""}
}

func TestVerify(t *testing.T) {
	srv, flags := verifyFixture(t)
	var lines []string
	for _, m := range [][2]string{{"example.com/a", "v1.0.0"}, {"example.com/b", "v1.0.0"}, {"example.com/b", "v1.1.0"}} {
		lines = append(lines, srv.GoSumLines(m[0], m[1])...)
	}
	good := writeGoSum(t, lines...)

	// Flags after the file, as in "modmirror verify go.sum --sumdb ...".
	out, err := runVerify(t, append([]string{good}, flags...)...)
	if err != nil {
		t.Fatalf("verify: %v\n%s", err, out)
	}
	if want := "6 lines checked, 0 mismatches, 0 missing, 0 skipped, 0 malformed\n"; out != want {
		t.Errorf("verify printed %q, want %q", out, want)
	}
	if code := run(context.Background(), append([]string{"verify", good}, flags...), os.Stdout, os.Stderr); code != 0 {
		t.Errorf("verify of a good go.sum exits %d, want 0", code)
	}

	// The default file is ./go.sum.
	t.Chdir(filepath.Dir(good))
	if out, err := runVerify(t, flags...); err != nil || !strings.HasPrefix(out, "6 lines checked") {
		t.Errorf("verify with no file: %v, %q", err, out)
	}
}

func TestVerifyProblems(t *testing.T) {
	srv, flags := verifyFixture(t)
	name := srv.SumDBName()
	a := srv.GoSumLines("example.com/a", "v1.0.0")
	b := srv.GoSumLines("example.com/b", "v1.0.0")
	b11 := srv.GoSumLines("example.com/b", "v1.1.0")
	aHash := strings.Fields(a[0])[2]
	bHash := strings.Fields(b[0])[2]
	b11Mod := strings.Fields(b11[1])[2]

	first := writeGoSum(t,
		a[0], a[1],
		"example.com/b v1.0.0 "+aHash, // a's hash for b
		b[1],
		"example.com/a v1.9.9 "+aHash, // a version the database does not know
		"example.com/a v1.0.0",        // two fields
		"example.com/b v1.1.0 nocolon",
		"Example..com/x v1.0.0 "+aHash,
	)
	second := writeGoSum(t, b11[0], "example.com/b v1.1.0/go.mod "+aHash)
	out, err := runVerify(t, append([]string{first, second}, flags...)...)
	if err == nil {
		t.Fatalf("verify of a bad go.sum succeeded:\n%s", out)
	}
	want := strings.Join([]string{
		first + ":3: example.com/b v1.0.0: go.sum has " + aHash + ", checksum database " + name + " has " + bHash,
		first + ":5: example.com/a v1.9.9: not in checksum database " + name,
		first + ":6: malformed go.sum line: 2 fields, want 3",
		first + ":7: malformed go.sum line: example.com/b: malformed hash \"nocolon\"",
		first + ":8: malformed go.sum line: ",
	}, "\n")
	if !strings.HasPrefix(out, want) {
		t.Errorf("verify printed\n%s\nwant it to start with\n%s", out, want)
	}
	for _, want := range []string{
		second + ":2: example.com/b v1.1.0/go.mod: go.sum has " + aHash + ", checksum database " + name + " has " + b11Mod + "\n",
		"7 lines checked, 2 mismatches, 1 missing, 0 skipped, 3 malformed\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("verify output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "could not be reached") {
		t.Errorf("verify reports the database unreachable:\n%s", out)
	}
	if code := run(context.Background(), append([]string{"verify", first}, flags...), os.Stdout, os.Stderr); code != 1 {
		t.Errorf("verify of a bad go.sum exits %d, want 1", code)
	}
}

// TestVerifyOrder checks that many lines, checked concurrently, are
// reported in go.sum order.
func TestVerifyOrder(t *testing.T) {
	var mods []testupstream.Module
	for i := range 40 {
		p := fmt.Sprintf("example.com/m%02d", i)
		mods = append(mods, testupstream.Module{Path: p, Version: "v1.0.0", Files: map[string]string{"go.mod": "module " + p + "\n"}})
	}
	srv := testupstream.New(t, mods...)
	var lines, want []string
	for i, m := range mods {
		sums := srv.GoSumLines(m.Path, m.Version)
		if i%7 == 3 {
			// The go.mod hash for the zip.
			wrong := strings.Fields(sums[1])[2]
			want = append(want, fmt.Sprintf(":%d: %s v1.0.0: go.sum has %s,", len(lines)+1, m.Path, wrong))
			sums[0] = m.Path + " v1.0.0 " + wrong
		}
		lines = append(lines, sums...)
	}
	file := writeGoSum(t, lines...)
	out, err := runVerify(t, file, "--proxy", srv.URL, "--sumdb", srv.VerifierKey(), "--cache", t.TempDir(), "--nosumdb", "")
	if err == nil {
		t.Fatal("verify with mismatches succeeded")
	}
	got := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(got) != len(want)+1 {
		t.Fatalf("verify printed %d lines, want %d:\n%s", len(got), len(want)+1, out)
	}
	for i, w := range want {
		if !strings.HasPrefix(got[i], file+w) {
			t.Errorf("line %d: %q, want it to start with %q", i+1, got[i], file+w)
		}
	}
}

func TestVerifySkipped(t *testing.T) {
	srv, flags := verifyFixture(t)
	file := writeGoSum(t, append(srv.GoSumLines("example.com/a", "v1.0.0"),
		"golang.org/toolchain v0.0.1-go1.21.13.linux-amd64 h1:AAAA",
		"corp.example/private v1.0.0 h1:AAAA",
		"corp.example/private v1.0.0/go.mod h1:AAAA",
		"example.com/a v1.0.0 h2:not-a-kind-checked")...)
	// A later --nosumdb wins over the one in flags.
	out, err := runVerify(t, append(append([]string{file}, flags...), "--nosumdb", "corp.example")...)
	if err != nil {
		t.Fatalf("verify: %v\n%s", err, out)
	}
	if want := "2 lines checked, 0 mismatches, 0 missing, 4 skipped, 0 malformed\n"; out != want {
		t.Errorf("verify printed %q, want %q", out, want)
	}
	if n := srv.Requests("/sumdb/" + srv.SumDBName() + "/lookup/corp.example/private@v1.0.0"); n != 0 {
		t.Errorf("a --nosumdb module was looked up %d times", n)
	}

	// From the environment, GONOSUMDB and GOPRIVATE both count.
	t.Setenv("GONOSUMDB", "")
	t.Setenv("GOPRIVATE", "corp.example")
	out, err = runVerify(t, file, "--proxy", srv.URL, "--sumdb", srv.VerifierKey(), "--cache", t.TempDir())
	if err != nil || !strings.Contains(out, " 4 skipped") {
		t.Errorf("verify with GOPRIVATE: %v, %q", err, out)
	}
}

func TestVerifyUnreachable(t *testing.T) {
	srv, _ := verifyFixture(t)
	file := writeGoSum(t, srv.GoSumLines("example.com/a", "v1.0.0")...)
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	other := testupstream.New(t) // proxies another database only

	for _, tc := range []struct{ name, proxy string }{
		{"dead proxy", dead.URL},
		{"proxy without the database", other.URL},
		{"off", "off"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runVerify(t, file, "--proxy", tc.proxy, "--sumdb", srv.VerifierKey(), "--cache", t.TempDir())
			if err == nil {
				t.Fatalf("verify succeeded:\n%s", out)
			}
			if msg := err.Error(); !strings.Contains(msg, "checksum database "+srv.SumDBName()+" could not be reached") ||
				strings.Contains(msg, "mismatch") || strings.Contains(msg, "missing") {
				t.Errorf("error %q, want one saying the database could not be reached", msg)
			}
			if out != "" {
				t.Errorf("verify printed %q", out)
			}
		})
	}

	// A database that fails after the first request: the failure, naming
	// the line, not a report of missing lines.
	one := writeGoSum(t, srv.GoSumLines("example.com/a", "v1.0.0")[0])
	srv.SetFault("/sumdb/"+srv.SumDBName()+"/lookup/example.com/a@v1.0.0", testupstream.Status(500))
	out, err := runVerify(t, one, "--proxy", srv.URL, "--sumdb", srv.VerifierKey(), "--cache", t.TempDir())
	if err == nil || !strings.Contains(err.Error(), one+":1: ") || !strings.Contains(err.Error(), "500") {
		t.Errorf("verify with a failing lookup: %v", err)
	}
	if strings.Contains(out, "lines checked") || strings.Contains(out, "not in checksum database") {
		t.Errorf("verify with a failing lookup printed %q", out)
	}
	if code := run(context.Background(), []string{"verify", file, "--proxy", dead.URL, "--sumdb", srv.VerifierKey(), "--cache", t.TempDir()}, os.Stdout, os.Stderr); code != 1 {
		t.Errorf("verify with a dead proxy exits %d, want 1", code)
	}
}

// TestVerifyURL checks that a URL in --sumdb is used directly, instead of
// the proxy.
func TestVerifyURL(t *testing.T) {
	srv, _ := verifyFixture(t)
	file := writeGoSum(t, srv.GoSumLines("example.com/b", "v1.1.0")...)
	out, err := runVerify(t, file, "--proxy", "off", "--cache", t.TempDir(),
		"--sumdb", srv.VerifierKey()+" "+srv.URL+"/sumdb/"+srv.SumDBName()+"/")
	if err != nil || !strings.HasPrefix(out, "2 lines checked, 0 mismatches") {
		t.Errorf("verify with a database URL: %v, %q", err, out)
	}
}

// TestVerifyFork checks that the cache remembers the tree head, so that a
// database that forks its log between runs is caught.
func TestVerifyFork(t *testing.T) {
	key := testsumdb.NewKey(t, testDBName)
	db := newTestSumDB(t, key, "a")
	db.Grow(t, 5)
	cache := t.TempDir()
	first := writeGoSum(t, db.goSumLines("example.com/m", "v1.0.0")...)
	if out, err := runVerify(t, first, "--sumdb", key.Verifier+" "+db.URL, "--cache", cache); err != nil {
		t.Fatalf("verify: %v\n%s", err, out)
	}

	fork := newTestSumDB(t, key, "b")
	fork.Grow(t, 10)
	second := writeGoSum(t, fork.goSumLines("example.com/m", "v1.1.0")...)
	args := []string{second, "--sumdb", key.Verifier + " " + fork.URL}
	out, err := runVerify(t, append(args, "--cache", cache)...)
	if err == nil {
		t.Fatalf("verify against a fork succeeded:\n%s", out)
	}
	// Either of its lines may be the first to fail.
	for _, want := range []string{second + ":", "SECURITY ERROR", "misbehaving"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(out, "go.sum has") || strings.Contains(out, "lines checked") {
		t.Errorf("a fork reported as a mismatch:\n%s", out)
	}
	// Without the remembered tree head, the fork alone looks fine.
	if out, err := runVerify(t, append(args, "--cache", t.TempDir())...); err != nil {
		t.Errorf("verify against the fork with a fresh cache: %v\n%s", err, out)
	}
}

func TestVerifyUsage(t *testing.T) {
	var ue usageError
	for _, args := range [][]string{
		{"--sumdb", "off"},
		{"--sumdb", "sum.example"},
		{"--sumdb", "a b c"},
		{"--nope"},
	} {
		if _, err := runVerify(t, args...); !errors.As(err, &ue) {
			t.Errorf("verify %q: %v, want a usage error", args, err)
		}
	}
	if _, err := runVerify(t, filepath.Join(t.TempDir(), "none.sum"), "--sumdb", "sum.golang.org"); err == nil || errors.As(err, &ue) {
		t.Errorf("verify of a missing file: %v, want a plain error", err)
	}
}
