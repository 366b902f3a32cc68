package e2e

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/modmirror/modmirror/internal/tests3"
	"github.com/modmirror/modmirror/s3store"
)

// get fetches url with the mirror's client and returns the response with
// its body read.
func get(t *testing.T, m *mirror, url string) (*http.Response, string) {
	t.Helper()
	resp, err := m.Client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp, string(b)
}

// checkUnavailable fails the test unless the response is a 503 that asks
// to try again and says what is unavailable (what), and no more: not the
// hosts, bucket or database behind it (secrets).
func checkUnavailable(t *testing.T, url string, resp *http.Response, body, what string, secrets ...string) {
	t.Helper()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Errorf("GET %s: %s (Retry-After %q), want 503 with a Retry-After", url, resp.Status, resp.Header.Get("Retry-After"))
	}
	if want := what + " unavailable; try again later\n"; body != want {
		t.Errorf("GET %s: body %q, want %q", url, body, want)
	}
	for _, s := range secrets {
		if strings.Contains(body, s) {
			t.Errorf("GET %s: the body shows %q", url, s)
		}
	}
}

// waitReady waits until the mirror's /readyz answers 200.
func waitReady(t *testing.T, m *mirror) {
	t.Helper()
	waitFor(t, 30*time.Second, "/readyz to answer 200", func() bool {
		code, _, err := clientGet(m.Client, m.Root+"/readyz", "")
		return err == nil && code == 200
	})
}

// TestStoreOutage stops the MinIO server under a mirror: files it served
// before come from its memory cache all the same; a file it has not
// stored gets a 503 that says the storage is unavailable, without asking
// the upstream for it, and so does the go command; /readyz says 503,
// naming the store. Once MinIO is back, so is everything.
func TestStoreOutage(t *testing.T) {
	t.Parallel()
	srv := tests3.Start(t)
	up := newFixture(t)
	bucket := "mods"
	store := s3store.Config{Endpoint: srv.Endpoint(), Bucket: bucket, Insecure: true, CreateBucket: true}.URL()
	m := startMirrorWrapped(t, up, "", nil, withEnv(srv.Env()...), "--store", store)
	g := newGo(t, m.URL, up.VerifierKey())
	g.OK(t.TempDir(), "mod", "download", libPath+"@v1.0.0")
	waitReady(t, m)

	stored := map[string]string{}
	for _, ext := range []string{".info", ".mod", ".zip"} {
		url := m.URL + "/" + libPath + "/@v/v1.0.0" + ext
		resp, body := get(t, m, url)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %s", url, resp.Status)
		}
		stored[url] = body
	}

	srv.Stop()
	for url, want := range stored {
		if resp, body := get(t, m, url); resp.StatusCode != 200 || body != want {
			t.Errorf("with the store down, GET %s: %s, %d bytes; want 200 and the %d bytes served before, from memory", url, resp.Status, len(body), len(want))
		}
	}
	zip := "/" + libPath + "/@v/v1.1.0.zip"
	resp, body := get(t, m, m.URL+zip)
	checkUnavailable(t, zip, resp, body, "storage", srv.Endpoint(), bucket)
	if n := up.Requests(zip); n != 0 {
		t.Errorf("with the store down, the mirror asked the upstream for %s %d times, want 0", zip, n)
	}
	g.env["GOMODCACHE"] = t.TempDir()
	out := g.Fail(t.TempDir(), "mod", "download", libPath+"@v1.1.0")
	if !strings.Contains(out, "503 Service Unavailable") || !strings.Contains(out, "unavailable; try again later") {
		t.Errorf("go mod download with the store down does not say 503 and why:\n%s", out)
	}
	resp, body = get(t, m, m.Root+"/readyz")
	if resp.StatusCode != 503 || body != "not ready:\nstore: connection refused\n" {
		t.Errorf("/readyz with the store down: %s %q, want 503 naming the store", resp.Status, body)
	}
	waitFor(t, 5*time.Second, "a log record of the store going down", func() bool {
		for _, rec := range m.log.Records() {
			if rec["msg"] == "not ready" && rec["dependency"] == "store" {
				return true
			}
		}
		return false
	})

	srv.Restart()
	waitReady(t, m)
	g.OK(t.TempDir(), "mod", "download", libPath+"@v1.1.0")
}

// TestSharedDatabaseOutage cuts the network between a replica and its
// PostgreSQL database (--shared-db, which also holds its own checksum
// database): files it has stored are served; a fill, which needs the
// database's lock, and a lookup of a version the own checksum database
// has not recorded get a 503 saying what is down; /readyz names the
// database. Once the network is back, everything works, and the versions
// the own checksum database acknowledged before are there, at the same
// place in the log.
func TestSharedDatabaseOutage(t *testing.T) {
	t.Parallel()
	up := newFixture(t)
	rs := newReplicaSet(t, up)
	cut, db := newCutter(t, rs.db)
	m := rs.start(t, db)
	g := rs.goCommand(t, "", m)
	g.OK(t.TempDir(), "mod", "download", libPath+"@v1.0.0")
	lookup := m.URL + "/sumdb/" + sumdbName + "/lookup/" + libPath + "@v1.0.0"
	resp, before := get(t, m, lookup)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s\n%s", lookup, resp.Status, before)
	}
	waitReady(t, m)

	cut.Cut()
	zip := "/" + libPath + "/@v/v1.0.0.zip"
	if resp, _ := get(t, m, m.URL+zip); resp.StatusCode != 200 {
		t.Errorf("with the database cut off, GET %s (stored): %s, want 200", zip, resp.Status)
	}
	zip = "/" + libPath + "/@v/v1.1.0.zip"
	resp, body := get(t, m, m.URL+zip)
	checkUnavailable(t, zip, resp, body, "shared database", rs.db, "modmirror_test_")
	newLookup := m.URL + "/sumdb/" + sumdbName + "/lookup/github.com/!azure/go-greeter@v1.0.0"
	resp, body = get(t, m, newLookup)
	if resp.StatusCode != 503 || !strings.HasSuffix(body, "unavailable; try again later\n") || strings.Contains(body, "modmirror_test_") {
		t.Errorf("with the database cut off, GET %s: %s %q, want a 503 that says what is unavailable", newLookup, resp.Status, body)
	}
	g.env["GOMODCACHE"] = t.TempDir()
	if out := g.Fail(t.TempDir(), "mod", "download", libPath+"@v1.1.0"); !strings.Contains(out, "503 Service Unavailable") {
		t.Errorf("go mod download with the database cut off does not say 503:\n%s", out)
	}
	resp, body = get(t, m, m.Root+"/readyz")
	if resp.StatusCode != 503 || !strings.Contains(body, "\nshared database: ") || strings.Contains(body, "modmirror_test_") {
		t.Errorf("/readyz with the database cut off: %s %q, want 503 naming the shared database only", resp.Status, body)
	}

	cut.Restore()
	waitReady(t, m)
	// The same GOPATH: the go command checks that the log it sees now
	// extends the one it saw before the cut.
	g.env["GOMODCACHE"] = t.TempDir()
	g.OK(t.TempDir(), "mod", "download", libPath+"@v1.1.0", azurePath+"@v1.0.0", libPath+"@v1.0.0")
	_, after := get(t, m, lookup)
	if id := func(s string) string { return strings.SplitN(s, "\n\n", 2)[0] }; id(after) != id(before) {
		t.Errorf("after the outage the own checksum database has %s as\n%s\nwant, as before it,\n%s", libPath+"@v1.0.0", id(after), id(before))
	}
}
