package sqlite_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/modmirror/modmirror/sumlog"
	"github.com/modmirror/modmirror/sumlog/sqlite"
	"github.com/modmirror/modmirror/sumlog/storagetest"
)

func TestStorage(t *testing.T) {
	t.Parallel()
	storagetest.TestStorage(t, func(t *testing.T) sumlog.Storage {
		st, err := sqlite.Open(filepath.Join(t.TempDir(), "log.db"))
		if err != nil {
			t.Fatal(err)
		}
		return st
	})
}

// goSum returns the go.sum lines of a module version, with hashes that
// look like real ones.
func goSum(path, version string) []byte {
	h := func(s string) string {
		sum := sha256.Sum256([]byte(s))
		return "h1:" + base64.StdEncoding.EncodeToString(sum[:])
	}
	return fmt.Appendf(nil, "%s %s %s\n%s %s/go.mod %s\n", path, version, h(path+version), path, version, h(path+version+"/go.mod"))
}

// A snapshot is everything a storage holds, read through the interface.
type snapshot struct {
	head    sumlog.Head
	records [][]byte
	hashes  []tlog.Hash
}

func read(t *testing.T, st sumlog.Storage) snapshot {
	t.Helper()
	ctx := t.Context()
	var s snapshot
	var err error
	if s.head, err = st.Head(ctx); err != nil {
		t.Fatal(err)
	}
	if s.records, err = st.ReadRecords(ctx, 0, s.head.Size); err != nil {
		t.Fatal(err)
	}
	indexes := make([]int64, tlog.StoredHashCount(s.head.Size))
	for i := range indexes {
		indexes[i] = int64(i)
	}
	if s.hashes, err = st.ReadHashes(ctx, indexes); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestReopen checks that a closed and reopened database file holds
// everything that was appended to it, and that a log continues from it.
func TestReopen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "log.db")
	skey, _, err := sumlog.GenerateKey("sum.example.com")
	if err != nil {
		t.Fatal(err)
	}
	mod := func(i int) (string, string) {
		return fmt.Sprintf("example.com/reopen/m%d", i/2), fmt.Sprintf("v0.%d.0", i%2)
	}

	st, err := sqlite.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	l, err := sumlog.Open(ctx, sumlog.Config{Storage: st, SignerKey: skey})
	if err != nil {
		t.Fatal(err)
	}
	const n = 300 // more than one tile
	for i := range n {
		path, version := mod(i)
		if _, err := l.Record(ctx, path, version, goSum(path, version)); err != nil {
			t.Fatal(err)
		}
	}
	before := read(t, st)
	if before.head.Size != n || !bytes.Equal(before.head.Signed, l.Head().Signed) {
		t.Fatalf("stored head {Size: %d, Signed: %q}, want the log's {Size: %d, Signed: %q}", before.head.Size, before.head.Signed, n, l.Head().Signed)
	}
	l.Close()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st, err = sqlite.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	after := read(t, st)
	if after.head.Size != before.head.Size || !bytes.Equal(after.head.Signed, before.head.Signed) {
		t.Fatalf("reopened head {Size: %d, Signed: %q}, want {Size: %d, Signed: %q}", after.head.Size, after.head.Signed, before.head.Size, before.head.Signed)
	}
	if !slices.EqualFunc(after.records, before.records, bytes.Equal) {
		t.Fatal("reopened records differ")
	}
	if !slices.Equal(after.hashes, before.hashes) {
		t.Fatal("reopened hashes differ")
	}
	for i := range n {
		path, version := mod(i)
		id, err := st.Lookup(ctx, path, version)
		if err != nil || id != int64(i) {
			t.Fatalf("Lookup(%s, %s) after reopening = %d, %v; want %d", path, version, id, err, i)
		}
		if !bytes.Equal(after.records[i], goSum(path, version)) {
			t.Fatalf("record %d = %q, want %q", i, after.records[i], goSum(path, version))
		}
	}

	// The log continues where it stopped.
	l, err = sumlog.Open(ctx, sumlog.Config{Storage: st, SignerKey: skey})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if !bytes.Equal(l.Head().Signed, before.head.Signed) {
		t.Fatalf("reopened log's head %q, want %q", l.Head().Signed, before.head.Signed)
	}
	path, version := mod(0)
	if id, err := l.Record(ctx, path, version, goSum(path, version)); err != nil || id != 0 {
		t.Fatalf("Record of record 0 again = %d, %v; want 0, nil", id, err)
	}
	path, version = mod(n)
	if id, err := l.Record(ctx, path, version, goSum(path, version)); err != nil || id != n {
		t.Fatalf("Record of a new version = %d, %v; want %d, nil", id, err, n)
	}
}

// TestNewerSchema checks that a database written by a later modmirror,
// whose schema this one does not know, is refused rather than changed.
func TestNewerSchema(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "log.db")
	st, err := sqlite.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	db, err := sql.Open("sqlite", file)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("PRAGMA user_version = 2"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	st, err = sqlite.Open(file)
	if err == nil {
		st.Close()
		t.Fatal("Open of a database with schema version 2 succeeded")
	}
	if !strings.Contains(err.Error(), "schema version 2") {
		t.Fatalf("Open of a database with schema version 2: %v; want an error naming the version", err)
	}
}

// TestOpenCreatesDirectory checks that Open creates the database's
// directory, so that a data directory need not exist before the first run.
func TestOpenCreatesDirectory(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "data", "sumdb", "log.db")
	st, err := sqlite.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if h, err := st.Head(t.Context()); err != nil || h.Size != 0 || h.Signed != nil {
		t.Fatalf("Head of a new database = %+v, %v; want an empty head", h, err)
	}
}
