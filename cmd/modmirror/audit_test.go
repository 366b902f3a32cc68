package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/modmirror/modmirror"
	"github.com/modmirror/modmirror/internal/testsumdb"
	"github.com/modmirror/modmirror/internal/testupstream"
	"github.com/modmirror/modmirror/internal/umask"
)

const testDBName = "sum.test"

// A testSumDB is a test checksum database that counts the requests it
// answers and can be made to serve a stale head and to drop partial tiles.
type testSumDB struct {
	*testsumdb.DB
	key testsumdb.Key

	mu       sync.Mutex
	requests map[string]int // by URL path
	// latest, if set, is served as /latest instead of the current head:
	// a database whose log grew after the head was read.
	latest []byte
	// dropCompletedPartials makes partial tiles whose full tile exists
	// answer 404, as a server that keeps only full tiles once they exist.
	dropCompletedPartials bool
}

func newTestSumDB(t *testing.T, key testsumdb.Key, salt string) *testSumDB {
	t.Helper()
	db := &testSumDB{key: key, requests: make(map[string]int)}
	db.DB = testsumdb.New(t, key, salt, db.handler)
	return db
}

func (db *testSumDB) handler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		db.mu.Lock()
		db.requests[r.URL.Path]++
		latest, drop := db.latest, db.dropCompletedPartials
		db.mu.Unlock()
		if r.URL.Path == "/latest" && latest != nil {
			w.Write(latest)
			return
		}
		if drop {
			if tile, err := tlog.ParseTilePath(strings.TrimPrefix(r.URL.Path, "/")); err == nil && tile.W < 1<<tile.H {
				width := db.size() >> (tile.L * tile.H)
				if (tile.N+1)<<tile.H <= width {
					http.Error(w, "not found: partial tile of a full one", http.StatusNotFound)
					return
				}
			}
		}
		h.ServeHTTP(w, r)
	})
}

// goSumLines returns the go.sum lines of path@version that the database logs.
func (db *testSumDB) goSumLines(path, version string) []string {
	return []string{path + " " + version + " " + db.Hash(path, version), path + " " + version + "/go.mod " + db.Hash(path, version+"/go.mod")}
}

// signed returns the database's current signed tree head and its tree.
func (db *testSumDB) signed(t *testing.T) ([]byte, tlog.Tree) {
	t.Helper()
	msg, err := db.Ops.Signed(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return msg, parseSigned(t, db.key.Verifier, msg)
}

// size returns the number of records in the log.
func (db *testSumDB) size() int64 {
	msg, err := db.Ops.Signed(context.Background())
	if err != nil {
		panic(err)
	}
	text, _, _ := strings.Cut(string(msg), "\n\n")
	tree, err := tlog.ParseTree([]byte(text + "\n"))
	if err != nil {
		panic(err)
	}
	return tree.N
}

func (db *testSumDB) count(path string) int {
	db.mu.Lock()
	defer db.mu.Unlock()
	return db.requests[path]
}

// parseSigned returns the tree of a signed tree head, failing the test
// unless it is signed with vkey.
func parseSigned(t *testing.T, vkey string, msg []byte) tlog.Tree {
	t.Helper()
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		t.Fatalf("signed tree head %q: %v", msg, err)
	}
	tree, err := tlog.ParseTree([]byte(n.Text))
	if err != nil {
		t.Fatal(err)
	}
	return tree
}

// runAudit runs the audit command with args and returns what it printed.
func runAudit(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := (&auditCommand{stdout: &out}).Run(context.Background(), args)
	return out.String(), err
}

func readFile(t *testing.T, file string) []byte {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// lookUp makes the fixture's checksum database log path@version, as a
// go command would, so that its log grows.
func lookUp(t *testing.T, srv *testupstream.Server, path, version string) {
	t.Helper()
	resp, err := http.Get(srv.URL + "/sumdb/" + srv.SumDBName() + "/lookup/" + path + "@" + version)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("lookup %s@%s: %s %s", path, version, resp.Status, body)
	}
}

// TestAuditFixture audits the fixture upstream's checksum database through
// its /sumdb/ endpoint while its log grows.
func TestAuditFixture(t *testing.T) {
	// The state file's mode is checked under the usual umask: the tests
	// before this one run commands that open a data directory in this
	// process, and opening one sets the process's umask (datadir).
	defer umask.Set(umask.Get())
	umask.Set(0o022)
	mod := func(i int) testupstream.Module {
		p := fmt.Sprintf("example.com/m%d", i)
		return testupstream.Module{Path: p, Version: "v1.0.0", Files: map[string]string{"go.mod": "module " + p + "\n"}}
	}
	srv := testupstream.New(t, mod(0))
	lookUp(t, srv, "example.com/m0", "v1.0.0")
	state := filepath.Join(t.TempDir(), "deep", "dir", "latest")
	args := []string{"--proxy", srv.URL, "--sumdb", srv.VerifierKey(), "--state", state}
	latestURL := srv.URL + "/sumdb/" + srv.SumDBName() + "/latest"

	out, err := runAudit(t, args...)
	if err != nil {
		t.Fatalf("first audit: %v\n%s", err, out)
	}
	if !strings.HasPrefix(out, "first head recorded: tree 1 ") {
		t.Errorf("first audit printed %q, want first head recorded: tree 1", out)
	}
	first := readFile(t, state)
	if tree := parseSigned(t, srv.VerifierKey(), first); tree.N != 1 {
		t.Errorf("recorded tree has %d records, want 1", tree.N)
	}
	if fi, err := os.Stat(state); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("state file: %v, mode %v; want 0644", err, fi.Mode())
	}

	// The log grows past a full tile, so that the proof needs hashes from
	// more than one tile level.
	for i := 1; i < 300; i++ {
		srv.Add(mod(i))
		lookUp(t, srv, fmt.Sprintf("example.com/m%d", i), "v1.0.0")
	}
	out, err = runAudit(t, args...)
	if err != nil {
		t.Fatalf("audit after growth: %v\n%s", err, out)
	}
	if !strings.HasPrefix(out, "ok: tree 1 -> 300 consistent") {
		t.Errorf("audit after growth printed %q, want ok: tree 1 -> 300 consistent", out)
	}
	if got, want := string(readFile(t, state)), string(get200(t, latestURL)); got != want {
		t.Errorf("state after growth:\n%s\nwant the database's /latest:\n%s", got, want)
	}

	out, err = runAudit(t, args...)
	if err != nil || !strings.HasPrefix(out, "ok: tree 300 -> 300 consistent") {
		t.Errorf("audit of an unchanged log: %v, %q", err, out)
	}
	if srv.Requests("/sumdb/"+srv.SumDBName()+"/tile/8/1/000.p/1") == 0 {
		t.Error("the audit read no level-1 tile")
	}
}

func get200(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %v", url, resp.Status, err)
	}
	return body
}

// TestAuditFork checks that forks and rollbacks of a log signed with the
// same key are caught, reported with a proof that checks, and leave the
// state as it was.
func TestAuditFork(t *testing.T) {
	key := testsumdb.NewKey(t, testDBName)
	db := newTestSumDB(t, key, "a")
	db.Grow(t, 10)
	state := filepath.Join(t.TempDir(), "latest")
	// The URL form: the proxy is never asked.
	audit := func(db *testSumDB) (string, error) {
		return runAudit(t, "--sumdb", key.Verifier+" "+db.URL, "--proxy", "off", "--state", state)
	}
	if out, err := audit(db); err != nil || !strings.HasPrefix(out, "first head recorded: tree 10 ") {
		t.Fatalf("first audit: %v, %q", err, out)
	}
	db.Grow(t, 10)
	if out, err := audit(db); err != nil || !strings.HasPrefix(out, "ok: tree 10 -> 20 consistent") {
		t.Fatalf("audit after growth: %v, %q", err, out)
	}
	before := readFile(t, state)
	oldTree := parseSigned(t, key.Verifier, before)

	for _, tc := range []struct {
		name  string
		salt  string
		size  int
		proof bool // whether the report has a consistency proof; a smaller tree has none
	}{
		{"fork", "b", 30, true},
		{"fork of the same size", "c", 20, true},
		{"fork that is smaller", "d", 15, false},
		{"rollback", "a", 5, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fork := newTestSumDB(t, key, tc.salt)
			fork.Grow(t, tc.size)
			forkMsg, forkTree := fork.signed(t)
			out, err := audit(fork)
			if !errors.Is(err, modmirror.ErrSecurity) {
				t.Fatalf("audit of a fork: error %v, want ErrSecurity\n%s", err, out)
			}
			if !strings.Contains(err.Error(), "left unchanged") {
				t.Errorf("error %q does not say the state is left unchanged", err)
			}
			if !strings.HasPrefix(out, "SECURITY ERROR\n") {
				t.Errorf("report does not start with SECURITY ERROR:\n%s", out)
			}
			indent := func(b []byte) string {
				return "\t" + strings.ReplaceAll(strings.TrimSuffix(string(b), "\n"), "\n", "\n\t")
			}
			for _, want := range []string{indent(before), indent(forkMsg)} {
				if !strings.Contains(out, want) {
					t.Errorf("report lacks the signed tree head\n%s\nreport:\n%s", want, out)
				}
			}
			if after := readFile(t, state); !bytes.Equal(after, before) {
				t.Errorf("state changed after a security error:\n%s", after)
			}
			if !tc.proof {
				if !strings.Contains(out, "rolled back") {
					t.Errorf("rollback report does not say so:\n%s", out)
				}
				return
			}
			// The report proves the fork: the printed proof shows that
			// the new tree's first oldTree.N records hash to h, and h is
			// not the old tree's hash.
			h, proof := parseReport(t, out)
			if h == oldTree.Hash {
				t.Fatalf("reported hash %s is the old tree's", h)
			}
			if err := tlog.CheckTree(proof, forkTree.N, forkTree.Hash, oldTree.N, h); err != nil {
				t.Errorf("reported proof does not check: %v\n%s", err, out)
			}
			if err := tlog.CheckTree(proof, forkTree.N, forkTree.Hash, oldTree.N, oldTree.Hash); err == nil {
				t.Errorf("reported proof proves consistency with the old tree")
			}
		})
	}

	// The state survived: the real log, grown, still audits.
	db.Grow(t, 5)
	if out, err := audit(db); err != nil || !strings.HasPrefix(out, "ok: tree 20 -> 25 consistent") {
		t.Errorf("audit of the real log after the forks: %v, %q", err, out)
	}
}

// parseReport returns the hash and proof hashes of a SECURITY ERROR report.
func parseReport(t *testing.T, report string) (tlog.Hash, tlog.TreeProof) {
	t.Helper()
	lines := strings.Split(report, "\n")
	var h tlog.Hash
	var proof tlog.TreeProof
	var err error
	for i, line := range lines {
		switch {
		case strings.Contains(line, "records of the new tree hash to"):
			if h, err = tlog.ParseHash(strings.TrimSpace(lines[i+1])); err != nil {
				t.Fatalf("report: %v\n%s", err, report)
			}
		case strings.HasPrefix(line, "consistency proof of tree"):
			for _, l := range lines[i+1:] {
				if !strings.HasPrefix(l, "\t") {
					break
				}
				p, err := tlog.ParseHash(l[1:])
				if err != nil {
					t.Fatalf("report: proof line %q: %v", l, err)
				}
				proof = append(proof, p)
			}
			return h, proof
		}
	}
	t.Fatalf("report has no consistency proof:\n%s", report)
	return h, nil
}

// TestAuditPartialTiles checks that a partial tile that the server no
// longer has is cut from the full one, as the go command does.
func TestAuditPartialTiles(t *testing.T) {
	key := testsumdb.NewKey(t, testDBName)
	db := newTestSumDB(t, key, "a")
	db.Grow(t, 10)
	state := filepath.Join(t.TempDir(), "latest")
	args := []string{"--sumdb", key.Verifier + " " + db.URL + "/", "--state", state}
	if _, err := runAudit(t, args...); err != nil {
		t.Fatal(err)
	}
	// The head read is for 300 records, whose tree needs tile 0/001.p/44;
	// by the time the tiles are read, the log has 600, and 0/001 is full.
	db.Grow(t, 290)
	latest, _ := db.signed(t)
	db.Grow(t, 300)
	db.mu.Lock()
	db.latest, db.dropCompletedPartials = latest, true
	db.mu.Unlock()

	out, err := runAudit(t, args...)
	if err != nil || !strings.HasPrefix(out, "ok: tree 10 -> 300 consistent") {
		t.Fatalf("audit: %v, %q", err, out)
	}
	if db.count("/tile/8/0/001.p/44") == 0 || db.count("/tile/8/0/001") == 0 {
		t.Errorf("requests for 0/001.p/44: %d, for 0/001: %d; want the partial tile tried, then the full one",
			db.count("/tile/8/0/001.p/44"), db.count("/tile/8/0/001"))
	}
	if !bytes.Equal(readFile(t, state), latest) {
		t.Error("state is not the head that was audited")
	}
}

func TestAuditErrors(t *testing.T) {
	key := testsumdb.NewKey(t, testDBName)
	db := newTestSumDB(t, key, "a")
	db.Grow(t, 3)
	dir := t.TempDir()

	// A key the database does not sign with: nothing is recorded.
	other := testsumdb.NewKey(t, testDBName)
	state := filepath.Join(dir, "other")
	if out, err := runAudit(t, "--sumdb", other.Verifier+" "+db.URL, "--state", state); err == nil || !strings.Contains(err.Error(), "does not verify") {
		t.Errorf("audit with the wrong key: %v, %q", err, out)
	}
	if _, err := os.Stat(state); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("audit with the wrong key wrote the state file: %v", err)
	}

	// A state file signed by another key is not trusted, nor replaced.
	otherDB := newTestSumDB(t, other, "a")
	otherDB.Grow(t, 3)
	if _, err := runAudit(t, "--sumdb", other.Verifier+" "+otherDB.URL, "--state", state); err != nil {
		t.Fatal(err)
	}
	bad := readFile(t, state)
	if _, err := runAudit(t, "--sumdb", key.Verifier+" "+db.URL, "--state", state); err == nil || !strings.Contains(err.Error(), "state file") {
		t.Errorf("audit with a state file of another key: %v", err)
	}
	if !bytes.Equal(readFile(t, state), bad) {
		t.Error("state file of another key replaced")
	}

	// An unreachable database.
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	if _, err := runAudit(t, "--sumdb", key.Verifier, "--proxy", dead.URL, "--state", filepath.Join(dir, "dead")); err == nil || !strings.Contains(err.Error(), "could not be reached") {
		t.Errorf("audit of an unreachable database: %v", err)
	}

	var ue usageError
	t.Setenv("GOSUMDB", "")
	for _, args := range [][]string{
		{},
		{"--sumdb", "off"},
		{"--sumdb", "sum.example"},
		{"--sumdb", key.Verifier + " ftp://x"},
		{"--sumdb", key.Verifier, "extra"},
	} {
		if _, err := runAudit(t, args...); !errors.As(err, &ue) {
			t.Errorf("audit %q: %v, want a usage error", args, err)
		}
	}
}

// TestAuditDefaultState checks where the state goes by default.
func TestAuditDefaultState(t *testing.T) {
	key := testsumdb.NewKey(t, testDBName)
	db := newTestSumDB(t, key, "a")
	db.Grow(t, 1)
	config := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", config)
	t.Setenv("GOSUMDB", key.Verifier+" "+db.URL)
	if out, err := runAudit(t); err != nil {
		t.Fatalf("audit: %v, %q", err, out)
	}
	state := filepath.Join(config, "modmirror", "audit", testDBName, "latest")
	if tree := parseSigned(t, key.Verifier, readFile(t, state)); tree.N != 1 {
		t.Errorf("default state file holds tree %d, want 1", tree.N)
	}
}
