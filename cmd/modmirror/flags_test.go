package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modmirror/modmirror/cachestore"
	"github.com/modmirror/modmirror/checksum"
	"github.com/modmirror/modmirror/fsstore"
	"github.com/modmirror/modmirror/internal/testsumdb"
)

func TestParseFlagsEnvironment(t *testing.T) {
	c := new(serveCommand)
	t.Setenv("MODMIRROR_LIST_TTL", "5m")
	t.Setenv("MODMIRROR_OFFLINE", "true")
	t.Setenv("MODMIRROR_LISTEN", "127.0.0.1:9")
	if _, err := c.flags().parse([]string{"--listen", "127.0.0.1:4000"}, noArgs); err != nil {
		t.Fatal(err)
	}
	if c.listTTL != 5*time.Minute || !c.offline {
		t.Errorf("environment not applied: list-ttl %v, offline %v", c.listTTL, c.offline)
	}
	if c.listen != "127.0.0.1:4000" {
		t.Errorf("--listen = %q: the command line must win over MODMIRROR_LISTEN", c.listen)
	}

	t.Setenv("MODMIRROR_LIST_TTL", "soon")
	_, err := new(serveCommand).flags().parse(nil, noArgs)
	var ue usageError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "MODMIRROR_LIST_TTL") {
		t.Fatalf("bad MODMIRROR_LIST_TTL: got %v, want a usage error naming it", err)
	}
	if _, err := new(serveCommand).flags().parse([]string{"extra"}, noArgs); !errors.As(err, &ue) {
		t.Errorf("extra argument: got %v, want a usage error", err)
	}

	// A variable of serve's that names no flag stops it: a typo in
	// MODMIRROR_PRIVATE must not let private paths go upstream. The
	// test suite's own variables are left alone.
	t.Setenv("MODMIRROR_LIST_TTL", "5m")
	t.Setenv("MODMIRROR_TEST_SOMETHING", "1")
	t.Setenv("MODMIRROR_PRIVAT", "corp.example")
	_, err = new(serveCommand).flags().parse(nil, noArgs)
	if want := "unknown variable MODMIRROR_PRIVAT: no flag of serve reads it; did you mean MODMIRROR_PRIVATE?"; !errors.As(err, &ue) || err.Error() != want {
		t.Errorf("with MODMIRROR_PRIVAT set: %v, want a usage error %q", err, want)
	}
	os.Unsetenv("MODMIRROR_PRIVAT")
	t.Setenv("MODMIRROR_COLOUR", "blue")
	if _, err = new(serveCommand).flags().parse(nil, noArgs); err == nil || err.Error() != "unknown variable MODMIRROR_COLOUR: no flag of serve reads it" {
		t.Errorf("with MODMIRROR_COLOUR set: %v", err)
	}

	// Only the service's settings come from the environment, and the
	// other commands ignore serve's: a snapshot's output directory does
	// not come from one.
	t.Setenv("MODMIRROR_OUT", "/somewhere")
	t.Setenv("MODMIRROR_O", "/elsewhere")
	sc := new(snapshotCommand)
	if _, err := sc.flags().parse(nil, anyArgs); err != nil || sc.out != "" {
		t.Errorf("snapshot with MODMIRROR_OUT set: out %q, err %v; want no value from the environment", sc.out, err)
	}
	// The token commands share serve's data directory, and its variable.
	t.Setenv("MODMIRROR_DATA", "/srv/modmirror")
	tc := new(tokenCreateCommand)
	if _, err := tc.flags().parse(nil, noArgs); err != nil || tc.store.data != "/srv/modmirror" {
		t.Errorf("token create with MODMIRROR_DATA: data %q, err %v", tc.store.data, err)
	}
}

func TestParseFlagsErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--listne", "x"}, "unknown flag --listne"},
		{[]string{"-listne=x"}, "unknown flag -listne"},
		{[]string{"--list-ttl", "soon"}, `invalid value "soon" for --list-ttl`},
		{[]string{"--listen"}, "flag --listen needs a value"},
		{[]string{"---listen"}, "bad flag syntax: ---listen"},
	} {
		_, err := new(serveCommand).flags().parse(tc.args, noArgs)
		var ue usageError
		if !errors.As(err, &ue) || !strings.HasPrefix(err.Error(), tc.want) || ue.cmd != "serve" {
			t.Errorf("parse(%q) = %v (cmd %q), want a usage error of serve beginning %q", tc.args, err, ue.cmd, tc.want)
		}
	}

	// Short names and flags after arguments.
	sc := new(snapshotCommand)
	dirs, err := sc.flags().parse([]string{"./a", "-o", "deps", "./b", "-q", "--", "-dir"}, anyArgs)
	if err != nil || sc.out != "deps" || !sc.quiet || !slices.Equal(dirs, []string{"./a", "./b", "-dir"}) {
		t.Errorf("snapshot parse: dirs %q, out %q, quiet %v, err %v", dirs, sc.out, sc.quiet, err)
	}
}

func TestHelp(t *testing.T) {
	var out bytes.Buffer
	f := new(serveCommand).flags()
	f.stdout = &out
	if _, err := f.parse([]string{"--help"}, noArgs); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help: %v", err)
	}
	help := out.String()
	// Grouped by concern, in this order.
	last := -1
	for _, g := range []string{"Listening:", "Store:", "Upstream:", "Private modules:", "Checksum databases:", "Access:", "Logging:"} {
		i := strings.Index(help, "\n"+g+"\n")
		if i < 0 || i < last {
			t.Errorf("serve --help: group %q missing or out of order", g)
		}
		last = i
	}
	if !strings.Contains(help, "  --listen address\n") || strings.Contains(help, "\n  -listen") {
		t.Errorf("serve --help does not spell flags --name:\n%s", help)
	}

	out.Reset()
	sf := new(snapshotCommand).flags()
	sf.stdout = &out
	sf.parse([]string{"-h"}, anyArgs)
	if !strings.Contains(out.String(), "  -o, --out directory\n") || !strings.Contains(out.String(), "  -q, --quiet\n") ||
		strings.Contains(out.String(), "MODMIRROR_") {
		t.Errorf("snapshot --help: want -o, --out and -q, --quiet, and no environment variables:\n%s", out.String())
	}
}

func TestProxiedSumDB(t *testing.T) {
	key := testsumdb.NewKey(t, "sum.example/db").Verifier
	for _, tc := range []struct {
		in, name, key string
		ok            bool
	}{
		{"sum.golang.org", "sum.golang.org", checksum.SumGolangOrgKey, true},
		{checksum.SumGolangOrgKey, "sum.golang.org", checksum.SumGolangOrgKey, true},
		{key, "sum.example/db", key, true},
		{key + " https://sum.example", "", "", false}, // reached through the upstream only
		{"sum.golang.google.cn", "", "", false},
		{"sum.example", "", "", false},
		{"", "", "", false},
	} {
		db, err := proxiedSumDB(tc.in)
		if (err == nil) != tc.ok || tc.ok && (db.Name != tc.name || db.Key != tc.key) {
			t.Errorf("proxiedSumDB(%q) = %q, %q, %v; want %q, %q, ok=%v", tc.in, db.Name, db.Key, err, tc.name, tc.key, tc.ok)
		}
	}
}

// TestPatternsRefused checks that every pattern list is checked at start:
// a pattern that can never match could leak a private path.
func TestPatternsRefused(t *testing.T) {
	for _, args := range [][]string{
		{"--private", "https://corp.example/*"},
		{"--private", "corp.example/["},
		{"--nosumdb", "Corp.example/x"},
		{"--origin-insecure", "git.corp.example/!x"},
		{"--origin-rule", "corp.example/[=https://git.corp.example/{path}"},
	} {
		c := new(serveCommand)
		if _, err := c.flags().parse(append([]string{"--upstream", "off", "--sumdb", "off", "--data", t.TempDir()}, args...), noArgs); err != nil {
			t.Fatal(err)
		}
		_, _, _, err := c.handler(context.Background(), slog.New(slog.DiscardHandler))
		var ue usageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), args[0]) || !strings.Contains(err.Error(), "pattern") {
			t.Errorf("serve %q: %v; want a usage error naming the flag and the pattern", args, err)
		}
	}
	t.Setenv("GOPRIVATE", "corp.example/[")
	c := new(serveCommand)
	c.flags().parse([]string{"--upstream", "off", "--sumdb", "off", "--data", t.TempDir()}, noArgs)
	if _, _, _, err := c.handler(context.Background(), slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "--private") {
		t.Errorf("serve with a bad $GOPRIVATE: %v; want an error naming --private", err)
	}
}

// TestRunErrors checks what a user sees for a mistyped command line: the
// error first, on one line, with the flag as typed and where help is.
func TestRunErrors(t *testing.T) {
	empty, withDB := t.TempDir(), t.TempDir()
	if code := run(context.Background(), []string{"token", "create", "--data", withDB, "--name", "x"}, io.Discard, io.Discard); code != 0 {
		t.Fatalf("token create: exit %d", code)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"serve", "--listne", "x"}, 2, "modmirror serve: unknown flag --listne (run 'modmirror serve --help')\n"},
		{[]string{"token", "revoke", "-bogus"}, 2, "modmirror token revoke: unknown flag -bogus (run 'modmirror token revoke --help')\n"},
		{[]string{"sumdb"}, 2, "modmirror sumdb: missing subcommand (run 'modmirror sumdb --help')\n"},
		{[]string{"snapshot", "hash"}, 2, "modmirror snapshot hash: want the snapshot's directory (run 'modmirror snapshot hash --help')\n"},
		{[]string{"token", "revoke", "--data", empty, "x"}, 1, "modmirror token revoke: no token database " + empty + "/tokens.db (made by the first 'modmirror token create')\n"},
		{[]string{"token", "revoke", "--data", withDB, "nope"}, 1, "modmirror token revoke: no token has the id \"nope\"\n"},
		{[]string{"frobnicate"}, 2, "modmirror: unknown command \"frobnicate\" (run 'modmirror --help' for the list)\n"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), tc.args, &stdout, &stderr)
		// Subcommand usage goes to the process's stderr; what run
		// prints is the last line.
		lines := strings.SplitAfter(stderr.String(), "\n")
		last := stderr.String()
		if len(lines) > 1 {
			last = lines[len(lines)-2]
		}
		if code != tc.code || last != tc.want {
			t.Errorf("run(%q) = %d, stderr %q; want %d, %q", tc.args, code, stderr.String(), tc.code, tc.want)
		}
	}
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"--help"}, &stdout, &stderr); code != 0 || stderr.Len() != 0 || !strings.Contains(stdout.String(), "modmirror serve") {
		t.Errorf("modmirror --help: exit %d, stderr %q: want the usage on stdout", code, stderr.String())
	}
}

// TestGoEnvDefaults checks that serve's defaults come from the go command's
// settings, in the environment or in the file "go env -w" writes.
func TestGoEnvDefaults(t *testing.T) {
	file := filepath.Join(t.TempDir(), "env")
	os.WriteFile(file, []byte("GOPROXY=https://proxy.corp.example\nGOPRIVATE=corp.example/*\nGONOSUMDB=legacy.example\nGOINSECURE=git.internal\n"), 0o644)
	t.Setenv("GOENV", file)
	for _, v := range []string{"GOPROXY", "GOSUMDB", "GOPRIVATE", "GONOPROXY", "GONOSUMDB", "GOINSECURE"} {
		t.Setenv(v, "") // restored at cleanup
		os.Unsetenv(v)
	}
	t.Setenv("GONOPROXY", "other.example")
	c := new(serveCommand)
	if _, err := c.flags().parse(nil, noArgs); err != nil {
		t.Fatal(err)
	}
	if c.upstream != "https://proxy.corp.example" || c.private != "corp.example/*,other.example" ||
		c.nosumdb != "legacy.example" || c.origin.insecure != "git.internal" || c.sumdb != "sum.golang.org" {
		t.Errorf("defaults: upstream %q, private %q, nosumdb %q, insecure %q, sumdb %q", c.upstream, c.private, c.nosumdb, c.origin.insecure, c.sumdb)
	}
}

func TestMemoryCacheMaxFile(t *testing.T) {
	fsStore, err := fsstore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if got := memoryCacheMaxFile(fsStore, false); got != 64<<10 {
		t.Errorf("in front of the file system store: %d, want 64 KiB (larger files go by sendfile)", got)
	}
	if got := memoryCacheMaxFile(fsStore, true); got != 128<<10 {
		t.Errorf("in front of the file system store over TLS: %d, want 128 KiB (no sendfile through TLS)", got)
	}
	if got := memoryCacheMaxFile(cachestore.New(fsStore, 1<<20, 1<<10), false); got != 128<<10 {
		t.Errorf("in front of another store: %d, want 128 KiB", got)
	}
}
