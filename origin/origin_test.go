package origin

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modmirror/modmirror/internal/testgit"
)

// clock is a fake time source for fetch intervals.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(o *Origin) *clock {
	c := &clock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	o.now = c.Now
	return c
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func refsRequests(s *testgit.Server, name string) int {
	return s.Count(func(r testgit.Request) bool { return testgit.IsRefs(r, name) })
}

// smallRepo serves corp.example/<name> from a repository with one tagged
// commit and returns it.
func smallRepo(t *testing.T, s *testgit.Server, name string) *testgit.Repo {
	r := s.Repo(name + ".git")
	s.GoImport("corp.example/"+name, "git", s.RepoURL(name+".git"))
	r.Tag("v1.0.0", r.Commit("v1.0.0", map[string]string{"go.mod": "module corp.example/" + name + "\n", "a.go": "package a\n"}))
	return r
}

func smallConfig(t *testing.T, s *testgit.Server) Config {
	fx := &fixture{srv: s}
	return fx.config(t)
}

func TestBranchAndPseudoVersion(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	o := newOrigin(t, fx.config(t))
	tests := []struct{ path, query, want, hash string }{
		{"corp.example/lib", "v1.0.0", "v1.0.0", fx.hash["lib/v1.0.0"]},
		{"corp.example/lib", "v1.1.0", "v1.1.0", fx.hash["lib/v1.1.0"]}, // annotated
		{"corp.example/lib", "feature", "v1.1.1-0.20240102100405-" + fx.hash["lib/feature"][:12], fx.hash["lib/feature"]},
		{"corp.example/lib", "main", "v1.1.1-0.20240102090405-" + fx.hash["lib/main"][:12], fx.hash["lib/main"]},
		{"corp.example/lib", fx.hash["lib/v1.1.0"][:7], "v1.1.0", fx.hash["lib/v1.1.0"]},
		{"corp.example/lib/sub", "main", "v0.2.1-0.20240102090405-" + fx.hash["lib/main"][:12], fx.hash["lib/main"]},
		{"corp.example/lib/v2", "main", "v2.0.1-0.20240102090405-" + fx.hash["lib/main"][:12], fx.hash["lib/main"]},
		{"corp.example/nomod", "v2.0.0", "v2.0.0+incompatible", ""},
		{"corp.example/nomod", "main", "v3.0.0-rc.1.0.20240102060405-" + fx.hash["nomod/main"][:12] + "+incompatible", fx.hash["nomod/main"]},
		{"corp.example/notags", "main", "v0.0.0-20240102040405-" + fx.hash["notags/main"][:12], fx.hash["notags/main"]},
	}
	for _, tt := range tests {
		got := info(t, o, tt.path, tt.query)
		if got.Version != tt.want || tt.hash != "" && (got.Origin == nil || got.Origin.Hash != tt.hash) {
			t.Errorf("Info(%s, %s) = %+v %+v, want version %s, hash %s", tt.path, tt.query, got, got.Origin, tt.want, tt.hash)
		}
	}
	if got := info(t, o, "corp.example/lib/sub", "v0.1.0"); got.Origin.Subdir != "sub" || got.Origin.Ref != "refs/tags/sub/v0.1.0" {
		t.Errorf("Info(corp.example/lib/sub, v0.1.0).Origin = %+v, want Subdir sub and the prefixed tag", got.Origin)
	}

	data, err := o.Latest(context.Background(), "corp.example/notags")
	if err != nil || !strings.Contains(string(data), `"Version":"v0.0.0-20240102040405-`+fx.hash["notags/main"][:12]+`"`) {
		t.Errorf("Latest(corp.example/notags) = %s, %v", data, err)
	}
	mod, err := o.Mod(context.Background(), "corp.example/nomod", "v2.0.0+incompatible")
	if err != nil || string(mod) != "module corp.example/nomod\n" {
		t.Errorf("Mod(corp.example/nomod, v2.0.0+incompatible) = %q, %v; want a synthesised go.mod", mod, err)
	}
	mod, err = o.Mod(context.Background(), "corp.example/major/v2", "v2.1.0")
	if err != nil || string(mod) != "module corp.example/major/v2\n" {
		t.Errorf("Mod(corp.example/major/v2, v2.1.0) = %q, %v", mod, err)
	}
	list, err := o.List(context.Background(), "corp.example/nomod")
	if want := []string{"v1.0.0", "v2.0.0+incompatible", "v3.0.0-rc.1+incompatible"}; err != nil || !slices.Equal(list, want) {
		t.Errorf("List(corp.example/nomod) = %q, %v; want %q", list, err, want)
	}
}

func TestNotFound(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	fx.srv.GoImport("corp.example/gone", "git", fx.srv.RepoURL("gone.git")) // no such repository
	fx.srv.Repo("empty.git")
	fx.srv.GoImport("corp.example/empty", "git", fx.srv.RepoURL("empty.git"))
	fx.srv.GoImport("corp.example/hg", "hg", "https://hg.example/repo")
	o := newOrigin(t, fx.config(t))
	ctx := context.Background()
	main := fx.hash["lib/main"]

	calls := []struct {
		name string
		call func() error
	}{
		{"no go-import tag", func() error { _, err := o.Info(ctx, "corp.example/nosuch", "v1.0.0"); return err }},
		{"no go-import tag, list", func() error { _, err := o.List(ctx, "corp.example/nosuch"); return err }},
		{"no repository", func() error { _, err := o.Info(ctx, "corp.example/gone", "v1.0.0"); return err }},
		{"no repository, list", func() error { _, err := o.List(ctx, "corp.example/gone"); return err }},
		{"not git", func() error { _, err := o.List(ctx, "corp.example/hg"); return err }},
		{"no commits", func() error { _, err := o.Latest(ctx, "corp.example/empty"); return err }},
		{"no version", func() error { _, err := o.Info(ctx, "corp.example/lib", "v9.9.9"); return err }},
		{"no branch", func() error { _, err := o.Info(ctx, "corp.example/lib", "no-such-branch"); return err }},
		{"no commit", func() error { _, err := o.Info(ctx, "corp.example/lib", "deadbeefdeadbeef"); return err }},
		{"wrong pseudo-version time", func() error {
			_, err := o.Info(ctx, "corp.example/lib", "v1.1.1-0.20200101000000-"+main[:12])
			return err
		}},
		{"wrong pseudo-version base", func() error {
			_, err := o.Mod(ctx, "corp.example/lib", "v1.5.1-0.20240102090405-"+main[:12])
			return err
		}},
		{"no such commit in a pseudo-version", func() error {
			_, err := o.Zip(ctx, "corp.example/lib", "v1.1.1-0.20240102090405-0123456789ab")
			return err
		}},
		{"no mod", func() error { _, err := o.Mod(ctx, "corp.example/lib", "v1.9.0"); return err }},
		{"no zip", func() error { _, err := o.Zip(ctx, "corp.example/lib", "v1.9.0"); return err }},
		{"incompatible with a go.mod", func() error { _, err := o.Info(ctx, "corp.example/lib", "v2.0.0+incompatible"); return err }},
		{"no module in the directory", func() error { _, err := o.Mod(ctx, "corp.example/lib/nosuchdir", "v1.0.0"); return err }},
		{"no major version", func() error { _, err := o.Info(ctx, "corp.example/lib/v3", "main"); return err }},
	}
	for _, c := range calls {
		err := c.call()
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: error %v, want one matching fs.ErrNotExist", c.name, err)
			continue
		}
		if msg := err.Error(); !strings.HasPrefix(msg, "origin: corp.example/") && !strings.HasPrefix(msg, "origin: module corp.example/") {
			t.Errorf("%s: error %q does not begin with origin: and the module path", c.name, err)
		}
	}

	// An empty repository has no versions, which is not an error.
	if list, err := o.List(ctx, "corp.example/empty"); err != nil || len(list) != 0 {
		t.Errorf("List(corp.example/empty) = %q, %v", list, err)
	}

	// A repository that cannot be reached is a failure, not a not-found.
	bad := fx.config(t)
	bad.Rules = []Rule{{Pattern: "corp.example/down", URL: "http://127.0.0.1:1/down.git"}}
	_, err := newOrigin(t, bad).Info(ctx, "corp.example/down", "v1.0.0")
	if err == nil || errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "corp.example/down") {
		t.Errorf("Info from an unreachable repository: error %v, want a failure naming the module", err)
	}
}

// TestTagMoved checks that the origin reports what the repository says
// now: a tag moved (or deleted) is seen after the next fetch.
func TestTagMoved(t *testing.T) {
	t.Parallel()
	s := testgit.NewServer(t)
	r := smallRepo(t, s, "moved")
	o := newOrigin(t, smallConfig(t, s))
	clk := newClock(o)
	before := info(t, o, "corp.example/moved", "v1.0.0")
	hashBefore := zipHash(t, o, "corp.example/moved", "v1.0.0")

	moved := r.Commit("retagged", map[string]string{"a.go": "package a // moved\n"})
	r.Tag("v1.0.0", moved)
	r.Tag("v1.0.1", moved)
	// Within the interval a canonical version in the clone is not refetched.
	if got := info(t, o, "corp.example/moved", "v1.0.0"); got.Origin.Hash != before.Origin.Hash {
		t.Errorf("v1.0.0 moved before any fetch: %s", got.Origin.Hash)
	}
	clk.Advance(2 * time.Hour)
	if _, err := o.List(context.Background(), "corp.example/moved"); err != nil { // fetches
		t.Fatal(err)
	}
	after := info(t, o, "corp.example/moved", "v1.0.0")
	if after.Origin.Hash != moved || after.Time.Equal(before.Time) {
		t.Errorf("after the tag moved and a fetch: v1.0.0 at %s %v, want %s at a later time", after.Origin.Hash, after.Time, moved)
	}
	if h := zipHash(t, o, "corp.example/moved", "v1.0.0"); h == hashBefore {
		t.Errorf("after the tag moved, the zip of v1.0.0 is unchanged")
	}

	r.DeleteTag("v1.0.1")
	clk.Advance(2 * time.Hour)
	if list, err := o.List(context.Background(), "corp.example/moved"); err != nil || !slices.Equal(list, []string{"v1.0.0"}) {
		t.Errorf("after deleting v1.0.1: List = %q, %v", list, err)
	}
	if _, err := o.Info(context.Background(), "corp.example/moved", "v1.0.1"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Info of a deleted tag: %v, want not found", err)
	}
}

// TestIncrementalFetch checks the fetch interval and that fetches are
// incremental: the clone stays, and an unchanged remote costs one request.
func TestIncrementalFetch(t *testing.T) {
	t.Parallel()
	s := testgit.NewServer(t)
	r := smallRepo(t, s, "inc")
	cfg := smallConfig(t, s)
	cfg.FetchInterval = time.Minute
	o := newOrigin(t, cfg)
	clk := newClock(o)
	ctx := context.Background()
	const path = "corp.example/inc"

	list := func() []string {
		t.Helper()
		l, err := o.List(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	if got := list(); !slices.Equal(got, []string{"v1.0.0"}) {
		t.Fatalf("List = %q", got)
	}
	if n := refsRequests(s, "inc.git"); n != 1 {
		t.Errorf("clone made %d refs requests, want 1 (git clone)", n)
	}
	clones, _ := filepath.Glob(filepath.Join(cfg.CacheDir, "*", "objects"))
	if len(clones) != 1 {
		t.Fatalf("cache holds %d clones, want 1", len(clones))
	}
	marker := filepath.Join(filepath.Dir(clones[0]), "test-marker")
	if err := os.WriteFile(marker, nil, 0o600); err != nil {
		t.Fatal(err)
	}

	r.Tag("v1.1.0", r.Commit("v1.1.0", map[string]string{"b.go": "package a\n"}))
	clk.Advance(30 * time.Second)
	if got := list(); !slices.Equal(got, []string{"v1.0.0"}) {
		t.Errorf("List within the interval = %q, want the old list", got)
	}
	if _, err := o.Info(ctx, path, "v1.1.0"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Info(v1.1.0) within the interval: %v, want not found (no fetch yet)", err)
	}
	if n := refsRequests(s, "inc.git"); n != 1 {
		t.Errorf("%d refs requests within the interval, want still 1", n)
	}

	clk.Advance(time.Minute)
	if got := info(t, o, path, "v1.1.0"); got.Version != "v1.1.0" {
		t.Errorf("Info(v1.1.0) after the interval = %+v", got)
	} // a miss fetches
	if got := list(); !slices.Equal(got, []string{"v1.0.0", "v1.1.0"}) {
		t.Errorf("List after the interval = %q", got)
	}
	if n := refsRequests(s, "inc.git"); n != 3 {
		t.Errorf("%d refs requests after a changed fetch, want 3 (ls-remote, fetch)", n)
	}

	clk.Advance(2 * time.Minute)
	list()
	if n := refsRequests(s, "inc.git"); n != 4 {
		t.Errorf("%d refs requests after an unchanged fetch, want 4 (ls-remote only)", n)
	}
	// A canonical version in the clone needs no fetch, however old.
	clk.Advance(time.Hour)
	info(t, o, path, "v1.0.0")
	zipHash(t, o, path, "v1.1.0")
	if n := refsRequests(s, "inc.git"); n != 4 {
		t.Errorf("%d refs requests after Info and Zip of tagged versions in the clone, want still 4", n)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("the clone was replaced: %v", err)
	}

	// A new process sharing the cache starts from the clone and from the
	// last fetch time recorded in it.
	o2 := newOrigin(t, cfg)
	o2.now = clk.Now
	info(t, o2, path, "v1.1.0")
	list2, err := o2.List(ctx, path)
	if err != nil || !slices.Equal(list2, []string{"v1.0.0", "v1.1.0"}) {
		t.Errorf("second origin: List = %q, %v", list2, err)
	}
	if n := refsRequests(s, "inc.git"); n != 5 {
		t.Errorf("%d refs requests after a second origin's List, want 5 (its first list fetches)", n)
	}
}

// TestConcurrentClone checks that concurrent requests, in one origin and in
// two sharing a cache directory (as two processes would, through the
// flock), cause one clone.
func TestConcurrentClone(t *testing.T) {
	t.Parallel()
	s := testgit.NewServer(t)
	smallRepo(t, s, "conc")
	cfg := smallConfig(t, s)
	origins := []*Origin{newOrigin(t, cfg), newOrigin(t, cfg)}
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 24 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := origins[i%2]
			var err error
			switch i % 3 {
			case 0:
				_, err = o.Info(ctx, "corp.example/conc", "v1.0.0")
			case 1:
				_, err = o.Mod(ctx, "corp.example/conc", "v1.0.0")
			case 2:
				var rc io.ReadCloser
				if rc, err = o.Zip(ctx, "corp.example/conc", "v1.0.0"); err == nil {
					_, err = io.Copy(io.Discard, rc)
					rc.Close()
				}
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if n := refsRequests(s, "conc.git"); n != 1 {
		t.Errorf("%d refs requests, want 1: one clone", n)
	}
	entries, _ := os.ReadDir(cfg.CacheDir)
	var dirs []string
	for _, e := range entries {
		if e.IsDir() && e.Name() != "tmp" {
			dirs = append(dirs, e.Name())
		}
	}
	if len(dirs) != 1 {
		t.Errorf("cache directory holds %q, want one clone", dirs)
	}
	if left, _ := os.ReadDir(filepath.Join(cfg.CacheDir, "tmp")); len(left) != 0 {
		t.Errorf("temporary files left behind: %v", left)
	}
}

// TestCredentials checks that credentials from a netrc file or tokens reach
// the host they are configured for and no other, and never appear in
// errors, logs or the clone's files.
func TestCredentials(t *testing.T) {
	t.Parallel()
	const password = "s3cret-Pa55"
	pub := testgit.NewServer(t) // also serves every go-import page
	priv := testgit.NewServer(t)
	priv.RequireAuth("alice", password)
	pr := priv.Repo("private.git")
	pr.Tag("v1.0.0", pr.Commit("v1.0.0", map[string]string{"go.mod": "module corp.example/private\n", "p.go": "package p\n"}))
	pub.GoImport("corp.example/private", "git", priv.RepoURL("private.git"))
	// The public repository is reached as localhost: another host than
	// 127.0.0.1, which the netrc names.
	pubRepo := pub.Repo("pub.git")
	pubRepo.Tag("v1.0.0", pubRepo.Commit("v1.0.0", map[string]string{"go.mod": "module corp.example/pub\n"}))
	pub.GoImport("corp.example/pub", "git", strings.Replace(pub.RepoURL("pub.git"), "127.0.0.1", "localhost", 1))

	netrc := filepath.Join(t.TempDir(), "netrc")
	os.WriteFile(netrc, []byte("machine 127.0.0.1 login alice password "+password+"\n"), 0o600)
	ctx := context.Background()
	var logs syncBuffer
	config := func(netrcFile string) Config {
		cfg := smallConfig(t, pub)
		cfg.NetrcFile = netrcFile
		cfg.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		return cfg
	}

	t.Run("netrc", func(t *testing.T) {
		cfg := config(netrc)
		o := newOrigin(t, cfg)
		if got := info(t, o, "corp.example/private", "v1.0.0"); got.Version != "v1.0.0" {
			t.Errorf("Info = %+v", got)
		}
		zipHash(t, o, "corp.example/private", "v1.0.0")
		if got := info(t, o, "corp.example/pub", "v1.0.0"); got.Version != "v1.0.0" {
			t.Errorf("Info = %+v", got)
		}
		checkNoSecret(t, cfg.CacheDir, password)
	})

	t.Run("token", func(t *testing.T) {
		cfg := config("")
		cfg.Tokens = map[string]string{priv.Host(): "alice:" + password}
		o := newOrigin(t, cfg)
		if got := info(t, o, "corp.example/private", "v1.0.0"); got.Version != "v1.0.0" {
			t.Errorf("Info = %+v", got)
		}
	})

	t.Run("none", func(t *testing.T) {
		o := newOrigin(t, config(""))
		_, err := o.Info(ctx, "corp.example/private", "v1.0.0")
		if err == nil || errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "requires authentication") ||
			!strings.Contains(err.Error(), "corp.example/private") {
			t.Errorf("Info without credentials: error %v, want one saying that authentication is required", err)
		}
	})

	t.Run("wrong", func(t *testing.T) {
		const wrong = "wr0ng-Pa55"
		file := filepath.Join(t.TempDir(), "netrc")
		os.WriteFile(file, []byte("machine 127.0.0.1\n  login alice\n  password "+wrong+"\n"), 0o600)
		cfg := config(file)
		o := newOrigin(t, cfg)
		_, err := o.Info(ctx, "corp.example/private", "v1.0.0")
		if err == nil || errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "refused the credentials") {
			t.Errorf("Info with wrong credentials: error %v, want one saying they were refused", err)
		} else if strings.Contains(err.Error(), wrong) {
			t.Errorf("error contains the password: %v", err)
		}
		checkNoSecret(t, cfg.CacheDir, wrong)
		if strings.Contains(logs.String(), wrong) {
			t.Errorf("logs contain the password")
		}
	})

	t.Run("discovery", func(t *testing.T) {
		// A token for the go-import host is sent with discovery requests,
		// and not to the repositories' hosts.
		cfg := config("")
		cfg.Tokens = map[string]string{"corp.example": "tok-" + password}
		o := newOrigin(t, cfg)
		info(t, o, "corp.example/pub", "v1.0.0")
		if pub.Count(func(r testgit.Request) bool { return testgit.IsGoGet(r) && r.User == defaultTokenUser }) == 0 {
			t.Errorf("no go-import request carried the token for corp.example:\n%v", pub.Requests())
		}
	})

	t.Run("redirect", func(t *testing.T) {
		// A repository of the configured host (127.0.0.1) redirects git to
		// another host (localhost) that asks for credentials: git must not
		// give it those of 127.0.0.1.
		evil := testgit.NewServer(t)
		evil.RequireAuth("mallory", "x")
		evil.Repo("evil.git")
		pub.Redirect("/redir.git", strings.Replace(evil.RepoURL("evil.git"), "127.0.0.1", "localhost", 1))
		pub.GoImport("corp.example/redir", "git", pub.RepoURL("redir.git"))
		// And a go-import page redirects to a subdomain: the token for
		// corp.example must not follow.
		pub.Redirect("/hop", "http://git.corp.example/target") // Go keeps Authorization for subdomains
		cfg := config(netrc)
		cfg.Tokens = map[string]string{"corp.example": "tok-" + password}
		o := newOrigin(t, cfg)
		_, err := o.Info(ctx, "corp.example/redir", "v1.0.0")
		if err == nil || errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "requires authentication") {
			t.Errorf("Info through a redirect to a host without credentials: error %v", err)
		}
		if _, err := o.Info(ctx, "corp.example/hop", "v1.0.0"); err == nil {
			t.Errorf("Info through a redirected go-import page succeeded")
		}
		if n := evil.Count(func(r testgit.Request) bool { return r.Auth }); n != 0 || evil.Count(func(testgit.Request) bool { return true }) == 0 {
			t.Errorf("the other host got %d requests with credentials (and must get some without):\n%v", n, evil.Requests())
		}
		if pub.Count(func(r testgit.Request) bool { return r.Host == "git.corp.example" }) == 0 {
			t.Errorf("the go-import redirect was not followed:\n%v", pub.Requests())
		}
		for _, r := range pub.Requests() {
			if r.Host == "git.corp.example" && r.Auth {
				t.Errorf("the token for corp.example followed a redirect: %v", r)
			}
		}
	})

	if strings.Contains(logs.String(), password) {
		t.Errorf("logs contain the password")
	}
	for _, r := range pub.Requests() {
		if r.Auth && !(r.Host == "corp.example" && (testgit.IsGoGet(r) || strings.HasPrefix(r.Path, "/hop"))) {
			t.Errorf("credentials sent to a host they are not configured for: %v", r)
		}
	}
	authed := 0
	for _, r := range priv.Requests() {
		if r.Auth {
			authed++
			if r.User != "alice" {
				t.Errorf("unexpected credentials: %v", r)
			}
		}
	}
	if authed == 0 {
		t.Errorf("no request to the private host carried credentials:\n%v", priv.Requests())
	}
}

// checkNoSecret fails if any file under dir contains secret.
func checkNoSecret(t *testing.T, dir, secret string) {
	t.Helper()
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if data, err := os.ReadFile(path); err == nil && strings.Contains(string(data), secret) {
			t.Errorf("%s contains the password", path)
		}
		return nil
	})
}

// TestRules checks that rules take precedence over go-import discovery and
// that paths no rule matches are still discovered.
func TestRules(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	cfg := fx.config(t)
	cfg.Rules = []Rule{{Pattern: "corp.example/lib", URL: fx.srv.URL + "/{path}.git"}}
	o := newOrigin(t, cfg)
	discovering := newOrigin(t, fx.config(t))
	for _, q := range []struct{ path, query string }{
		{"corp.example/lib", "v1.1.0"},
		{"corp.example/lib/sub", "v0.2.0"},
		{"corp.example/lib/v2", "v2.0.0"},
		{"corp.example/lib", "main"},
	} {
		got, want := info(t, o, q.path, q.query), info(t, discovering, q.path, q.query)
		if got.Version != want.Version || got.Origin.Hash != want.Origin.Hash {
			t.Errorf("%s@%s: by rule %s %s, by go-import %s %s", q.path, q.query, got.Version, got.Origin.Hash, want.Version, want.Origin.Hash)
		}
	}
	goGets := fx.srv.Count(testgit.IsGoGet)
	if got := info(t, o, "corp.example/lib/sub", "v0.1.0"); got.Version != "v0.1.0" {
		t.Errorf("Info = %+v", got)
	}
	if n := fx.srv.Count(testgit.IsGoGet); n != goGets {
		t.Errorf("a path matched by a rule caused %d go-import requests", n-goGets)
	}
	if got := info(t, o, "corp.example/nomod", "v1.0.0"); got.Version != "v1.0.0" {
		t.Errorf("Info by discovery next to a rule = %+v", got)
	}
	if fx.srv.Count(testgit.IsGoGet) == goGets {
		t.Errorf("a path no rule matches was not discovered")
	}
}

// TestInsecure checks that plain http is used only for hosts the
// configuration allows.
func TestInsecure(t *testing.T) {
	t.Parallel()
	s := testgit.NewServer(t)
	smallRepo(t, s, "sec")
	cfg := smallConfig(t, s)
	cfg.Insecure = nil
	o := newOrigin(t, cfg)
	_, err := o.Info(context.Background(), "corp.example/sec", "v1.0.0")
	if err == nil || errors.Is(err, fs.ErrNotExist) {
		t.Errorf("discovery over https that fails: error %v, want a failure", err)
	}
	for _, r := range s.Requests() {
		if r.Method != http.MethodConnect {
			t.Errorf("request other than the https attempt: %v", r)
		}
	}

	// Discovery may be insecure and the repository not.
	cfg.Insecure = func(host string) bool { return host == "corp.example" }
	o = newOrigin(t, cfg)
	_, err = o.Info(context.Background(), "corp.example/sec", "v1.0.0")
	if err == nil || !strings.Contains(err.Error(), "not configured as insecure") {
		t.Errorf("http repository of a secure host: error %v", err)
	}
	if n := refsRequests(s, ""); n != 0 {
		t.Errorf("%d git requests to a host not configured as insecure", n)
	}
}

// TestGoImportSubdir checks the fourth field of go-import tags: the module
// is in a subdirectory of the repository, with tags prefixed by it.
func TestGoImportSubdir(t *testing.T) {
	t.Parallel()
	s := testgit.NewServer(t)
	r := s.Repo("mono.git")
	c := r.Commit("first", map[string]string{"README": "mono\n", "go/go.mod": "module corp.example/mono\n", "go/m.go": "package mono\n"})
	r.Tag("go/v1.0.0", c)
	s.GoImportSubdir("corp.example/mono", "git", s.RepoURL("mono.git"), "go")
	o := newOrigin(t, smallConfig(t, s))
	if got := info(t, o, "corp.example/mono", "v1.0.0"); got.Version != "v1.0.0" || got.Origin.Subdir != "go" {
		t.Errorf("Info = %+v %+v", got, got.Origin)
	}
	if list, err := o.List(context.Background(), "corp.example/mono"); err != nil || !slices.Equal(list, []string{"v1.0.0"}) {
		t.Errorf("List = %q, %v", list, err)
	}
}
