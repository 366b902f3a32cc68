package origin

import (
	"errors"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestRuleExpand(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern, url, modPath string
		root, want            string // "" root: no match
	}{
		{"corp.example/*", "https://git.corp.example/{path}.git", "corp.example/lib/sub/v2", "corp.example/lib", "https://git.corp.example/lib.git"},
		{"corp.example/team/*", "ssh://git@git.corp.example/golang/{rest}.git", "corp.example/team/lib", "corp.example/team/lib", "ssh://git@git.corp.example/golang/lib.git"},
		{"corp.example/team/*", "https://mirror.example/{root}", "corp.example/team/lib/x", "corp.example/team/lib", "https://mirror.example/corp.example/team/lib"},
		{"*.corp.example/*", "https://{root}.git", "a.corp.example/b/c", "a.corp.example/b", "https://a.corp.example/b.git"},
		{"corp.example/lib", "https://git.corp.example/lib.git", "corp.example/lib/v3", "corp.example/lib", "https://git.corp.example/lib.git"},
		{"corp.example/*", "https://x/{path}", "corp.example", "", ""},
		{"corp.example/*", "https://x/{path}", "other.example/lib", "", ""},
		{"corp.example/lib", "https://x/{path}", "corp.example/library", "", ""},
	}
	for _, tt := range tests {
		r, err := compileRule(Rule{Pattern: tt.pattern, URL: tt.url})
		if err != nil {
			t.Fatalf("compileRule(%q): %v", tt.pattern, err)
		}
		root, ok := r.match(tt.modPath)
		if !ok {
			if tt.root != "" {
				t.Errorf("%q does not match %s", tt.pattern, tt.modPath)
			}
			continue
		}
		if root != tt.root || r.expand(root) != tt.want {
			t.Errorf("%q on %s: root %s, URL %s; want %s, %s", tt.pattern, tt.modPath, root, r.expand(root), tt.root, tt.want)
		}
	}
	for _, bad := range []Rule{{Pattern: "", URL: "https://x"}, {Pattern: "a,b", URL: "https://x"}, {Pattern: "corp.example/[", URL: "https://x"}, {Pattern: "corp.example/*"}} {
		if _, err := compileRule(bad); err == nil {
			t.Errorf("compileRule(%+v) succeeded", bad)
		}
	}
}

func TestCheckRepoURL(t *testing.T) {
	t.Parallel()
	o := &Origin{insecure: func(host string) bool { return host == "insecure.example" }}
	for raw, ok := range map[string]bool{
		"https://git.example/lib.git":       true,
		"ssh://git@git.example/lib.git":     true,
		"http://insecure.example:8080/lib":  true,
		"http://git.example/lib.git":        false, // not insecure
		"https://user:pw@git.example/lib":   false, // a password
		"https://user@git.example/lib":      false, // a user for https
		"file:///srv/git/lib.git":           false,
		"ext::sh -c touch% /tmp/pwned":      false,
		"git@git.example:lib.git":           false, // scp syntax
		"git://git.example/lib.git":         false,
		"https:///lib.git":                  false,
		"https://git.example/lib?x=1#frag":  true,
		"ssh://git:secret@git.example/lib":  false,
		"http://insecure.example.evil/repo": false,
	} {
		_, err := o.checkRepoURL(raw)
		if (err == nil) != ok {
			t.Errorf("checkRepoURL(%q): %v, want ok=%v", raw, err, ok)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("checkRepoURL(%q): error shows the password: %v", raw, err)
		}
	}
}

func TestVCSPathLocation(t *testing.T) {
	t.Parallel()
	o := &Origin{insecure: func(string) bool { return false }}
	tests := []struct{ path, url, root string }{
		{"github.com/owner/repo", "https://github.com/owner/repo", "github.com/owner/repo"},
		{"github.com/owner/repo/sub/v2", "https://github.com/owner/repo", "github.com/owner/repo"},
		{"corp.example/team/lib.git/sub", "https://corp.example/team/lib", "corp.example/team/lib.git"},
	}
	for _, tt := range tests {
		loc, ok, err := o.vcsPathLocation(tt.path)
		if !ok || err != nil || loc.url.String() != tt.url || loc.root != tt.root {
			t.Errorf("vcsPathLocation(%s) = %v %s, %v, %v; want %s %s", tt.path, loc.url, loc.root, ok, err, tt.url, tt.root)
		}
	}
	for _, p := range []string{"github.com/owner", "github.com/owner/repo.git", "corp.example/lib.hg"} {
		if _, ok, err := o.vcsPathLocation(p); !ok || !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("vcsPathLocation(%s): %v, %v; want a not-found", p, ok, err)
		}
	}
	if _, ok, _ := o.vcsPathLocation("corp.example/lib"); ok {
		t.Errorf("vcsPathLocation(corp.example/lib) matched")
	}
}

func TestReadGoImports(t *testing.T) {
	t.Parallel()
	page := `<!DOCTYPE html><html><head>
<meta name="go-import" content="corp.example/lib git https://git.corp.example/lib.git">
<META NAME="go-import" CONTENT="corp.example/mono git https://git.corp.example/mono.git go"/>
<meta name="go-import" content="corp.example/p git https://git.corp.example/p.git">
<meta name="go-import" content="corp.example/p mod https://proxy.corp.example">
<meta name="go-source" content="ignored">
<meta name="go-import" content="too few">
</head><body>
<meta name="go-import" content="corp.example/late git https://late">
</body></html>`
	got := readGoImports(strings.NewReader(page))
	want := []goImport{
		{"corp.example/p", "mod", "https://proxy.corp.example", ""},
		{"corp.example/lib", "git", "https://git.corp.example/lib.git", ""},
		{"corp.example/mono", "git", "https://git.corp.example/mono.git", "go"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("readGoImports =\n%v\nwant\n%v", got, want)
	}
	// A page without a head: tags before the body count.
	if got := readGoImports(strings.NewReader(`<meta name="go-import" content="a.example git https://a"><p>x</p>`)); len(got) != 1 {
		t.Errorf("readGoImports of a page without head: %v", got)
	}
	if gi, err := chooseGoImport(got, "corp.example/lib/sub"); err != nil || gi.root != "corp.example/lib" {
		t.Errorf("chooseGoImport(corp.example/lib/sub) = %v, %v", gi, err)
	}
	if _, err := chooseGoImport(got, "corp.example/library"); err == nil {
		t.Errorf("chooseGoImport matched a prefix that is not a path prefix")
	}
	dup := append(got, goImport{"corp.example/lib", "git", "https://elsewhere", ""})
	if _, err := chooseGoImport(dup, "corp.example/lib"); err == nil {
		t.Errorf("chooseGoImport accepted two tags for one path")
	}
	proxied := append(got, goImport{"corp.example", "mod", "https://proxy2", ""})
	if _, err := chooseGoImport(proxied, "corp.example/p/x"); err == nil {
		t.Errorf("chooseGoImport accepted two proxies for one path")
	}
}

// FuzzReadGoImports checks that any page gives tags with three or four
// fields' worth of content and never panics.
func FuzzReadGoImports(f *testing.F) {
	f.Add(`<head><meta name="go-import" content="a.example git https://a"></head>`)
	f.Add(`<meta name=go-import content='a b c d'><body>`)
	f.Fuzz(func(t *testing.T, page string) {
		for _, gi := range readGoImports(strings.NewReader(page)) {
			if gi.root == "" || gi.vcs == "" || gi.repo == "" || strings.ContainsAny(gi.root+gi.vcs+gi.repo+gi.subdir, " \t\n") {
				t.Fatalf("tag %+v from %q", gi, page)
			}
		}
	})
}

func TestCredentialsLookup(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "netrc")
	netrc := `machine git.corp.example login alice password pw-alice
machine other.example
  login bob
  password pw-bob
macdef init
  machine macro.example login x password y

machine 127.0.0.1:8443 login carol password pw-carol
default login dave password pw-dave
machine after.default login eve password pw-eve
`
	if err := os.WriteFile(file, []byte(netrc), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := newCredentials(file, map[string]string{"tok.example": "tok-secret", "named.example:444": "user:tok-named"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ url, user, password string }{
		{"https://git.corp.example/lib.git", "alice", "pw-alice"},
		{"https://GIT.corp.example:8443/lib.git", "alice", "pw-alice"},
		{"https://other.example/x", "bob", "pw-bob"},
		{"https://127.0.0.1:8443/x", "carol", "pw-carol"},
		{"https://127.0.0.1:9999/x", "", ""},
		{"https://tok.example/x", defaultTokenUser, "tok-secret"},
		{"https://named.example:444/x", "user", "tok-named"},
		{"https://named.example/x", "", ""},
		{"https://macro.example/x", "", ""},
		{"https://after.default/x", "", ""},
		{"https://unknown.example/x", "", ""},
		{"https://corp.example/x", "", ""}, // not a subdomain match
	}
	for _, tt := range tests {
		u, _ := url.Parse(tt.url)
		user, password, _ := c.lookup(u)
		if user != tt.user || password != tt.password {
			t.Errorf("lookup(%s) = %q, %q; want %q, %q", tt.url, user, password, tt.user, tt.password)
		}
	}

	msg := c.redact("fatal: https://alice:pw-alice@git.corp.example/ Basic YWxpY2U6cHctYWxpY2U= tok-secret https://x:other@h/")
	for _, secret := range []string{"pw-alice", "YWxpY2U6cHctYWxpY2U=", "tok-secret", "other"} {
		if strings.Contains(msg, secret) {
			t.Errorf("redact left %q in %q", secret, msg)
		}
	}

	// The file is re-read when it changes.
	if err := os.WriteFile(file, []byte("machine new.example login n password pw-new-and-longer\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse("https://new.example/")
	if user, _, ok := c.lookup(u); !ok || user != "n" {
		t.Errorf("after the netrc file changed: lookup(new.example) = %q, %v", user, ok)
	}

	if _, err := newCredentials(filepath.Join(t.TempDir(), "missing"), nil, nil); err == nil {
		t.Errorf("newCredentials with a missing file succeeded")
	}
	if _, err := newCredentials("", map[string]string{"h": "two words"}, nil); err == nil {
		t.Errorf("newCredentials with a token with a space succeeded")
	}
}

// TestAuthTransport checks that discovery requests get credentials by their
// own host only, and over plain http only for insecure hosts.
func TestAuthTransport(t *testing.T) {
	t.Parallel()
	c, err := newCredentials("", map[string]string{"corp.example": "tok", "plain.example": "tok2"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	tr := &authTransport{
		base: roundTripFunc(func(req *http.Request) (*http.Response, error) {
			got = append(got, req.URL.String()+" "+req.Header.Get("Authorization"))
			return &http.Response{StatusCode: 200, Body: http.NoBody, Request: req}, nil
		}),
		creds:    c,
		insecure: func(host string) bool { return host == "corp.example" },
	}
	for _, u := range []string{"https://corp.example/a", "http://corp.example/a", "https://git.corp.example/a", "http://plain.example/a", "https://plain.example/a"} {
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		tr.RoundTrip(req)
		if req.Header.Get("Authorization") != "" {
			t.Errorf("RoundTrip modified the caller's request for %s", u)
		}
	}
	want := []string{
		"https://corp.example/a Basic eC1hY2Nlc3MtdG9rZW46dG9r",
		"http://corp.example/a Basic eC1hY2Nlc3MtdG9rZW46dG9r",
		"https://git.corp.example/a ",
		"http://plain.example/a ",
		"https://plain.example/a Basic eC1hY2Nlc3MtdG9rZW46dG9rMg==",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("requests sent:\n%q\nwant\n%q", got, want)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }
