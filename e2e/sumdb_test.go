package e2e

import (
	"context"
	"database/sql"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/modmirror/modmirror/internal/testupstream"
	"github.com/modmirror/modmirror/sumlog"
	"github.com/modmirror/modmirror/sumlog/sqlite"
)

// The private fixture modules: the mirror has them in its store only (it
// never fetches private paths from the public upstream), as if they had
// been filled from the company's own servers.
const (
	secretPath  = "corp.example/secret"
	sumdbName   = "sum.corp.example"
	toolchainV  = "v0.0.1-go1.99.1.linux-amd64"
	toolchainMP = "golang.org/toolchain"
)

var privateModules = []testupstream.Module{
	{
		Path:    secretPath,
		Version: "v1.0.0",
		Files: map[string]string{
			"go.mod": "module corp.example/secret\n\ngo 1.21\n",
			"secret.go": `// Package secret keeps the company's secret.
package secret

// Word returns the password.
func Word() string { return "swordfish" }
`,
		},
	},
	{
		Path:    secretPath,
		Version: "v1.1.0",
		Files: map[string]string{
			"go.mod":    "module corp.example/secret\n\ngo 1.21\n",
			"secret.go": "// Package secret keeps the company's secret.\npackage secret\n\n// Word returns the password.\nfunc Word() string { return \"hunter2\" }\n",
		},
	},
}

// keygen runs "modmirror sumdb keygen" and returns the key file and the
// verifier key it printed on its last line.
func keygen(t *testing.T) (keyFile, vkey string) {
	t.Helper()
	keyFile = filepath.Join(t.TempDir(), "sumdb.key")
	out, err := exec.Command(modmirrorBin, "sumdb", "keygen", "--name", sumdbName, "--out", keyFile).CombinedOutput()
	if err != nil {
		t.Fatalf("modmirror sumdb keygen: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	vkey = lines[len(lines)-1]
	if !strings.HasPrefix(vkey, sumdbName+"+") {
		t.Fatalf("keygen's last line is %q, want a verifier key for %s", vkey, sumdbName)
	}
	fi, err := os.Stat(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	return keyFile, vkey
}

// seedPrivate copies the private fixture modules into a mirror data
// directory's store, as the go command's cache layout has them.
func seedPrivate(t *testing.T, data string, mods ...testupstream.Module) *testupstream.Server {
	t.Helper()
	corp := testupstream.New(t, mods...)
	for _, m := range mods {
		for _, ext := range []string{".info", ".mod", ".zip"} {
			name := m.Path + "/@v/" + m.Version + ext
			code, body, err := httpGet(corp.URL + "/" + name)
			if err != nil || code != 200 {
				t.Fatalf("private fixture %s: %d %v", name, code, err)
			}
			writeModule(t, filepath.Join(data, "cache", "download"), map[string]string{name: body})
		}
	}
	return corp
}

// startLogMirror runs a mirror that serves its own checksum database, in
// front of the fixture upstream, with corp.example private. It serves
// private modules without tokens (--private-access open), over plain HTTP:
// access control has tests of its own (access_test.go).
func startLogMirror(t *testing.T, up *testupstream.Server, data, keyFile string, extra ...string) *mirror {
	t.Helper()
	return startMirror(t, up, data, append([]string{"--sumdb-key", keyFile, "--private", "corp.example", "--private-access", "open", "--no-origin"}, extra...)...)
}

// TestOwnChecksumDatabase makes the mirror's own log the go command's only
// GOSUMDB: public modules (verified against the upstream's database and
// recorded with its lines), a module exempt from that database, and private
// modules, which the client does not mark as private at all. Every go.sum
// line the go command writes equals the hashes of the files served.
func TestOwnChecksumDatabase(t *testing.T) {
	t.Parallel()
	up := newFixture(t)
	up.Add(fakeToolchainModule())
	data := t.TempDir()
	corp := seedPrivate(t, data, privateModules...)
	keyFile, vkey := keygen(t)
	m := startLogMirror(t, up, data, keyFile, "--nosumdb", "example.com/legacy")
	g := newGo(t, m.URL, vkey)

	queries := []string{libPath + "@v1.0.0", azurePath + "@v1.0.0", legacyPath + "@" + legacyV2, secretPath + "@v1.0.0"}
	out := g.OK(t.TempDir(), append([]string{"mod", "download", "-json"}, queries...)...)
	mods := decodeDownloads(t, out)
	if len(mods) != len(queries) {
		t.Fatalf("go mod download printed %d modules, want %d:\n%s", len(mods), len(queries), out)
	}
	for _, d := range mods {
		src := up
		if d.Path == secretPath {
			src = corp
		}
		want := src.GoSumLines(d.Path, d.Version)
		got := []string{d.Path + " " + d.Version + " " + d.Sum, d.Path + " " + d.Version + "/go.mod " + d.GoModSum}
		if d.Error != "" || got[0] != want[0] || got[1] != want[1] {
			t.Errorf("%s@%s: error %q, go.sum lines\n\t%q\nwant\n\t%q", d.Path, d.Version, d.Error, got, want)
		}
	}

	// A build: go mod tidy writes go.sum from the log.
	dir := writeModule(t, t.TempDir(), map[string]string{
		"go.mod": "module example.com/app\n\ngo 1.21\n\nrequire (\n\texample.com/lib v1.1.0\n\tcorp.example/secret v1.1.0\n)\n",
		"main.go": `package main

import (
	"fmt"

	"corp.example/secret"
	"example.com/lib"
)

func main() { fmt.Println(lib.Hello(), secret.Word()) }
`,
	})
	g.OK(dir, "mod", "tidy")
	g.OK(dir, "build", "-o", filepath.Join(dir, "app"), ".")
	if got := runProgram(t, filepath.Join(dir, "app")); got != "hello from lib v1.1.0 hunter2\n" {
		t.Errorf("app printed %q", got)
	}
	gosum, err := os.ReadFile(filepath.Join(dir, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	wantSum := strings.Join(append(corp.GoSumLines(secretPath, "v1.1.0"), up.GoSumLines(libPath, "v1.1.0")...), "\n") + "\n"
	if string(gosum) != wantSum {
		t.Errorf("go.sum:\n%s\nwant:\n%s", gosum, wantSum)
	}

	// modmirror verify checks the go.sum against the same log, and finds
	// a changed line.
	verify := func(file string) (string, error) {
		cmd := exec.Command(modmirrorBin, "verify", "--sumdb", vkey, "--proxy", m.URL, "--cache", t.TempDir(), file)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := verify(filepath.Join(dir, "go.sum")); err != nil || !strings.Contains(out, "4 lines checked, 0 mismatches, 0 missing") {
		t.Errorf("modmirror verify of the go.sum the go command wrote: %v\n%s", err, out)
	}
	bad := filepath.Join(t.TempDir(), "go.sum")
	tampered := strings.Replace(string(gosum), corp.GoSumLines(secretPath, "v1.1.0")[0][len(secretPath+" v1.1.0 "):], "h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", 1)
	if err := os.WriteFile(bad, []byte(tampered), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := verify(bad); err == nil || !strings.Contains(out, secretPath+" v1.1.0: go.sum has h1:AAAA") || !strings.Contains(out, "1 mismatches") {
		t.Errorf("modmirror verify of a changed go.sum: %v, want exit 1 naming the module\n%s", err, out)
	}

	// Public records are the upstream database's lines, verbatim; so is
	// golang.org/toolchain's, which the go command checks whatever
	// GONOSUMDB says, and which a lookup records on demand.
	for _, mv := range [][2]string{{libPath, "v1.0.0"}, {toolchainMP, toolchainV}} {
		code, body, err := httpGet(m.URL + "/sumdb/" + sumdbName + "/lookup/" + mv[0] + "@" + mv[1])
		want := strings.Join(up.GoSumLines(mv[0], mv[1]), "\n") + "\n"
		if err != nil || code != 200 || !strings.Contains(body, "\n"+want+"\n") {
			t.Errorf("lookup %s@%s: %d %v\n%s\nwant the record\n%s", mv[0], mv[1], code, err, body, want)
		}
	}
	// A lookup of a public version the mirror has not stored fills and
	// verifies its go.mod, records the public database's lines, and leaves
	// the zip alone: the go command checks the go.mod of every module in a
	// build's graph, and downloads few of their zips.
	if code, body, err := httpGet(m.URL + "/sumdb/" + sumdbName + "/lookup/" + libPath + "@" + libPseudo); err != nil || code != 200 ||
		!strings.Contains(body, strings.Join(up.GoSumLines(libPath, libPseudo), "\n")+"\n") {
		t.Errorf("lookup of %s@%s: %d %v\n%s", libPath, libPseudo, code, err, body)
	}
	if n := up.Requests("/" + libPath + "/@v/" + libPseudo + ".zip"); n != 0 {
		t.Errorf("a lookup fetched the zip of a public module %d times, want 0", n)
	}
	if !exists(m.StorePath(libPath + "/@v/" + libPseudo + ".mod")) {
		t.Errorf("a lookup did not store the go.mod it verified")
	}

	// A version that exists nowhere is not found, and is not recorded.
	if code, body, _ := httpGet(m.URL + "/sumdb/" + sumdbName + "/lookup/" + libPath + "@v1.9.9"); code != 404 {
		t.Errorf("lookup of a version that does not exist: %d\n%s", code, body)
	}

	// Private paths never reach the public upstream or its database.
	for _, p := range up.RequestLog() {
		if strings.Contains(p, "corp.example") {
			t.Errorf("the upstream was asked about a private module: %s", p)
		}
	}

	// Eight versions recorded: the four downloaded, the two of the build,
	// the toolchain and the pseudo-version looked up.
	_, metrics, err := httpGet(m.Root + "/metrics")
	if err != nil || !strings.Contains(metrics, "\nmodmirror_sumdb_records 8\n") || !strings.Contains(metrics, "\nmodmirror_sumdb_append_batches_total ") {
		t.Errorf("/metrics: %v; want modmirror_sumdb_records 8 and the batch counter:\n%s", err, grepLines(metrics, "modmirror_sumdb"))
	}

	// The log also works at its own URL (GOSUMDB="<key> <url>"), for a
	// client whose proxy does not serve it.
	g2 := newGo(t, up.URL, vkey+" "+m.URL+"/sumdb/"+sumdbName)
	g2.OK(t.TempDir(), "mod", "download", libPath+"@v1.0.0")
}

// fakeToolchainModule is a golang.org/toolchain version for the fixture
// upstream.
func fakeToolchainModule() testupstream.Module {
	return testupstream.Module{
		Path:    toolchainMP,
		Version: toolchainV,
		Files: map[string]string{
			"go.mod":  "module golang.org/toolchain\n",
			"bin/go":  "#!/bin/sh\necho fake go1.99.1\n",
			"VERSION": "go1.99.1\n",
		},
	}
}

// TestOwnChecksumDatabaseTamper shows that the log's promise is real: after
// an honest restart the go command, which remembers the log's last head,
// goes on; a record changed in the storage, or the same records in another
// order, make it stop with SECURITY ERROR.
func TestOwnChecksumDatabaseTamper(t *testing.T) {
	t.Parallel()
	up := newFixture(t)
	data := t.TempDir()
	seedPrivate(t, data, privateModules...)
	keyFile, vkey := keygen(t)
	m := startLogMirror(t, up, data, keyFile)

	// One client, whose GOPATH keeps the last head it saw and whose module
	// cache keeps the tiles and records it checked, as on a developer's
	// machine; each download names a version it has not looked up yet.
	g := newGo(t, m.URL, vkey)
	download := func(m *mirror, query string) goResult {
		t.Helper()
		g.env["GOPROXY"] = m.URL
		return g.Run(t.TempDir(), "mod", "download", query)
	}
	for _, q := range []string{libPath + "@v1.0.0", secretPath + "@v1.0.0", azurePath + "@v1.0.0"} {
		if r := download(m, q); r.err != nil {
			t.Fatalf("%v", r)
		}
	}
	// Another client records a version this one has not seen.
	newGo(t, m.URL, vkey).OK(t.TempDir(), "mod", "download", secretPath+"@v1.1.0")
	m.Stop(t)

	// An honest restart: same storage, same key.
	m = startLogMirror(t, up, data, keyFile)
	if r := download(m, libPath+"@v1.1.0"); r.err != nil {
		t.Fatalf("after an honest restart: %v", r)
	}
	m.Stop(t)

	db := filepath.Join(data, "sumdb.db")
	backup, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}

	// A record changed in the storage: the private module's hash.
	execSQL(t, db, `UPDATE records SET data = replace(data, 'h1:', 'h1:X') WHERE path = ? AND version = ?`, secretPath, "v1.1.0")
	m = startLogMirror(t, up, data, keyFile)
	r := download(m, secretPath+"@v1.1.0")
	if r.err == nil || !strings.Contains(r.stderr, "SECURITY ERROR") {
		t.Errorf("go mod download of a tampered record: want SECURITY ERROR: %v", r)
	}
	t.Logf("a tampered record: the go command printed:\n%s", r.stderr)
	m.Stop(t)

	// The same records in another order, rebuilt by someone holding the
	// key: every head is validly signed, but the log is another one. The
	// go command compares it with the head it saw last.
	if err := os.WriteFile(db, backup, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Remove(db + "-wal")
	os.Remove(db + "-shm")
	rebuildSwapped(t, db, keyFile)

	// The mirror itself refuses the replaced database: the head it
	// served last, kept beside it, is not in the new log's tree.
	serve := exec.Command(modmirrorBin, "serve", "--listen", "127.0.0.1:0", "--data", data,
		"--upstream", up.URL, "--sumdb", up.VerifierKey(), "--sumdb-key", keyFile)
	serve.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	out, err := serve.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "SECURITY ERROR") || !strings.Contains(string(out), "sumdb.head") {
		t.Errorf("modmirror serve over a replaced log database: %v, want a refusal that names sumdb.head:\n%s", err, out)
	}

	// Someone who removes that file too gets the log served, and then
	// the go command catches the fork against the head it saw last.
	if err := os.Remove(filepath.Join(data, "sumdb.head")); err != nil {
		t.Fatal(err)
	}
	m = startLogMirror(t, up, data, keyFile)
	// A version not recorded yet, so that the log grows past the head
	// the go command saw: it then proves the old head against the new.
	r = download(m, libPath+"@v1.3.0-RC1")
	if r.err == nil || !strings.Contains(r.stderr, "SECURITY ERROR") {
		t.Errorf("go mod download from a reordered log: want SECURITY ERROR: %v", r)
	}
	t.Logf("a reordered log: the go command printed:\n%s", r.stderr)
}

// rebuildSwapped replaces the log in file with one signed by the same key
// that holds the same records with the first two swapped.
func rebuildSwapped(t *testing.T, file, keyFile string) {
	t.Helper()
	db, err := sql.Open("sqlite", file)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := db.Query("SELECT path, version, data FROM records ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	var recs []sumlog.Record
	for rows.Next() {
		var r sumlog.Record
		if err := rows.Scan(&r.Path, &r.Version, &r.Data); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	rows.Close()
	db.Close()
	if len(recs) < 2 {
		t.Fatalf("the log has %d records; want at least 2 to swap", len(recs))
	}
	recs[0], recs[1] = recs[1], recs[0]

	skey, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	tmp := file + ".rebuilt"
	st, err := sqlite.Open(tmp)
	if err != nil {
		t.Fatal(err)
	}
	l, err := sumlog.Open(context.Background(), sumlog.Config{Storage: st, SignerKey: string(skey)})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if _, err := l.Record(context.Background(), r.Path, r.Version, r.Data); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	st.Close()
	for _, suffix := range []string{"", "-wal", "-shm"} {
		os.Remove(file + suffix)
	}
	if err := os.Rename(tmp, file); err != nil {
		t.Fatal(err)
	}
	os.Remove(tmp + "-wal")
	os.Remove(tmp + "-shm")
}

// execSQL runs one statement on an SQLite database file.
func execSQL(t *testing.T, file, stmt string, args ...any) {
	t.Helper()
	db, err := sql.Open("sqlite", file)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	res, err := db.Exec(stmt, args...)
	if err != nil {
		t.Fatalf("%s: %v", stmt, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		t.Fatalf("%s: changed nothing", stmt)
	}
}
