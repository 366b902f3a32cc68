package e2e

import (
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modmirror/modmirror/catalog"
	"github.com/modmirror/modmirror/catalog/sqlcatalog"
	"github.com/modmirror/modmirror/fsstore"
	mirrorpkg "github.com/modmirror/modmirror/mirror"
	"github.com/modmirror/modmirror/policy"
	"github.com/modmirror/modmirror/proxy"
	"github.com/modmirror/modmirror/upstream"
)

// TestCooldownExpires drives the go command through a mirror whose policy
// holds back versions for 7 days after the mirror first saw them, with the
// policy's clock in the test's hands (the mirror is built in this process
// for that; everything else is as "modmirror serve" wires it). New
// versions are left out of lists and refused with the reason; @latest
// falls back to the newest version out of its cooldown; a week later they
// are served.
func TestCooldownExpires(t *testing.T) {
	t.Parallel()
	up := newFixture(t)
	data := t.TempDir()
	chain, err := upstream.Parse(up.URL, upstream.Options{})
	if err != nil {
		t.Fatal(err)
	}
	store, err := fsstore.New(filepath.Join(data, "cache", "download"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := sqlcatalog.OpenSQLite(filepath.Join(data, "catalog.db"))
	if err != nil {
		t.Fatal(err)
	}
	cat := catalog.New(s, nil)
	t.Cleanup(func() { cat.Close() })
	mir, err := mirrorpkg.New(mirrorpkg.Config{Store: store, Upstream: chain, Catalog: cat, TempDir: t.TempDir(), ListTTL: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mir.Close() })
	p, err := policy.Parse("policy.toml", []byte("[[rule]]\nname = \"week\"\nkind = \"cooldown\"\ndays = 7\nmodules = [\""+libPath+"\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	now := time.Now()
	advance := func(d time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(d)
	}
	checker := policy.NewChecker(p, nil, cat)
	checker.Now = func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}
	h, err := proxy.New(&policy.Filter{Source: mir, Checker: checker}, proxy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	// The checksum database is not this test's business.
	g := newGo(t, srv.URL, "off")
	dir := writeModule(t, t.TempDir(), map[string]string{"go.mod": "module example.com/app\n\ngo 1.22\n"})
	versions := func() string {
		return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(g.OK(dir, "list", "-m", "-versions", libPath)), libPath))
	}

	// All new to the mirror: held back, with the reason.
	if got := versions(); got != "" {
		t.Errorf("versions on the first day: %q, want none", got)
	}
	stderr := g.Fail(t.TempDir(), "mod", "download", libPath+"@v1.1.0")
	if !strings.Contains(stderr, "403 Forbidden") || !strings.Contains(stderr, "blocked by policy 'week': "+libPath+" v1.1.0 was first seen by this mirror") || !strings.Contains(stderr, "held back for 7 days") {
		t.Errorf("go mod download of a version in its cooldown printed:\n%s", stderr)
	}
	// A day short of the week: still held.
	advance(6 * 24 * time.Hour)
	g.Fail(t.TempDir(), "mod", "download", libPath+"@v1.1.0")

	// A week on: served.
	advance(24 * time.Hour)
	if got := versions(); got != "v1.0.0 v1.1.0 v1.3.0-RC1" {
		t.Errorf("versions a week later: %q", got)
	}
	g.OK(t.TempDir(), "mod", "download", libPath+"@v1.1.0")

	// A release published now: @latest is the newest out of its cooldown,
	// until the new one's week is over too.
	up.Add(lib("v1.4.0", "hello from lib v1.4.0"))
	g.OK(dir, "get", libPath+"@latest")
	if got := strings.TrimSpace(g.OK(dir, "list", "-m", libPath)); got != libPath+" v1.1.0" {
		t.Errorf("go get @latest with v1.4.0 new: %q, want v1.1.0", got)
	}
	advance(7 * 24 * time.Hour)
	g.OK(dir, "get", libPath+"@latest")
	if got := strings.TrimSpace(g.OK(dir, "list", "-m", libPath)); got != libPath+" v1.4.0" {
		t.Errorf("go get @latest a week after v1.4.0 appeared: %q, want v1.4.0", got)
	}
}
