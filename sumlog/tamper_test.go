package sumlog_test

// Tests that a log whose storage was changed behind its back, or a log
// rebuilt under the same key, is caught: by the Log itself where its checks
// reach, and by the go command's checksum database client
// (golang.org/x/mod/sumdb.Client) otherwise. This file also holds the
// helpers that the crash and concurrency tests share.

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/modmirror/modmirror"
	"github.com/modmirror/modmirror/sumlog"
	"github.com/modmirror/modmirror/sumlog/sqlite"
)

// openFile opens a log over the SQLite database file with cfg (whose
// Storage it sets). The returned function closes the log and the storage;
// it runs at the end of the test too, if it was not called before.
func openFile(t *testing.T, file string, cfg sumlog.Config) (*sumlog.Log, *sqlite.Storage, func()) {
	t.Helper()
	st, err := sqlite.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Storage = st
	l, err := sumlog.Open(context.Background(), cfg)
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	var once sync.Once
	closeLog := func() {
		once.Do(func() {
			l.Close()
			if err := st.Close(); err != nil {
				t.Errorf("closing the storage: %v", err)
			}
		})
	}
	t.Cleanup(closeLog)
	return l, st, closeLog
}

// openDB opens the database file directly, as an operator or an attacker
// with the sqlite3 shell would.
func openDB(t *testing.T, file string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", file)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// execOne runs a statement on db that changes one row, failing the test
// otherwise.
func execOne(t *testing.T, db *sql.DB, query string, args ...any) {
	t.Helper()
	res, err := db.Exec(query, args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		t.Fatalf("%s: %d rows affected (%v), want 1", query, n, err)
	}
}

// A logBuffer collects what a Log logs.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newLogger() (*slog.Logger, *logBuffer) {
	b := new(logBuffer)
	return slog.New(slog.NewTextHandler(b, nil)), b
}

// A handlerSwitch serves whatever handler was set last: one URL for a
// database whose server is restarted or replaced.
type handlerSwitch struct {
	mu sync.Mutex
	h  http.Handler
}

func (s *handlerSwitch) set(h http.Handler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.h = h
}

func (s *handlerSwitch) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	h := s.h
	s.mu.Unlock()
	h.ServeHTTP(w, r)
}

// get fetches url and returns the status and body.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// lookupPath returns the checksum database path of a lookup.
func lookupPath(path, version string) string {
	epath, err := module.EscapePath(path)
	if err != nil {
		panic(err)
	}
	evers, err := module.EscapeVersion(version)
	if err != nil {
		panic(err)
	}
	return "/lookup/" + epath + "@" + evers
}

// tamperMod names the module versions of the tamper tests.
func tamperMod(i int) (path, version string) {
	return fmt.Sprintf("example.com/tamper/m%d", i), "v1.0.0"
}

// recordAll records modules first..end-1 (tamperMod) and checks their ids.
func recordAll(t *testing.T, l *sumlog.Log, first, end int) {
	t.Helper()
	for i := first; i < end; i++ {
		path, version := tamperMod(i)
		id, err := l.Record(context.Background(), path, version, record(path, version))
		if err != nil {
			t.Fatal(err)
		}
		if id != int64(i) {
			t.Fatalf("Record(%s@%s) = id %d, want %d", path, version, id, i)
		}
	}
}

// clientLookup looks up module i (tamperMod) and its go.mod with client
// and checks the lines.
func clientLookup(t *testing.T, client *sumdb.Client, i int) {
	t.Helper()
	path, version := tamperMod(i)
	lines, err := client.Lookup(path, version)
	if err != nil {
		t.Fatal(err)
	}
	modLines, err := client.Lookup(path, version+"/go.mod")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(append(lines, modLines...), "\n")+"\n", string(record(path, version)); got != want {
		t.Fatalf("lookup of %s@%s: lines %q, want %q", path, version, got, want)
	}
}

// reports returns the security errors a client reported.
func (c *clientOps) securityReports() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.reports)
}

// TestHonestRestart checks that a log closed and reopened from the same
// file continues its tree: a client that saw heads before the restart
// accepts those after it, with no security error.
func TestHonestRestart(t *testing.T) {
	t.Parallel()
	skey, vkey := newKey(t)
	file := filepath.Join(t.TempDir(), "log.db")
	fill := func(ctx context.Context, path, version string) ([]byte, error) { return record(path, version), nil }
	var sw handlerSwitch
	srv := httptest.NewServer(&sw)
	defer srv.Close()
	client, ops := newClient(srv.URL, vkey)

	// Before the restart: records made by lookups (Fill).
	l, _, closeLog := openFile(t, file, sumlog.Config{SignerKey: skey, Fill: fill})
	sw.set(l)
	const before, after = 200, 300 // the restart is inside the first tile; the second run completes it
	for i := range before {
		clientLookup(t, client, i)
	}
	oldHead := l.Head()
	if oldHead.Size != before {
		t.Fatalf("head size %d after %d lookups, want %d", oldHead.Size, before, before)
	}
	closeLog()

	// After: the same file, records made by Record.
	l, _, _ = openFile(t, file, sumlog.Config{SignerKey: skey, Fill: fill})
	sw.set(l)
	if got := l.Head(); got.Size != oldHead.Size || !bytes.Equal(got.Signed, oldHead.Signed) {
		t.Fatalf("reopened head %q, want %q", got.Signed, oldHead.Signed)
	}
	recordAll(t, l, before, after)
	for i := range after {
		clientLookup(t, client, i)
	}
	if r := ops.securityReports(); len(r) > 0 {
		t.Fatalf("the client reported security errors after an honest restart:\n%s", strings.Join(r, "\n"))
	}
	// The client moved its idea of the latest head on to the new one.
	if got, _ := ops.ReadConfig(l.Name() + "/latest"); !bytes.Equal(got, l.Head().Signed) {
		t.Fatalf("client's latest head %q, want the log's %q", got, l.Head().Signed)
	}
}

// tampered opens the log in file after the test changed its storage, with
// a logger, and serves it.
func tampered(t *testing.T, file, skey string) (*sumlog.Log, *httptest.Server, *logBuffer) {
	t.Helper()
	logger, logs := newLogger()
	l, _, _ := openFile(t, file, sumlog.Config{SignerKey: skey, Logger: logger})
	srv := httptest.NewServer(l)
	t.Cleanup(srv.Close)
	return l, srv, logs
}

// wantSecurityError checks that a GET of path is refused with a server
// error that says SECURITY ERROR and leaks none of the tampered data.
func wantSecurityError(t *testing.T, srv *httptest.Server, path, leak string) {
	t.Helper()
	status, body := get(t, srv.URL+path)
	if status < 500 || !strings.Contains(body, "SECURITY ERROR") {
		t.Fatalf("GET %s: %d %q; want a 5xx saying SECURITY ERROR", path, status, body)
	}
	if leak != "" && strings.Contains(body, leak) {
		t.Fatalf("GET %s: the answer contains the tampered data %q: %s", path, leak, body)
	}
}

// TestTamperRecordData checks that a record whose data was changed in the
// database is not served, by lookup or data tile, and that the Log logs
// it, while the records around it are still served.
func TestTamperRecordData(t *testing.T) {
	t.Parallel()
	skey, vkey := newKey(t)
	file := filepath.Join(t.TempDir(), "log.db")
	const n, victim = 20, 7
	l, _, closeLog := openFile(t, file, sumlog.Config{SignerKey: skey})
	recordAll(t, l, 0, n)
	closeLog()

	path, version := tamperMod(victim)
	evil := bytes.ReplaceAll(record(path, version), []byte("h1:"), []byte("h1:EVIL"))
	execOne(t, openDB(t, file), "UPDATE records SET data = ? WHERE id = ?", evil, victim)

	l, srv, logs := tampered(t, file, skey)
	wantSecurityError(t, srv, lookupPath(path, version), "EVIL")
	wantSecurityError(t, srv, fmt.Sprintf("/tile/8/data/000.p/%d", n), "EVIL")
	if !strings.Contains(logs.String(), "SECURITY ERROR") {
		t.Fatalf("the log did not log a SECURITY ERROR; it logged:\n%s", logs)
	}

	// The go command's client fails, and says why.
	client, _ := newClient(srv.URL, vkey)
	if lines, err := client.Lookup(path, version); err == nil || !strings.Contains(err.Error(), "SECURITY ERROR") {
		t.Fatalf("client lookup of the tampered record = %q, %v; want an error saying SECURITY ERROR", lines, err)
	}
	// Untouched records are still served and verified.
	clientLookup(t, client, victim-1)
	clientLookup(t, client, victim+1)

	// Recording the version again, with either data, is refused too.
	for _, data := range [][]byte{record(path, version), evil} {
		if _, err := l.Record(context.Background(), path, version, data); !errors.Is(err, modmirror.ErrSecurity) {
			t.Fatalf("Record of the tampered version: %v; want an error wrapping modmirror.ErrSecurity", err)
		}
	}
}

// TestTamperSwap checks that two records swapped in the database (data,
// path and version, so each row is self-consistent) are both refused.
func TestTamperSwap(t *testing.T) {
	t.Parallel()
	skey, _ := newKey(t)
	file := filepath.Join(t.TempDir(), "log.db")
	const n, i, j = 20, 4, 11
	l, _, closeLog := openFile(t, file, sumlog.Config{SignerKey: skey})
	recordAll(t, l, 0, n)
	closeLog()

	// Swap rows i and j, through a temporary module version since
	// (path, version) is unique.
	db := openDB(t, file)
	type row struct {
		path, version string
		data          []byte
	}
	var ri, rj row
	for _, r := range []struct {
		id  int
		row *row
	}{{i, &ri}, {j, &rj}} {
		if err := db.QueryRow("SELECT path, version, data FROM records WHERE id = ?", r.id).Scan(&r.row.path, &r.row.version, &r.row.data); err != nil {
			t.Fatal(err)
		}
	}
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []struct {
		id  int
		row row
	}{{i, row{"example.com/tmp", "v0.0.0", []byte("tmp\n")}}, {j, ri}, {i, rj}} {
		if _, err := tx.Exec("UPDATE records SET path = ?, version = ?, data = ? WHERE id = ?", u.row.path, u.row.version, u.row.data, u.id); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	pi, vi := tamperMod(i)
	pj, vj := tamperMod(j)

	_, srv, logs := tampered(t, file, skey)
	// The swap happened: the storage now files each version under the
	// other's id.
	st, err := sqlite.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if id, err := st.Lookup(context.Background(), pi, vi); err != nil || id != j {
		t.Fatalf("after the swap, storage Lookup(%s) = %d, %v; want %d", pi, id, err, j)
	}
	wantSecurityError(t, srv, lookupPath(pi, vi), "")
	wantSecurityError(t, srv, lookupPath(pj, vj), "")
	if !strings.Contains(logs.String(), "SECURITY ERROR") {
		t.Fatalf("the log did not log a SECURITY ERROR; it logged:\n%s", logs)
	}
}

// treeHashIndexes returns the stored hashes that tlog.TreeHash reads for a
// tree of n records: those that Open checks against the signed head.
func treeHashIndexes(t *testing.T, n int64) []int64 {
	t.Helper()
	var read []int64
	_, err := tlog.TreeHash(n, tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) {
		read = append(read, indexes...)
		return make([]tlog.Hash, len(indexes)), nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	return read
}

// TestTamperTreeHash checks that Open refuses a log with any of the stored
// hashes that make up its tree hash changed: the storage no longer matches
// the signed head.
func TestTamperTreeHash(t *testing.T) {
	t.Parallel()
	skey, _ := newKey(t)
	file := filepath.Join(t.TempDir(), "log.db")
	const n = 21 // 16 + 4 + 1: three hashes make the tree hash
	l, _, closeLog := openFile(t, file, sumlog.Config{SignerKey: skey})
	recordAll(t, l, 0, n)
	closeLog()

	db := openDB(t, file)
	indexes := treeHashIndexes(t, n)
	if len(indexes) != 3 {
		t.Fatalf("tree hash of %d records reads hashes %v, want three", n, indexes)
	}
	for _, idx := range indexes {
		var orig []byte
		if err := db.QueryRow("SELECT hash FROM hashes WHERE idx = ?", idx).Scan(&orig); err != nil {
			t.Fatal(err)
		}
		bad := slices.Clone(orig)
		bad[0] ^= 1
		execOne(t, db, "UPDATE hashes SET hash = ? WHERE idx = ?", bad, idx)

		st, err := sqlite.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		logger, logs := newLogger()
		l, err := sumlog.Open(context.Background(), sumlog.Config{Storage: st, SignerKey: skey, Logger: logger})
		if err == nil {
			l.Close()
		}
		st.Close()
		if !errors.Is(err, modmirror.ErrSecurity) {
			t.Fatalf("Open with stored hash %d changed: %v; want an error wrapping modmirror.ErrSecurity", idx, err)
		}
		if !strings.Contains(logs.String(), "SECURITY ERROR") {
			t.Fatalf("Open with stored hash %d changed did not log a SECURITY ERROR; it logged:\n%s", idx, logs)
		}
		execOne(t, db, "UPDATE hashes SET hash = ? WHERE idx = ?", orig, idx)
	}
	// Restored, the log opens again.
	openFile(t, file, sumlog.Config{SignerKey: skey})
}

// TestTamperLeafHash checks that a changed leaf hash, which Open's check
// of the tree hash does not read, still keeps its record from being served.
func TestTamperLeafHash(t *testing.T) {
	t.Parallel()
	skey, _ := newKey(t)
	file := filepath.Join(t.TempDir(), "log.db")
	const n, victim = 20, 2
	l, _, closeLog := openFile(t, file, sumlog.Config{SignerKey: skey})
	recordAll(t, l, 0, n)
	closeLog()

	leaf := tlog.StoredHashIndex(0, victim)
	if slices.Contains(treeHashIndexes(t, n), leaf) {
		t.Fatalf("hash %d is read by the tree hash; pick another victim", leaf)
	}
	bad := tlog.RecordHash([]byte("not the record\n"))
	execOne(t, openDB(t, file), "UPDATE hashes SET hash = ? WHERE idx = ?", bad[:], leaf)

	_, srv, logs := tampered(t, file, skey)
	wantSecurityError(t, srv, lookupPath(tamperMod(victim)), "")
	if !strings.Contains(logs.String(), "SECURITY ERROR") {
		t.Fatalf("the log did not log a SECURITY ERROR; it logged:\n%s", logs)
	}
}

// TestTamperRecordAndLeafHash checks the case the Log's own checks cannot
// see: a record changed together with its leaf hash. The Log serves it,
// but the go command's client cannot prove it against the signed head, so
// the lookup fails all the same.
func TestTamperRecordAndLeafHash(t *testing.T) {
	t.Parallel()
	skey, vkey := newKey(t)
	file := filepath.Join(t.TempDir(), "log.db")
	const n, victim = 20, 5
	l, _, closeLog := openFile(t, file, sumlog.Config{SignerKey: skey})
	recordAll(t, l, 0, n)
	closeLog()

	path, version := tamperMod(victim)
	evil := bytes.ReplaceAll(record(path, version), []byte("h1:"), []byte("h1:EVIL"))
	db := openDB(t, file)
	execOne(t, db, "UPDATE records SET data = ? WHERE id = ?", evil, victim)
	h := tlog.RecordHash(evil)
	execOne(t, db, "UPDATE hashes SET hash = ? WHERE idx = ?", h[:], tlog.StoredHashIndex(0, victim))

	_, srv, _ := tampered(t, file, skey)
	client, _ := newClient(srv.URL, vkey)
	if lines, err := client.Lookup(path, version); err == nil {
		t.Fatalf("client lookup of a record changed with its leaf hash = %q, nil; want an error", lines)
	} else {
		t.Logf("client: %v", err)
	}
}

// TestRebuiltLog checks that a log rebuilt under the same key, with the
// same records in another order, is caught by a client that saw the first
// log: its SecurityError is called with the report that the go command
// prints, and the lookup fails.
func TestRebuiltLog(t *testing.T) {
	t.Parallel()
	skey, vkey := newKey(t)
	const n = 10
	dir := t.TempDir()
	var sw handlerSwitch
	srv := httptest.NewServer(&sw)
	defer srv.Close()

	first, _, _ := openFile(t, filepath.Join(dir, "first.db"), sumlog.Config{SignerKey: skey})
	recordAll(t, first, 0, n)

	// rebuild builds a second log with the first's key, its records
	// reversed and then extra more.
	rebuild := func(t *testing.T, file string, extra int) *sumlog.Log {
		l, _, _ := openFile(t, file, sumlog.Config{SignerKey: skey})
		for i := n - 1; i >= 0; i-- {
			path, version := tamperMod(i)
			if _, err := l.Record(context.Background(), path, version, record(path, version)); err != nil {
				t.Fatal(err)
			}
		}
		for i := n; i < n+extra; i++ {
			path, version := tamperMod(i)
			if _, err := l.Record(context.Background(), path, version, record(path, version)); err != nil {
				t.Fatal(err)
			}
		}
		if l.Head().Size != int64(n+extra) || bytes.Equal(l.Head().Signed, first.Head().Signed) {
			t.Fatalf("rebuilt log: head %q", l.Head().Signed)
		}
		return l
	}

	for _, c := range []struct {
		name  string
		extra int // records after the reordered ones
		look  int // the module looked up in the rebuilt log
	}{
		{"same size", 0, n - 1},
		{"grown", 2, n + 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			sw.set(first)
			client, ops := newClient(srv.URL, vkey)
			for i := range n / 2 {
				clientLookup(t, client, i)
			}
			if r := ops.securityReports(); len(r) > 0 {
				t.Fatalf("security errors from the first log:\n%s", strings.Join(r, "\n"))
			}

			sw.set(rebuild(t, filepath.Join(t.TempDir(), "rebuilt.db"), c.extra))
			path, version := tamperMod(c.look)
			lines, err := client.Lookup(path, version)
			if err == nil {
				t.Fatalf("lookup in the rebuilt log = %q, nil; want an error", lines)
			}
			r := ops.securityReports()
			if len(r) == 0 {
				t.Fatalf("lookup in the rebuilt log failed (%v) but the client reported no security error", err)
			}
			if !strings.HasPrefix(r[0], "SECURITY ERROR") {
				t.Fatalf("the client's report does not start with SECURITY ERROR:\n%s", r[0])
			}
			t.Logf("lookup: %v; report: %q...", err, r[0][:min(len(r[0]), 60)])
		})
	}
}
