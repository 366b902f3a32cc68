package e2e

import (
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modmirror/modmirror/internal/testcert"
	"github.com/modmirror/modmirror/internal/testupstream"
)

// uniformNotFound is the body of every answer to a private path that the
// request may not read (access.PrivateNotFound, spelled out so that a
// change to it shows here).
const uniformNotFound = "not found: private module: not stored here, or not readable with the credentials given\n"

// newTestCA makes a certificate authority for one test, and a server
// certificate it signed for 127.0.0.1.
func newTestCA(t *testing.T) *testcert.CA {
	t.Helper()
	ca, err := testcert.New(t.TempDir(), "modmirror e2e test CA")
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// startTLSMirror runs a mirror in front of up that serves HTTPS with a
// certificate of a new test CA.
func startTLSMirror(t *testing.T, up *testupstream.Server, data string, extra ...string) (*mirror, *testcert.CA) {
	t.Helper()
	ca := newTestCA(t)
	m := startMirrorClient(t, up, data, ca.Client(), append([]string{"--tls-cert", ca.CertFile, "--tls-key", ca.KeyFile}, extra...)...)
	if !strings.HasPrefix(m.URL, "https://127.0.0.1:") {
		t.Fatalf("the mirror with --tls-cert serves at %s, want https://127.0.0.1:<port>", m.URL)
	}
	return m, ca
}

// tokenCmd runs "modmirror token args..." and returns what it printed.
func tokenCmd(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(modmirrorBin, append([]string{"token"}, args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("modmirror token %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// createToken makes a token in a mirror's data directory with the
// modmirror binary and returns its id and secret (the last line printed).
func createToken(t *testing.T, data, name, allow string) (id, secret string) {
	t.Helper()
	return createTokenIn(t, []string{"--data", data}, name, allow)
}

// createTokenIn is createToken for the tokens that the flags where
// name, such as --tokens-db URL.
func createTokenIn(t *testing.T, where []string, name, allow string) (id, secret string) {
	t.Helper()
	out := tokenCmd(t, append(append([]string{"create"}, where...), "--name", name, "--allow", allow)...)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	secret = lines[len(lines)-1]
	if !strings.HasPrefix(secret, "mmt_") {
		t.Fatalf("token create's last line is %q, want a token:\n%s", secret, out)
	}
	id, _, _ = strings.Cut(strings.TrimPrefix(out, "created token "), " ")
	return id, secret
}

// tlsGo returns a goCommand for a mirror that serves HTTPS with a
// certificate of ca, and that sends secret, if not empty, from a .netrc
// entry for the mirror's host and port. Private modules are below
// corp.example and checked against no checksum database.
func tlsGo(t *testing.T, m *mirror, ca *testcert.CA, sumdb, secret string) *goCommand {
	t.Helper()
	g := newGo(t, m.URL, sumdb)
	g.env["SSL_CERT_FILE"] = ca.CAFile
	g.env["GONOSUMDB"] = "corp.example"
	if secret != "" {
		u, err := url.Parse(m.URL)
		if err != nil {
			t.Fatal(err)
		}
		// The go command matches a .netrc machine against the URL's host
		// with its port.
		writeModule(t, g.env["HOME"], map[string]string{".netrc": "machine " + u.Host + " login x password " + secret + "\n"})
	}
	return g
}

// refusals returns the mirror's "access refused" log records.
func refusals(m *mirror) []map[string]any {
	var out []map[string]any
	for _, rec := range m.log.Records() {
		if rec["msg"] == "access refused" {
			out = append(out, rec)
		}
	}
	return out
}

// checkRefused fails the test unless the mirror logs, within a few
// seconds (its output reaches the test through a pipe), a refusal of a
// path that contains path, from 127.0.0.1, with the token id ("" for
// none), for reason.
func checkRefused(t *testing.T, m *mirror, path, id, reason string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		for _, rec := range refusals(m) {
			a, _ := rec["access"].(map[string]any)
			p, _ := a["path"].(string)
			tok, _ := a["token"].(string)
			remote, _ := a["remote"].(string)
			if strings.Contains(p, path) && tok == id && a["reason"] == reason && strings.HasPrefix(remote, "127.0.0.1:") {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Errorf("the mirror logged no refusal of %s with token %q for %s; refusals: %v", path, id, reason, refusals(m))
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// checkNoSecrets fails the test if the mirror's log holds a secret.
func checkNoSecrets(t *testing.T, m *mirror, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(m.Log(), strings.TrimPrefix(s, "mmt_")) {
			t.Errorf("the mirror's log holds a token's secret")
		}
	}
}

// TestAccessPrivateModules serves a private module over HTTPS to the go
// command with a .netrc token for it, and to nobody else: without a token,
// with a token for other modules, or with a revoked token, the go command
// gets the same 404 as for a private module that does not exist, and the
// mirror logs the refusal. Public modules stay open.
func TestAccessPrivateModules(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	corp := seedPrivate(t, data, privateModules...)
	corpID, corpSecret := createToken(t, data, "ci", "corp.example/*")
	up := newFixture(t)
	keyFile, _ := keygen(t)
	m, ca := startTLSMirror(t, up, data, "--private", "corp.example", "--sumdb-key", keyFile, "--no-origin")
	// Made while the mirror runs.
	otherID, otherSecret := createToken(t, data, "other", "other.example/*")
	sumdb := up.VerifierKey()
	query := secretPath + "@v1.0.0"

	// With the token: the module, with the hashes of the stored files.
	g := tlsGo(t, m, ca, sumdb, corpSecret)
	mods := decodeDownloads(t, g.OK(t.TempDir(), "mod", "download", "-json", query))
	want := corp.GoSumLines(secretPath, "v1.0.0")
	if len(mods) != 1 || mods[0].Error != "" || secretPath+" v1.0.0 "+mods[0].Sum != want[0] {
		t.Fatalf("go mod download %s with a token: %+v, want %q", query, mods, want[0])
	}

	// Without a token, or with one for other modules: not found, as a
	// private module that does not exist.
	for _, tc := range []struct {
		name, secret, id, reason string
	}{
		{"no .netrc", "", "", "no_token"},
		{"a token for other.example", otherSecret, otherID, "not_allowed"},
	} {
		for _, q := range []string{query, secretPath + "@latest", "corp.example/nothing@v1.0.0"} {
			stderr := tlsGo(t, m, ca, sumdb, tc.secret).Fail(t.TempDir(), "mod", "download", q)
			for _, want := range []string{"404 Not Found", strings.TrimSpace(strings.TrimPrefix(uniformNotFound, "not found: "))} {
				if !strings.Contains(stderr, want) {
					t.Errorf("%s: go mod download %s: stderr lacks %q:\n%s", tc.name, q, want, stderr)
				}
			}
		}
		checkRefused(t, m, "corp.example/secret/@v/v1.0.0.info", tc.id, tc.reason)
	}

	// The same status and bytes for a module that exists and one that does
	// not, and from the lookup endpoints of the checksum databases: the
	// public one the mirror proxies, and its own, which records the
	// private module.
	publicDB, _, _ := strings.Cut(sumdb, "+")
	for _, auth := range []string{"", "Bearer " + otherSecret, "Bearer mmt_madeup", "Basic eDpub3BlCg=="} {
		for _, p := range []string{
			"/corp.example/secret/@v/v1.0.0.zip", "/corp.example/nothing/@v/v1.0.0.zip",
			"/corp.example/secret/@v/list", "/corp.example/nothing/@v/list",
			"/sumdb/" + publicDB + "/lookup/corp.example/secret@v1.0.0", "/sumdb/" + publicDB + "/lookup/corp.example/nothing@v1.0.0",
			"/sumdb/" + sumdbName + "/lookup/corp.example/secret@v1.0.0", "/sumdb/" + sumdbName + "/lookup/corp.example/nothing@v1.0.0",
		} {
			code, body, err := clientGet(m.Client, m.URL+p, auth)
			if err != nil || code != http.StatusNotFound || body != uniformNotFound {
				t.Errorf("GET %s with %.12q: %d %v %q, want 404 %q", p, auth, code, err, body, uniformNotFound)
			}
		}
	}
	// A Bearer token works as well as Basic authentication.
	if code, body, err := clientGet(m.Client, m.URL+"/corp.example/secret/@v/v1.0.0.info", "Bearer "+corpSecret); err != nil || code != 200 {
		t.Errorf("GET with a Bearer token: %d %v %s", code, err, body)
	}
	code, body, err := clientGet(m.Client, m.URL+"/sumdb/"+sumdbName+"/lookup/corp.example/secret@v1.0.0", "Bearer "+corpSecret)
	if err != nil || code != 200 || !strings.Contains(body, want[0]+"\n") {
		t.Errorf("lookup in the mirror's own checksum database with a token: %d %v\n%s\nwant the record %s", code, err, body, want[0])
	}

	// Public modules need no token.
	tlsGo(t, m, ca, sumdb, "").OK(t.TempDir(), "mod", "download", libPath+"@v1.0.0")

	// A revoked token is refused within seconds, by the running mirror.
	start := time.Now()
	tokenCmd(t, "revoke", "--data", data, corpID)
	waitFor(t, 10*time.Second, "the revocation to take effect", func() bool {
		code, _, _ := clientGet(m.Client, m.URL+"/corp.example/secret/@v/v1.0.0.mod", "Bearer "+corpSecret)
		return code == http.StatusNotFound
	})
	d := time.Since(start)
	t.Logf("the revocation took effect after %v", d.Round(time.Millisecond))
	if d > 5*time.Second {
		t.Errorf("the revocation took %v, want about 2s", d)
	}
	stderr := tlsGo(t, m, ca, sumdb, corpSecret).Fail(t.TempDir(), "mod", "download", secretPath+"@v1.1.0")
	if !strings.Contains(stderr, "404 Not Found") {
		t.Errorf("go mod download with a revoked token: stderr lacks 404:\n%s", stderr)
	}
	checkRefused(t, m, "corp.example/secret/@v/v1.1.0.info", corpID, "revoked_token")
	checkNoSecrets(t, m, corpSecret, otherSecret)
}

// TestAccessPublicToken: with --public-access token, the go command needs
// a valid token for public modules too (any token will do), and gets a 401
// without one.
func TestAccessPublicToken(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	_, secret := createToken(t, data, "public only", "")
	revokedID, revoked := createToken(t, data, "revoked", "")
	tokenCmd(t, "revoke", revokedID, "--data", data)
	up := newFixture(t)
	m, ca := startTLSMirror(t, up, data, "--public-access", "token")
	sumdb := up.VerifierKey()

	for _, tc := range []struct{ name, secret, id, reason string }{
		{"no .netrc", "", "", "no_token"},
		{"a revoked token", revoked, revokedID, "revoked_token"},
	} {
		stderr := tlsGo(t, m, ca, sumdb, tc.secret).Fail(t.TempDir(), "mod", "download", libPath+"@v1.0.0")
		if !strings.Contains(stderr, "401 Unauthorized") {
			t.Errorf("%s: go mod download of a public module: stderr lacks 401:\n%s", tc.name, stderr)
		}
		checkRefused(t, m, libPath, tc.id, tc.reason)
	}

	// With the token, public modules and their checksum database lookups
	// come through.
	out := tlsGo(t, m, ca, sumdb, secret).OK(t.TempDir(), "mod", "download", "-json", libPath+"@v1.0.0")
	want := up.GoSumLines(libPath, "v1.0.0")
	if mods := decodeDownloads(t, out); len(mods) != 1 || mods[0].Error != "" || libPath+" v1.0.0 "+mods[0].Sum != want[0] {
		t.Errorf("go mod download with a token: %s", out)
	}
	// /healthz stays open; /metrics, like every other answer, needs a
	// token (--metrics-access follows --public-access).
	if code, _, err := clientGet(m.Client, m.Root+"/healthz", ""); err != nil || code != 200 {
		t.Errorf("/healthz: %d %v", code, err)
	}
	if code, _, err := clientGet(m.Client, m.Root+"/metrics", ""); err != nil || code != http.StatusUnauthorized {
		t.Errorf("/metrics without a token: %d %v, want 401", code, err)
	}
	code, body, err := clientGet(m.Client, m.Root+"/metrics", "Bearer "+secret)
	if err != nil || code != 200 || !strings.Contains(body, `modmirror_access_refusals_total{access="public",reason="no_token"}`) {
		t.Errorf("/metrics with a token: %d %v, want the refusal counter", code, err)
	}
	checkNoSecrets(t, m, secret, revoked)
}

// TestAuditDataTiles checks that the data tiles of the mirror's own
// checksum database, which list every private module path, version and
// hash it recorded, are served only to a token made with --audit, with
// public access open or not; the go command needs no data tile, and
// "modmirror sumdb audit" works with hash tiles (and any token).
func TestAuditDataTiles(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	seedPrivate(t, data, privateModules...)
	_, corpSecret := createToken(t, data, "ci", "corp.example/*")
	up := newFixture(t)
	keyFile, vkey := keygen(t)
	for _, publicAccess := range []string{"open", "token"} {
		t.Run(publicAccess, func(t *testing.T) {
			m, ca := startTLSMirror(t, up, data, "--private", "corp.example", "--sumdb-key", keyFile, "--no-origin", "--public-access", publicAccess)
			_, plainSecret := createToken(t, data, "plain-"+publicAccess, "")
			out := tokenCmd(t, "create", "--data", data, "--name", "auditor-"+publicAccess, "--audit")
			if !strings.Contains(out, "the own checksum database's data tiles") {
				t.Errorf("token create --audit does not say what it allows:\n%s", out)
			}
			lines := strings.Split(strings.TrimSpace(out), "\n")
			auditSecret := lines[len(lines)-1]

			// The go command, as the client of the own database, records
			// the private module through a lookup.
			g := tlsGo(t, m, ca, vkey, corpSecret)
			g.env["GONOSUMDB"] = ""
			g.OK(t.TempDir(), "mod", "download", secretPath+"@v1.0.0")

			tile := "/sumdb/" + sumdbName + "/tile/8/data/000.p/"
			// The tree has a few records: find the partial tile's width.
			code, latest, err := clientGet(m.Client, m.URL+"/sumdb/"+sumdbName+"/latest", "Bearer "+corpSecret)
			if err != nil || code != 200 {
				t.Fatalf("latest: %d %v", code, err)
			}
			size := strings.Split(latest, "\n")[1]
			tile += size
			for _, auth := range []string{"", "Bearer " + corpSecret, "Bearer " + plainSecret, "Bearer mmt_madeup"} {
				code, body, err := clientGet(m.Client, m.URL+tile, auth)
				if err != nil || code != http.StatusNotFound || body != uniformNotFound {
					t.Errorf("GET %s with %.12q: %d %v %q; want the private not-found answer", tile, auth, code, err, body)
				}
			}
			code, body, err := clientGet(m.Client, m.URL+tile, "Bearer "+auditSecret)
			if err != nil || code != 200 || !strings.Contains(body, secretPath+" v1.0.0 h1:") {
				t.Errorf("GET %s with an --audit token: %d %v %q; want the records", tile, code, err, body)
			}
			// Hash tiles are for everyone who may read public paths.
			auth := ""
			if publicAccess == "token" {
				auth = "Bearer " + corpSecret
			}
			if code, _, err := clientGet(m.Client, m.URL+"/sumdb/"+sumdbName+"/tile/8/0/000.p/"+size, auth); err != nil || code != 200 {
				t.Errorf("hash tile: %d %v", code, err)
			}

			// modmirror sumdb audit, with the auditor's token in .netrc.
			home := t.TempDir()
			u, _ := url.Parse(m.URL)
			writeModule(t, home, map[string]string{".netrc": "machine " + u.Host + " login x password " + auditSecret + "\n"})
			for range 2 {
				cmd := exec.Command(modmirrorBin, "sumdb", "audit", "--sumdb", vkey, "--proxy", m.URL, "--state", filepath.Join(home, "state"))
				cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "SSL_CERT_FILE=" + ca.CAFile}
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Errorf("modmirror sumdb audit with an --audit token: %v\n%s", err, out)
				}
			}
			m.Stop(t)
		})
	}
}
