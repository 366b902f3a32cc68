package access

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/mod/module"

	"github.com/modmirror/modmirror/internal/sumdbpath"
	"github.com/modmirror/modmirror/proxy"
)

// The module files the table asks for, at the root.
const (
	pubZip      = "/example.com/lib/@v/v1.0.0.zip"
	secretZip   = "/corp.example/secret/@v/v1.0.0.zip"
	secretInfo  = "/corp.example/secret/@v/v1.0.0.info"
	secretList  = "/corp.example/secret/@v/list"
	secretLtst  = "/corp.example/secret/@latest"
	missingMod  = "/corp.example/missing/@v/v9.9.9.mod"
	secretBad   = "/corp.example/secret/@v/not-a-version.zip"
	secretEsc   = "/corp.example/!secret/@v/list" // corp.example/Secret
	lookupPriv  = "/sumdb/sum.golang.org/lookup/corp.example/secret@v1.0.0"
	lookupBad   = "/sumdb/sum.corp.example/lookup/corp.example/secret@latest"
	lookupPub   = "/sumdb/sum.golang.org/lookup/example.com/lib@v1.0.0"
	sumdbTile   = "/sumdb/sum.corp.example/tile/8/data/000"
	sumdbLatest = "/sumdb/sum.corp.example/latest"
)

// A handlerFixture is a Handler in front of a fake protocol handler that
// answers every request 200, as if it had every module.
type handlerFixture struct {
	h       *Handler
	log     *bytes.Buffer
	reg     *prometheus.Registry
	secrets map[string]string // by token name: corp, other, revoked, public
	ids     map[string]string // by token name
	served  int
}

func newHandlerFixture(t *testing.T, opts Options) *handlerFixture {
	t.Helper()
	f := &handlerFixture{log: new(bytes.Buffer), reg: prometheus.NewRegistry(), secrets: map[string]string{}, ids: map[string]string{}}
	mem := newMemTokens()
	for name, allow := range map[string]string{"corp": "corp.example/*", "other": "other.example", "revoked": "corp.example", "public": ""} {
		tok, s := mem.add("id-"+name, allow)
		f.secrets[name], f.ids[name] = s, tok.ID
	}
	mem.revoke(f.secrets["revoked"])
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.served++
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		w.Write([]byte("content of " + r.URL.Path))
	})
	opts.Tokens = NewCache(mem, 0)
	if opts.Private == nil {
		opts.Private = func(p string) bool { return module.MatchPrefixPatterns("corp.example,other.example", p) }
	}
	opts.Logger = slog.New(slog.NewJSONHandler(f.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts.Registerer = f.reg
	h, err := New(next, opts)
	if err != nil {
		t.Fatal(err)
	}
	f.h = h
	return f
}

// auth returns an Authorization header for a credential spelled as
// "basic:<token name>" (the password), "user:<token name>" (the Basic user
// name), "bearer:<token name>" or a literal header.
func (f *handlerFixture) auth(cred string) string {
	kind, name, _ := strings.Cut(cred, ":")
	switch kind {
	case "":
		return ""
	case "basic":
		return "Basic " + base64.StdEncoding.EncodeToString([]byte("x:"+f.secrets[name]))
	case "bearer":
		return "Bearer " + f.secrets[name]
	case "user":
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(f.secrets[name]+":x-oauth-basic"))
	}
	return cred
}

func (f *handlerFixture) get(path, auth string) *httptest.ResponseRecorder {
	r := httptest.NewRequest("GET", path, nil)
	r.RemoteAddr = "192.0.2.7:4711"
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	return w
}

const privateBody = "not found: " + PrivateNotFound + "\n"

func TestHandler(t *testing.T) {
	type want struct {
		code   int
		reason string // of the refusal logged, if any
	}
	served := want{200, ""}
	hidden := func(reason string) want { return want{404, reason} }
	unauth := func(reason string) want { return want{401, reason} }
	for _, tc := range []struct {
		public Access
		base   string
		path   string
		cred   string
		want   want
	}{
		// Public paths, open: anyone, whatever the credentials.
		{Open, "", pubZip, "", served},
		{Open, "", pubZip, "bearer:revoked", served},
		{Open, "", pubZip, "Bearer nonsense", served},
		{Open, "", lookupPub, "", served},
		{Open, "", sumdbTile, "", served},
		{Open, "", sumdbLatest, "", served},
		{Open, "", "/", "", served},

		// Private paths: only a valid token whose patterns match.
		{Open, "", secretZip, "basic:corp", served},
		{Open, "", secretZip, "bearer:corp", served},
		{Open, "", secretInfo, "basic:corp", served},
		{Open, "", secretList, "bearer:corp", served},
		{Open, "", secretLtst, "basic:corp", served},
		{Open, "", secretEsc, "basic:corp", served},
		{Open, "", lookupPriv, "basic:corp", served},
		{Open, "", secretZip, "", hidden(reasonNoToken)},
		{Open, "", secretZip, "basic:other", hidden(reasonNotAllowed)},
		{Open, "", secretZip, "bearer:public", hidden(reasonNotAllowed)},
		{Open, "", secretZip, "basic:revoked", hidden(reasonRevokedToken)},
		{Open, "", secretZip, "Bearer mmt_madeup", hidden(reasonUnknownToken)},
		{Open, "", secretZip, "Bearer " + strings.Repeat("x", 50), hidden(reasonUnknownToken)},
		{Open, "", secretZip, "Digest username=x", hidden(reasonUnknownToken)},
		{Open, "", secretZip, "Basic " + base64.StdEncoding.EncodeToString([]byte("mmt_x:")), hidden(reasonUnknownToken)},
		{Open, "", secretZip, "user:corp", served}, // the token as Basic user name
		{Open, "", secretInfo, "", hidden(reasonNoToken)},
		{Open, "", secretList, "basic:other", hidden(reasonNotAllowed)},
		{Open, "", secretLtst, "", hidden(reasonNoToken)},
		{Open, "", missingMod, "", hidden(reasonNoToken)},
		{Open, "", secretBad, "", hidden(reasonNoToken)},
		{Open, "", secretEsc, "", hidden(reasonNoToken)},
		{Open, "", lookupPriv, "", hidden(reasonNoToken)},
		{Open, "", lookupPriv, "bearer:other", hidden(reasonNotAllowed)},
		{Open, "", lookupBad, "", hidden(reasonNoToken)},
		{Open, "", "/other.example/tool/@v/list", "basic:other", served},
		{Open, "", "/other.example/tool/@v/list", "basic:corp", hidden(reasonNotAllowed)},

		// Public paths need a token: any valid one.
		{WithToken, "", pubZip, "", unauth(reasonNoToken)},
		{WithToken, "", pubZip, "bearer:revoked", unauth(reasonRevokedToken)},
		{WithToken, "", pubZip, "Bearer mmt_madeup", unauth(reasonUnknownToken)},
		{WithToken, "", pubZip, "basic:public", served},
		{WithToken, "", pubZip, "bearer:other", served},
		{WithToken, "", lookupPub, "", unauth(reasonNoToken)},
		{WithToken, "", sumdbTile, "", unauth(reasonNoToken)},
		{WithToken, "", sumdbLatest, "basic:public", served},
		{WithToken, "", "/", "", unauth(reasonNoToken)},
		{WithToken, "", secretZip, "basic:corp", served},
		{WithToken, "", secretZip, "", hidden(reasonNoToken)},
		{WithToken, "", secretZip, "bearer:revoked", hidden(reasonRevokedToken)},
		{WithToken, "", secretZip, "basic:public", hidden(reasonNotAllowed)},

		// Under a base path.
		{Open, "/go", "/go" + secretZip, "", hidden(reasonNoToken)},
		{Open, "/go/", "/go" + lookupPriv, "", hidden(reasonNoToken)},
		{Open, "/go", "/go" + secretZip, "bearer:corp", served},
		{Open, "/go", "/go" + pubZip, "", served},
		{Open, "/go", secretZip, "", served}, // outside the base path: the proxy's 404
		{WithToken, "/go", "/go" + pubZip, "", unauth(reasonNoToken)},
		{WithToken, "/go", "/go" + pubZip, "basic:public", served},
	} {
		name := string(tc.public) + " " + tc.base + " " + tc.path + " " + tc.cred
		t.Run(name, func(t *testing.T) {
			f := newHandlerFixture(t, Options{PublicAccess: tc.public, BasePath: tc.base})
			w := f.get(tc.path, f.auth(tc.cred))
			if w.Code != tc.want.code {
				t.Fatalf("status %d, want %d\n%s", w.Code, tc.want.code, w.Body)
			}
			switch tc.want.code {
			case 200:
				if f.served != 1 || w.Body.String() != "content of "+tc.path {
					t.Errorf("not passed on: %q", w.Body)
				}
				if tc.cred != "" && (tc.public == WithToken || f.h.private(f.h.modulePath(tc.path))) {
					if cc := w.Header().Get("Cache-Control"); cc != "private, max-age=31536000, immutable" {
						t.Errorf("Cache-Control %q of an answer that needed a token, want it private", cc)
					}
				} else if cc := w.Header().Get("Cache-Control"); cc != "public, max-age=31536000, immutable" {
					t.Errorf("Cache-Control %q of an open answer changed", cc)
				}
			case 404:
				if w.Body.String() != privateBody || w.Header().Get("Cache-Control") != "no-store" {
					t.Errorf("answer %q, Cache-Control %q; want the uniform 404", w.Body, w.Header().Get("Cache-Control"))
				}
			case 401:
				if got := w.Header().Get("WWW-Authenticate"); got != `Basic realm="modmirror"` {
					t.Errorf("WWW-Authenticate %q", got)
				}
			}
			if tc.want.code != 200 && f.served != 0 {
				t.Errorf("a refused request was passed on")
			}
			f.checkLog(t, tc.want.reason, tc.path, tc.cred)
			f.checkCounter(t, tc.want.reason)
		})
	}
}

// checkLog checks the refusal logged (none if reason is empty): the path,
// the client's address, the token's id when the token is known, and never
// a secret.
func (f *handlerFixture) checkLog(t *testing.T, reason, path, cred string) {
	t.Helper()
	log := f.log.String()
	for name, s := range f.secrets {
		if strings.Contains(log, strings.TrimPrefix(s, SecretPrefix)) {
			t.Errorf("the log holds the secret of token %s:\n%s", name, log)
		}
	}
	var refusals []map[string]any
	for line := range strings.Lines(log) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec["msg"] == "access refused" {
			refusals = append(refusals, rec)
		}
	}
	if reason == "" {
		if len(refusals) != 0 {
			t.Errorf("refusals logged for an allowed request: %v", refusals)
		}
		return
	}
	if len(refusals) != 1 {
		t.Fatalf("%d refusals logged, want 1:\n%s", len(refusals), log)
	}
	rec := refusals[0]
	if rec["reason"] != reason || rec["path"] != path || rec["remote"] != "192.0.2.7:4711" {
		t.Errorf("refusal logged as %v; want reason %s, path %s and the remote address", rec, reason, path)
	}
	wantID := ""
	if kind, name, _ := strings.Cut(cred, ":"); (kind == "basic" || kind == "bearer") && name != "" {
		wantID = f.ids[name]
	}
	if id, _ := rec["token"].(string); id != wantID {
		t.Errorf("refusal logged with token %q, want %q", id, wantID)
	}
}

func (f *handlerFixture) checkCounter(t *testing.T, reason string) {
	t.Helper()
	mfs, err := f.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	total := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "modmirror_access_refusals_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" {
					total[l.GetValue()] += m.GetCounter().GetValue()
				}
			}
		}
	}
	if reason == "" && len(total) != 0 || reason != "" && (len(total) != 1 || total[reason] != 1) {
		t.Errorf("refusal counter %v, want one %q", total, reason)
	}
}

// TestHandlerUniformNotFound compares, byte for byte, the answers to
// requests for private modules that exist and that do not, with each kind
// of credential that may not read them.
func TestHandlerUniformNotFound(t *testing.T) {
	f := newHandlerFixture(t, Options{})
	var first *httptest.ResponseRecorder
	for _, path := range []string{secretZip, secretInfo, secretList, secretLtst, missingMod, secretBad, lookupPriv, lookupBad, "/corp.example/never/@latest",
		// Checksum database names may have slashes, and may look like
		// the protocol's own words.
		"/sumdb/sum.corp.example/log/lookup/corp.example/secret@v1.0.0",
		"/sumdb/x.example/lookup/lookup/corp.example/secret@v1.0.0",
	} {
		for _, cred := range []string{"", "basic:other", "bearer:revoked", "Bearer mmt_madeup", "Basic !!"} {
			w := f.get(path, f.auth(cred))
			if first == nil {
				first = w
			}
			if w.Code != first.Code || w.Body.String() != first.Body.String() || !equalHeaders(w.Header(), first.Header()) {
				t.Errorf("GET %s with %q: %d %v %q; differs from %d %v %q", path, cred, w.Code, w.Header(), w.Body, first.Code, first.Header(), first.Body)
			}
		}
	}
	if first.Code != 404 || first.Body.String() != privateBody {
		t.Errorf("the uniform answer is %d %q", first.Code, first.Body)
	}
	if f.served != 0 {
		t.Errorf("%d refused requests passed on", f.served)
	}
}

func equalHeaders(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if strings.Join(a[k], "\x00") != strings.Join(b[k], "\x00") {
			return false
		}
	}
	return true
}

// TestHandlerPrivateOpen: with private access open, private paths are
// readable as public ones are.
func TestHandlerPrivateOpen(t *testing.T) {
	f := newHandlerFixture(t, Options{PrivateAccess: Open})
	if w := f.get(secretZip, ""); w.Code != 200 {
		t.Errorf("private open, public open, no token: %d", w.Code)
	}
	f = newHandlerFixture(t, Options{PrivateAccess: Open, PublicAccess: WithToken})
	if w := f.get(secretZip, ""); w.Code != 401 {
		t.Errorf("private open, public token, no token: %d, want 401", w.Code)
	}
	if w := f.get(secretZip, f.auth("basic:public")); w.Code != 200 {
		t.Errorf("private open, public token, a token for public paths: %d", w.Code)
	}
}

// TestHandlerTokensFail: when the tokens cannot be read, a request that
// needs one gets a 503, and one that does not is served.
func TestHandlerTokensFail(t *testing.T) {
	mem := newMemTokens()
	_, secret := mem.add("a", "corp.example")
	mem.err = errors.New("disk on fire")
	served := 0
	h, err := New(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { served++ }), Options{
		Tokens:  mem,
		Private: func(p string) bool { return strings.HasPrefix(p, "corp.example/") },
	})
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]int{secretZip: 503, pubZip: 200} {
		r := httptest.NewRequest("GET", path, nil)
		r.Header.Set("Authorization", "Bearer "+secret)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != want {
			t.Errorf("GET %s with failing tokens: %d, want %d", path, w.Code, want)
		}
	}
	if served != 1 {
		t.Errorf("%d requests served, want 1", served)
	}
}

func TestNewOptions(t *testing.T) {
	next := http.NotFoundHandler()
	priv := func(string) bool { return true }
	for _, tc := range []struct {
		opts Options
		ok   bool
	}{
		{Options{}, true}, // nothing private, public open: no tokens needed
		{Options{Private: priv}, false},
		{Options{PublicAccess: WithToken}, false},
		{Options{Private: priv, PrivateAccess: Open}, true},
		{Options{Tokens: newMemTokens(), PublicAccess: "closed"}, false},
		{Options{Tokens: newMemTokens(), BasePath: "go"}, false},
	} {
		if _, err := New(next, tc.opts); (err == nil) != tc.ok {
			t.Errorf("New(%+v): %v, want ok %v", tc.opts, err, tc.ok)
		}
	}
}

// FuzzModulePath checks that the middleware finds the module of every
// request that the proxy and the checksum databases would answer for one,
// under the same parsers, so that none reaches a private module unchecked.
func FuzzModulePath(f *testing.F) {
	for _, p := range []string{pubZip, secretZip, secretList, secretLtst, secretBad, secretEsc, lookupPriv, lookupBad, sumdbTile, "/", "/sumdb/x"} {
		f.Add(p)
	}
	h, err := New(http.NotFoundHandler(), Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, urlPath string) {
		got := h.modulePath(urlPath)
		p, ok := strings.CutPrefix(urlPath, "/")
		if !ok {
			if got != "" {
				t.Fatalf("modulePath(%q) = %q outside the base path", urlPath, got)
			}
			return
		}
		if rest, ok := strings.CutPrefix(p, "sumdb/"); ok {
			if _, sub, ok := strings.Cut(rest, "/"); ok {
				if req, err := sumdbpath.Parse("/" + sub); err == nil && req.Kind == sumdbpath.Lookup && got != req.Mod.Path {
					t.Fatalf("modulePath(%q) = %q, want the lookup's %q", urlPath, got, req.Mod.Path)
				}
			}
			return
		}
		if req, err := proxy.ParseRequest(p); err == nil && got != req.Path {
			t.Fatalf("modulePath(%q) = %q, want the request's %q", urlPath, got, req.Path)
		}
	})
}
