package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modmirror/modmirror/access"
)

// runToken runs "modmirror token args..." and returns its standard output.
func runToken(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	var cmd command
	switch args[0] {
	case "create":
		cmd = &tokenCreateCommand{out: &out}
	case "list":
		cmd = &tokenListCommand{out: &out}
	case "revoke":
		cmd = &tokenRevokeCommand{out: &out}
	default:
		cmd = new(tokenCommand)
		return "", cmd.Run(context.Background(), args)
	}
	err := cmd.Run(context.Background(), args[1:])
	return out.String(), err
}

// createToken runs "modmirror token create" and returns the token's id and
// the secret printed on the last line.
func createToken(t *testing.T, data, name, allow string) (id, secret string) {
	t.Helper()
	out, err := runToken(t, "create", "--data", data, "--name", name, "--allow", allow)
	if err != nil {
		t.Fatalf("token create: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	secret = lines[len(lines)-1]
	if !strings.HasPrefix(secret, access.SecretPrefix) || len(secret) != len(access.SecretPrefix)+43 {
		t.Fatalf("token create's last line is %q, want a token\n%s", secret, out)
	}
	id, _, _ = strings.Cut(strings.TrimPrefix(out, "created token "), " ")
	return id, secret
}

func TestTokenCommand(t *testing.T) {
	data := t.TempDir()
	ciID, ciSecret := createToken(t, data, "ci", "corp.example/*, example.com/x")
	devID, devSecret := createToken(t, data, "dev laptop", "")

	db, err := os.ReadFile(tokenFile(data))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{ciSecret, devSecret} {
		if bytes.Contains(db, []byte(strings.TrimPrefix(s, access.SecretPrefix))) {
			t.Errorf("tokens.db holds a secret")
		}
	}

	out, err := runToken(t, "list", "--data", data)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ID", "ALLOW", ciID, "ci", "corp.example/*,example.com/x", devID, "dev laptop"} {
		if !strings.Contains(out, want) {
			t.Errorf("token list lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, access.SecretPrefix) || strings.Count(out, "valid") != 2 {
		t.Errorf("token list shows a secret, or not two valid tokens:\n%s", out)
	}

	// The id may come before or after the flags.
	out, err = runToken(t, "revoke", ciID, "--data", data)
	if err != nil || !strings.Contains(out, "revoked token "+ciID+" (ci)") {
		t.Errorf("token revoke: %v\n%s", err, out)
	}
	if out, err := runToken(t, "revoke", "--data", data, ciID); err != nil {
		t.Errorf("revoking twice: %v\n%s", err, out)
	}
	out, _ = runToken(t, "list", "--data", data)
	if !strings.Contains(out, "revoked 20") || strings.Count(out, "valid") != 1 {
		t.Errorf("token list after revoking %s:\n%s", ciID, out)
	}
	tok, err := openAndLookup(t, data, ciSecret)
	if err != nil || tok.Valid() {
		t.Errorf("the revoked token looks up as %+v, %v", tok, err)
	}

	if _, err := runToken(t, "revoke", "--data", data, "000000000000"); !errors.Is(err, access.ErrUnknownToken) {
		t.Errorf("revoking an unknown id: %v, want ErrUnknownToken", err)
	}
	var ue usageError
	for _, args := range [][]string{
		{"create", "--data", data},
		{"create", "--data", data, "--name", "x", "--allow", "corp.example/["},
		{"create", "--data", data, "--name", "x", "stray"},
		{"revoke", "--data", data},
		{"frobnicate"},
	} {
		if _, err := runToken(t, args...); !errors.As(err, &ue) {
			t.Errorf("token %q: %v, want a usage error", args, err)
		}
	}
	if _, err := runToken(t, "list", "--data", t.TempDir()); err == nil {
		t.Errorf("token list without a database succeeded")
	}

	t.Setenv("MODMIRROR_DATA", data)
	if out, err := runToken(t, "list"); err != nil || !strings.Contains(out, devID) {
		t.Errorf("token list with MODMIRROR_DATA: %v\n%s", err, out)
	}
}

func openAndLookup(t *testing.T, data, secret string) (access.Token, error) {
	db, err := access.OpenTokenDB(tokenFile(data))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	return db.Lookup(context.Background(), access.HashSecret(secret))
}

// serveHandler builds serve's handler from args, with nothing upstream.
// It is closed at cleanup, or earlier by stop, which another handler over
// the same data directory needs (the directory has a lock).
func serveHandler(t *testing.T, args ...string) (h http.Handler, log *bytes.Buffer, stop func(), err error) {
	t.Helper()
	c := new(serveCommand)
	if _, err := c.flags().parse(append([]string{"--upstream", "off", "--sumdb", "off"}, args...), noArgs); err != nil {
		t.Fatal(err)
	}
	log = new(bytes.Buffer)
	h, _, closeAll, err := c.handler(context.Background(), slog.New(slog.NewJSONHandler(log, nil)))
	if err != nil {
		return nil, log, nil, err
	}
	stop = sync.OnceFunc(closeAll)
	t.Cleanup(stop)
	return h, log, stop, nil
}

func get(h http.Handler, path, bearer string) *httptest.ResponseRecorder {
	r := httptest.NewRequest("GET", path, nil)
	if bearer != "" {
		r.Header.Set("Authorization", "Bearer "+bearer)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// TestServeAccess checks serve's wiring of access control: the flags, the
// token database, the base path, and what stays open.
func TestServeAccess(t *testing.T) {
	data := t.TempDir()
	_, corp := createToken(t, data, "corp", "corp.example")
	_, public := createToken(t, data, "public", "")
	uniform := "not found: " + access.PrivateNotFound + "\n"

	h, log, stop, err := serveHandler(t, "--data", data, "--private", "corp.example", "--base-path", "/go", "--no-origin")
	if err != nil {
		t.Fatal(err)
	}
	const secret = "/go/corp.example/secret/@v/list"
	for _, tok := range []string{"", public, "mmt_madeup"} {
		if w := get(h, secret, tok); w.Code != 404 || w.Body.String() != uniform {
			t.Errorf("GET %s with %.8q: %d %q, want the uniform 404", secret, tok, w.Code, w.Body)
		}
	}
	// With the token, the mirror answers: it has no such module, and
	// says so with the same text.
	if w := get(h, secret, corp); w.Code != 404 || w.Body.String() != uniform {
		t.Errorf("GET %s with a token for it: %d %q, want the mirror's own 404, in the same words", secret, w.Code, w.Body)
	}
	if w := get(h, "/go/example.com/lib/@v/list", ""); w.Code != 404 {
		t.Errorf("public module, public access open: %d %q, want the mirror's 404 (it is offline)", w.Code, w.Body)
	}
	if w := get(h, "/healthz", ""); w.Code != 200 {
		t.Errorf("/healthz: %d", w.Code)
	}
	if w := get(h, "/metrics", ""); !strings.Contains(w.Body.String(), `modmirror_access_refusals_total{access="private",reason="no_token"} 1`) {
		t.Errorf("/metrics lacks the refusal:\n%s", w.Body)
	}
	if !strings.Contains(log.String(), `"msg":"access control"`) || !strings.Contains(log.String(), `"valid_tokens":2`) {
		t.Errorf("start-up log lacks the access control line:\n%s", log)
	}

	stop()
	h, _, stop, err = serveHandler(t, "--data", data, "--public-access", "token")
	if err != nil {
		t.Fatal(err)
	}
	if w := get(h, "/example.com/lib/@v/list", ""); w.Code != 401 || w.Header().Get("WWW-Authenticate") == "" {
		t.Errorf("public module, public access token, no token: %d %v", w.Code, w.Header())
	}
	if w := get(h, "/example.com/lib/@v/list", public); w.Code != 404 {
		t.Errorf("public module, public access token, a token: %d %q, want the mirror's 404", w.Code, w.Body)
	}
	// /metrics follows --public-access unless --metrics-access says
	// otherwise.
	if w := get(h, "/metrics", ""); w.Code != 401 {
		t.Errorf("/metrics with public access token, no token: %d, want 401", w.Code)
	}
	if w := get(h, "/metrics", public); w.Code != 200 || !strings.Contains(w.Body.String(), "modmirror_http_requests_total") {
		t.Errorf("/metrics with public access token, a token: %d", w.Code)
	}
	stop()
	h, _, stop, err = serveHandler(t, "--data", data, "--metrics-access", "token")
	if err != nil {
		t.Fatal(err)
	}
	if w := get(h, "/metrics", ""); w.Code != 401 {
		t.Errorf("/metrics with --metrics-access token, no token: %d, want 401", w.Code)
	}
	if w := get(h, "/example.com/lib/@v/list", ""); w.Code != 404 {
		t.Errorf("public module with --metrics-access token only: %d, want the mirror's 404", w.Code)
	}
	stop()
	c := new(serveCommand)
	c.flags().parse([]string{"--upstream", "off", "--sumdb", "off", "--data", data, "--metrics-listen", "127.0.0.1:0"}, noArgs)
	main, metrics, closeAll, err := c.handler(context.Background(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if w := get(main, "/metrics", ""); w.Code == 200 {
		t.Errorf("/metrics on the main address with --metrics-listen: %d", w.Code)
	}
	if w := get(metrics, "/metrics", ""); w.Code != 200 {
		t.Errorf("/metrics on --metrics-listen: %d", w.Code)
	}
	closeAll()

	// Nothing needs a token: no token database is made.
	empty := t.TempDir()
	h, _, _, err = serveHandler(t, "--data", empty)
	if err != nil {
		t.Fatal(err)
	}
	if w := get(h, "/example.com/lib/@v/list", ""); w.Code != 404 {
		t.Errorf("no access control: %d %q", w.Code, w.Body)
	}
	if _, err := os.Stat(tokenFile(empty)); err == nil {
		t.Errorf("serve made %s with no access control", tokenFile(empty))
	}
	// Private modules open to all, by choice.
	h, _, _, err = serveHandler(t, "--data", t.TempDir(), "--private", "corp.example", "--private-access", "open", "--no-origin")
	if err != nil {
		t.Fatal(err)
	}
	if w := get(h, secret[len("/go"):], ""); w.Code != 404 || w.Body.String() != uniform {
		t.Errorf("--private-access open: %d %q, want the mirror's own 404", w.Code, w.Body)
	}

	var ue usageError
	for _, args := range [][]string{{"--public-access", "closed"}, {"--private-access", "nobody", "--private", "x.example"}} {
		if _, _, _, err := serveHandler(t, append([]string{"--data", t.TempDir()}, args...)...); !errors.As(err, &ue) {
			t.Errorf("serve %q: %v, want a usage error", args, err)
		}
	}
}

// TestServeTLS serves HTTPS from --tls-cert and --tls-key files.
func TestServeTLS(t *testing.T) {
	certFile, keyFile, pool := writeTestCert(t)
	var tf tlsFlags
	if err := (&tlsFlags{cert: certFile}).load(); !errors.As(err, new(usageError)) {
		t.Errorf("--tls-cert without --tls-key: %v, want a usage error", err)
	}
	if err := (&tlsFlags{cert: keyFile, key: keyFile}).load(); err == nil {
		t.Errorf("a key as certificate: loaded")
	}
	if err := tf.load(); err != nil || tf.scheme() != "http" {
		t.Fatalf("no TLS flags: %v, scheme %s", err, tf.scheme())
	}
	tf = tlsFlags{cert: certFile, key: keyFile}
	if err := tf.load(); err != nil {
		t.Fatal(err)
	}
	if tf.scheme() != "https" {
		t.Errorf("scheme %q, want https", tf.scheme())
	}
	for _, tt := range []struct {
		args  []string
		proto string
	}{
		{nil, "HTTP/2.0"},
		{[]string{"--http2=true"}, "HTTP/2.0"},
		{[]string{"--http2=false"}, "HTTP/1.1"},
	} {
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		tf := tlsFlags{}
		tf.register(fs)
		if err := fs.Parse(append([]string{"--tls-cert", certFile, "--tls-key", keyFile}, tt.args...)); err != nil {
			t.Fatal(err)
		}
		if err := tf.load(); err != nil {
			t.Fatal(err)
		}
		if got := serveProto(t, &tf, pool); got != tt.proto {
			t.Errorf("%q: served over %s, want %s", tt.args, got, tt.proto)
		}
	}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	(&tlsFlags{}).register(fs)
	if err := fs.Parse([]string{"--http2=maybe"}); err == nil {
		t.Errorf("--http2=maybe: parsed")
	}
}

// serveProto serves HTTPS with tf and returns the protocol that a client
// offering HTTP/2 and HTTP/1.1 was served with.
func serveProto(t *testing.T, tf *tlsFlags, pool *x509.CertPool) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Proto)
	})}
	done := make(chan error, 1)
	go func() { done <- tf.serve(srv, ln) }()
	defer func() {
		srv.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
	}()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: pool},
		ForceAttemptHTTP2: true,
	}}
	resp, err := client.Get("https://" + ln.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return string(body)
}

// writeTestCert writes the certificate and key of net/http/httptest's TLS
// servers (for 127.0.0.1 and localhost) to files, and returns a pool that
// trusts it.
func writeTestCert(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.NotFoundHandler())
	srv.StartTLS()
	srv.Close()
	cert := srv.TLS.Certificates[0]
	key, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key}), 0o600); err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(leaf)
	return certFile, keyFile, pool
}
