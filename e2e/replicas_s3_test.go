package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modmirror/modmirror/internal/testcert"
	"github.com/modmirror/modmirror/internal/testpostgres"
	"github.com/modmirror/modmirror/internal/tests3"
	"github.com/modmirror/modmirror/internal/testupstream"
	"github.com/modmirror/modmirror/s3store"
)

// A replicaSet is mirrors that share one bucket and one PostgreSQL
// database, as replicas behind a load balancer: --store s3://...
// --shared-db postgres://..., each with a data directory of its own. They
// serve HTTPS with certificates of one CA, and their own checksum
// database, in the shared database, with one key.
type replicaSet struct {
	up     *testupstream.Server
	bucket s3store.Config
	db     string
	ca     *testcert.CA
	vkey   string
	args   []string
	env    []string
}

// newReplicaSet makes the bucket and database of a replica set in front of
// up; db, if not empty, is the database URL the replicas use (a cutter's).
func newReplicaSet(t *testing.T, up *testupstream.Server, extra ...string) *replicaSet {
	t.Helper()
	rs := &replicaSet{up: up, bucket: tests3.Bucket(t, "go"), db: testpostgres.Database(t), ca: newTestCA(t), env: tests3.Env()}
	keyFile, vkey := keygen(t)
	rs.vkey = vkey
	rs.args = append([]string{
		"--store", rs.bucket.URL(),
		"--sumdb-key", keyFile,
		"--tls-cert", rs.ca.CertFile, "--tls-key", rs.ca.KeyFile,
	}, extra...)
	return rs
}

// start starts one replica, which reaches the shared database at db.
func (rs *replicaSet) start(t *testing.T, db string) *mirror {
	t.Helper()
	return startMirrorWrapped(t, rs.up, "", rs.ca.Client(), withEnv(rs.env...), append([]string{"--shared-db", db}, rs.args...)...)
}

// goCommand returns a go command for the replicas ms, which trusts their
// CA, checks modules against their own checksum database and sends
// secret, if not empty, to each of them from .netrc.
func (rs *replicaSet) goCommand(t *testing.T, secret string, ms ...*mirror) *goCommand {
	t.Helper()
	g := newGo(t, ms[0].URL, rs.vkey)
	g.env["SSL_CERT_FILE"] = rs.ca.CAFile
	var netrc strings.Builder
	for _, m := range ms {
		u, err := url.Parse(m.URL)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&netrc, "machine %s login x password %s\n", u.Host, secret)
	}
	if secret != "" {
		writeModule(t, g.env["HOME"], map[string]string{".netrc": netrc.String()})
	}
	return g
}

// TestReplicasOverS3AndPostgres runs two mirrors over one bucket and one
// PostgreSQL database, with a go command that goes to one, then the
// other. Each file is fetched from the upstream once, whichever replica
// is asked and however many ask at once; every object in the bucket is
// the upstream's file; a token made once works at both, and once revoked
// at neither.
func TestReplicasOverS3AndPostgres(t *testing.T) {
	t.Parallel()
	up := newFixture(t)
	rs := newReplicaSet(t, up, "--public-access", "token")
	a := rs.start(t, rs.db)
	b := rs.start(t, rs.db)
	id, secret := createTokenIn(t, []string{"--tokens-db", rs.db}, "ci", "")
	g := rs.goCommand(t, secret, a, b)

	versions := []string{libPath + "@v1.0.0", libPath + "@v1.1.0", azurePath + "@v1.0.0", legacyPath + "@" + legacyV2}
	for i, v := range versions {
		// Each version through one replica, then through the other, with
		// a fresh module cache each time: the second finds the files
		// the first stored, and the record it logged.
		for _, m := range []*mirror{[]*mirror{a, b}[i%2], []*mirror{b, a}[i%2]} {
			g.env["GOPROXY"] = m.URL
			g.env["GOMODCACHE"] = t.TempDir()
			g.OK(t.TempDir(), "mod", "download", v)
		}
	}

	// Many clients at once, at both replicas, for a zip that the
	// upstream is slow to send: one fetch all the same.
	up.SetFault("/"+libPath+"/@v/"+libPseudo+".zip", testupstream.Delay(time.Second))
	zipURL := "/" + libPath + "/@v/" + libPseudo + ".zip"
	var wg sync.WaitGroup
	bodies := make([]string, 16)
	for i := range bodies {
		wg.Go(func() {
			m := []*mirror{a, b}[i%2]
			code, body, err := clientGet(m.Client, m.URL+zipURL, "Bearer "+secret)
			if err != nil || code != 200 {
				t.Errorf("client %d: GET %s: %d %v\n%s", i, zipURL, code, err, body)
			}
			bodies[i] = body
		})
	}
	wg.Wait()
	for i := range bodies {
		if bodies[i] != bodies[0] {
			t.Errorf("client %d got %d bytes, client 0 %d", i, len(bodies[i]), len(bodies[0]))
		}
	}

	files := []string{zipURL}
	for _, v := range versions {
		path, version, _ := strings.Cut(v, "@")
		epath := strings.ReplaceAll(path, "Azure", "!azure")
		for _, ext := range []string{".info", ".mod", ".zip"} {
			files = append(files, "/"+epath+"/@v/"+version+ext)
		}
	}
	for _, f := range files {
		if n := up.Requests(f); n != 1 {
			t.Errorf("the upstream was asked for %s %d times, want 1", f, n)
		}
	}

	// What the bucket holds is what the upstream serves, byte for byte
	// (.info files aside: the mirror keeps only the canonical fields).
	objects := tests3.Objects(t, rs.bucket)
	for _, f := range files {
		if strings.HasSuffix(f, ".info") {
			if _, ok := objects[strings.TrimPrefix(f, "/")]; !ok {
				t.Errorf("no object for %s in the bucket", f)
			}
			continue
		}
		code, want, err := httpGet(up.URL + f)
		if err != nil || code != 200 {
			t.Fatalf("upstream %s: %d %v", f, code, err)
		}
		if got, ok := objects[strings.TrimPrefix(f, "/")]; !ok || !bytes.Equal(got, []byte(want)) {
			t.Errorf("object for %s: %d bytes (present %v), want the upstream's %d", f, len(got), ok, len(want))
		}
	}

	// A copy of the bucket is a GOPROXY=file:// tree, as a copy of a
	// data directory's store is (aws s3 sync, mc mirror).
	dir := t.TempDir()
	for key, data := range objects {
		writeModule(t, dir, map[string]string{key: string(data)})
	}
	offline := newGo(t, "file://"+dir, "off")
	for _, v := range versions {
		path, version, _ := strings.Cut(v, "@")
		var dl struct{ Sum, GoModSum string }
		if err := json.Unmarshal([]byte(offline.OK(t.TempDir(), "mod", "download", "-json", v)), &dl); err != nil {
			t.Fatal(err)
		}
		if got, want := path+" "+version+" "+dl.Sum, up.GoSumLines(path, version)[0]; got != want {
			t.Errorf("from a copy of the bucket, %s has hash %q, want %q", v, got, want)
		}
	}

	// A zip too large for the memory cache comes from the bucket, then
	// from each replica's disk cache, with ranges, ETags and HEAD as from
	// a file.
	up.Add(randomModule("example.com/large", "v1.0.0", 9, 300<<10))
	large := "/example.com/large/@v/v1.0.0.zip"
	var whole, etag, modified string
	// The first GET at each replica is from the bucket; each replica then
	// copies the zip to its disk cache (--disk-cache-mb, on by default over
	// S3), and serves the same bytes, ETag and Last-Modified from there.
	for i := range 8 {
		m := []*mirror{a, b}[i%2]
		if i >= 2 {
			time.Sleep(100 * time.Millisecond)
		}
		req, _ := http.NewRequest("GET", m.URL+large, nil)
		req.Header.Set("Authorization", "Bearer "+secret)
		resp, err := m.Client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if i == 0 {
			whole, etag, modified = string(body), resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")
		}
		if err != nil || resp.StatusCode != 200 || string(body) != whole || len(whole) < 300<<10 {
			t.Fatalf("GET %s at %s: %s, %d bytes, %v", large, m.URL, resp.Status, len(body), err)
		}
		if resp.Header.Get("ETag") != etag || resp.Header.Get("Last-Modified") != modified {
			t.Errorf("GET %s at %s: ETag %q, Last-Modified %q; first %q, %q", large, m.URL,
				resp.Header.Get("ETag"), resp.Header.Get("Last-Modified"), etag, modified)
		}
	}
	checkRanges(t, b, b.URL+large, "Bearer "+secret, whole)

	// A build through one replica, then the other.
	main := writeModule(t, t.TempDir(), map[string]string{
		"go.mod":  "module example.com/app\n\ngo 1.21\n\nrequire example.com/lib v1.1.0\n",
		"main.go": "package main\n\nimport (\n\t\"fmt\"\n\n\t\"example.com/lib\"\n)\n\nfunc main() { fmt.Println(lib.Hello()) }\n",
	})
	for _, m := range []*mirror{b, a} {
		g.env["GOPROXY"] = m.URL
		g.env["GOMODCACHE"] = t.TempDir()
		g.OK(main, "mod", "tidy")
		exe := filepath.Join(t.TempDir(), "app")
		g.OK(main, "build", "-o", exe, ".")
		if out := runProgram(t, exe); out != "hello from lib v1.1.0\n" {
			t.Errorf("the program built through %s prints %q", m.URL, out)
		}
	}

	// Revoked once, refused at both within the refresh interval.
	tokenCmd(t, "revoke", "--tokens-db", rs.db, id)
	for _, m := range []*mirror{a, b} {
		waitFor(t, 10*time.Second, "the revoked token to be refused at "+m.URL, func() bool {
			code, _, err := clientGet(m.Client, m.URL+zipURL, "Bearer "+secret)
			return err == nil && code == 401
		})
	}
	g.env["GOPROXY"] = b.URL
	g.env["GOMODCACHE"] = t.TempDir()
	if out := g.Fail(t.TempDir(), "mod", "download", libPath+"@v1.0.0"); !strings.Contains(out, "401 Unauthorized") {
		t.Errorf("go mod download with a revoked token does not say 401 Unauthorized:\n%s", out)
	}
}

// TestReplicaKilledDuringFills kills one of two replicas (SIGKILL, as a
// crash or the OOM killer would) while 100 requests for 20 files that
// neither has stored yet are in flight at both, ten times over, starting
// it again after each. Every answer the survivor gives is the upstream's
// file; every object in the bucket is a whole, verified file, never a
// part of one; and no file stays locked by the dead replica: both serve
// every one of them after. At the end the go command checks every module
// against the replicas' own checksum database.
func TestReplicaKilledDuringFills(t *testing.T) {
	t.Parallel()
	const rounds, modules, clients = 10, 10, 100
	up := newFixture(t)
	rs := newReplicaSet(t, up)
	a := rs.start(t, rs.db)
	b := rs.start(t, rs.db)

	var cut atomic.Int64        // requests the kill cut short
	want := map[string][]byte{} // store name -> the upstream's bytes
	var all []string            // path@version of every module
	for round := range rounds {
		var names []string
		for i := range modules {
			path := fmt.Sprintf("example.com/crash/m%d", i)
			version := fmt.Sprintf("v1.%d.0", round)
			up.Add(randomModule(path, version, uint64(round*modules+i), 256<<10))
			all = append(all, path+"@"+version)
			for _, ext := range []string{".mod", ".zip"} {
				name := path + "/@v/" + version + ext
				names = append(names, name)
				upstreamFile(t, up, name, want) // before the fault
				// Slow, unequally: fills end at different times, so that
				// the kill finds some fetching, some storing, some done.
				up.SetFault("/"+name, testupstream.Delay(time.Duration(i*40)*time.Millisecond))
			}
		}

		var wg sync.WaitGroup
		for i := range clients {
			name := names[i%len(names)]
			m := []*mirror{a, b}[(i/len(names))%2]
			wg.Go(func() {
				code, body, err := clientGet(m.Client, m.URL+"/"+name, "")
				if err != nil && m != b {
					cut.Add(1)
				}
				switch {
				case m == b && (err != nil || code != 200):
					t.Errorf("round %d: the surviving replica answered %s with %d %v\n%s", round, name, code, err, body)
				case err == nil && code == 200 && !bytes.Equal([]byte(body), upstreamFile(t, up, name, want)):
					t.Errorf("round %d: %s: served %d bytes that are not the upstream's", round, name, len(body))
				}
			})
		}
		time.Sleep(time.Duration(100+round*40) * time.Millisecond)
		a.Kill()
		wg.Wait()

		a = rs.start(t, rs.db)
		for _, name := range names {
			for _, m := range []*mirror{a, b} {
				code, body, err := clientGet(m.Client, m.URL+"/"+name, "")
				if err != nil || code != 200 || body != string(upstreamFile(t, up, name, want)) {
					t.Fatalf("round %d: after the kill, %s at %s: %d %v (%d bytes)", round, name, m.URL, code, err, len(body))
				}
			}
		}
		for key, data := range tests3.Objects(t, rs.bucket) {
			switch {
			case strings.HasSuffix(key, "/@v/list"):
				// The versions stored: each one added upstream.
				for _, v := range strings.Fields(string(data)) {
					if !slices.Contains(all, strings.TrimSuffix(key, "/@v/list")+"@"+v) {
						t.Fatalf("round %d: the list %s names %s, which no one added", round, key, v)
					}
				}
			case strings.HasSuffix(key, ".mod"), strings.HasSuffix(key, ".zip"), strings.Contains(key, "/tile/"):
				if !bytes.Equal(data, upstreamFile(t, up, key, want)) {
					t.Fatalf("round %d: the object %s (%d bytes) is not the upstream's file", round, key, len(data))
				}
			}
			// Neither an .info nor a checksum database lookup is the
			// upstream's bytes: the mirror keeps the canonical fields
			// of an .info, and a lookup answer holds whatever head the
			// log had when it was asked.
		}
	}

	// Else the kill came too late each time, and the test shows
	// nothing.
	if cut.Load() == 0 {
		t.Errorf("the kill cut no request short in %d rounds", rounds)
	}
	t.Logf("the kills cut %d of %d requests short", cut.Load(), rounds*clients/2)

	g := rs.goCommand(t, "", a)
	g.OK(t.TempDir(), append([]string{"mod", "download"}, all...)...)
}

// upstreamFile returns the upstream's file of a store name, read once
// (the name counts as one more request to the upstream) and kept in
// cache.
func upstreamFile(t *testing.T, up *testupstream.Server, name string, cache map[string][]byte) []byte {
	t.Helper()
	cacheMu.Lock()
	defer cacheMu.Unlock()
	if data, ok := cache[name]; ok {
		return data
	}
	code, body, err := httpGet(up.URL + "/" + name)
	if err != nil || code != 200 {
		t.Errorf("upstream %s: %d %v", name, code, err)
		return nil
	}
	cache[name] = []byte(body)
	return cache[name]
}

var cacheMu sync.Mutex

// checkRanges checks that url, whose content is whole, is served with an
// ETag that a conditional request matches, a Range, and a HEAD that gives
// its length.
func checkRanges(t *testing.T, m *mirror, url, auth string, whole string) {
	t.Helper()
	do := func(method string, header ...string) *http.Response {
		req, err := http.NewRequest(method, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", auth)
		for i := 0; i < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := m.Client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, url, err)
		}
		return resp
	}
	resp := do("HEAD")
	resp.Body.Close()
	etag := resp.Header.Get("ETag")
	if resp.StatusCode != 200 || resp.ContentLength != int64(len(whole)) || etag == "" {
		t.Errorf("HEAD %s: %s, length %d, ETag %q; want 200, %d and an ETag", url, resp.Status, resp.ContentLength, etag, len(whole))
	}
	resp = do("GET", "If-None-Match", etag)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotModified {
		t.Errorf("GET %s with If-None-Match its ETag: %s, want 304", url, resp.Status)
	}
	from, to := len(whole)/3, len(whole)/3+70000
	resp = do("GET", "Range", fmt.Sprintf("bytes=%d-%d", from, to-1))
	part, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusPartialContent || string(part) != whole[from:to] {
		t.Errorf("GET %s bytes %d-%d: %s, %d bytes (%v); want 206 and those bytes", url, from, to-1, resp.Status, len(part), err)
	}
}

// TestReplicasBurstOfMisses asks two replicas at once for the go.mod and
// the zip of more versions than a replica keeps connections to the shared
// database, none of them stored yet, each at both. A fill holds its fill
// lock's connection until it is done, and a go.mod's fill then took the
// module's list lock on a second connection: with every connection held
// by a fill that waited for a second one, the replicas answered nothing
// until the fills' time ran out. Every request must get the upstream's
// file, and the upstream is asked for each file once.
func TestReplicasBurstOfMisses(t *testing.T) {
	t.Parallel()
	const modules, clients = 80, 320
	up := newFixture(t)
	rs := newReplicaSet(t, up)
	a := rs.start(t, rs.db)
	b := rs.start(t, rs.db)
	want := map[string][]byte{}
	var names []string
	for i := range modules {
		path := fmt.Sprintf("example.com/burst/m%d", i)
		up.Add(randomModule(path, "v1.0.0", uint64(i), 16<<10))
		for _, ext := range []string{".mod", ".zip"} {
			name := path + "/@v/v1.0.0" + ext
			names = append(names, name)
			upstreamFile(t, up, name, want)
			// Slow enough that every fill is still running when the
			// last request arrives.
			up.SetFault("/"+name, testupstream.Delay(300*time.Millisecond))
		}
	}
	// The stall this test was written for answered nothing for a minute
	// (the fills' time); the test's 30 s is the only bound on a request.
	// Not the client's 10 s per request: 160 fills at once at each
	// replica, built with -race on two CPUs shared with the rest of the
	// suite, answer together (4 to 7 s with this test alone), and can
	// pass 10 s on a busy machine without anything being wrong.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for i := range clients {
		name := names[i%len(names)]
		m := []*mirror{a, b}[(i/len(names))%2]
		client := *m.Client
		client.Timeout = 0
		wg.Go(func() {
			req, err := http.NewRequestWithContext(ctx, "GET", m.URL+"/"+name, nil)
			if err != nil {
				t.Error(err)
				return
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Errorf("%s at %s: %v", name, m.URL, err)
				return
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			switch {
			case err != nil || resp.StatusCode != 200:
				t.Errorf("%s at %s: %s %v\n%.300s", name, m.URL, resp.Status, err, body)
			case !bytes.Equal(body, upstreamFile(t, up, name, want)):
				t.Errorf("%s at %s: %d bytes that are not the upstream's", name, m.URL, len(body))
			}
		})
	}
	wg.Wait()
	for _, name := range names {
		// One request by upstreamFile above, the rest by the replicas.
		if n := up.Requests("/" + name); n != 2 {
			t.Errorf("the upstream was asked for %s %d times by the replicas, want 1", name, n-1)
		}
	}
}
